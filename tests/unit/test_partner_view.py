"""A partner's operational view of a crisis case (issue 10; `domain.crisis.partner_view`): its own part of the
case (seed 001 L1172-1173, L1181-1184: a partner takes part only under an entente with the CSSS), and of the
intake only what a registered handoff sending gave it (issue 4: consent, or the emergency path of LSSSS 19.0.1 /
LRSSS 74; nothing on the basis "none"). Never the subject id, never a reason typed by someone, never the sealed
characterisation beyond the items sent. The sendings are looked up in the register, never decided anew; the
read is registered in the record-level reads log under its own policy (`decide_record_read`)."""

from __future__ import annotations

from datetime import date

import pytest

from domain.audit.erasure import ERASED_TEXT, SHREDDED
from domain.audit.reads import PARTNER_RULE, decide_record_read
from domain.audit.record_reads import ReadKind
from domain.crisis import commands as c
from domain.crisis.handoff import Sending
from domain.crisis.model import HandoffSharing, IntakeService, ReceivingService, ReceivingServiceType
from domain.crisis.partner_view import PartyRole, partner_view
from domain.crisis.state import AttemptStatus, CaseView
from domain.disclosure.model import Outcome
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes.model import InformationSharing, ReferralChannel
from domain.principals.access import NotAParty
from domain.standards.config import CRISE_URGENCE, UrgencyLevel
from tests.crisis_builders import CSSS, MIN, T0, TEAM, activate, memory_record, open_cmd, outcome
from tests.crisis_builders import crisis_content as content
from tests.disclosure_builders import CONFIG, grant
from usecases.audit.reads import Reader, Reads
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes
from usecases.handoff import HandoffDisclosures, registered_sendings

CODE = "C-ABCDEFGH23"
PROVIDER = "cc-laval"  # the crisis centre ENT-CC lets intervene
REFERRER = "cps-laval"  # refers under ENT-CC
RECEIVING = "clsc-ouest"
SUBJECT = "p-7f3a9c2e"
REASON = "Idees suicidaires apres rupture, Jean-Tremblay-1957"  # the intake's reason in words
DECLINED = "équipe déjà en intervention"  # typed by the CSSS team that declined


class Case:
    """ENT-CC in force with a section 7 naming the intake items; the crisis use cases on a record in memory."""

    def __init__(self) -> None:
        self.record = memory_record()
        clause = InformationSharing(permitted=True, purposes=["continuité"],
                                    items=["motif", "niveau_urgence", "estimation_risques"],
                                    security_measures=["chiffrement"])
        activate(Ententes(self.record), "ENT-CC",
                 content(PROVIDER, may_refer=[REFERRER]).model_copy(update={"information_sharing": clause}))
        self.cases = CrisisCases(self.record)
        self.disclosures = Disclosures(self.record)

    def handed_to_the_centre(self, sharing: HandoffSharing | None = None, actor: str = CSSS) -> CaseView:
        """Opened (by `actor`), the CSSS team asked first declines with a typed reason; the centre is asked."""
        service = IntakeService.PARTNER if actor != CSSS else IntakeService.INFO_SOCIAL
        self.cases.open(open_cmd(CODE, service=service, actor=actor), T0)
        self.cases.execute(CODE, c.RequestMobileIntervention(by="intervenant-1", actor_org=actor, csss_teams=[TEAM],
                                                             sharing=sharing), T0 + MIN)
        return self.cases.execute(CODE, c.DeclineHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id,
                                                         reason=DECLINED), T0 + 2 * MIN)

    def sent(self) -> list[Sending]:
        """The workflow's step: each community team's sending decided and registered."""
        return HandoffDisclosures(self.cases, self.disclosures).ensure(CODE)

    def events(self) -> int:
        return self.record.recorder.max_notification_id() or 0


OPENING = {"reason": REASON, "person_ref": "RAMQ-TREJ57031299"}  # the words recorded with the intake


def test_a_team_asked_with_consent_sees_the_items_its_sending_allowed_and_nothing_of_the_person() -> None:
    """LSSSS 19.1 / LRSSS 6: the consent named the centre and two items; the view gives those two (the reason in
    words, the urgency), not the risk estimates, nor the subject id, nor the CSSS team's attempt and its typed
    decline, nor the person reference written with the intake."""
    case = Case()
    view = case.handed_to_the_centre()
    sending = Sending(attempt=2, team_org=PROVIDER, basis="consent", allowed_items=("motif", "niveau_urgence"))
    seen = partner_view(view, PROVIDER, [sending], OPENING)
    assert (seen.case_code, seen.org_id, seen.stage.value, seen.holds_case) == (CODE, PROVIDER, "transfert", False)
    assert seen.roles == [PartyRole.ASKED]
    assert [(a.number, a.team_id, a.status) for a in seen.attempts] == [(2, PROVIDER, AttemptStatus.PENDING)]
    asked = seen.attempts[0]
    assert asked.answer_by == view.deadline(asked.answer_deadline).due_at  # type: ignore[union-attr]
    assert asked.sending is not None
    assert (asked.sending.decision_id, asked.sending.basis, asked.sending.items) == (
        f"{CODE}/envoi/2", "consent", ["motif", "niveau_urgence"])
    assert (seen.intake.items, seen.intake.motif, seen.intake.niveau_urgence, seen.intake.estimation_risques) == (
        ["motif", "niveau_urgence"], REASON, UrgencyLevel.HIGH, None)
    assert [d.deadline_id for d in seen.deadlines] == [asked.answer_deadline]
    text = seen.model_dump_json()
    for never in (SUBJECT, "RAMQ-TREJ57031299", DECLINED, "p38", "crisis_type", TEAM.team_id):
        assert never not in text


def test_on_the_basis_none_the_team_is_asked_without_any_intake_content() -> None:
    """Default deny (LSSSS 19 / LRSSS 5): a sending that allowed nothing gives nothing, whatever it was asked
    for; an attempt whose sending is not registered yet gives nothing either."""
    case = Case()
    view = case.handed_to_the_centre()
    none = Sending(attempt=2, team_org=PROVIDER, basis="none", allowed_items=())
    seen = partner_view(view, PROVIDER, [none], OPENING)
    assert seen.intake.model_dump() == {"items": [], "motif": None, "niveau_urgence": None,
                                        "estimation_risques": None}
    assert seen.attempts[0].sending is not None and seen.attempts[0].sending.basis == "none"
    unsent = partner_view(view, PROVIDER, [], OPENING)
    assert unsent.attempts[0].sending is None and unsent.intake.items == []


def test_another_organisations_sending_gives_this_one_nothing() -> None:
    """A sending is a communication to one recipient (LSSSS 27.2 / LRSSS 265): the partner that referred sees
    its own part (it opened the case) and nothing of what the centre was sent; an organisation with no part in
    the case gets no view at all."""
    case = Case()
    view = case.handed_to_the_centre(actor=REFERRER)
    to_centre = Sending(attempt=2, team_org=PROVIDER, basis="consent", allowed_items=("motif",))
    seen = partner_view(view, REFERRER, [to_centre], OPENING)
    assert (seen.roles, seen.attempts, seen.intake.items, seen.intake.motif) == ([PartyRole.INTAKE], [], [], None)
    assert seen.holds_case  # the case is back with the referrer while a team is asked (`TeamAsked`)
    with pytest.raises(NotAParty, match="cc-autre is not a party to case C-ABCDEFGH23"):
        partner_view(view, "cc-autre", [to_centre], OPENING)


def test_the_team_that_intervenes_and_the_receiving_service_see_their_steps_not_what_was_found() -> None:
    """Seed 001 L1181-1184 (the centre intervenes), L729-733 (a référence personnalisée to the receiving
    service's intake worker): each sees its step and the deadlines it must meet; the outcome of the intervention
    (sealed, issue 9) and the receiving service's typed refusal stay out."""
    case = Case()
    case.handed_to_the_centre()
    case.cases.execute(CODE, c.AcceptHandoff(by="chef", actor_org=PROVIDER, team_id=PROVIDER), T0 + 3 * MIN)
    case.cases.execute(CODE, c.RecordArrival(by="chef", actor_org=PROVIDER), T0 + 30 * MIN)
    case.cases.execute(CODE, outcome(org=PROVIDER), T0 + 60 * MIN)
    case.cases.execute(CODE, c.StartReferral(
        by="chef", actor_org=PROVIDER, subject_id=SUBJECT, channel=ReferralChannel.TELEPHONE,
        receiving=ReceivingService(org_id=RECEIVING, service=ReceivingServiceType.CONSULTATION_SOCIALE),
        personal={"note": "rappeler Jean demain"}), T0 + 70 * MIN)
    view = case.cases.execute(CODE, c.RefuseReferral(by="accueil-1", actor_org=RECEIVING, reason="hors territoire"),
                              T0 + 80 * MIN)
    centre = partner_view(view, PROVIDER, [], OPENING)
    assert centre.roles == [PartyRole.ASKED, PartyRole.INTERVENING, PartyRole.REFERRER]
    assert centre.intervention is not None
    assert (centre.intervention.team_id, centre.intervention.arrived_at, centre.intervention.outcome_recorded_at) == (
        PROVIDER, T0 + 30 * MIN, T0 + 60 * MIN)
    assert CRISE_URGENCE in [d.deadline_id for d in centre.deadlines]  # its team had to reach the person
    assert [(r.number, r.as_receiving) for r in centre.referrals] == [(1, False)]
    receiving = partner_view(view, RECEIVING, [], OPENING)
    assert receiving.roles == [PartyRole.RECEIVING] and receiving.attempts == [] and receiving.intervention is None
    assert [(r.number, r.as_receiving, r.status.value) for r in receiving.referrals] == [(1, True, "refusee")]
    assert [d.deadline_id for d in receiving.deadlines] == ["reference.1.decision"]
    for seen in (centre, receiving):
        text = seen.model_dump_json()
        for never in ("hors territoire", "rappeler Jean", "crise_desamorcee", SUBJECT, DECLINED):
            assert never not in text


def test_after_a_shred_the_reason_reads_as_erased() -> None:
    """Issue 9: once the person's key is destroyed, the words of the intake read as erased, even to a team a
    sending gave them to."""
    view = Case().handed_to_the_centre()
    sending = Sending(attempt=2, team_org=PROVIDER, basis="emergency", allowed_items=("motif",))
    assert partner_view(view, PROVIDER, [sending], SHREDDED).intake.motif == ERASED_TEXT


def test_the_partner_read_looks_the_sendings_up_and_registers_one_read() -> None:
    """The sending was decided once, with the consent, when the centre was asked; reading the view decides
    nothing again (the register holds the same decisions) and registers exactly one record-level read, with the
    case and the sending it relied on."""
    case = Case()
    case.disclosures.grant_consent(grant(key="F-77", recipients=[PROVIDER], items=["motif", "niveau_urgence"],
                                         at=T0, subject_id=SUBJECT, grantor_id=SUBJECT), T0)
    case.handed_to_the_centre(HandoffSharing(consent_key="F-77", items=["motif", "niveau_urgence",
                                                                        "estimation_risques"]))
    assert [(s.attempt, s.basis, sorted(s.allowed_items)) for s in case.sent()] == [
        (2, "consent", ["motif", "niveau_urgence"])]
    decisions = case.disclosures.accesses(subject_id=SUBJECT)
    before = case.events()
    assert registered_sendings(case.disclosures, case.cases.get(CODE)) == case.sent()
    assert case.events() == before  # a lookup: nothing decided, nothing recorded
    reads = Reads(case.record, case.disclosures, case.cases)
    done = reads.partner_case(CODE, PROVIDER, Reader.of(PROVIDER, Role.PARTNER_ORG), T0 + 5 * MIN)
    assert done.view is not None
    assert (done.view.intake.items, done.view.intake.motif) == (["motif", "niveau_urgence"], REASON)
    assert case.events() == before + 1
    assert case.disclosures.accesses(subject_id=SUBJECT) == decisions
    (read,) = reads.record_reads(actor_id=PROVIDER)
    assert (read.kind, read.outcome, read.rule, read.scope) == (
        ReadKind.PARTNER_CASE, Outcome.ALLOWED, PARTNER_RULE,
        {"case": CODE, "org": PROVIDER, "sendings": f"{CODE}/envoi/2", "items": "motif niveau_urgence"})


def test_a_partners_view_is_read_by_a_partner_for_continuity_only() -> None:
    """Default deny: the view is a partner's, for the continuity of services under its entente; it is not
    audit metadata (an auditor reads the case through the disclosure rules), nor read for another purpose."""
    day = date(2026, 12, 1)
    for role in (Role.PARTNER_ORG, Role.INTERVENANT, Role.SUPERVISOR):
        allowed = decide_record_read(ReadKind.PARTNER_CASE, role, PurposeKind.CONTINUITY, day, CONFIG)
        assert (allowed.outcome, allowed.rule) == (Outcome.ALLOWED, PARTNER_RULE)
    for role, purpose in ((Role.AUDITOR, PurposeKind.AUDIT), (Role.PARTNER_ORG, PurposeKind.CARE),
                          (Role.USAGER, PurposeKind.CONTINUITY)):
        refused = decide_record_read(ReadKind.PARTNER_CASE, role, purpose, day, CONFIG)
        assert refused.outcome is Outcome.REFUSED
        assert refused.reason.endswith(f"not by the role {role.value} for the purpose {purpose.value}")

