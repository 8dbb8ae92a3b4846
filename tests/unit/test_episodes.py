"""Épisodes de services (issue 11): the AAOR and the psychosocial and psychological consultations, their clocks
and their meeting caps, on the aggregate alone (no record, no server). Seed 001: AAOR L715-800, consultation
sociale L1420-1510, consultation psychologique L1660-1760."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from pydantic import ValidationError

from domain.episodes import commands as c
from domain.episodes import rules
from domain.episodes.aggregate import ServiceEpisode, episode_id
from domain.episodes.model import MeetingMode, RequestMode, ServiceKind
from domain.episodes.state import ClockStatus, EpisodeStage, EpisodeView
from domain.errors import RuleViolation
from domain.standards import config as s
from domain.standards.compliance import compliance
from domain.standards.config import StandardsConfig, UrgencyLevel

CSSS = "cisss-laval"
SUBJECT = "subj-0001-abcd"
CODE = "E-ABCDEFGH23"
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
CONFIG = StandardsConfig()


def opened(service: ServiceKind = ServiceKind.CONSULTATION_SOCIALE, *, mode: RequestMode = RequestMode.PHONE,
           urgency: UrgencyLevel = UrgencyLevel.NONE, at: datetime = T0) -> ServiceEpisode:
    return ServiceEpisode.open(c.OpenEpisode(
        by="accueil-1", actor_org=CSSS, command_id="o-1", episode_code=CODE, service=service, subject_id=SUBJECT,
        territory="laval", responsible_org=CSSS, team="ssg-laval", request_mode=mode, urgency=urgency,
        personal={"request": "difficultés familiales"},
    ), at, CONFIG)


def do(ep: ServiceEpisode, cmd: c.Command, at: datetime) -> EpisodeView:
    ep.execute(cmd, at, CONFIG)
    return ep.view()


def accept(ep: ServiceEpisode, at: datetime = T0 + HOUR, urgency: UrgencyLevel | None = None) -> EpisodeView:
    return do(ep, c.AcceptRequest(by="accueil-1", actor_org=CSSS, command_id="a-1", urgency=urgency), at)


def meeting(n: int, held_at: datetime | None = None) -> c.RecordMeeting:
    return c.RecordMeeting(by="ts-12", actor_org=CSSS, command_id=f"m-{n}", held_at=held_at,
                           mode=MeetingMode.IN_PERSON, intervenant_id="ts-12", personal={"notes": f"rencontre {n}"})


def refused(ep: ServiceEpisode, cmd: c.Command, at: datetime, code: str) -> RuleViolation:
    """The command is refused with `code` and nothing is recorded."""
    before = ep.version
    with pytest.raises(RuleViolation) as caught:
        ep.execute(cmd, at, CONFIG)
    assert caught.value.code == code
    assert ep.version == before
    return caught.value


def test_the_id_derives_from_the_code() -> None:
    """A retried opening finds the episode it made: the id derives from the opaque code."""
    assert opened().id == episode_id(CODE)


@pytest.mark.parametrize(("service", "first", "follow"), [
    (ServiceKind.CONSULTATION_SOCIALE, s.CONSULTATION_SOCIALE_PREMIER_CONTACT, s.CONSULTATION_SOCIALE_AMORCE_SUIVI),
    (ServiceKind.CONSULTATION_PSYCHOLOGIQUE, s.CONSULTATION_PSYCHOLOGIQUE_PREMIER_CONTACT,
     s.CONSULTATION_PSYCHOLOGIQUE_AMORCE_SUIVI),
])
def test_the_consultation_clocks_run_from_the_acceptance(service: ServiceKind, first: str, follow: str) -> None:
    """First contact ≤ 7 days and follow-up started ≤ 30 days « suivant l'acceptation de la demande » (seed 001
    L1485-1490, L1731-1736): nothing runs at the reception, both start at the acceptance."""
    ep = opened(service)
    assert ep.view().clocks == []
    accepted = T0 + 3 * HOUR
    view = accept(ep, accepted)
    assert view.stage is EpisodeStage.ACCEPTED
    assert {k.standard_id: k.due_at for k in view.clocks} == {first: accepted + 7 * DAY, follow: accepted + 30 * DAY}


def test_an_urgent_consultation_has_24_hours() -> None:
    """« Toute situation considérée urgente est traitée … au plus tard dans les 24 heures » (seed 001 L1492-1493):
    an urgent request (semi-urgent on the default scale: 24 h) runs the urgency clock beside the 7 days."""
    ep = opened(urgency=UrgencyLevel.MODERATE)
    view = accept(ep, T0)
    urgent = view.clock(s.CONSULTATION_SOCIALE_URGENCE)
    assert urgent is not None and urgent.due_at == T0 + 24 * HOUR
    # Reached in 20 h: both the urgency and the 7-day clocks are met by the one contact.
    view = do(ep, c.RecordFirstContact(by="ts-12", actor_org=CSSS, command_id="f-1"), T0 + 20 * HOUR)
    assert view.clock(s.CONSULTATION_SOCIALE_URGENCE).status is ClockStatus.MET  # type: ignore[union-attr]
    assert view.clock(s.CONSULTATION_SOCIALE_PREMIER_CONTACT).status is ClockStatus.MET  # type: ignore[union-attr]


def test_urgency_assessed_at_acceptance() -> None:
    """The degree of urgency assessed at acceptance sets the urgency clock (« selon le degré d'urgence », L1493)."""
    ep = opened(ServiceKind.CONSULTATION_PSYCHOLOGIQUE)
    view = accept(ep, T0, urgency=UrgencyLevel.HIGH)
    assert view.urgency is UrgencyLevel.HIGH
    assert view.clock(s.CONSULTATION_PSYCHOLOGIQUE_URGENCE).due_at == T0 + 4 * HOUR  # type: ignore[union-attr]


def test_a_missed_first_contact_is_recorded_at_its_moment_and_once() -> None:
    """Nobody reached the person in 7 days (L1485-1487): `DeadlineMissed` at the due moment, whenever the timer
    fires; a contact made later stops the clock, still missed; the follow-up started in 20 days is met (L1489)."""
    ep = opened()
    accept(ep, T0)
    due = T0 + 7 * DAY
    assert ep.advance(due - timedelta(seconds=1)) == 0
    assert ep.advance(due + 2 * DAY) == 1
    assert ep.advance(due + 3 * DAY) == 0  # idempotent
    events = ep.collect_events()
    assert type(events[-1]).__name__ == "DeadlineMissed" and events[-1].timestamp  # recorded
    clock = ep.view().clock(s.CONSULTATION_SOCIALE_PREMIER_CONTACT)
    assert clock is not None and clock.status is ClockStatus.MISSED and clock.missed_at == due
    view = do(ep, c.RecordFirstContact(by="ts-12", actor_org=CSSS, command_id="f-1"), T0 + 10 * DAY)
    late = view.clock(s.CONSULTATION_SOCIALE_PREMIER_CONTACT)
    assert late is not None and late.status is ClockStatus.MISSED and late.stopped_at == T0 + 10 * DAY
    view = do(ep, c.StartFollowUp(by="ts-12", actor_org=CSSS, command_id="s-1"), T0 + 20 * DAY)
    assert view.stage is EpisodeStage.FOLLOW_UP
    assert view.clock(s.CONSULTATION_SOCIALE_AMORCE_SUIVI).status is ClockStatus.MET  # type: ignore[union-attr]
    assert rules.next_wakeup(view) is None


def test_the_clocks_are_compliance_observations() -> None:
    """The report counts the episode's clocks like a crisis case's: one in time, one late (L1485-1490)."""
    ep = opened()
    accept(ep, T0)
    ep.advance(T0 + 8 * DAY)
    do(ep, c.RecordFirstContact(by="ts-12", actor_org=CSSS, command_id="f-1"), T0 + 8 * DAY)
    do(ep, c.StartFollowUp(by="ts-12", actor_org=CSSS, command_id="s-1"), T0 + 9 * DAY)
    figures = compliance(ep.view().observations(), as_of=T0 + 40 * DAY)
    assert figures[s.CONSULTATION_SOCIALE_PREMIER_CONTACT].late == 1
    assert figures[s.CONSULTATION_SOCIALE_AMORCE_SUIVI].in_time_ratio == Fraction(1)


def test_a_meeting_is_a_contact() -> None:
    """A first meeting held before any contact was recorded is the first contact (the 7-day clock stops at it)."""
    ep = opened()
    accept(ep, T0)
    view = do(ep, meeting(1, held_at=T0 + 2 * DAY), T0 + 3 * DAY)
    assert view.first_contact_at == T0 + 2 * DAY
    assert view.clock(s.CONSULTATION_SOCIALE_PREMIER_CONTACT).status is ClockStatus.MET  # type: ignore[union-attr]
    assert view.meetings[0].number == 1 and view.meetings[0].mode is MeetingMode.IN_PERSON


def _twelve(ep: ServiceEpisode) -> None:
    accept(ep, T0)
    for n in range(1, 13):
        do(ep, meeting(n), T0 + n * DAY)


@pytest.mark.parametrize(("service", "reference"), [
    (ServiceKind.CONSULTATION_SOCIALE, "seed 001 L1423-1426"),
    (ServiceKind.CONSULTATION_PSYCHOLOGIQUE, "seed 001 L1671-1674"),
])
def test_a_thirteenth_meeting_needs_a_revised_plan(service: ServiceKind, reference: str) -> None:
    """« maximum de 12 rencontres. Occasionnellement, au-delà du terme … le plan d'intervention est alors révisé »
    (L1423-1426, L1671-1674): the 13th meeting is refused, naming the cap and the seed, until a PI revision grants
    more; the extension's justification is sealed personal content, the revision an event of its own."""
    ep = opened(service)
    _twelve(ep)
    err = refused(ep, meeting(13), T0 + 13 * DAY, "meeting_cap_reached")
    assert "12 meetings" in err.message and reference in err.message
    do(ep, c.RecordInterventionPlan(by="ts-12", actor_org=CSSS, command_id="pi", personal={"objectifs": "…"}),
       T0 + 13 * DAY)
    view = do(ep, c.ReviseInterventionPlan(
        by="ts-12", actor_org=CSSS, command_id="r-1", additional_meetings=2,
        personal={"justification": "deuil récent, progrès réels"},
    ), T0 + 13 * DAY)
    assert type(ep.collect_events()[-1]).__name__ == "InterventionPlanRevised"
    assert view.granted_meetings == 2 and rules.meeting_cap(view, CONFIG) == 14
    assert "deuil" not in view.model_dump_json()  # the justification stays in the sealed part
    assert ep.personal_details()[-1]["personal"] == {"justification": "deuil récent, progrès réels"}
    do(ep, meeting(13), T0 + 14 * DAY)
    view = do(ep, meeting(14), T0 + 15 * DAY)
    assert [m.number for m in view.meetings] == list(range(1, 15))
    err = refused(ep, meeting(15), T0 + 16 * DAY, "meeting_cap_reached")
    assert "2 granted by revisions of the PI" in err.message


def test_an_extension_is_justified() -> None:
    """Prolonging is the exception (« occasionnellement », L1424): more meetings without a justification are
    refused at the edge; a PI is revised only once recorded (L1505)."""
    with pytest.raises(ValidationError, match="justification"):
        c.ReviseInterventionPlan(by="ts-12", actor_org=CSSS, additional_meetings=3)
    ep = opened()
    accept(ep, T0)
    refused(ep, c.ReviseInterventionPlan(by="ts-12", actor_org=CSSS, additional_meetings=1,
                                         personal={"justification": "x"}), T0 + DAY, "no_intervention_plan")


def test_the_aaor_solves_in_three_meetings_at_most() -> None:
    """« un nombre minimal de rencontres (maximum de trois rencontres) » in the AAOR (seed 001 L721-723): the 4th
    is refused; the AAOR has no PI to revise: the person is oriented to another service instead."""
    ep = opened(ServiceKind.AAOR, mode=RequestMode.IN_PERSON)
    accept(ep, T0)
    for n in (1, 2, 3):
        do(ep, meeting(n), T0 + n * HOUR)
    err = refused(ep, meeting(4), T0 + 4 * HOUR, "meeting_cap_reached")
    assert "3 meetings" in err.message and "seed 001 L721-723" in err.message
    refused(ep, c.RecordInterventionPlan(by="ts-12", actor_org=CSSS), T0 + 5 * HOUR, "not_for_service")


@pytest.mark.parametrize(("mode", "standard", "limit"), [
    (RequestMode.IN_PERSON, s.AAOR_PREMIER_CONTACT, 2 * HOUR),
    (RequestMode.PHONE, s.AAOR_RETOUR_APPEL, 24 * HOUR),
])
def test_the_aaor_clocks_run_from_the_reception(mode: RequestMode, standard: str, limit: timedelta) -> None:
    """AAOR: first contact in person ≤ 2 h, callback ≤ 24 h, analysis ≤ 10 days from the reception (L778-785);
    an urgent situation ≤ 24 h at the latest (L787-788)."""
    ep = opened(ServiceKind.AAOR, mode=mode, urgency=UrgencyLevel.MODERATE)
    view = ep.view()
    assert {k.standard_id: k.due_at for k in view.clocks} == {
        standard: T0 + limit, s.AAOR_ANALYSE: T0 + 10 * DAY, s.AAOR_URGENCE: T0 + 24 * HOUR,
    }
    view = do(ep, c.RecordFirstContact(by="accueil-1", actor_org=CSSS, command_id="f"), T0 + HOUR)
    assert view.clock(standard).status is ClockStatus.MET  # type: ignore[union-attr]
    assert view.clock(s.AAOR_URGENCE).status is ClockStatus.MET  # type: ignore[union-attr]
    view = do(ep, c.CompleteAnalysis(by="accueil-1", actor_org=CSSS, command_id="an",
                                     orientation="consultation_sociale"), T0 + 3 * DAY)
    assert view.clock(s.AAOR_ANALYSE).status is ClockStatus.MET  # type: ignore[union-attr]
    assert view.orientation == "consultation_sociale"
    refused(ep, c.StartFollowUp(by="accueil-1", actor_org=CSSS), T0 + 3 * DAY, "not_for_service")


def test_no_meeting_before_the_acceptance_nor_after_closing() -> None:
    """Meetings belong to an accepted request (the consultation runs « suivant l'acceptation », L1485), and a
    closed episode accepts nothing; its running clocks are cancelled and measure nothing."""
    ep = opened()
    refused(ep, meeting(1), T0 + HOUR, "not_accepted")
    accept(ep, T0 + HOUR)
    view = do(ep, c.CloseEpisode(by="ts-12", actor_org=CSSS, command_id="x", personal={"raison": "déménagement"}),
              T0 + DAY)
    assert view.stage is EpisodeStage.CLOSED
    assert {k.status for k in view.clocks} == {ClockStatus.CANCELLED} and view.observations() == []
    refused(ep, meeting(1), T0 + 2 * DAY, "episode_closed")
    assert ep.advance(T0 + 60 * DAY) == 0


def test_moments_are_plausible() -> None:
    """A meeting is not held in the future (beyond the region's clock skew) nor before the acceptance; a request
    is not received after its opening nor longer ago than the intake lookback (`Limits`)."""
    ep = opened()
    accept(ep, T0 + HOUR)
    now = T0 + 2 * DAY
    refused(ep, meeting(1, held_at=now + CONFIG.limits.clock_skew + timedelta(minutes=1)), now, "moment_in_future")
    refused(ep, meeting(1, held_at=T0), now, "moment_before_acceptance")
    do(ep, meeting(1, held_at=now + CONFIG.limits.clock_skew), now)  # within the skew
    with pytest.raises(RuleViolation) as caught:
        ServiceEpisode.open(c.OpenEpisode(
            by="a", actor_org=CSSS, episode_code=CODE, service=ServiceKind.AAOR, subject_id=SUBJECT,
            territory="laval", responsible_org=CSSS, request_mode=RequestMode.PHONE, received_at=T0 - 30 * DAY,
        ), T0, CONFIG)
    assert caught.value.code == "moment_before_lookback"


def test_only_the_responsible_organisation_acts_and_a_retry_records_once() -> None:
    """A command from another organisation is refused; the same command id twice records one event."""
    ep = opened()
    refused(ep, c.AcceptRequest(by="x", actor_org="cc-laval"), T0, "wrong_party")
    accept(ep, T0)
    version = ep.version
    accept(ep, T0 + HOUR)  # same command id "a-1": applied already
    assert ep.version == version
    refused(ep, c.AcceptRequest(by="x", actor_org=CSSS, command_id="a-2"), T0 + HOUR, "already_accepted")


def test_documents_are_in_the_file_without_their_content() -> None:
    """Evaluation, PI and PSI are « disponible[s] au dossier » (L1503-1505, L1556): the view says when and by
    whom, their content is sealed personal content."""
    ep = opened(ServiceKind.CONSULTATION_PSYCHOLOGIQUE)
    accept(ep, T0)
    do(ep, c.RecordEvaluation(by="psy-3", actor_org=CSSS, command_id="e", personal={"evaluation": "anxiété"}), T0)
    do(ep, c.RecordInterventionPlan(by="psy-3", actor_org=CSSS, command_id="p", personal={"objectifs": "o"}), T0)
    view = do(ep, c.RecordServicePlan(by="psy-3", actor_org=CSSS, command_id="q", partners=["cc-laval"],
                                      personal={"plan": "p"}), T0)
    assert view.evaluation is not None and view.evaluation.by == "psy-3"
    assert view.intervention_plan is not None and view.service_plan is not None
    assert "anxiété" not in view.model_dump_json()
    refused(ep, c.RecordInterventionPlan(by="psy-3", actor_org=CSSS), T0, "plan_exists")
    assert [p["what"] for p in ep.personal_details()] == ["opening", "evaluation", "intervention_plan",
                                                           "service_plan"]
