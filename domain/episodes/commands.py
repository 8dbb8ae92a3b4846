"""The commands of an épisode de services: one typed object per act.

Every command says who acts (`by`, a user or system id) and for which organisation (`actor_org`): the
organisation answerable for the episode (`responsible_org`, its CSSS/CISSS) gives them all. `command_id`
makes recording idempotent (the workflow sets it). Moments a caller gives (`received_at`, `accepted_at`,
`held_at`, `at`) are aware and kept in UTC (`domain.values.Moment`); whether they are plausible for the
episode (not before it, not in the future beyond the clock skew) is a rule (`rules`). Omitted, a moment is
the command's own (the workflow's clock).

Personal content (the request in words, a meeting's notes, the evaluation, the plans' content, a PI
revision's justification, a closing's reason) goes only in `personal`, sealed with the person's key.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from domain.crisis.commands import Command
from domain.ententes.model import Code, ShortText
from domain.episodes.model import EpisodeCode, MeetingMode, Personal, RequestMode, ServiceKind, SubjectId
from domain.standards.config import UrgencyLevel
from domain.values import Moment

__all__ = [
    "AcceptRequest",
    "CloseEpisode",
    "Command",
    "CompleteAnalysis",
    "EpisodeCommand",
    "OpenEpisode",
    "RecordEvaluation",
    "RecordFirstContact",
    "RecordInterventionPlan",
    "RecordMeeting",
    "RecordServicePlan",
    "ReviseInterventionPlan",
    "StartFollowUp",
]

# A PI revision's extension: how many meetings beyond those already granted. Bounded so that one revision
# is one more short approach (the seed's 12 meetings, L1424), not an open-ended one.
MAX_EXTENSION = 12
JUSTIFICATION = "justification"  # the `personal` field that carries a revision's justification


class OpenEpisode(Command):
    """A request for a service of the services sociaux généraux reached the CSSS (by phone or in person,
    seed 001 L761): the episode opens, and the AAOR's clocks start from `received_at` (L778-785)."""

    type: Literal["open"] = "open"
    episode_code: EpisodeCode
    service: ServiceKind
    subject_id: SubjectId
    territory: Code
    responsible_org: Code  # the CSSS/CISSS answerable for the episode
    team: Code | None = None  # the responsible team within it
    request_mode: RequestMode
    urgency: UrgencyLevel = UrgencyLevel.NONE
    received_at: Moment | None = None  # default: the opening
    personal: Personal = Field(default_factory=dict)  # e.g. {"request": …}


class AcceptRequest(Command):
    """The request is accepted « dans le cadre des services sociaux généraux »: the consultation clocks start
    (first contact ≤ 7 days, follow-up ≤ 30 days, urgent ≤ 24 h; seed 001 L1485-1493, L1731-1739).
    `urgency`: the degree of urgency as assessed at acceptance (default: as at the opening)."""

    type: Literal["accept"] = "accept"
    accepted_at: Moment | None = None
    urgency: UrgencyLevel | None = None


class RecordFirstContact(Command):
    """The professional reached the person (for the AAOR: met at the desk, or called back)."""

    type: Literal["first_contact"] = "first_contact"
    at: Moment | None = None


class RecordMeeting(Command):
    """A meeting held with the person, numbered in order of recording. Refused past the service's cap
    (AAOR 3, consultations 12) unless a PI revision granted more (seed 001 L721-723, L1423-1426)."""

    type: Literal["meeting"] = "meeting"
    held_at: Moment | None = None
    mode: MeetingMode
    intervenant_id: ShortText  # staff id of the professional who held it, never the person's
    personal: Personal = Field(default_factory=dict)  # notes


class RecordEvaluation(Command):
    """« Une évaluation est effectuée et disponible au dossier » (seed 001 L1503, L1750)."""

    type: Literal["evaluation"] = "evaluation"
    personal: Personal = Field(default_factory=dict)  # the evaluation's content


class RecordInterventionPlan(Command):
    """« Un plan d'intervention (PI) est disponible au dossier pour chaque personne » (L1505, L1752)."""

    type: Literal["intervention_plan"] = "intervention_plan"
    personal: Personal = Field(default_factory=dict)  # objectives, activities


class ReviseInterventionPlan(Command):
    """The PI « révisé et modifié en conséquence » to prolong the intervention beyond the term first agreed
    (L1424-1426, L1672-1674). `additional_meetings` beyond the cap (and earlier extensions); an extension is
    justified in `personal["justification"]`, sealed like every clinical word."""

    type: Literal["revise_plan"] = "revise_plan"
    additional_meetings: int = Field(default=0, ge=0, le=MAX_EXTENSION)
    personal: Personal = Field(default_factory=dict)

    @model_validator(mode="after")
    def _justified(self) -> Self:
        if self.additional_meetings and not self.personal.get(JUSTIFICATION):
            raise ValueError(f"an extension of the intervention is justified: personal.{JUSTIFICATION} is required")
        return self


class RecordServicePlan(Command):
    """A plan de service individualisé (PSI), « dans les situations qui l'exigent » (L1556, L1802)."""

    type: Literal["service_plan"] = "service_plan"
    partners: list[Code] = Field(default_factory=list, max_length=20)  # the other services and partners in it
    personal: Personal = Field(default_factory=dict)


class StartFollowUp(Command):
    """The professional « amorce le suivi » (L1489-1490, L1735-1736): the 30-day clock stops."""

    type: Literal["follow_up"] = "follow_up"
    at: Moment | None = None


class CompleteAnalysis(Command):
    """The AAOR's analysis of the request is complete (≤ 10 days from its reception, L784-785); `orientation`:
    the service the person is oriented to, as a code (e.g. ``consultation_sociale``), when there is one."""

    type: Literal["analysis"] = "analysis"
    at: Moment | None = None
    orientation: Code | None = None


class CloseEpisode(Command):
    """The episode ends; clocks still running are cancelled (they measure a step that no longer comes)."""

    type: Literal["close"] = "close"
    personal: Personal = Field(default_factory=dict)  # the reason in words


EpisodeCommand = Annotated[
    AcceptRequest
    | RecordFirstContact
    | RecordMeeting
    | RecordEvaluation
    | RecordInterventionPlan
    | ReviseInterventionPlan
    | RecordServicePlan
    | StartFollowUp
    | CompleteAnalysis
    | CloseEpisode,
    Field(discriminator="type"),
]
