"""The crisis case, step by step (seed 001: AAOR L681-900, Info-Social L901-1159, crisis L1160-1385).

Every test drives the case through its public use cases (`CrisisCases`) on an
in-memory record (tests/crisis_world.py), the way an activity does, and reads the view a workflow reads.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.record.record import Record
from domain.crisis import commands as c
from domain.crisis import rules
from domain.crisis.aggregate import case_id
from domain.crisis.model import (
    CandidateKind,
    ClosureKind,
    EmergencyService,
    Intake,
    IntakeService,
    InterventionOutcome,
    PhoneDisposition,
    ReceivingServiceType,
    RequestMode,
    SpecificEpisode,
    TeamRef,
    UrgencyLevel,
    new_case_code,
)
from domain.crisis.state import AttemptStatus, CaseStage, DeadlineStatus, ReferralStatus
from domain.errors import DomainError, NotFound, RuleViolation
from domain.standards import StandardsConfig, compliance
from domain.standards import config as s
from tests.crisis_builders import CSSS, DAY, HOUR, MIN, SUBJECT, T0, TEAM, TEAM_2, request, sup
from tests.crisis_world import CODE, World, outcome, referral, status
from usecases.crisis import CrisisCases


# ---------------------------------------------------------------------- 1. intake
def test_closing_at_the_phone_is_a_normal_outcome() -> None:
    """L920-924, L932-941: Info-Social may answer with information or stabilise the crisis by phone."""
    w = World()
    w.open(urgency=UrgencyLevel.NONE, face=False)
    view = w.do(c.CloseAtPhone(by="intervenant-1", actor_org=CSSS, disposition=PhoneDisposition.INFORMATION,
                               reason="information sur les ressources"), T0 + 20 * MIN)
    assert view.stage is CaseStage.CLOSED and view.holder is None
    assert view.closure is not None and view.closure.kind is ClosureKind.AT_PHONE
    assert w.events() == ["Opened", "CaseClosed"]


def test_info_social_answer_within_4_minutes_met_and_missed() -> None:
    """Standard info_social.reponse, L1018-1019: call answered in 4 minutes or less."""
    w = World()
    view = w.open(received=T0 - 3 * MIN, first=T0)
    assert status(view, s.INFO_SOCIAL_REPONSE) is DeadlineStatus.MET
    late = w.open(received=T0 - 5 * MIN, first=T0, code="C-ZZZZZZZZ22", command_id="o-2")
    assert status(late, s.INFO_SOCIAL_REPONSE) is DeadlineStatus.MISSED
    assert late.deadline(s.INFO_SOCIAL_REPONSE).stopped_at == T0  # type: ignore[union-attr]


def test_aaor_first_contact_2_hours_in_person_and_callback_24_hours_by_phone() -> None:
    """Standards aaor.premier_contact (L778-779) and aaor.retour_appel (L781-782), measured from the request."""
    w = World()
    view = w.open(service=IntakeService.AAOR, mode=RequestMode.IN_PERSON, received=T0 - 90 * MIN)
    assert status(view, s.AAOR_PREMIER_CONTACT) is DeadlineStatus.MET
    assert view.deadline(s.AAOR_RETOUR_APPEL) is None
    late = w.open(service=IntakeService.AAOR, mode=RequestMode.PHONE, received=T0 - 30 * HOUR,
                  code="C-ZZZZZZZZ22", command_id="o-2")
    assert status(late, s.AAOR_RETOUR_APPEL) is DeadlineStatus.MISSED
    assert late.deadline(s.AAOR_PREMIER_CONTACT) is None


def test_aaor_analysis_within_10_days_met_when_the_crisis_process_starts() -> None:
    """Standard aaor.analyse (L784-785) stops when the orientation is decided; crisis ⇒ immediate process (L648-650)."""
    w = World()
    w.open(service=IntakeService.AAOR, received=T0 - 2 * DAY)
    view = w.do(request(), T0 + 10 * MIN)
    d = view.deadline(s.AAOR_ANALYSE)
    assert d is not None and d.status is DeadlineStatus.MET and d.due_at == T0 + 8 * DAY
    assert status(view, s.AAOR_URGENCE) is DeadlineStatus.MET


def test_aaor_analysis_missed_escalates() -> None:
    """Standard aaor.analyse (L784-785): 10 days pass without a decision: DeadlineMissed and an escalation."""
    w = World()
    w.open(service=IntakeService.AAOR, urgency=UrgencyLevel.NONE, face=False)
    view = w.cases.advance(CODE, T0 + 10 * DAY)
    assert status(view, s.AAOR_ANALYSE) is DeadlineStatus.MISSED
    assert [e.deadline_id for e in view.escalations] == [s.AAOR_ANALYSE]
    assert w.events()[-2:] == ["DeadlineMissed", "Escalated"]
    assert view.stage is CaseStage.INTAKE  # an escalation alerts; the case stays where it is


@pytest.mark.parametrize(
    ("level", "delay"),
    [(UrgencyLevel.IMMEDIATE, 60 * MIN), (UrgencyLevel.HIGH, 4 * HOUR), (UrgencyLevel.MODERATE, 24 * HOUR),
     (UrgencyLevel.NONE, None)],
)
def test_aaor_urgent_situation_deadline_by_urgency_level(level: UrgencyLevel, delay: timedelta | None) -> None:
    """Standard aaor.urgence (L787-788): immediately or within 24 h « selon le degré d'urgence » (scale configured)."""
    w = World()
    view = w.open(service=IntakeService.AAOR, urgency=level)
    d = view.deadline(s.AAOR_URGENCE)
    if delay is None:
        assert d is None
        return
    assert d is not None and d.due_at == T0 + delay
    missed = w.cases.advance(CODE, T0 + delay)
    assert status(missed, s.AAOR_URGENCE) is DeadlineStatus.MISSED
    assert missed.escalations[-1].deadline_id == s.AAOR_URGENCE


def test_a_partner_opens_a_case_only_under_an_agreement_to_that_effect() -> None:
    """L1172-1173, L1236-1239: a partner refers to mobile crisis if it has an entente to that effect with the CSSS."""
    w = World()
    view = w.cases.open(c.OpenCase(
        by="cps-1", actor_org="cps-laval", case_code=CODE, responsible_org=CSSS, territory="laval",
        subject_id=SUBJECT, intake=Intake(service=IntakeService.PARTNER, urgency=UrgencyLevel.HIGH,
                                          face_to_face_needed=True),
    ), T0, ententes=[w.entente])
    assert view.referring_agreement == "ENT-CC"
    assert view.intake_org == "cps-laval" and view.deadlines == []
    with pytest.raises(RuleViolation, match="no entente in force") as info:
        w.cases.open(c.OpenCase(
            by="mj-1", actor_org="maison-jeunes", case_code="C-ZZZZZZZZ22", responsible_org=CSSS,
            territory="laval", subject_id=SUBJECT,
            intake=Intake(service=IntakeService.PARTNER, urgency=UrgencyLevel.HIGH, face_to_face_needed=True),
        ), T0)
    assert info.value.code == "no_agreement"
    with pytest.raises(NotFound):
        w.cases.view("C-ZZZZZZZZ22")


def test_info_social_or_aaor_intake_is_done_by_the_responsible_csss() -> None:
    """L903-905, L683-685: AAOR and Info-Social are the CSSS's services (« RESPONSABILITÉ : CSSS »)."""
    w = World()
    with pytest.raises(RuleViolation) as info:
        w.open(service=IntakeService.AAOR, actor="cps-laval")
    assert (info.value.code, info.value.message) == (
        "wrong_party", "opening a case through the AAOR is done by cisss-laval, not by cps-laval")
    with pytest.raises(NotFound):
        w.cases.view(CODE)


def test_intake_moments_must_be_coherent() -> None:
    """Bad data: a first contact before the request, or a request after the opening, is refused, and nothing opens."""
    w = World()
    with pytest.raises(ValidationError, match="cannot precede the request"):
        w.open(received=T0 - MIN, first=T0 - 2 * MIN)
    with pytest.raises(RuleViolation, match="is later than the opening") as info:
        w.open(received=T0 + 6 * MIN)  # beyond the 5 min allowed for clocks that disagree
    assert info.value.code == "moment_in_future"
    with pytest.raises(NotFound):
        w.cases.view(CODE)


# ---------------------------------------------------------------------- 2. handoff
def test_handoff_accepted_by_the_first_team() -> None:
    """L1169-1173, L1181-1184: the CSSS team is asked first; once it accepts, it holds the case."""
    w = World()
    w.open()
    view = w.do(request(), T0 + MIN)
    assert view.stage is CaseStage.HANDOFF
    assert [(x.team.team_id, x.kind) for x in view.candidates] == [
        ("crise-laval-1", CandidateKind.CSSS_TEAM), ("cc-laval", CandidateKind.COMMUNITY_ORG)]
    assert view.pending_attempt is not None and view.pending_attempt.candidate.team == TEAM
    assert view.deadline("reponse_equipe.1").due_at == T0 + 11 * MIN  # type: ignore[union-attr]
    view = w.do(c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id), T0 + 3 * MIN)
    assert view.stage is CaseStage.INTERVENTION and view.holder == CSSS
    assert view.intervention is not None and view.intervention.team == TEAM
    assert status(view, "reponse_equipe.1") is DeadlineStatus.MET
    assert w.events() == ["Opened", "MobileInterventionRequested", "TeamAsked", "HandoffAccepted"]


def test_decline_cascade_asks_the_next_team() -> None:
    """Issue 3 step 2: a team that declines is skipped and the next candidate (an organisation under entente) asked."""
    w = World()
    w.open()
    w.do(request(), T0)
    view = w.do(c.DeclineHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id, reason="équipe déjà mobilisée"),
                T0 + 2 * MIN)
    assert [a.status for a in view.attempts] == [AttemptStatus.DECLINED, AttemptStatus.PENDING]
    pending = view.pending_attempt
    assert pending is not None and pending.candidate.team.team_id == "cc-laval"
    assert pending.candidate.agreement_code == "ENT-CC" and pending.candidate.may_share_information
    view = w.do(c.AcceptHandoff(by="cc-1", actor_org="cc-laval", team_id="cc-laval"), T0 + 4 * MIN)
    assert view.holder == "cc-laval"
    assert view.intervention is not None and view.intervention.agreement_code == "ENT-CC"


def test_timeout_cascade_asks_the_next_team_at_the_moment_the_answer_was_due() -> None:
    """Standard crise.reponse_equipe (regional, 10 min by default): no answer in time ⇒ the next team is asked."""
    w = World()
    w.open()
    w.do(request(), T0)
    view = w.cases.advance(CODE, T0 + 15 * MIN)  # the timer fired late: the record is the same
    assert [a.status for a in view.attempts] == [AttemptStatus.TIMED_OUT, AttemptStatus.PENDING]
    assert status(view, "reponse_equipe.1") is DeadlineStatus.MISSED
    assert view.attempts[1].asked_at == T0 + 10 * MIN
    assert view.deadline("reponse_equipe.2").due_at == T0 + 20 * MIN  # type: ignore[union-attr]
    assert "HandoffTimedOut" in w.events()


def test_when_no_team_accepts_the_case_escalates_to_a_supervisor() -> None:
    """Issue 3 step 2: every candidate declined or timed out ⇒ escalation to a supervisor of the CSSS."""
    w = World()
    w.open()
    w.do(request(), T0)
    w.do(c.DeclineHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id, reason="occupée"), T0 + MIN)
    view = w.cases.advance(CODE, T0 + 11 * MIN)
    assert view.stage is CaseStage.SUPERVISOR and view.holder == CSSS
    assert [a.status for a in view.attempts] == [AttemptStatus.DECLINED, AttemptStatus.TIMED_OUT]
    assert view.escalations[-1].deadline_id is None and "aucune équipe" in view.escalations[-1].reason
    assert w.events()[-2:] == ["HandoffTimedOut", "Escalated"]
    view = w.do(sup(c.Reassign, team=TEAM_2, reason="deuxième équipe de garde rappelée"), T0 + 15 * MIN)
    assert view.stage is CaseStage.HANDOFF
    assert view.pending_attempt is not None and view.pending_attempt.assigned_by_supervisor


def test_no_candidate_at_all_escalates_at_once() -> None:
    """No CSSS team and no entente in force for the territory: the supervisor must assign a team."""
    w = World()
    w.open()
    view = w.cases.execute(CODE, c.RequestMobileIntervention(by="i-1", actor_org=CSSS), T0, ententes=[])
    assert view.candidates == [] and view.stage is CaseStage.SUPERVISOR


def test_specific_program_first_unless_an_agreement_says_otherwise() -> None:
    """L1241-1243: an active episode in a specific program routes the crisis to that program."""
    w = World()
    w.open()
    episode = SpecificEpisode(program="sante-mentale-adulte", team=TeamRef(team_id="sma-laval", org_id=CSSS))
    view = w.do(request(episode=episode), T0)
    assert view.pending_attempt is not None
    assert view.pending_attempt.candidate.kind is CandidateKind.SPECIFIC_PROGRAM


def test_mobile_intervention_only_when_judged_necessary() -> None:
    """L1236-1239: the service follows a judgement that an intervention in the community is necessary."""
    w = World()
    w.open(face=False)
    w.refused(request(), "face_to_face_not_needed", match="Orientations ministérielles")


def test_a_csss_team_list_with_a_foreign_team_is_bad_data() -> None:
    """The CSSS's own teams belong to the CSSS; an outside team comes only through an entente."""
    w = World()
    w.open()
    w.refused(c.RequestMobileIntervention(by="i-1", actor_org=CSSS, csss_teams=[TeamRef(team_id="x", org_id="y")]),
              "not_a_csss_team")


# ---------------------------------------------------------------------- 3. intervention
def test_mobile_crisis_urgent_is_immediate_met_on_arrival() -> None:
    """Standard crise.urgence, L1267: « Toute situation considérée urgente est traitée de façon immédiate »."""
    w = World()
    w.open()
    w.do(request(), T0)
    w.do(c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id), T0 + 2 * MIN)
    view = w.do(c.RecordArrival(by="eq-1", actor_org=CSSS), T0 + 45 * MIN)
    assert status(view, s.CRISE_URGENCE) is DeadlineStatus.MET
    assert view.intervention is not None and view.intervention.arrived_at == T0 + 45 * MIN


def test_mobile_crisis_urgent_missed_escalates_and_late_arrival_stays_missed() -> None:
    """Standard crise.urgence, L1267: past "immediate" (60 min by default) ⇒ missed and escalated."""
    w = World()
    w.open()
    w.do(request(), T0)
    w.do(c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id), T0 + 2 * MIN)
    view = w.cases.advance(CODE, T0 + 61 * MIN)
    assert status(view, s.CRISE_URGENCE) is DeadlineStatus.MISSED
    assert view.escalations[-1].deadline_id == s.CRISE_URGENCE
    view = w.do(c.RecordArrival(by="eq-1", actor_org=CSSS), T0 + 80 * MIN)
    d = view.deadline(s.CRISE_URGENCE)
    assert d is not None and d.status is DeadlineStatus.MISSED and d.stopped_at == T0 + 80 * MIN


def test_a_non_urgent_mobile_intervention_has_no_immediate_deadline() -> None:
    """L1267 applies to urgent situations only."""
    w = World()
    w.open(urgency=UrgencyLevel.NONE)
    assert w.do(request(), T0).deadline(s.CRISE_URGENCE) is None


@pytest.mark.parametrize(
    ("result", "services", "p38"),
    [
        (InterventionOutcome.CRISIS_RESOLVED, [], False),
        (InterventionOutcome.HOSPITAL_EMERGENCY, [EmergencyService.AMBULANCE], False),
        (InterventionOutcome.CRISIS_HOUSING, [], False),
        (InterventionOutcome.P38_APPLICATION, [EmergencyService.POLICE], True),
    ],
)
def test_intervention_outcomes(result: InterventionOutcome, services: list[EmergencyService], p38: bool) -> None:
    """L1224-1232 (objectives), L1322-1328 (police, ambulance, ER, crisis housing), L1175-1179 (P-38.001)."""
    w = World()
    w.open()
    w.do(request(), T0)
    w.do(c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id), T0 + MIN)
    w.do(c.RecordArrival(by="eq-1", actor_org=CSSS), T0 + 30 * MIN)
    view = w.do(outcome(outcome=result, emergency_services=services, p38_applied=p38), T0 + 2 * HOUR)
    assert view.stage is CaseStage.ORIENTATION
    assert view.intervention is not None
    assert (view.intervention.outcome, view.intervention.emergency_services, view.intervention.p38_applied) == (
        result, services, p38)


def test_p38_outcome_without_p38_applied_is_bad_data() -> None:
    """An outcome of P-38.001 application must say P-38.001 was applied: malformed commands never reach a case."""
    with pytest.raises(ValidationError, match=r"P-38\.001 was applied"):
        outcome(outcome=InterventionOutcome.P38_APPLICATION)


def test_outcome_before_arrival_and_for_another_person_are_refused() -> None:
    """Out of turn (no arrival yet) and bad data (another subject) are refused, and leave no event."""
    w = World()
    w.open()
    w.do(request(), T0)
    w.do(c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id), T0 + MIN)
    w.refused(outcome(), "not_arrived")
    w.do(c.RecordArrival(by="eq-1", actor_org=CSSS), T0 + 30 * MIN)
    w.refused(outcome(subject_id="p-00000000"), "wrong_subject")


def test_handed_back_then_closed_by_the_intake_service() -> None:
    """Issue 3 step 3: the team hands the case back; the referring service decides and closes."""
    w = World()
    w.open()
    w.do(request(), T0)
    w.do(c.DeclineHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id, reason="occupée"), T0 + MIN)
    w.do(c.AcceptHandoff(by="cc-1", actor_org="cc-laval", team_id="cc-laval"), T0 + 2 * MIN)
    w.do(c.RecordArrival(by="cc-1", actor_org="cc-laval"), T0 + 30 * MIN)
    w.do(outcome().model_copy(update={"actor_org": "cc-laval"}), T0 + HOUR)
    view = w.do(c.HandBack(by="cc-1", actor_org="cc-laval", reason="crise désamorcée"), T0 + HOUR)
    assert view.holder == CSSS and view.stage is CaseStage.ORIENTATION
    w.refused(c.CloseCase(by="cc-1", actor_org="cc-laval", reason="x"), "wrong_party")
    view = w.do(c.CloseCase(by="i-1", actor_org=CSSS, reason="rien de plus requis"), T0 + 2 * HOUR)
    assert view.closure is not None and view.closure.kind is ClosureKind.RESOLVED


# ---------------------------------------------------------------------- 4. post-crisis follow-up
def test_follow_up_contacts_met_and_missed() -> None:
    """Standard suivi.contact (regional; the seed defers post-crisis follow-up, L1204-1207): contacts met in their
    window are met; a missed contact is an event and an escalation; when every contact is settled, the plan ends."""
    w = World()
    end = w.to_intervention()
    start = end.intervention.outcome_at  # type: ignore[union-attr]
    assert start is not None
    view = w.do(c.StartFollowUp(by="eq-1", actor_org=CSSS, plan="suivi_crise_courte_duree"), start)
    assert view.stage is CaseStage.FOLLOW_UP
    fu = view.current_follow_up
    assert fu is not None and [x.scheduled_at for x in fu.contacts] == [start + DAY, start + 3 * DAY, start + 30 * DAY]
    view = w.do(c.RecordContact(by="eq-1", actor_org=CSSS, contact_number=1), start + DAY + HOUR)
    assert status(view, "suivi.1.contact.1") is DeadlineStatus.MET
    view = w.cases.advance(CODE, start + 4 * DAY)  # contact 2 was due by 72 h + 24 h
    assert status(view, "suivi.1.contact.2") is DeadlineStatus.MISSED
    assert view.escalations[-1].deadline_id == "suivi.1.contact.2"
    assert rules.next_wakeup(view, StandardsConfig()) == start + 32 * DAY
    view = w.do(c.RecordContact(by="eq-1", actor_org=CSSS, contact_number=3), start + 30 * DAY)
    assert view.stage is CaseStage.ORIENTATION
    assert view.follow_ups[0].completed_at == start + 30 * DAY
    assert w.events()[-2:] == ["ContactMade", "FollowUpCompleted"]


def test_follow_up_ends_when_its_last_contact_is_missed() -> None:
    """The plan's last contact missed: the plan is settled at that moment and the holder decides what follows."""
    w = World()
    w.to_intervention()
    w.do(c.StartFollowUp(by="eq-1", actor_org=CSSS, plan="hebergement_temporaire", provider_org=CSSS), T0 + 3 * HOUR)
    view = w.cases.advance(CODE, T0 + 30 * DAY)
    assert view.stage is CaseStage.ORIENTATION
    assert [status(view, f"suivi.1.contact.{k}") for k in (1, 2, 3)] == [DeadlineStatus.MISSED] * 3
    assert len(view.escalations) == 3


def test_follow_up_plans_come_from_the_region_configuration() -> None:
    """Follow-up plans are configuration: an unknown plan is refused, a region's own plan is used."""
    cfg = StandardsConfig().with_overrides({"follow_up_plans": {"rappel_unique": {
        "label": "Rappel unique", "contacts": [{"label": "48 h", "offset": "P2D", "within": "PT6H"}]}}})
    w = World(cfg)
    w.to_intervention()
    w.refused(c.StartFollowUp(by="eq-1", actor_org=CSSS, plan="suivi_intensif"), "unknown_plan")
    view = w.do(c.StartFollowUp(by="eq-1", actor_org=CSSS, plan="rappel_unique"), T0 + 3 * HOUR)
    assert view.deadline("suivi.1.contact.1").due_at == T0 + 3 * HOUR + 2 * DAY + 6 * HOUR  # type: ignore[union-attr]


def test_only_the_follow_up_provider_records_contacts() -> None:
    """Wrong party: another organisation cannot record a contact of this plan."""
    w = World()
    w.to_intervention()
    w.do(c.StartFollowUp(by="eq-1", actor_org=CSSS, plan="suivi_etroit"), T0 + 3 * HOUR)
    w.refused(c.RecordContact(by="x", actor_org="cc-laval", contact_number=1), "wrong_party")
    w.refused(c.RecordContact(by="x", actor_org=CSSS, contact_number=9), "unknown_contact")


# ---------------------------------------------------------------------- 5. personalised referral
def test_referral_accepted_and_confirmed_closes_the_case() -> None:
    """L725-733: référence personnalisée by phone to the intake worker; standard
    consultation_sociale.premier_contact (L1485-1487) from acceptance; the case closes when the person is there."""
    w = World(StandardsConfig())
    w.open(urgency=UrgencyLevel.NONE)
    w.do(request(), T0)
    w.do(c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id), T0 + MIN)
    w.do(c.RecordArrival(by="eq-1", actor_org=CSSS), T0 + HOUR)
    w.do(outcome(), T0 + 2 * HOUR)
    view = w.do(referral(), T0 + 3 * HOUR)
    assert view.stage is CaseStage.REFERRAL
    assert view.deadline("reference.1.decision").due_at == T0 + 3 * HOUR + 2 * DAY  # type: ignore[union-attr]
    view = w.do(c.AcceptReferral(by="accueil-1", actor_org="clsc-ouest", intake_worker="intervenante à l'accueil"),
                T0 + DAY)
    reach = view.deadline("reference.1.arrivee")
    assert reach is not None and reach.standard_id == s.CONSULTATION_SOCIALE_PREMIER_CONTACT
    assert reach.due_at == T0 + 8 * DAY
    w.refused(c.RecordArrival(by="eq-1", actor_org=CSSS), "out_of_turn")
    view = w.do(c.ConfirmReached(by="accueil-1", actor_org="clsc-ouest"), T0 + 5 * DAY)
    assert view.stage is CaseStage.CLOSED
    assert view.closure is not None and view.closure.kind is ClosureKind.REACHED_SERVICE
    assert status(view, "reference.1.arrivee") is DeadlineStatus.MET
    assert view.referrals[0].status is ReferralStatus.REACHED


def test_referral_refused_returns_to_the_referrer_who_refers_elsewhere() -> None:
    """The receiving service may refuse; the referral duty stays with the referrer (L725-729)."""
    w = World()
    w.to_intervention()
    w.do(referral(), T0 + 3 * HOUR)
    w.refused(c.RefuseReferral(by="x", actor_org="cc-laval", reason="x"), "wrong_party")
    view = w.do(c.RefuseReferral(by="accueil-1", actor_org="clsc-ouest", reason="hors territoire"), T0 + 5 * HOUR)
    assert view.stage is CaseStage.ORIENTATION and view.holder == CSSS
    assert view.referrals[0].status is ReferralStatus.REFUSED
    assert status(view, "reference.1.decision") is DeadlineStatus.MET
    view = w.do(referral(ReceivingServiceType.COMMUNITY_RESOURCE), T0 + 6 * HOUR)
    assert [r.number for r in view.referrals] == [1, 2]


def test_referral_from_the_intake_goes_back_to_the_intake_when_refused() -> None:
    """L725-733: a référence may be made by Info-Social or AAOR directly; refused, the case is back at intake."""
    w = World()
    w.open(urgency=UrgencyLevel.NONE, face=False)
    w.do(referral(), T0 + 10 * MIN)
    view = w.do(c.RefuseReferral(by="a", actor_org="clsc-ouest", reason="liste complète"), T0 + HOUR)
    assert view.stage is CaseStage.INTAKE


def test_unconfirmed_referral_escalates_and_the_case_stays_open() -> None:
    """Issue 3 step 5: not closed until the person reached the service; unconfirmed ⇒ missed and escalated
    (standard reference.arrivee, regional, 7 days by default)."""
    w = World()
    w.to_intervention()
    w.do(referral(ReceivingServiceType.COMMUNITY_RESOURCE), T0 + 3 * HOUR)
    w.do(c.AcceptReferral(by="a", actor_org="clsc-ouest", intake_worker="accueil"), T0 + 4 * HOUR)
    view = w.cases.advance(CODE, T0 + 30 * DAY)
    assert status(view, "reference.1.arrivee") is DeadlineStatus.MISSED
    assert view.escalations[-1].deadline_id == "reference.1.arrivee"
    assert view.stage is CaseStage.REFERRAL
    view = w.do(c.ConfirmReached(by="eq-1", actor_org=CSSS), T0 + 31 * DAY)  # the referrer may confirm too
    assert view.stage is CaseStage.CLOSED and status(view, "reference.1.arrivee") is DeadlineStatus.MISSED


def test_referral_decision_not_given_escalates() -> None:
    """Standard reference.decision (regional, 2 days by default): the receiving service does not answer."""
    w = World()
    w.to_intervention()
    w.do(referral(), T0 + 3 * HOUR)
    view = w.cases.advance(CODE, T0 + 3 * HOUR + 2 * DAY)
    assert status(view, "reference.1.decision") is DeadlineStatus.MISSED
    w.refused(c.ConfirmReached(by="a", actor_org="clsc-ouest"), "not_accepted")


def test_urgent_referral_to_psychological_consultation_uses_the_urgency_scale() -> None:
    """Standard consultation_psychologique.urgence, L1738-1739: urgent ⇒ immediately or within 24 h by level."""
    w = World()
    w.to_intervention()  # urgency HIGH: 4 h by default
    w.do(referral(ReceivingServiceType.CONSULTATION_PSYCHOLOGIQUE), T0 + 3 * HOUR)
    view = w.do(c.AcceptReferral(by="a", actor_org="clsc-ouest", intake_worker="accueil"), T0 + 4 * HOUR)
    reach = view.deadline("reference.1.arrivee")
    assert reach is not None and reach.standard_id == s.CONSULTATION_PSYCHOLOGIQUE_URGENCE
    assert reach.due_at == T0 + 8 * HOUR


# ---------------------------------------------------------------------- supervisors
def test_supervisor_reassigns_a_pending_handoff() -> None:
    """Issue 3: supervisors can reassign; every such act is an event. The pending request is withdrawn."""
    w = World()
    w.open()
    w.do(request(), T0)
    view = w.do(sup(c.Reassign, team=TEAM_2, reason="équipe plus proche"), T0 + 2 * MIN)
    assert [a.status for a in view.attempts] == [AttemptStatus.WITHDRAWN, AttemptStatus.PENDING]
    assert status(view, "reponse_equipe.1") is DeadlineStatus.CANCELLED
    assert w.events()[-2:] == ["Reassigned", "TeamAsked"]
    w.refused(c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id), "not_asked")
    view = w.do(c.DeclineHandoff(by="eq-2", actor_org=CSSS, team_id=TEAM_2.team_id, reason="x"), T0 + 3 * MIN)
    pending = view.pending_attempt
    assert pending is not None and pending.candidate.team.team_id == "cc-laval"  # the routed list resumes


def test_supervisor_reassigns_an_accepted_team_that_has_not_arrived() -> None:
    """A team that accepted but is not yet with the person may be replaced; once arrived it may not."""
    w = World()
    w.open()
    w.do(request(), T0)
    w.do(c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id), T0 + MIN)
    view = w.do(sup(c.Reassign, team=TeamRef(team_id="cc-laval", org_id="cc-laval"), reason="plus proche"),
                T0 + 5 * MIN)
    assert view.stage is CaseStage.HANDOFF and view.intervention is None
    w.do(c.AcceptHandoff(by="cc-1", actor_org="cc-laval", team_id="cc-laval"), T0 + 6 * MIN)
    w.do(c.RecordArrival(by="cc-1", actor_org="cc-laval"), T0 + 30 * MIN)
    w.refused(sup(c.Reassign, team=TEAM, reason="x"), "already_arrived")


def test_reassign_refused_for_a_non_supervisor_or_a_team_without_agreement() -> None:
    """Only a supervisor of the responsible CSSS reassigns, and only to a CSSS team or one under an entente."""
    w = World()
    w.open()
    w.do(request(), T0)
    w.refused(c.Reassign(by="cc-1", actor_org="cc-laval", team=TEAM_2, reason="x"), "wrong_party")
    w.refused(sup(c.Reassign, team=TeamRef(team_id="mj", org_id="maison-jeunes"), reason="x"), "not_a_candidate",
              match="Orientations ministérielles")
    w.refused(sup(c.Reassign, team=TEAM, reason="x"), "same_team")


def test_supervisor_extends_a_deadline_with_a_reason() -> None:
    """Issue 3: a deadline is met, missed, or extended with a reason (an event); the wakeup moves; the compliance
    report still measures against the standard's own deadline."""
    w = World()
    w.to_intervention(urgency=UrgencyLevel.NONE)
    w.do(referral(), T0 + 3 * HOUR)
    w.do(c.AcceptReferral(by="a", actor_org="clsc-ouest", intake_worker="accueil"), T0 + 4 * HOUR)
    until = T0 + 4 * HOUR + 10 * DAY
    view = w.do(sup(c.ExtendDeadline, deadline_id="reference.1.arrivee", until=until,
                    reason="la personne est hospitalisée jusqu'au 8"), T0 + 5 * DAY)
    d = view.deadline("reference.1.arrivee")
    assert d is not None and d.status is DeadlineStatus.EXTENDED and d.due_at == until
    assert d.extensions[0].reason == "la personne est hospitalisée jusqu'au 8"
    assert rules.next_wakeup(view, StandardsConfig()) == until
    assert w.cases.advance(CODE, T0 + 8 * DAY).escalations == []  # past the original, within the extension
    view = w.do(c.ConfirmReached(by="a", actor_org="clsc-ouest"), T0 + 9 * DAY)
    assert status(view, "reference.1.arrivee") is DeadlineStatus.MET
    fig = compliance(view.observations(), as_of=T0 + 9 * DAY)[s.CONSULTATION_SOCIALE_PREMIER_CONTACT]
    assert (fig.in_time, fig.late) == (0, 1)


def test_extension_refused_when_not_later_not_running_or_not_a_supervisor() -> None:
    """An extension must be later than the current due moment, of a running deadline, by a supervisor."""
    w = World()
    w.open(service=IntakeService.AAOR, received=T0 - 3 * HOUR, mode=RequestMode.IN_PERSON)
    w.refused(sup(c.ExtendDeadline, deadline_id=s.AAOR_ANALYSE, until=T0 + DAY, reason="x"), "not_later")
    w.refused(sup(c.ExtendDeadline, deadline_id=s.AAOR_PREMIER_CONTACT, until=T0 + DAY, reason="x"), "not_running")
    w.refused(sup(c.ExtendDeadline, deadline_id="nope", until=T0 + DAY, reason="x"), "unknown_deadline")
    w.refused(sup(c.ExtendDeadline, deadline_id=s.AAOR_ANALYSE, until=T0 + 20 * DAY, reason="x"), "already_due",
              at=T0 + 10 * DAY)
    w.refused(c.ExtendDeadline(by="cc", actor_org="cc-laval", deadline_id=s.AAOR_ANALYSE, until=T0 + 20 * DAY,
                               reason="x"), "wrong_party")


def test_supervisor_closes_with_a_reason_and_running_clocks_are_cancelled() -> None:
    """Issue 3: a supervisor may close a case at any stage, with a reason; the clocks it stops measure nothing."""
    w = World()
    w.open()
    w.do(request(), T0)
    view = w.do(sup(c.SupervisorClose, reason="la personne a quitté le territoire"), T0 + 3 * MIN)
    assert view.closure is not None and view.closure.kind is ClosureKind.BY_SUPERVISOR
    assert {status(view, x) for x in ("reponse_equipe.1", s.CRISE_URGENCE)} == {DeadlineStatus.CANCELLED}
    assert view.observations() == []
    assert rules.next_wakeup(view, StandardsConfig()) is None
    w.refused(sup(c.SupervisorClose, reason="encore"), "case_closed")


# ---------------------------------------------------------------------- refusals, idempotency, validators
def test_out_of_turn_and_wrong_party_commands_leave_no_event() -> None:
    """Issue 3: a command out of turn or from the wrong party is refused with a clear reason and leaves no event."""
    w = World()
    w.open()
    w.refused(c.RecordArrival(by="eq-1", actor_org=CSSS), "out_of_turn", match="stage accueil")
    w.refused(c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id), "out_of_turn")
    w.refused(c.ConfirmReached(by="a", actor_org=CSSS), "out_of_turn")
    w.refused(c.CloseAtPhone(by="cc", actor_org="cc-laval", disposition=PhoneDisposition.INFORMATION, reason="x"),
              "wrong_party")
    w.do(request(), T0)
    w.refused(c.AcceptHandoff(by="cc-1", actor_org="cc-laval", team_id="cc-laval"), "not_asked")
    w.refused(c.AcceptHandoff(by="cc-1", actor_org="cc-laval", team_id=TEAM.team_id), "wrong_party",
              match="answering for team crise-laval-1 is done by cisss-laval")
    w.refused(request(), "out_of_turn")
    w.refused(c.StartFollowUp(by="eq-1", actor_org=CSSS, plan="suivi_etroit"), "out_of_turn")


def test_the_validator_refuses_exactly_what_the_aggregate_refuses() -> None:
    """The workflow's update validators call `rules.check` on the view: same refusal, before history."""
    w = World()
    view = w.open()
    cfg = StandardsConfig()
    with pytest.raises(RuleViolation) as info:
        rules.check(view, c.RecordArrival(by="eq-1", actor_org=CSSS), T0, cfg)
    assert info.value.code == "out_of_turn"
    rules.check(view, request(), T0, cfg)  # accepted: no exception
    with pytest.raises(RuleViolation) as info:
        rules.check(view, c.StartFollowUp(by="eq-1", actor_org=CSSS, plan="x"), T0, cfg)
    assert info.value.code == "out_of_turn"
    with pytest.raises(RuleViolation) as info:
        rules.check(view, sup(c.ExtendDeadline, deadline_id="x", until=T0 + DAY, reason="x"), T0, cfg)
    assert info.value.code == "unknown_deadline"


def test_a_retried_command_records_nothing_twice() -> None:
    """Activities are retried: a command id already applied is a no-op (one event, same view)."""
    w = World()
    first = w.open()
    again = w.open()  # same code, same command id
    assert again == first
    with pytest.raises(DomainError, match="already exists") as info:
        w.open(command_id="o-other")
    assert info.value.code == "duplicate_code"
    decline = c.DeclineHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id, reason="x", command_id="d-1")
    w.do(request().model_copy(update={"command_id": "r-1"}), T0)
    w.do(request().model_copy(update={"command_id": "r-1"}), T0)
    once = w.do(decline, T0 + MIN)
    twice = w.do(decline, T0 + 2 * MIN)
    assert once == twice
    assert w.events().count("HandoffDeclined") == 1
    assert w.events().count("MobileInterventionRequested") == 1


def test_advance_is_idempotent_and_records_at_the_due_moment() -> None:
    """The calendar: once recorded, a transition is no longer due; a late timer records the same facts."""
    w = World()
    w.open(service=IntakeService.AAOR, urgency=UrgencyLevel.NONE, face=False)
    case = w.cases.get(CODE)
    assert case.advance(T0 + 11 * DAY, StandardsConfig()) == 1
    assert case.advance(T0 + 11 * DAY, StandardsConfig()) == 0
    assert case.view().escalations[0].at == T0 + 10 * DAY


def test_next_wakeup_is_the_earliest_running_deadline() -> None:
    """`next_wakeup` tells the workflow when to set its durable timer; None when nothing will change."""
    w = World()
    cfg = StandardsConfig()
    view = w.open(service=IntakeService.AAOR, urgency=UrgencyLevel.HIGH)
    assert rules.next_wakeup(view, cfg) == T0 + 4 * HOUR  # urgency before analysis (10 days)
    assert not rules.due_now(view, cfg, T0 + 4 * HOUR - MIN)
    assert rules.due_now(view, cfg, T0 + 4 * HOUR)
    view = w.do(request(), T0 + MIN)
    assert rules.next_wakeup(view, cfg) == T0 + 11 * MIN  # the team's answer


# ---------------------------------------------------------------------- privacy, replay, compliance
def test_personal_content_is_kept_apart_with_the_subject_id() -> None:
    """Personal details travel only in `personal`, beside the opaque `subject_id`; the view and codes carry none."""
    w = World()
    view = w.open()
    dumped = view.model_dump_json()
    assert "suicidaires" not in dumped and "ps-12" not in dumped
    history = w.cases.history(CODE)
    assert history[0]["personal"] == "<2 champ(s) personnel(s)>" and history[0]["subject_id"] == SUBJECT
    details = w.cases.get(CODE).personal_details()
    assert details[0]["subject_id"] == SUBJECT and details[0]["personal"]["reason"] == "idées suicidaires"
    codes = {new_case_code() for _ in range(50)}
    assert len(codes) == 50 and all(len(x) == 12 and x.startswith("C-") for x in codes)
    assert str(case_id(CODE)) == view.case_id  # the same id from the same code, every time


def test_the_case_replays_as_of_any_event() -> None:
    """The legal record: the view can be rebuilt as of any event of the case."""
    w = World()
    w.to_intervention()
    assert w.cases.view(CODE, as_of_event=1).stage is CaseStage.INTAKE
    assert w.cases.view(CODE, as_of_event=3).stage is CaseStage.HANDOFF
    assert w.cases.view(CODE).stage is CaseStage.ORIENTATION


def test_compliance_figures_from_cases_whose_delays_are_known() -> None:
    """Standards info_social.reponse (L1018-1019) and crise.urgence (L1267), computed from case views:
    5 calls answered after 1, 2, 3, 5 and 6 minutes; 4 mobile interventions, arrivals after 20, 50 and 70 minutes
    and one still on the way after 90 minutes."""
    w = World()
    views = []
    for i, (answer, arrival) in enumerate([(1, 20), (2, 50), (3, 70), (5, None), (6, None)]):
        code = f"C-AAAAAAAA{'234567'[i]}{'234567'[i]}"
        w.open(code=code, command_id=f"o-{i}", received=T0 - answer * MIN, first=T0)
        if i < 4:
            w.do(request(), T0, code=code)
            w.do(c.AcceptHandoff(by="eq", actor_org=CSSS, team_id=TEAM.team_id), T0 + MIN, code=code)
            if arrival is not None:
                w.do(c.RecordArrival(by="eq", actor_org=CSSS), T0 + arrival * MIN, code=code)
        views.append(w.cases.view(code))
    observations = [o for v in views for o in v.observations()]
    fig = compliance(observations, as_of=T0 + 90 * MIN, targets=StandardsConfig().targets())
    calls = fig[s.INFO_SOCIAL_REPONSE]
    assert (calls.in_time, calls.late, calls.median_delay, calls.p90_delay) == (3, 2, 3 * MIN, 6 * MIN)
    assert calls.meets_target is False
    crisis = fig[s.CRISE_URGENCE]
    assert (crisis.in_time, crisis.late, crisis.open_overdue, crisis.open_in_time) == (2, 1, 1, 0)
    assert (crisis.median_delay, crisis.p90_delay) == (50 * MIN, 70 * MIN)
    teams = fig[s.CRISE_REPONSE_EQUIPE]
    assert (teams.in_time, teams.median_delay) == (4, MIN)


# ---------------------------------------------------------------------- every running deadline: met, missed, extended
def _aaor_analyse(w: World) -> tuple[str, c.Command, datetime]:
    w.open(service=IntakeService.AAOR, urgency=UrgencyLevel.NONE, face=False)
    return s.AAOR_ANALYSE, c.CloseAtPhone(by="i", actor_org=CSSS, disposition=PhoneDisposition.ORIENTATION,
                                          reason="orientée"), T0


def _aaor_urgence(w: World) -> tuple[str, c.Command, datetime]:
    w.open(service=IntakeService.AAOR, urgency=UrgencyLevel.HIGH)
    return s.AAOR_URGENCE, request(), T0


def _crise_urgence(w: World) -> tuple[str, c.Command, datetime]:
    w.open()
    w.do(request(), T0)
    w.do(c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id), T0 + MIN)
    return s.CRISE_URGENCE, c.RecordArrival(by="eq-1", actor_org=CSSS), T0 + MIN


def _reponse_equipe(w: World) -> tuple[str, c.Command, datetime]:
    w.open()
    w.do(request(), T0)
    return "reponse_equipe.1", c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id), T0


def _suivi_contact(w: World) -> tuple[str, c.Command, datetime]:
    w.to_intervention()
    w.do(c.StartFollowUp(by="eq-1", actor_org=CSSS, plan="suivi_crise_courte_duree"), T0 + 3 * HOUR)
    return "suivi.1.contact.1", c.RecordContact(by="eq-1", actor_org=CSSS, contact_number=1), T0 + 3 * HOUR


def _reference_decision(w: World) -> tuple[str, c.Command, datetime]:
    w.to_intervention()
    w.do(referral(), T0 + 3 * HOUR)
    return "reference.1.decision", c.AcceptReferral(by="a", actor_org="clsc-ouest", intake_worker="accueil"), (
        T0 + 3 * HOUR)


def _reference_arrivee(w: World) -> tuple[str, c.Command, datetime]:
    w.to_intervention(urgency=UrgencyLevel.NONE)
    w.do(referral(ReceivingServiceType.COMMUNITY_RESOURCE), T0 + 3 * HOUR)
    w.do(c.AcceptReferral(by="a", actor_org="clsc-ouest", intake_worker="accueil"), T0 + 4 * HOUR)
    return "reference.1.arrivee", c.ConfirmReached(by="a", actor_org="clsc-ouest"), T0 + 4 * HOUR


RUNNING_DEADLINES = {
    "aaor.analyse L784-785": _aaor_analyse,
    "aaor.urgence L787-788": _aaor_urgence,
    "crise.urgence L1267": _crise_urgence,
    "crise.reponse_equipe (regional)": _reponse_equipe,
    "suivi.contact L1204-1207 (regional)": _suivi_contact,
    "reference.decision L730-733 (regional)": _reference_decision,
    "reference.arrivee L725-729 (regional)": _reference_arrivee,
}


@pytest.mark.parametrize("setup", RUNNING_DEADLINES.values(), ids=RUNNING_DEADLINES.keys())
def test_every_running_deadline_is_met_when_stopped_in_time(setup: Any) -> None:
    """Issue 3: every deadline is a durable timer: stopped at or before its due moment, it is met."""
    w = World()
    deadline_id, stop, _ = setup(w)
    due = w.cases.view(CODE).deadline(deadline_id).due_at  # type: ignore[union-attr]
    assert rules.next_wakeup(w.cases.view(CODE), StandardsConfig()) <= due  # type: ignore[operator]
    view = w.do(stop, due)
    assert status(view, deadline_id) is DeadlineStatus.MET
    assert view.escalations == []


@pytest.mark.parametrize("setup", RUNNING_DEADLINES.values(), ids=RUNNING_DEADLINES.keys())
def test_every_running_deadline_is_missed_when_its_timer_fires(setup: Any) -> None:
    """Issue 3: missed is an event and an escalation (a team's silence instead moves to the next team)."""
    w = World()
    deadline_id, _, _ = setup(w)
    due = w.cases.view(CODE).deadline(deadline_id).due_at  # type: ignore[union-attr]
    view = w.cases.advance(CODE, due)
    d = view.deadline(deadline_id)
    assert d is not None and d.status is DeadlineStatus.MISSED and d.missed_at == due
    if deadline_id.startswith("reponse_equipe"):
        assert view.attempts[0].status is AttemptStatus.TIMED_OUT and view.escalations == []
    else:
        assert [e.deadline_id for e in view.escalations] == [deadline_id]
        assert w.events()[-2:] == ["DeadlineMissed", "Escalated"]


@pytest.mark.parametrize("setup", RUNNING_DEADLINES.values(), ids=RUNNING_DEADLINES.keys())
def test_every_running_deadline_can_be_extended_with_a_reason(setup: Any) -> None:
    """Issue 3: a supervisor extends a deadline with a reason (an event); the timer then fires at the new moment."""
    w = World()
    deadline_id, stop, ready = setup(w)
    due = w.cases.view(CODE).deadline(deadline_id).due_at  # type: ignore[union-attr]
    view = w.do(sup(c.ExtendDeadline, deadline_id=deadline_id, until=due + HOUR, reason="délai accordé"), ready)
    assert status(view, deadline_id) is DeadlineStatus.EXTENDED
    assert w.events()[-1] == "DeadlineExtended"
    assert w.cases.advance(CODE, due).deadline(deadline_id).status is DeadlineStatus.EXTENDED  # type: ignore[union-attr]
    view = w.do(stop, due + 30 * MIN)
    d = view.deadline(deadline_id)
    assert d is not None and d.status is DeadlineStatus.MET and d.original_due_at == due
    assert [x.reason for x in d.extensions] == ["délai accordé"]


def test_a_case_reloads_identically_from_a_sqlite_store(tmp_path: Any) -> None:
    """The legal record: every event round-trips through the real event store (SQLite file) to the same view."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "record.db")}
    cases = CrisisCases(Record(env))
    cases.open(c.OpenCase(
        by="i-1", actor_org=CSSS, case_code=CODE, responsible_org=CSSS, territory="laval", subject_id=SUBJECT,
        personal={"reason": "crise"}, intake=Intake(service=IntakeService.AAOR, urgency=UrgencyLevel.HIGH,
                                                   face_to_face_needed=True),
    ), T0)
    cases.execute(CODE, request(), T0, ententes=[])
    view = cases.advance(CODE, T0 + 5 * HOUR)
    again = CrisisCases(Record(env))
    assert again.view(CODE) == view
    assert [e["event"] for e in again.history(CODE)] == [
        "Opened", "MobileInterventionRequested", "TeamAsked", "HandoffTimedOut", "Escalated", "DeadlineMissed",
        "Escalated"]


def test_an_answer_to_a_request_no_longer_open_is_refused() -> None:
    """A team asked, then asked again after a reassignment: its late answer to the first request (the attempt
    its webhook or FHIR Task named) is refused with `stale_request` instead of answering the second; the answer
    naming the open request is taken; an answer naming no request keeps answering the open one."""
    w = World()
    w.open()
    w.do(request(), T0)  # request 1 to TEAM
    w.do(sup(c.Reassign, team=TEAM_2, reason="équipe plus proche"), T0 + 2 * MIN)  # request 2
    view = w.do(sup(c.Reassign, team=TEAM, reason="retour à la première équipe"), T0 + 3 * MIN)  # request 3
    assert [(a.number, a.candidate.team.team_id) for a in view.attempts] == [
        (1, TEAM.team_id), (2, TEAM_2.team_id), (3, TEAM.team_id)]
    w.refused(c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id, attempt=1), "stale_request",
              at=T0 + 4 * MIN, match="request 1 to team crise-laval-1 is no longer open")
    w.refused(c.DeclineHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id, attempt=2, reason="x"),
              "stale_request", at=T0 + 4 * MIN)
    view = w.do(c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id, attempt=3), T0 + 4 * MIN)
    assert view.attempts[-1].status is AttemptStatus.ACCEPTED


def test_the_request_number_is_checked_at_the_boundary() -> None:
    with pytest.raises(ValidationError):
        c.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id, attempt=0)
    assert c.AcceptHandoff.model_validate(
        {"by": "eq-1", "actor_org": CSSS, "team_id": TEAM.team_id}).attempt is None
