"""The state of an épisode de services as its readers see it: one typed, serialisable view, no personal content.

The aggregate builds it; activities return it to the workflow, whose update validators run the same rules
on it; the standards report reads its clocks as compliance observations (`observations`). What was typed
about the person stays sealed in the events.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from domain.ententes.model import Frozen
from domain.episodes.model import MeetingMode, RequestMode, ServiceKind
from domain.standards.compliance import Observation
from domain.standards.config import UrgencyLevel


class EpisodeStage(StrEnum):
    RECEIVED = "demande_recue"  # the request is in; not yet accepted
    ACCEPTED = "demande_acceptee"  # accepted: the consultation clocks run
    FOLLOW_UP = "suivi"  # the follow-up is started
    CLOSED = "ferme"


class ClockStatus(StrEnum):
    RUNNING = "en_cours"
    MET = "respecte"
    MISSED = "manque"  # passed while running (`DeadlineMissed`), or stopped after it was due
    CANCELLED = "annule"  # the episode closed before the step it measured

    @property
    def running(self) -> bool:
        return self is ClockStatus.RUNNING


class EpisodeClock(Frozen):
    """One access standard's clock for this episode (its id is the standard's id): a durable deadline."""

    standard_id: str
    started_at: datetime
    due_at: datetime
    status: ClockStatus = ClockStatus.RUNNING
    stopped_at: datetime | None = None
    missed_at: datetime | None = None  # when `DeadlineMissed` was recorded for it (its due moment)

    def observation(self) -> Observation:
        return Observation(standard_id=self.standard_id, started_at=self.started_at, stopped_at=self.stopped_at,
                           deadline=self.due_at)


class Meeting(Frozen):
    number: int
    held_at: datetime
    mode: MeetingMode
    intervenant_id: str
    recorded_by: str
    recorded_at: datetime


class PlanRevision(Frozen):
    number: int
    additional_meetings: int
    by: str
    at: datetime


class Document(Frozen):
    """An evaluation, a PI or a PSI: that it is in the file, when and by whom (its content is sealed)."""

    by: str
    at: datetime


class Closure(Frozen):
    by: str
    at: datetime


class EpisodeView(Frozen):
    episode_id: str
    episode_code: str
    service: ServiceKind
    subject_id: str  # opaque person id
    territory: str
    responsible_org: str
    team: str | None
    request_mode: RequestMode
    urgency: UrgencyLevel
    received_at: datetime
    opened_at: datetime
    stage: EpisodeStage
    accepted_at: datetime | None = None
    first_contact_at: datetime | None = None
    follow_up_started_at: datetime | None = None
    analysis_completed_at: datetime | None = None
    orientation: str | None = None  # AAOR: the service the person was oriented to
    meetings: list[Meeting] = Field(default_factory=list)
    evaluation: Document | None = None
    intervention_plan: Document | None = None
    revisions: list[PlanRevision] = Field(default_factory=list)
    service_plan: Document | None = None
    clocks: list[EpisodeClock] = Field(default_factory=list)
    closure: Closure | None = None
    event_count: int = 0

    @property
    def granted_meetings(self) -> int:
        """Meetings granted beyond the cap by PI revisions (L1424-1426)."""
        return sum(r.additional_meetings for r in self.revisions)

    def clock(self, standard_id: str) -> EpisodeClock | None:
        return next((k for k in self.clocks if k.standard_id == standard_id), None)

    def observations(self) -> list[Observation]:
        """Every clock of the episode, for the compliance report (cancelled ones measure nothing)."""
        return [k.observation() for k in self.clocks if k.status is not ClockStatus.CANCELLED]
