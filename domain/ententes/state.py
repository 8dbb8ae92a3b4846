"""The state of an entente as its readers see it: one typed, serialisable view.

The aggregate builds it; activities return it to the workflow, whose update
validators run the same rules on it; the CLI shows it.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import Field, model_validator

from domain.ententes.model import EntenteContent, EntenteKind, Frozen


class EntenteStatus(StrEnum):
    DRAFT = "brouillon"
    IN_SIGNATURE = "en_signature"
    SIGNED = "signee"  # every party signed; waiting for the effective date
    ACTIVE = "en_vigueur"
    REVOKED = "revoquee"
    EXPIRED = "expiree"
    ABANDONED = "abandonnee"  # withdrawn by a party before it ever took effect

    @property
    def ended(self) -> bool:
        return self in {EntenteStatus.REVOKED, EntenteStatus.EXPIRED, EntenteStatus.ABANDONED}


class ProposalPurpose(StrEnum):
    INITIAL = "initiale"
    AMENDMENT = "modification"
    RENEWAL = "renouvellement"


class ProposalStage(StrEnum):
    DRAFTING = "redaction"
    IN_SIGNATURE = "en_signature"
    SIGNED = "signee"


class ReviewOutcome(StrEnum):
    MAINTAIN = "maintenir"
    AMEND = "modifier"
    REVOKE = "revoquer"


class VersionInfo(Frozen):
    number: int
    author: str
    reason: str | None
    at: datetime
    fingerprint: str


class Signature(Frozen):
    party_id: str
    version: int
    fingerprint: str  # the exact content signed
    signatory: str
    title: str | None
    at: datetime


class Proposal(Frozen):
    """A version on its way to being in force: the initial one, an amendment or a renewal."""

    version: int
    purpose: ProposalPurpose
    stage: ProposalStage
    submitted_at: datetime | None = None
    signature_deadline: datetime | None = None
    signatures: list[Signature] = Field(default_factory=list)
    reminders_sent: int = 0
    last_reminder_at: datetime | None = None

    def signed_by(self, party_id: str) -> bool:
        return any(s.party_id == party_id for s in self.signatures)


class ReviewRecord(Frozen):
    due_on: date
    outcome: ReviewOutcome
    decided_at: datetime
    by: str
    notes: str | None


class Revocation(Frozen):
    party_id: str
    reason: str
    noticed_at: datetime
    effective_date: date


class EntentePolicy(Frozen):
    """Time limits of the lifecycle that the seeds leave to the parties.

    The documents only say ententes are "mises à jour régulièrement" (seed
    001, L863); these are the network's defaults, configurable per region.
    """

    signature_period_days: int = Field(default=30, ge=1, le=365)
    reminder_interval_days: int = Field(default=7, ge=1, le=90)
    review_window_days: int = Field(default=60, ge=0, le=180)  # a review may be held this early
    review_grace_days: int = Field(default=30, ge=1, le=365)  # undone after this: escalation
    escalation_repeat_days: int = Field(default=30, ge=1, le=365)
    # A deadline given with a submission may not lie further ahead than this: a year of signatures
    # is already long; 2036 for 2026 is a typing error.
    max_signature_period_days: int = Field(default=365, ge=1, le=730)
    # No date an entente command names (an end date, a revocation's effective date) lies further
    # ahead than this from the command's own moment.
    horizon_years: int = Field(default=25, ge=1, le=75)

    @model_validator(mode="after")
    def _default_within_maximum(self) -> EntentePolicy:
        if self.signature_period_days > self.max_signature_period_days:
            raise ValueError("the default signature period exceeds the maximum signature period")
        return self


class EntenteView(Frozen):
    agreement_id: str
    code: str
    kind: EntenteKind
    title: str
    status: EntenteStatus
    latest_version: int
    versions: list[VersionInfo]
    in_force_version: int | None
    content: EntenteContent  # the version in force, or the latest draft before activation
    proposal: Proposal | None
    proposed_content: EntenteContent | None
    activated_on: date | None
    next_review_due: date | None
    review_pending: date | None  # due date of a review not yet recorded
    review_escalations: int
    reviews: list[ReviewRecord]
    revocation: Revocation | None
    ended_on: date | None
    end_reason: str | None
    event_count: int

    @property
    def end_date(self) -> date | None:
        return self.content.duration.end_date if self.in_force_version else None
