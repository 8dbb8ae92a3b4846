"""The personne pivot through the crisis workflow on the time-skipping server (issue 11; seed 002 L349-350,
L379-381): named through the same `act` update as every case command, a change an event of its own, another
organisation refused by the update validator with `wrong_party` (nothing recorded, no update accepted), and the
team holding the case sees the pivot in its operational view."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from domain.crisis import commands as c
from domain.crisis.model import new_case_code
from domain.crisis.partner_view import partner_view
from tests.crisis_builders import CSSS, TEAM, accept, act, assert_refused, names, open_cmd, request, start_case
from usecases.crisis import CrisisCases


def pivot(intervenant: str, org: str, actor: str = CSSS) -> c.NamePivot:
    return c.NamePivot(by="superviseur-1", actor_org=actor, intervenant_id=intervenant, org_id=org)


async def test_the_pivot_is_named_changed_and_seen_by_the_team_holding_the_case(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    code = new_case_code()
    handle, view = await start_case(time_env.client, open_cmd(code), task_queue)
    assert view.pivot is None
    await act(handle, request([TEAM]))
    await act(handle, accept())
    view = await act(handle, pivot("tc-julie", "cc-laval"))
    assert view.pivot is not None and (view.pivot.intervenant_id, view.pivot.org_id) == ("tc-julie", "cc-laval")
    await assert_refused(handle, cases, code, pivot("x", "cc-laval", actor="cc-laval"), "wrong_party")
    await assert_refused(handle, cases, code, pivot("tc-julie", "cc-laval"), "same_pivot")
    view = await act(handle, pivot("ts-marc", CSSS))
    assert names(cases, code)[-2:] == ["PivotNamed", "PivotNamed"]
    seen = partner_view(cases.view(code), TEAM.org_id, [])
    assert seen.pivot is not None and (seen.pivot.intervenant_id, seen.pivot.org_id) == ("ts-marc", CSSS)
