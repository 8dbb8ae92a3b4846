"""A partner acts on a case while the entente that lets it act is in force, and on the cases it holds to their
end (issue 10: « a partner only while the entente that lets it act is in force »; issue 11: « its organisation
is not asked for new handoffs … and receives no information under that entente; cases it already holds keep
going to their end »; seed 001 L1172-1173, L1181-1184 — the CSSS answers for the organisation it entrusted;
seed 000 Annex 3 s. 10-11): the partner that referred under an entente, the community organisation asked under
one, a receiving service under an entente naming it and the CSSS — each refused `no_entente_in_force` from the
moment its entente is revoked or expires on everything it does not hold (a handoff asked and not accepted),
and let through on the cases it took while the entente was in force, decided over the ententes the record
holds (`Principals.check_case_standing`, fed by the ententes use case)."""

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
from domain.principals.standing import NoEntenteInForce, holds_case, in_force_then, named_ententes, taken_at
from tests import crisis_builders as builders
from tests.crisis_builders import (
    CSSS,
    MIN,
    RECEIVING,
    T0,
    activate,
    crisis_content,
    memory_record,
    open_cmd,
)
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

    def accepted(self) -> CaseView:
        """PROVIDER's team accepts the handoff it was asked (before the revocation takes effect)."""
        self.referred_and_asked()
        return self.cases.execute(CODE, c.AcceptHandoff(by="cc-chef", actor_org=PROVIDER, team_id=PROVIDER),
                                  T0 + 3 * MIN)

    def revoke(self) -> None:
        self.ententes.execute("ENT-CC", ac.GiveRevocationNotice(by="dsp", party_id=CSSS, reason="fin du financement",
                                                                effective_date=NOTICE_EFFECTIVE), T0 + 2 * MIN)

    def check(self, org: str, view: CaseView, now: datetime) -> None:
        self.principals.check_case_standing(partner(org), view, now)


def ended_message(org: str, how: str) -> str:
    return (f"{org} acts on case {CODE} only under an entente in force with {CSSS}: ENT-CC {how}; the entente "
            f"ended: only the cases {org} held before it ended continue (a handoff it accepted, a follow-up or a "
            "référence given to it)")


def test_a_team_asked_and_not_accepted_is_refused_from_the_revocation_the_referrer_keeps_its_case() -> None:
    """Issue 11: the organisation « is not asked for new handoffs » once the revocation takes effect — a
    handoff it was asked and had not accepted is refused to it (its acceptance, its decline, its reads); the
    partner that referred the case under the entente, and still has it while a team is sought, keeps it."""
    world = World()
    view = world.referred_and_asked()
    assert named_ententes(view, REFERRER) == {"ENT-CC"} and named_ententes(view, PROVIDER) == {"ENT-CC"}
    assert view.holder == REFERRER and taken_at(view, REFERRER) == [view.opened_at]
    assert taken_at(view, PROVIDER) == []  # asked, not taken
    world.revoke()
    revoked_at = start_of(NOTICE_EFFECTIVE)
    for org in (REFERRER, PROVIDER):
        world.check(org, view, revoked_at - MIN)  # notice given, not yet in effect: still in force
    with pytest.raises(NoEntenteInForce) as refused:
        world.check(PROVIDER, view, revoked_at)
    assert refused.value.code == "no_entente_in_force"
    assert refused.value.message == ended_message(PROVIDER, f"revoked by {CSSS} from 2027-06-01")
    world.check(REFERRER, view, revoked_at)  # it opened the case under ENT-CC in force, and still holds it
    # once the calendar has recorded the revocation, the same
    world.ententes.advance("ENT-CC", revoked_at)
    with pytest.raises(NoEntenteInForce):
        world.check(PROVIDER, view, revoked_at + timedelta(days=1))
    world.check(REFERRER, view, revoked_at + timedelta(days=1))


def test_a_team_that_accepted_before_the_revocation_keeps_the_case_to_its_end() -> None:
    """Issue 11: « cases it already holds keep going to their end »; the CSSS answers for the organisation it
    entrusted the intervention to (seed 001 L1181-1184). Held from the acceptance (T0 + 3 min, ENT-CC in
    force), through the revocation and its recording, while the case is the team's; not once it handed the
    case back, nor once the case is closed."""
    world = World()
    view = world.accepted()
    assert view.holder == PROVIDER and taken_at(view, PROVIDER) == [T0 + 3 * MIN]
    assert taken_at(view, REFERRER) == []  # the case went to the team: the referrer no longer holds it
    world.revoke()
    revoked_at = start_of(NOTICE_EFFECTIVE)
    world.check(PROVIDER, view, revoked_at)
    with pytest.raises(NoEntenteInForce, match="only the cases cps-laval held before it ended continue"):
        world.check(REFERRER, view, revoked_at)
    entente = world.ententes.advance("ENT-CC", revoked_at + MIN)  # the calendar records the revocation
    assert entente.status.value == "revoquee"
    view = world.cases.execute(CODE, c.RecordArrival(by="cc-1", actor_org=PROVIDER), revoked_at + 2 * MIN)
    view = world.cases.execute(CODE, builders.outcome(org=PROVIDER), revoked_at + 3 * MIN)
    world.check(PROVIDER, view, revoked_at + timedelta(days=1))
    assert holds_case(view, PROVIDER, [entente])
    back = world.cases.execute(CODE, c.HandBack(by="cc-1", actor_org=PROVIDER), revoked_at + timedelta(days=1))
    assert back.holder == REFERRER and not holds_case(back, PROVIDER, [entente])
    with pytest.raises(NoEntenteInForce):
        world.check(PROVIDER, back, revoked_at + timedelta(days=2))
    world.check(REFERRER, back, revoked_at + timedelta(days=2))  # back with the partner that referred it
    closed = world.cases.execute(CODE, c.CloseCase(by="cps-1", actor_org=REFERRER, reason="crise résorbée"),
                                 revoked_at + timedelta(days=2))
    with pytest.raises(NoEntenteInForce):  # the referrer's case is over: no more reads under the ended entente
        world.check(REFERRER, closed, revoked_at + timedelta(days=3))


def test_a_handoff_accepted_after_the_revocation_took_effect_is_not_held() -> None:
    """The acceptance moment recorded in the case decides: the same intervention, accepted after the end (the
    door refuses that acceptance; here the view says so), does not make the case the team's."""
    world = World()
    view = world.accepted()
    world.revoke()
    revoked_at = start_of(NOTICE_EFFECTIVE)
    entente = world.ententes.view("ENT-CC")
    assert view.intervention is not None and holds_case(view, PROVIDER, [entente])  # accepted while in force
    late = view.model_copy(update={"intervention": view.intervention.model_copy(
        update={"accepted_at": revoked_at + MIN})})
    assert not holds_case(late, PROVIDER, [entente])
    with pytest.raises(NoEntenteInForce):
        world.check(PROVIDER, late, revoked_at + 2 * MIN)


def test_the_moment_the_entente_expires_its_partner_is_refused() -> None:
    world = World(end=date(2027, 12, 31))
    view = world.referred_and_asked()
    world.check(PROVIDER, view, start_of(date(2027, 12, 31)) + timedelta(hours=23))  # its last day
    with pytest.raises(NoEntenteInForce, match="ENT-CC expired after 2027-12-31; the entente ended"):
        world.check(PROVIDER, view, start_of(date(2028, 1, 1)))


def test_a_reference_given_before_the_entente_expired_continues_a_later_one_does_not() -> None:
    """A receiving service holds the référence sent to it while its entente with the CSSS was in force, to
    the person's reaching the service (issue 11); a référence sent to it after the end is not held."""
    world = World()
    activate(world.ententes, "ENT-CLSC", crisis_content(RECEIVING, end=date(2027, 3, 2)))
    expired = start_of(date(2027, 3, 3))

    def referred(code: str, at: datetime) -> CaseView:
        world.cases.open(open_cmd(code), at)
        world.cases.execute(code, builders.request(), at + MIN)
        world.cases.execute(code, builders.accept(), at + 5 * MIN)
        world.cases.execute(code, builders.arrive(), at + 30 * MIN)
        world.cases.execute(code, builders.outcome(), at + 60 * MIN)
        return world.cases.execute(code, builders.referral(), at + 70 * MIN)

    view = referred(CODE, T0)
    assert taken_at(view, RECEIVING) == [T0 + 70 * MIN]
    world.check(RECEIVING, view, expired + MIN)
    view = world.cases.execute(CODE, builders.accept_referral(), expired + MIN)
    world.check(RECEIVING, view, expired + 2 * MIN)
    closed = world.cases.execute(CODE, builders.reached(), expired + 3 * MIN)
    with pytest.raises(NoEntenteInForce, match="ENT-CLSC expired after 2027-03-02"):
        world.check(RECEIVING, closed, expired + 4 * MIN)
    sent_late = referred("C-ABCDEFGH24", expired)
    with pytest.raises(NoEntenteInForce, match=f"only the cases {RECEIVING} held before it ended continue"):
        world.check(RECEIVING, sent_late, expired + 80 * MIN)


def test_in_force_then_reads_the_dates_whatever_the_calendar_recorded() -> None:
    """Revoked and recorded as such, the entente was still in force before its revocation took effect, and
    never before its activation; one never activated never was."""
    world = World()
    world.revoke()
    effective = start_of(NOTICE_EFFECTIVE)
    recorded = world.ententes.advance("ENT-CC", effective)
    assert recorded.status.value == "revoquee" and recorded.activated_on == date(2027, 3, 1)
    assert in_force_then(recorded, effective - MIN) and not in_force_then(recorded, effective)
    assert not in_force_then(recorded, start_of(date(2027, 3, 1)) - MIN)
    world.ententes.draft(ac.DraftEntente(by="dsp", code="ENT-BROUILLON", content=crisis_content(RECEIVING)), T0)
    assert not in_force_then(world.ententes.view("ENT-BROUILLON"), T0 + MIN)


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
