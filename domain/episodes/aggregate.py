"""The épisode de services aggregate: every fact of an AAOR or consultation episode is one of its events.

Public methods check the rules (on the same view the workflow validates with), compute what the event needs
(the clocks from the standards configuration, the meeting's number), then call a private `@event` method whose
body only changes state: it runs again on every replay, so a later change of configuration never moves a
recorded deadline nor a cap already applied.

Every command carries a `command_id`; an id already applied is a no-op, so a retried activity records nothing
twice. `advance(now)` records a `DeadlineMissed` for each clock due by `now`, at its due moment, and is
idempotent. Events with personal content carry the `subject_id` beside it: the record seals `personal` with
that person's key; after an erasure it reads back as `SHREDDED`, which the bodies accept.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.episodes import commands as c
from domain.episodes import rules
from domain.episodes.model import MeetingMode, RequestMode, ServiceKind
from domain.episodes.state import (
    ClockStatus,
    Closure,
    Document,
    EpisodeClock,
    EpisodeStage,
    EpisodeView,
    Meeting,
    PlanRevision,
)
from domain.errors import RuleViolation
from domain.standards.config import ClockEvent, StandardsConfig, UrgencyLevel

NAMESPACE = UUID("5d0f3b7e-2a9c-4e61-8b3d-91c4e7a2f605")

Json = dict[str, Any]


def episode_id(episode_code: str) -> UUID:
    """Deterministic id from the opaque episode code: a retried opening finds the episode it made."""
    return uuid5(NAMESPACE, f"episode:{episode_code}")


class ServiceEpisode(Aggregate):
    # ------------------------------------------------------------------ creation
    @staticmethod
    def create_id(episode_code: str, **_: Any) -> UUID:
        return episode_id(episode_code)

    @event("Opened")
    def __init__(
        self, episode_code: str, service: str, subject_id: str, territory: str, responsible_org: str,
        team: str | None, request_mode: str, urgency: str, received_at: datetime, clocks: list[Json],
        personal: Json | None, by: str, at: datetime, command_id: str,
    ) -> None:
        self.episode_code = episode_code
        self.service = ServiceKind(service)
        self.subject_id = subject_id
        self.territory = territory
        self.responsible_org = responsible_org
        self.team = team
        self.request_mode = RequestMode(request_mode)
        self.urgency = UrgencyLevel(urgency)
        self.received_at = received_at
        self.opened_at = at
        self.stage = EpisodeStage.RECEIVED
        self.accepted_at: datetime | None = None
        self.first_contact_at: datetime | None = None
        self.follow_up_started_at: datetime | None = None
        self.analysis_completed_at: datetime | None = None
        self.orientation: str | None = None
        self.meetings: list[Meeting] = []
        self.evaluation: Document | None = None
        self.intervention_plan: Document | None = None
        self.revisions: list[PlanRevision] = []
        self.service_plan: Document | None = None
        self.clocks: dict[str, EpisodeClock] = {}
        self._add_clocks(clocks)
        self.closure: Closure | None = None
        self.personal: list[Json] = []
        self._keep_personal(at, "opening", subject_id, personal)
        self.applied: set[str] = {command_id}

    @classmethod
    def open(cls, cmd: c.OpenEpisode, at: datetime, config: StandardsConfig) -> ServiceEpisode:
        """Open the episode at `at` (the command's moment); the AAOR's clocks start at `received_at`."""
        rules.check_open(cmd, at, config)
        received = cmd.received_at or at
        return cls(
            episode_code=cmd.episode_code, service=cmd.service.value, subject_id=cmd.subject_id,
            territory=cmd.territory, responsible_org=cmd.responsible_org, team=cmd.team,
            request_mode=cmd.request_mode.value, urgency=cmd.urgency.value, received_at=received,
            clocks=rules.clocks_started(cmd.service, rules.reception_facts(cmd.request_mode), received,
                                        cmd.urgency, config),
            personal=dict(cmd.personal) or None, by=cmd.by, at=at, command_id=cmd.command_id,
        )

    # ------------------------------------------------------------------ reading
    def view(self) -> EpisodeView:
        return EpisodeView(
            episode_id=str(self.id), episode_code=self.episode_code, service=self.service,
            subject_id=self.subject_id, territory=self.territory, responsible_org=self.responsible_org,
            team=self.team, request_mode=self.request_mode, urgency=self.urgency, received_at=self.received_at,
            opened_at=self.opened_at, stage=self.stage, accepted_at=self.accepted_at,
            first_contact_at=self.first_contact_at, follow_up_started_at=self.follow_up_started_at,
            analysis_completed_at=self.analysis_completed_at, orientation=self.orientation,
            meetings=list(self.meetings), evaluation=self.evaluation, intervention_plan=self.intervention_plan,
            revisions=list(self.revisions), service_plan=self.service_plan, clocks=list(self.clocks.values()),
            closure=self.closure, event_count=self.version,
        )

    def personal_details(self) -> list[Json]:
        """The personal content recorded for the episode, in order (`what`: which act it came with): read only
        under the disclosure rules."""
        return [dict(p) for p in self.personal]

    def already(self, cmd: c.Command) -> bool:
        return bool(cmd.command_id) and cmd.command_id in self.applied

    def execute(self, cmd: c.Command, at: datetime, config: StandardsConfig) -> None:
        """Any command given an open episode at `at`: the one dispatch its use case calls. Refused
        (`DomainError`) before anything is recorded; a command id already applied records nothing."""
        if self.already(cmd):
            return
        rules.check(self.view(), cmd, at, config)
        match cmd:
            case c.AcceptRequest():
                accepted = cmd.accepted_at or at
                urgency = cmd.urgency or self.urgency
                self._accepted(
                    accepted_at=accepted, urgency=urgency.value,
                    clocks=rules.clocks_started(self.service, rules.ACCEPTANCE_FACTS, accepted, urgency, config),
                    **self._who(cmd, at),
                )
            case c.RecordFirstContact():
                when = cmd.at or at
                self._first_contact(contact_at=when, stops=self._stops(rules.CONTACT_FACTS, config),
                                    **self._who(cmd, at))
            case c.RecordMeeting():
                held = cmd.held_at or at
                first = self.first_contact_at is None
                self._meeting_held(
                    number=len(self.meetings) + 1, held_at=held, mode=cmd.mode.value,
                    intervenant_id=cmd.intervenant_id, first_contact=first,
                    stops=self._stops(rules.CONTACT_FACTS, config) if first else [],
                    subject_id=self.subject_id, personal=dict(cmd.personal) or None, **self._who(cmd, at),
                )
            case c.RecordEvaluation():
                self._evaluation_recorded(subject_id=self.subject_id, personal=dict(cmd.personal) or None,
                                          **self._who(cmd, at))
            case c.RecordInterventionPlan():
                self._plan_recorded(subject_id=self.subject_id, personal=dict(cmd.personal) or None,
                                    **self._who(cmd, at))
            case c.ReviseInterventionPlan():
                self._plan_revised(number=len(self.revisions) + 1, additional_meetings=cmd.additional_meetings,
                                   subject_id=self.subject_id, personal=dict(cmd.personal) or None,
                                   **self._who(cmd, at))
            case c.RecordServicePlan():
                self._service_plan_recorded(partners=list(cmd.partners), subject_id=self.subject_id,
                                            personal=dict(cmd.personal) or None, **self._who(cmd, at))
            case c.StartFollowUp():
                self._follow_up_started(started_at=cmd.at or at, stops=self._stops(rules.FOLLOW_UP_FACTS, config),
                                        **self._who(cmd, at))
            case c.CompleteAnalysis():
                self._analysis_completed(completed_at=cmd.at or at, orientation=cmd.orientation,
                                         stops=self._stops(rules.ANALYSIS_FACTS, config), **self._who(cmd, at))
            case c.CloseEpisode():
                self._closed(subject_id=self.subject_id, personal=dict(cmd.personal) or None, **self._who(cmd, at))
            case _:  # `rules.check` refused it already; kept so that the dispatch reads whole
                raise RuleViolation(f"{type(cmd).__name__} is not a command of an épisode de services",
                                    code="unknown_command")

    # ------------------------------------------------------------------ the events
    @event("RequestAccepted")
    def _accepted(
        self, accepted_at: datetime, urgency: str, clocks: list[Json], by: str, actor_org: str, at: datetime,
        command_id: str,
    ) -> None:
        self.accepted_at = accepted_at
        self.urgency = UrgencyLevel(urgency)
        self._add_clocks(clocks)
        self.stage = EpisodeStage.ACCEPTED
        self.applied.add(command_id)

    @event("FirstContactMade")
    def _first_contact(
        self, contact_at: datetime, stops: list[str], by: str, actor_org: str, at: datetime, command_id: str
    ) -> None:
        self.first_contact_at = contact_at
        self._stop(stops, contact_at)
        self.applied.add(command_id)

    @event("MeetingHeld")
    def _meeting_held(
        self, number: int, held_at: datetime, mode: str, intervenant_id: str, first_contact: bool, stops: list[str],
        subject_id: str, personal: Json | None, by: str, actor_org: str, at: datetime, command_id: str,
    ) -> None:
        self.meetings.append(Meeting(number=number, held_at=held_at, mode=MeetingMode(mode),
                                     intervenant_id=intervenant_id, recorded_by=by, recorded_at=at))
        if first_contact:
            self.first_contact_at = held_at
            self._stop(stops, held_at)
        self._keep_personal(at, f"meeting.{number}", subject_id, personal)
        self.applied.add(command_id)

    @event("EvaluationRecorded")
    def _evaluation_recorded(
        self, subject_id: str, personal: Json | None, by: str, actor_org: str, at: datetime, command_id: str
    ) -> None:
        self.evaluation = Document(by=by, at=at)
        self._keep_personal(at, "evaluation", subject_id, personal)
        self.applied.add(command_id)

    @event("InterventionPlanRecorded")
    def _plan_recorded(
        self, subject_id: str, personal: Json | None, by: str, actor_org: str, at: datetime, command_id: str
    ) -> None:
        self.intervention_plan = Document(by=by, at=at)
        self._keep_personal(at, "intervention_plan", subject_id, personal)
        self.applied.add(command_id)

    @event("InterventionPlanRevised")
    def _plan_revised(
        self, number: int, additional_meetings: int, subject_id: str, personal: Json | None, by: str,
        actor_org: str, at: datetime, command_id: str,
    ) -> None:
        self.revisions.append(PlanRevision(number=number, additional_meetings=additional_meetings, by=by, at=at))
        self._keep_personal(at, f"revision.{number}", subject_id, personal)
        self.applied.add(command_id)

    @event("ServicePlanRecorded")
    def _service_plan_recorded(
        self, partners: list[str], subject_id: str, personal: Json | None, by: str, actor_org: str, at: datetime,
        command_id: str,
    ) -> None:
        self.service_plan = Document(by=by, at=at)
        self._keep_personal(at, "service_plan", subject_id, personal)
        self.applied.add(command_id)

    @event("FollowUpStarted")
    def _follow_up_started(
        self, started_at: datetime, stops: list[str], by: str, actor_org: str, at: datetime, command_id: str
    ) -> None:
        self.follow_up_started_at = started_at
        self._stop(stops, started_at)
        self.stage = EpisodeStage.FOLLOW_UP
        self.applied.add(command_id)

    @event("AnalysisCompleted")
    def _analysis_completed(
        self, completed_at: datetime, orientation: str | None, stops: list[str], by: str, actor_org: str,
        at: datetime, command_id: str,
    ) -> None:
        self.analysis_completed_at = completed_at
        self.orientation = orientation
        self._stop(stops, completed_at)
        self.applied.add(command_id)

    @event("EpisodeClosed")
    def _closed(
        self, subject_id: str, personal: Json | None, by: str, actor_org: str, at: datetime, command_id: str
    ) -> None:
        for standard_id, clock in self.clocks.items():
            if clock.status.running:
                self.clocks[standard_id] = clock.model_copy(update={"status": ClockStatus.CANCELLED})
        self._keep_personal(at, "closure", subject_id, personal)
        self.closure = Closure(by=by, at=at)
        self.stage = EpisodeStage.CLOSED
        self.applied.add(command_id)

    # ------------------------------------------------------------------ the calendar
    def advance(self, now: datetime) -> int:
        """Record a `DeadlineMissed` for every running clock due by `now`, each at its own due moment (so the
        record is the same whenever the timer fires); returns how many. Idempotent."""
        if self.stage is EpisodeStage.CLOSED:
            return 0
        due = sorted((k for k in self.clocks.values() if k.status.running and k.due_at <= now),
                     key=lambda k: (k.due_at, k.standard_id))
        for clock in due:
            self._deadline_missed(standard_id=clock.standard_id, at=clock.due_at)
        return len(due)

    @event("DeadlineMissed")
    def _deadline_missed(self, standard_id: str, at: datetime) -> None:
        clock = self.clocks[standard_id]
        self.clocks[standard_id] = clock.model_copy(update={"status": ClockStatus.MISSED, "missed_at": at})

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _who(cmd: c.Command, at: datetime) -> Json:
        return {"by": cmd.by, "actor_org": cmd.actor_org, "at": at, "command_id": cmd.command_id}

    def _stops(self, facts: Iterable[ClockEvent], config: StandardsConfig) -> list[str]:
        return rules.clocks_stopped(self.view(), facts, config)

    def _add_clocks(self, clocks: list[Json]) -> None:
        for x in clocks:
            clock = EpisodeClock.model_validate(x)
            self.clocks[clock.standard_id] = clock

    def _stop(self, standard_ids: list[str], at: datetime) -> None:
        """Stop these clocks at `at` (run inside event bodies): met when at or before the due moment, whether
        or not the timer fired first (a contact entered late, at its true moment, was still in time)."""
        for standard_id in standard_ids:
            clock = self.clocks.get(standard_id)
            if clock is None or clock.stopped_at is not None or clock.status is ClockStatus.CANCELLED:
                continue
            status = ClockStatus.MET if at <= clock.due_at else ClockStatus.MISSED
            self.clocks[standard_id] = clock.model_copy(update={"status": status, "stopped_at": at})

    def _keep_personal(self, at: datetime, what: str, subject_id: str | None, personal: Json | None) -> None:
        if personal:
            self.personal.append({"at": at, "what": what, "subject_id": subject_id, "personal": personal})
