"""The state of a crisis case as its readers see it: one typed, serialisable view, with no personal content.

The aggregate builds it; activities return it to the workflow, whose update
validators run the same rules on it; the supervisor's CLI shows it. Personal
details (the reason in words, the pseudonymous person reference) stay in the
events and are read separately, under the disclosure rules.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from domain.crisis.model import (
    Candidate,
    ClosureKind,
    EmergencyService,
    Intake,
    InterventionOutcome,
    ReceivingService,
    ReferralMeasure,
    TeamRef,
)
from domain.ententes.model import Frozen, ReferralChannel
from domain.standards.compliance import Observation

# Where the view holds what was sealed in its events (issue 9): words typed about the person and the intake's
# characterisation. A reader of the view as audit metadata gets them masked (`domain.audit.replay`); after a shred
# they read as erased. "*" is every item of a list.
SEALED_IN_VIEW: tuple[tuple[str, ...], ...] = (
    ("intake", "crisis_type"), ("intake", "risks"), ("intake", "p38_considered"),
    ("attempts", "*", "reason"), ("deadlines", "*", "extensions", "*", "reason"),
    ("referrals", "*", "refusal_reason"), ("closure", "reason"),
    ("intervention", "outcome"), ("intervention", "emergency_services"), ("intervention", "p38_applied"),
)
# The events whose `reason` is typed by a person: sealed since issue 9, in clear in events recorded before.
TYPED_REASON_EVENTS = frozenset({
    "HandoffDeclined", "Reassigned", "DeadlineExtended", "ReferralRefused", "HandedBack", "CaseClosed",
})


class CaseStage(StrEnum):
    INTAKE = "accueil"  # Info-Social, AAOR or a partner assesses the crisis
    HANDOFF = "transfert"  # a mobile team is being asked to intervene
    SUPERVISOR = "escalade"  # no team accepted: a supervisor must assign one or close
    INTERVENTION = "intervention"  # a team accepted and goes to the person
    ORIENTATION = "orientation"  # what follows is to be decided: follow-up, referral or closing
    FOLLOW_UP = "suivi_post_crise"
    REFERRAL = "reference"  # until the person has reached the receiving service
    CLOSED = "fermee"


class DeadlineStatus(StrEnum):
    OPEN = "ouvert"
    EXTENDED = "prolonge"  # open, with a later due moment granted by a supervisor
    MET = "respecte"
    MISSED = "manque"  # passed while open (an escalation), or stopped after it was due
    CANCELLED = "annule"  # the step it measured no longer happens (the case was closed, reassigned…)

    @property
    def running(self) -> bool:
        return self in {DeadlineStatus.OPEN, DeadlineStatus.EXTENDED}


class Extension(Frozen):
    until: datetime
    reason: str
    by: str
    at: datetime


class Deadline(Frozen):
    """One durable timer of the case. `standard_id` ties it to the standard it measures."""

    deadline_id: str
    standard_id: str
    started_at: datetime
    original_due_at: datetime
    due_at: datetime  # the original, or the last extension
    status: DeadlineStatus = DeadlineStatus.OPEN
    stopped_at: datetime | None = None
    missed_at: datetime | None = None
    extensions: list[Extension] = Field(default_factory=list)
    escalate_on_miss: bool = True

    def observation(self) -> Observation:
        """For the compliance report: measured against the standard's own deadline, whatever the extensions."""
        return Observation(
            standard_id=self.standard_id, started_at=self.started_at, stopped_at=self.stopped_at,
            deadline=self.original_due_at,
        )


class AttemptStatus(StrEnum):
    PENDING = "en_attente"
    ACCEPTED = "acceptee"
    DECLINED = "refusee"
    TIMED_OUT = "sans_reponse"
    WITHDRAWN = "retiree"  # a supervisor reassigned the case while the team was being asked


class HandoffAttempt(Frozen):
    number: int
    candidate: Candidate
    asked_at: datetime
    answer_deadline: str
    status: AttemptStatus = AttemptStatus.PENDING
    answered_at: datetime | None = None
    reason: str | None = None
    assigned_by_supervisor: bool = False


class Intervention(Frozen):
    team: TeamRef
    accepted_at: datetime
    may_share_information: bool
    agreement_code: str | None
    arrived_at: datetime | None = None
    outcome: InterventionOutcome | None = None
    emergency_services: list[EmergencyService] = Field(default_factory=list)
    p38_applied: bool | None = False  # None: not known (erased with the person's key)
    outcome_at: datetime | None = None


class FollowUpContact(Frozen):
    number: int
    label: str
    scheduled_at: datetime
    deadline_id: str
    made_at: datetime | None = None


class FollowUp(Frozen):
    number: int
    plan: str
    provider: str  # the organisation doing the follow-up
    started_at: datetime
    contacts: list[FollowUpContact]
    completed_at: datetime | None = None


class ReferralStatus(StrEnum):
    SENT = "envoyee"
    ACCEPTED = "acceptee"
    REFUSED = "refusee"
    REACHED = "service_rejoint"


class Referral(Frozen):
    number: int
    receiving: ReceivingService
    channel: ReferralChannel
    measure: ReferralMeasure
    referred_by: str  # the organisation making it
    sent_at: datetime
    decision_deadline: str
    status: ReferralStatus = ReferralStatus.SENT
    decided_at: datetime | None = None
    intake_worker: str | None = None  # role of the intervenant exerçant la fonction d'accueil (L733)
    refusal_reason: str | None = None
    reach_deadline: str | None = None
    reached_at: datetime | None = None
    from_stage: CaseStage = CaseStage.ORIENTATION


class Escalation(Frozen):
    number: int
    reason: str
    deadline_id: str | None
    at: datetime


class Closure(Frozen):
    kind: ClosureKind
    reason: str
    by: str
    at: datetime


class Pivot(Frozen):
    """The *personne pivot* who accompanies the person across handoffs (seed 002 L349-350: « une personne pivot
    qui accompagne ces personnes selon l'approche milieu »; L379-381: the community support « assuré par la
    personne pivot »): an intervenant (staff id, not the person's) and the organisation that employs them."""

    intervenant_id: str
    org_id: str
    named_by: str
    named_at: datetime


class CaseView(Frozen):
    case_id: str
    case_code: str
    subject_id: str  # opaque person id
    responsible_org: str  # the CSSS/CISSS answerable for the case (its supervisors act on it)
    territory: str
    intake_org: str
    intake: Intake
    referring_agreement: str | None  # for a partner's case: the entente that lets it refer
    opened_at: datetime
    stage: CaseStage
    holder: str | None  # the organisation that must act now
    candidates: list[Candidate]
    next_candidate: int  # index in `candidates` of the next team to ask
    attempts: list[HandoffAttempt]
    intervention: Intervention | None
    follow_ups: list[FollowUp]
    referrals: list[Referral]
    deadlines: list[Deadline]
    escalations: list[Escalation]
    closure: Closure | None
    event_count: int
    pivot: Pivot | None = None  # None: no personne pivot named yet (the supervisor's lists show those)

    def deadline(self, deadline_id: str) -> Deadline | None:
        return next((d for d in self.deadlines if d.deadline_id == deadline_id), None)

    @property
    def pending_attempt(self) -> HandoffAttempt | None:
        last = self.attempts[-1] if self.attempts else None
        return last if last is not None and last.status is AttemptStatus.PENDING else None

    @property
    def current_follow_up(self) -> FollowUp | None:
        last = self.follow_ups[-1] if self.follow_ups else None
        return last if last is not None and last.completed_at is None else None

    @property
    def current_referral(self) -> Referral | None:
        last = self.referrals[-1] if self.referrals else None
        return last if last is not None and last.status in {ReferralStatus.SENT, ReferralStatus.ACCEPTED} else None

    def observations(self) -> list[Observation]:
        """Every clock of the case, for the compliance report (cancelled ones measure nothing)."""
        return [d.observation() for d in self.deadlines if d.status is not DeadlineStatus.CANCELLED]
