"""The personne pivot of a crisis case (issue 11; seed 002 L349-350: « une personne pivot qui accompagne ces
personnes selon l'approche milieu »; L379-381: the community support « assuré par la personne pivot »).

Named by the CISSS answerable for the case or the holder; each change an event (`PivotNamed`); every team that
receives the case sees who it is in its partner view; a refused naming records nothing."""

from __future__ import annotations

import pytest

from domain.crisis import commands as c
from domain.crisis.partner_view import partner_view
from domain.crisis.state import Pivot
from domain.errors import RuleViolation
from tests.crisis_builders import CSSS, MIN, T0, TEAM, accept, memory_record, open_cmd, request
from usecases.crisis import CrisisCases

CODE = "C-PIVOTABC23"


def pivot(intervenant: str = "tc-julie", org: str = "cc-laval", actor: str = CSSS) -> c.NamePivot:
    return c.NamePivot(by="superviseur-1", actor_org=actor, intervenant_id=intervenant, org_id=org)


def opened() -> CrisisCases:
    cases = CrisisCases(memory_record())
    cases.open(open_cmd(CODE), T0)
    return cases


def names(cases: CrisisCases) -> list[str]:
    return [e["event"] for e in cases.history(CODE)]


def test_a_case_opens_without_a_pivot_and_the_cisss_names_one() -> None:
    cases = opened()
    assert cases.view(CODE).pivot is None
    view = cases.execute(CODE, pivot(), T0 + MIN)
    assert view.pivot == Pivot(intervenant_id="tc-julie", org_id="cc-laval", named_by="superviseur-1",
                               named_at=T0 + MIN)
    assert names(cases)[-1] == "PivotNamed"


def test_a_change_of_pivot_is_an_event_of_its_own_and_the_same_pivot_again_is_refused() -> None:
    cases = opened()
    cases.execute(CODE, pivot(), T0 + MIN)
    view = cases.execute(CODE, pivot("ts-marc", CSSS), T0 + 2 * MIN)
    assert (view.pivot.intervenant_id, view.pivot.org_id) == ("ts-marc", CSSS)  # type: ignore[union-attr]
    assert names(cases).count("PivotNamed") == 2
    before = len(names(cases))
    with pytest.raises(RuleViolation) as err:
        cases.execute(CODE, pivot("ts-marc", CSSS), T0 + 3 * MIN)
    assert err.value.code == "same_pivot"
    assert len(names(cases)) == before


def test_an_organisation_neither_answerable_nor_holding_the_case_may_not_name_it() -> None:
    cases = opened()
    with pytest.raises(RuleViolation) as err:
        cases.execute(CODE, pivot(actor="cc-laval"), T0 + MIN)
    assert err.value.code == "wrong_party"
    assert cases.view(CODE).pivot is None
    assert "PivotNamed" not in names(cases)


def test_the_team_that_receives_the_case_sees_the_pivot_in_its_view() -> None:
    cases = opened()
    cases.execute(CODE, request([TEAM]), T0 + MIN)
    cases.execute(CODE, accept(), T0 + 2 * MIN)
    view = cases.execute(CODE, pivot(), T0 + 3 * MIN)
    seen = partner_view(view, TEAM.org_id, [])
    assert seen.pivot == view.pivot
    assert seen.pivot is not None and seen.pivot.intervenant_id == "tc-julie"


def test_a_closed_case_takes_no_pivot() -> None:
    cases = opened()
    cases.execute(CODE, c.SupervisorClose(by="superviseur-1", actor_org=CSSS, reason="doublon"), T0 + MIN)
    with pytest.raises(RuleViolation) as err:
        cases.execute(CODE, pivot(), T0 + 2 * MIN)
    assert err.value.code == "case_closed"
