"""Activities of outbound delivery: which partners have an endpoint, and one signed POST per attempt.

`delivery.endpoints` is a quick read of the record, run as a local activity when a step asks a partner: the
workflow schedules a delivery only for a partner with an endpoint (most community organisations have none
and use the portal). `delivery.deliver` queues the message in the subject's delivery log (once: its event id
comes from the step), POSTs it signed, records the attempt, and lets Temporal's retry policy
(`workflows.deliveries.RETRY`: back-off, `MAX_ATTEMPTS`) try again while the partner is unreachable, answers
5xx, 408 or 429 (its Retry-After honoured). Another 4xx is the partner refusing this message: not retried.

Idempotent: the message is queued once per event id and each attempt recorded once per attempt number; an
attempt run again after the message was delivered, refused or given up sends nothing. The partner sees the
same event id on every retry and takes it once (the README's check).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import classified
from activities.fhir_subscriptions import SubscriptionActivities
from domain.delivery.model import MAX_ATTEMPTS, Attempt, Message, MessageType, Outcome, SubjectKind, outcome_of

if TYPE_CHECKING:  # the workflows import this module in their sandbox: no use case, adapter or HTTP client there
    from adapters.webhooks.sender import WebhookSender
    from usecases.delivery import Deliveries

UNREACHABLE = "partner_unreachable"


class EndpointsInput(BaseModel):
    org_ids: list[str]


class EndpointsResult(BaseModel):
    org_ids: list[str]  # those with an endpoint and a partner not revoked


class DeliverInput(BaseModel):
    """What a step asks of one partner: a team to take a handoff (`attempt`), a receiving service to decide on a
    referral (`referral`), a party to sign (`version`; a reminder: `reminder` and when it was recorded, `at`),
    a party to hold the annual review (`due_on`)."""

    type: MessageType
    subject_kind: SubjectKind
    subject: str
    org_id: str
    attempt: int | None = Field(default=None, ge=1)
    version: int | None = Field(default=None, ge=1)
    referral: int | None = Field(default=None, ge=1)
    reminder: int | None = Field(default=None, ge=1)
    at: datetime | None = None
    due_on: date | None = None


class DeliverResult(BaseModel):
    event_id: str
    sequence: int
    outcome: Outcome
    attempts: int


class DeliveryActivities:
    def __init__(self, deliveries: Deliveries, sender: WebhookSender) -> None:
        self.deliveries = deliveries
        self.sender = sender

    @activity.defn(name="delivery.endpoints")
    @classified
    def endpoints(self, inp: EndpointsInput) -> EndpointsResult:
        return EndpointsResult(org_ids=self.deliveries.with_endpoint(inp.org_ids))

    @activity.defn(name="delivery.deliver")
    @classified
    def deliver(self, inp: DeliverInput) -> DeliverResult:
        number = activity.info().attempt
        message = self._message(inp)
        if message.outcome in (Outcome.DELIVERED, Outcome.REFUSED, Outcome.ABANDONED):
            return _result(message)  # ended on an earlier attempt whose completion was lost: nothing sent again
        started = datetime.now(UTC)
        target = self.deliveries.target(inp.org_id, started)  # a rotated secret signs too while its overlap runs
        sent = self.sender.post(target.url, target.secrets, message.event_id, message.body())
        outcome = outcome_of(sent.status, number, MAX_ATTEMPTS)
        message = self.deliveries.attempted(inp.subject_kind, inp.subject, message.event_id, Attempt(
            attempt=number, at=started, outcome=outcome, status=sent.status, error=sent.error,
            duration_ms=sent.duration_ms,
        ))
        if outcome is Outcome.RETRYING:
            delay = timedelta(seconds=sent.retry_after) if sent.retry_after is not None else None
            raise ApplicationError(f"partner {inp.org_id} did not take {message.event_id} "
                                   f"({sent.status or sent.error}): tried again", type=UNREACHABLE,
                                   next_retry_delay=delay)
        return _result(message)

    def _message(self, inp: DeliverInput) -> Message:
        d = self.deliveries
        match inp:
            case DeliverInput(type=MessageType.HANDOFF_REQUESTED, attempt=int(attempt)):
                return d.handoff_requested(inp.subject, attempt)
            case DeliverInput(type=MessageType.REFERRAL_SENT, referral=int(referral)):
                return d.referral_sent(inp.subject, referral)
            case DeliverInput(type=MessageType.SIGNATURE_REQUESTED, version=int(version)):
                return d.signature_requested(inp.subject, version, inp.org_id)
            case DeliverInput(type=MessageType.SIGNATURE_REMINDER, version=int(version), reminder=int(reminder),
                              at=datetime() as at):
                return d.signature_reminder(inp.subject, version, reminder, inp.org_id, at)
            case DeliverInput(type=MessageType.REVIEW_DUE, due_on=date() as due_on):
                return d.review_due(inp.subject, due_on, inp.org_id)
        raise ValueError(f"{inp.type.value}: the input lacks what names its step")

    def all(self) -> list[Callable[..., Any]]:
        """With the FHIR Task subscriptions' (the crisis workflow looks up subscribers after a Task changes)."""
        fhir = SubscriptionActivities(self.deliveries.subscriptions, self.sender)
        return [self.endpoints, self.deliver, *fhir.all()]


def _result(message: Message) -> DeliverResult:
    outcome = message.outcome
    assert outcome is not None  # an attempt was recorded
    return DeliverResult(event_id=message.event_id, sequence=message.sequence, outcome=outcome,
                         attempts=len(message.attempts))
