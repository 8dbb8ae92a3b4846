"""Activities of FHIR Task subscriptions (the R4 backport): who listens to a change of an organisation's Tasks
(`fhir.subscribers`, a local activity: a quick read), a subscription's handshake (`fhir.handshake`) and one
id-only notification (`fhir.notify`), each POSTed signed like the webhooks (the partner's secret, the same
headers) by the same sender, each attempt recorded, retried by Temporal while the partner is unreachable.

Idempotent: an event is numbered once per subscription (its key comes from the Task's change) and each attempt
recorded once per attempt number; an attempt run again after the notification was delivered, refused or given
up sends nothing; a handshake once the subscription left `requested` sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, uuid5

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import classified
from domain.delivery.model import MAX_ATTEMPTS, Attempt, Outcome, outcome_of
from domain.errors import RuleViolation
from domain.fhir.subscriptions import FHIR_JSON, HANDSHAKE_ATTEMPTS, SubscriptionStatus

if TYPE_CHECKING:  # the workflows import this module in their sandbox: no use case, adapter or HTTP client there
    from adapters.webhooks.sender import Sent, WebhookSender
    from usecases.fhir_subscriptions import Subscriptions

UNREACHABLE = "partner_unreachable"
NO_ENDPOINT = "no_endpoint"  # Deliveries.target's refusal: the partner revoked, or its endpoint gone
FINAL = (Outcome.DELIVERED, Outcome.REFUSED, Outcome.ABANDONED)


class SubscribersInput(BaseModel):
    org_ids: list[str]  # the owners of the Tasks a step changed
    # When the changes were recorded (the workflow's time, the latest change's): who listened then. Absent in
    # runs recorded before it: the worker's clock, as then.
    at: datetime | None = None


class Listener(BaseModel):
    subscription_id: str
    org_id: str


class SubscribersResult(BaseModel):
    listeners: list[Listener]  # active subscriptions of those organisations (opaque ids)


class HandshakeInput(BaseModel):
    """A subscription's workflow: its handshake, then a heartbeat every `heartbeat_seconds` while it is active
    (`heartbeats` sent so far and `handshaken`: carried across continue-as-new)."""

    subscription_id: str
    heartbeat_seconds: int | None = None
    heartbeats: int = 0
    handshaken: bool = False


class HeartbeatInput(BaseModel):
    subscription_id: str
    number: int  # the n-th heartbeat (its event id and Bundle id)


class NotifyInput(BaseModel):
    """One Task change to tell one subscription: the Task, the change's key (numbered once), when it was recorded."""

    subscription_id: str
    task_id: str
    key: str
    at: datetime


class SentResult(BaseModel):
    outcome: Outcome | None  # None: nothing to send (the subscription no longer listens)
    attempts: int = 0
    number: int | None = None  # the event's number in the subscription


def event_id(subscription_id: str, what: str) -> str:
    """The Arrimage-Event-Id of a handshake or of event n: the same on every retry."""
    return str(uuid5(NAMESPACE_URL, f"arrimage:fhir-subscription:{subscription_id}:{what}"))


class SubscriptionActivities:
    def __init__(self, subscriptions: Subscriptions, sender: WebhookSender) -> None:
        self.subscriptions = subscriptions
        self.sender = sender

    @activity.defn(name="fhir.subscribers")
    @classified
    def subscribers(self, inp: SubscribersInput) -> SubscribersResult:
        found = self.subscriptions.listening(inp.org_ids, inp.at or datetime.now(UTC))
        return SubscribersResult(listeners=[Listener(subscription_id=s.subscription_id, org_id=s.org_id)
                                            for s in found])

    @activity.defn(name="fhir.handshake")
    @classified
    def handshake(self, inp: HandshakeInput) -> SentResult:
        number = activity.info().attempt
        view = self.subscriptions.get(inp.subscription_id)
        if view.status is not SubscriptionStatus.REQUESTED:
            return SentResult(outcome=_last(view.handshake), attempts=len(view.handshake))
        started = datetime.now(UTC)
        sent = self._post(view.org_id, view.endpoint, event_id(view.subscription_id, "handshake"),
                          lambda: self.subscriptions.handshake_body(view, started), started)
        outcome = Outcome.REFUSED if sent is None else outcome_of(sent.status, number, HANDSHAKE_ATTEMPTS)
        view = self.subscriptions.handshake_attempted(inp.subscription_id, _attempt(number, started, outcome, sent))
        if outcome is Outcome.RETRYING and sent is not None:
            raise _again(view.org_id, "handshake", sent)
        return SentResult(outcome=outcome, attempts=len(view.handshake))

    @activity.defn(name="fhir.heartbeat")
    @classified
    def heartbeat(self, inp: HeartbeatInput) -> SentResult:
        """One heartbeat, unless the subscription stopped beating (off, in error, past its end: outcome None, the
        workflow ends). Not recorded: a heartbeat tells the partner the channel lives, nothing about a case."""
        view = self.subscriptions.get(inp.subscription_id)
        started = datetime.now(UTC)
        if not view.beating(started):
            return SentResult(outcome=None)
        sent = self._post(view.org_id, view.endpoint, event_id(view.subscription_id, f"heartbeat:{inp.number}"),
                          lambda: self.subscriptions.heartbeat_body(view, inp.number, started), started)
        outcome = Outcome.REFUSED if sent is None else outcome_of(sent.status, activity.info().attempt,
                                                                  HANDSHAKE_ATTEMPTS)
        if outcome is Outcome.RETRYING and sent is not None:
            raise _again(view.org_id, f"heartbeat {inp.number}", sent)
        return SentResult(outcome=outcome, attempts=activity.info().attempt)

    @activity.defn(name="fhir.notify")
    @classified
    def notify(self, inp: NotifyInput) -> SentResult:
        number = activity.info().attempt
        view, queued = self.subscriptions.queue(inp.subscription_id, inp.key, inp.task_id, inp.at)
        if queued is None:
            return SentResult(outcome=None)  # off, in error or past its end: nothing told
        if queued.outcome in FINAL:
            return SentResult(outcome=queued.outcome, attempts=len(queued.attempts), number=queued.number)
        started, told = datetime.now(UTC), queued
        sent = self._post(view.org_id, view.endpoint, event_id(view.subscription_id, f"event:{queued.number}"),
                          lambda: self.subscriptions.notification_body(view, told, started), started)
        outcome = Outcome.REFUSED if sent is None else outcome_of(sent.status, number, MAX_ATTEMPTS)
        queued = self.subscriptions.attempted(inp.subscription_id, queued.number,
                                              _attempt(number, started, outcome, sent))
        if outcome is Outcome.RETRYING and sent is not None:
            raise _again(view.org_id, f"event {queued.number}", sent)
        return SentResult(outcome=outcome, attempts=len(queued.attempts), number=queued.number)

    def _post(self, org_id: str, url: str, event: str, body: Callable[[], dict[str, Any]], at: datetime
              ) -> Sent | None:
        """The POST's end; None when the partner has no endpoint any more or is revoked (nothing sent)."""
        try:
            target = self.subscriptions.target(org_id, at)  # a rotated secret signs too while its overlap runs
        except RuleViolation:
            return None
        return self.sender.post(url, target.secrets, event, body(), content_type=FHIR_JSON)

    def all(self) -> list[Callable[..., Any]]:
        return [self.subscribers, self.handshake, self.heartbeat, self.notify]


def _attempt(number: int, at: datetime, outcome: Outcome, sent: Sent | None) -> Attempt:
    if sent is None:
        return Attempt(attempt=number, at=at, outcome=outcome, error=NO_ENDPOINT)
    return Attempt(attempt=number, at=at, outcome=outcome, status=sent.status, error=sent.error,
                   duration_ms=sent.duration_ms)


def _last(attempts: list[Attempt]) -> Outcome | None:
    return attempts[-1].outcome if attempts else None


def _again(org_id: str, what: str, sent: Sent) -> ApplicationError:
    delay = timedelta(seconds=sent.retry_after) if sent.retry_after is not None else None
    return ApplicationError(f"partner {org_id} did not take the {what} ({sent.status or sent.error}): tried again",
                            type=UNREACHABLE, next_retry_delay=delay)
