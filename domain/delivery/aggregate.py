"""The aggregates of outbound delivery: a partner's `Endpoint`, and one `DeliveryLog` per subject.

`Endpoint` (one per partner organisation) holds the URL and the signing secret *sealed* by the adapter
(AES-GCM under ARRIMAGE_WEBHOOK_KEYS): the engine must sign with it, so it cannot be a hash, and the
record never holds it in clear. A secret is rotated with an overlap (`rotate`): until its end every delivery
is signed with the new secret and the old one (`signing_secrets`), so a partner swaps its copy at any moment
of that window without refusing one. `DeliveryLog` (one per case or entente) holds every message sent about
that subject and every attempt: `cases show` reads it whole. Both are idempotent: a message is queued
once per event id (a retried activity finds it), an attempt once per (event id, attempt number).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.delivery.model import Attempt, EndpointView, Message, MessageType, Outcome, SubjectKind
from domain.errors import RuleViolation

NAMESPACE = UUID("b6f0a3c2-58d1-4e0f-9c7a-2d4e6f8a1b35")
MAX_OVERLAP = timedelta(days=90)  # as for API keys: an old secret still signing after this is a forgotten one


def endpoint_id(org_id: str) -> UUID:
    return uuid5(NAMESPACE, f"endpoint:{org_id}")


def log_id(kind: SubjectKind, subject: str) -> UUID:
    return uuid5(NAMESPACE, f"delivery-log:{kind.value}:{subject}")


def event_id(kind: SubjectKind, subject: str, key: str) -> str:
    """The id a message keeps across retries, from what it is about: the same step asks once."""
    return str(uuid5(NAMESPACE, f"message:{kind.value}:{subject}:{key}"))


def check_url(url: str) -> None:
    """HTTPS, or plain HTTP to this machine only (a receiver beside the engine, the tests)."""
    lowered = url.lower()
    local = ("http://127.0.0.1", "http://localhost", "http://[::1]")
    if not (lowered.startswith("https://") or any(lowered.startswith(p + s) for p in local for s in (":", "/"))):
        raise RuleViolation(f"an endpoint must be https:// (plain http to this machine only), not {url!r}",
                            code="invalid_endpoint")
    if len(url) > 2048 or any(ch.isspace() for ch in url):
        raise RuleViolation("an endpoint is one URL of at most 2048 characters", code="invalid_endpoint")


def check_overlap(overlap: timedelta) -> None:
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise RuleViolation(f"the overlap of a secret rotation lies between 0 and {MAX_OVERLAP.days} days",
                            code="invalid_overlap")


class Endpoint(Aggregate):
    @staticmethod
    def create_id(org_id: str, **_: Any) -> UUID:
        return endpoint_id(org_id)

    @event("Registered")
    def __init__(self, org_id: str, url: str, secret_id: str, sealed_secret: str, by: str, at: datetime) -> None:
        self.org_id = org_id
        self.url = url
        self.secret_id = secret_id
        self.sealed_secret = sealed_secret  # the adapter's ciphertext: opened only to sign
        self.registered_by = by
        self.registered_at = at
        self.changed_at = at
        self.previous: tuple[str, str, datetime] | None = None  # (secret id, sealed secret, signs until)

    def change(self, url: str, secret_id: str | None, sealed_secret: str | None, by: str, at: datetime) -> None:
        """A new URL, or a new secret (rotation), or both; nothing recorded when nothing changes."""
        if url == self.url and secret_id is None:
            return
        self._changed(url=url, secret_id=secret_id, sealed_secret=sealed_secret, by=by, at=at)

    @event("Changed")
    def _changed(self, url: str, secret_id: str | None, sealed_secret: str | None, by: str, at: datetime) -> None:
        self.url = url
        if secret_id is not None and sealed_secret is not None:
            self.secret_id, self.sealed_secret = secret_id, sealed_secret
            self.previous = None  # rotated without overlap: the old secret stops signing at once
        self.changed_at = at

    def rotate(self, secret_id: str, sealed_secret: str, overlap: timedelta, by: str, at: datetime) -> None:
        """A new secret; the current one keeps signing beside it for `overlap` (0: it stops at once). A secret
        rotated out earlier and still in its overlap stops now: two secrets sign at most."""
        check_overlap(overlap)
        self._secret_rotated(secret_id=secret_id, sealed_secret=sealed_secret, previous_until=at + overlap,
                             by=by, at=at)

    @event("SecretRotated")
    def _secret_rotated(self, secret_id: str, sealed_secret: str, previous_until: datetime, by: str,
                        at: datetime) -> None:
        self.previous = (self.secret_id, self.sealed_secret, previous_until) if previous_until > at else None
        self.secret_id, self.sealed_secret = secret_id, sealed_secret
        self.changed_at = at

    def signing_secrets(self, now: datetime) -> list[str]:
        """The sealed secrets a delivery made at `now` is signed with: the current one first, then the one
        rotated out while its overlap runs."""
        previous = self.previous
        return [self.sealed_secret] + ([previous[1]] if previous is not None and now < previous[2] else [])

    def view(self) -> EndpointView:
        previous = self.previous
        return EndpointView(org_id=self.org_id, url=self.url, secret_id=self.secret_id,
                            registered_at=self.registered_at, registered_by=self.registered_by,
                            changed_at=self.changed_at, previous_secret_id=previous[0] if previous else None,
                            previous_until=previous[2] if previous else None)


class DeliveryLog(Aggregate):
    @staticmethod
    def create_id(kind: str, subject: str, **_: Any) -> UUID:
        return log_id(SubjectKind(kind), subject)

    @event("Opened")
    def __init__(self, kind: str, subject: str) -> None:
        self.kind = SubjectKind(kind)
        self.subject = subject
        self.messages: dict[str, Message] = {}

    def queue(self, event_id: str, message_type: MessageType, org_id: str, url: str, data: dict[str, Any],
              at: datetime) -> Message:
        """The message of `event_id`, queued now unless it already was (a retried activity): its sequence is the
        next one to that partner about this subject."""
        if event_id not in self.messages:
            sequence = 1 + sum(1 for m in self.messages.values() if m.org_id == org_id)
            self._queued(event_id=event_id, message_type=message_type.value, org_id=org_id, url=url, sequence=sequence,
                         data=data, at=at)
        return self.messages[event_id]

    @event("Queued")
    def _queued(self, event_id: str, message_type: str, org_id: str, url: str, sequence: int, data: dict[str, Any],
                at: datetime) -> None:
        self.messages[event_id] = Message(
            event_id=event_id, type=MessageType(message_type), subject_kind=self.kind, subject=self.subject,
            org_id=org_id, url=url, sequence=sequence, queued_at=at, data=data,
        )

    def attempted(self, event_id: str, attempt: Attempt) -> Message:
        """One attempt's end, once per attempt number (an activity retried after recording it records nothing)."""
        message = self.messages.get(event_id)
        if message is None:
            raise RuleViolation(f"no message {event_id} about {self.subject}", code="no_message")
        if all(a.attempt != attempt.attempt for a in message.attempts):
            self._attempted(event_id=event_id, attempt=attempt.attempt, at=attempt.at, outcome=attempt.outcome.value,
                            status=attempt.status, error=attempt.error, duration_ms=attempt.duration_ms)
        return self.messages[event_id]

    @event("Attempted")
    def _attempted(self, event_id: str, attempt: int, at: datetime, outcome: str, status: int | None,
                   error: str | None, duration_ms: int) -> None:
        message = self.messages[event_id]
        done = Attempt(attempt=attempt, at=at, outcome=Outcome(outcome), status=status, error=error,
                       duration_ms=duration_ms)
        self.messages[event_id] = message.model_copy(update={"attempts": [*message.attempts, done]})

    def view(self) -> list[Message]:
        return sorted(self.messages.values(), key=lambda m: (m.queued_at, m.org_id, m.sequence))
