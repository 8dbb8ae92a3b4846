"""What a delivery is, as its readers see it: a message to a partner, its attempts, and how each ended.

A message is about one subject (a crisis case or an entente) and carries opaque codes only (case code,
attempt number, team, deadline, the sharing decision's basis and item names; entente code, version,
party): what the partner needs to act, never a person's details. It reads the rest through the gateway,
where the disclosure rules decide and register the read.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from domain.ententes.model import Frozen

MAX_ATTEMPTS = 10  # the retry policy's; the last failed attempt gives the message up


class SubjectKind(StrEnum):
    CASE = "case"
    ENTENTE = "entente"


class MessageType(StrEnum):
    HANDOFF_REQUESTED = "handoff.requested"  # a team of the partner is asked to take a crisis handoff
    REFERRAL_SENT = "referral.sent"  # the partner is the service a référence personnalisée is sent to
    SIGNATURE_REQUESTED = "signature.requested"  # the partner is asked to sign a version of an entente
    SIGNATURE_REMINDER = "signature.reminder"  # a reminder recorded while the partner has still not signed
    REVIEW_DUE = "entente.review_due"  # the annual review of an entente the partner is party to falls due


class Outcome(StrEnum):
    DELIVERED = "delivered"  # 2xx
    RETRYING = "retrying"  # unreachable, 5xx, 408, 429: tried again with back-off
    REFUSED = "refused"  # another 4xx: the partner refuses it; trying again would not change that
    ABANDONED = "abandoned"  # the last attempt failed: the workflow's own deadline goes on as for any silent team


def outcome_of(status: int | None, attempt: int, max_attempts: int = MAX_ATTEMPTS) -> Outcome:
    """How one HTTP attempt ended (`status` None: no answer at all). A 4xx other than 408 (timeout) and 429
    (too many requests) is the partner saying no to this very message: never retried."""
    if status is not None and 200 <= status < 300:
        return Outcome.DELIVERED
    if status is not None and 400 <= status < 500 and status not in (408, 429):
        return Outcome.REFUSED
    return Outcome.ABANDONED if attempt >= max_attempts else Outcome.RETRYING


class Attempt(Frozen):
    attempt: int
    at: datetime
    outcome: Outcome
    status: int | None = None  # the HTTP status, None when nothing answered
    error: str | None = None  # the kind of failure (ConnectError, ReadTimeout…), never a response body
    duration_ms: int = 0


class Message(Frozen):
    """One message to one partner. `sequence` counts the messages to that partner about that subject (1, 2,
    …, no gap): a receiver orders them by it and knows one is missing. Retries carry the same `event_id`."""

    event_id: str
    type: MessageType
    subject_kind: SubjectKind
    subject: str
    org_id: str
    url: str
    sequence: int = Field(ge=1)
    queued_at: datetime
    data: dict[str, Any]
    attempts: list[Attempt] = Field(default_factory=list)

    @property
    def outcome(self) -> Outcome | None:
        return self.attempts[-1].outcome if self.attempts else None

    def body(self) -> dict[str, Any]:
        """What is sent (and signed), the same on every attempt."""
        return {"id": self.event_id, "type": self.type.value, "sequence": self.sequence,
                "subject": {"kind": self.subject_kind.value, "code": self.subject},
                "occurred_at": self.queued_at.isoformat(), "data": self.data}


class EndpointView(Frozen):
    """A partner's registered endpoint, without its secret."""

    org_id: str
    url: str
    secret_id: str  # which secret signs (a new one on each rotation); the secret itself is never shown again
    registered_at: datetime
    registered_by: str
    changed_at: datetime
    # The secret rotated out with an overlap, and until when deliveries are signed with it too.
    previous_secret_id: str | None = None
    previous_until: datetime | None = None
