"""A partner acts on a case only while the entente that lets it act is in force (issue 10; seed 001
L1172-1173, L1181-1184; seed 000 Annex 3 s. 10-11): the partner that referred under an entente, the
community organisation asked under one, a receiving service under an entente naming it and the CSSS — each
refused `no_entente_in_force` from the moment its entente is revoked or expires, decided over the ententes
the record holds (`Principals.check_case_standing`, fed by the ententes use case)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from domain.clock import start_of
from domain.crisis import commands as c
from domain.crisis.model import IntakeService, TeamRef
from domain.crisis.state import CaseView
from domain.disclosure.roles import Role
from domain.ententes import commands as ac
from domain.principals.model import Principal, PrincipalKind
from domain.principals.standing import NoEntenteInForce, named_ententes
from tests import crisis_builders as builders
from tests.crisis_builders import CSSS, MIN, RECEIVING, T0, activate, crisis_content, memory_record, open_cmd
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes
from usecases.principals import Principals

REFERRER = "cps-laval"  # refers crises to the CSSS under ENT-CC
PROVIDER = "cc-laval"  # intervenes in the community under ENT-CC
CODE = "C-ABCDEFGH23"
NOTICE_EFFECTIVE = date(2027, 6, 1)  # ENT-CC's revocation takes effect on that day (90 days' notice from T0)


def partner(org: str) -> Principal:
    return Principal(kind=PrincipalKind.PARTNER, principal_id=org, org_id=org, role=Role.PARTNER_ORG, kid="k")


class World:
    def __init__(self, end: date | None = None) -> None:
        self.record = memory_record()
        self.ententes = Ententes(self.record)
        activate(self.ententes, "ENT-CC", crisis_content(PROVIDER, may_refer=[REFERRER], end=end))
        self.cases = CrisisCases(self.record)
        self.principals = Principals(self.record)

    def referred_and_asked(self) -> CaseView:
        """REFERRER opens the case under ENT-CC; routing asks PROVIDER under ENT-CC."""
        self.cases.open(open_cmd(CODE, service=IntakeService.PARTNER, actor=REFERRER), T0)
        return self.cases.execute(CODE, c.RequestMobileIntervention(by="p-1", actor_org=REFERRER, csss_teams=[]),
                                  T0 + MIN)

    def revoke(self) -> None:
        self.ententes.execute("ENT-CC", ac.GiveRevocationNotice(by="dsp", party_id=CSSS, reason="fin du financement",
                                                                effective_date=NOTICE_EFFECTIVE), T0 + 2 * MIN)

    def check(self, org: str, view: CaseView, now: datetime) -> None:
        self.principals.check_case_standing(partner(org), view, now)


def test_the_referring_partner_and_the_team_asked_act_until_the_revocation_takes_effect() -> None:
    world = World()
    view = world.referred_and_asked()
    assert named_ententes(view, REFERRER) == {"ENT-CC"} and named_ententes(view, PROVIDER) == {"ENT-CC"}
    world.revoke()
    revoked_at = start_of(NOTICE_EFFECTIVE)
    for org in (REFERRER, PROVIDER):
        world.check(org, view, revoked_at - MIN)  # notice given, not yet in effect: still in force
        with pytest.raises(NoEntenteInForce) as refused:
            world.check(org, view, revoked_at)
        assert refused.value.code == "no_entente_in_force"
        assert refused.value.message == (
            f"{org} acts on case {CODE} only under an entente in force with {CSSS}: ENT-CC revoked by {CSSS} "
            "from 2027-06-01")
    # once the calendar has recorded the revocation, the same
    world.ententes.advance("ENT-CC", revoked_at)
    with pytest.raises(NoEntenteInForce):
        world.check(PROVIDER, view, revoked_at + timedelta(days=1))


def test_the_moment_the_entente_expires_its_partner_is_refused() -> None:
    world = World(end=date(2027, 12, 31))
    view = world.referred_and_asked()
    world.check(PROVIDER, view, start_of(date(2027, 12, 31)) + timedelta(hours=23))  # its last day
    with pytest.raises(NoEntenteInForce, match="ENT-CC expired after 2027-12-31"):
        world.check(PROVIDER, view, start_of(date(2028, 1, 1)))


def test_the_csss_acts_on_its_cases_whatever_the_ententes() -> None:
    world = World()
    view = world.referred_and_asked()
    world.revoke()
    world.check(CSSS, view, start_of(NOTICE_EFFECTIVE) + timedelta(days=30))
    cisss_user = Principal(kind=PrincipalKind.USER, principal_id="sup-1", org_id=CSSS, role=Role.SUPERVISOR, kid="k")
    world.principals.check_case_standing(cisss_user, view, start_of(NOTICE_EFFECTIVE) + timedelta(days=30))


def test_a_receiving_service_acts_under_an_entente_naming_it_and_the_csss() -> None:
    """A referral names no entente: the receiving service needs one in force with the CSSS."""
    world = World()
    world.cases.open(open_cmd(CODE), T0)
    world.cases.execute(CODE, builders.request(), T0 + MIN)
    world.cases.execute(CODE, builders.accept(), T0 + 5 * MIN)
    world.cases.execute(CODE, builders.arrive(), T0 + 30 * MIN)
    world.cases.execute(CODE, builders.outcome(), T0 + 60 * MIN)
    view = world.cases.execute(CODE, builders.referral(), T0 + 70 * MIN)
    assert view.referrals[0].receiving.org_id == RECEIVING and named_ententes(view, RECEIVING) == set()
    with pytest.raises(NoEntenteInForce, match=f"{RECEIVING} has no entente with {CSSS} that lets it act"):
        world.check(RECEIVING, view, T0 + 80 * MIN)
    activate(world.ententes, "ENT-CLSC", crisis_content(RECEIVING), at=T0 + 75 * MIN)
    world.check(RECEIVING, view, T0 + 80 * MIN)


def test_the_entente_the_case_names_is_the_one_that_counts() -> None:
    """Another entente between the same parties does not keep a partner on a case asked under a revoked one."""
    world = World()
    view = world.referred_and_asked()
    activate(world.ententes, "ENT-AUTRE", crisis_content(PROVIDER, territory="laval-ouest"), at=T0 + MIN)
    world.revoke()
    with pytest.raises(NoEntenteInForce, match="ENT-CC revoked"):
        world.check(PROVIDER, view, start_of(NOTICE_EFFECTIVE))
    assert view.attempts[0].candidate.team == TeamRef(team_id=PROVIDER, org_id=PROVIDER,
                                                      name=f"Organisme {PROVIDER}")
