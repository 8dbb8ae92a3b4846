"""Task status subscriptions, after the HL7 FHIR Subscriptions R5 Backport IG for R4
(hl7.fhir.uv.subscriptions-backport 1.1.0), pure: the one topic arrimage publishes, the filter a subscriber
gives, the Subscription aggregate (its status, its event numbers, its deliveries), and which Task status changes a
step of a crisis case made.

What a partner gets (`adapters.fhir.subscriptions` builds the resources):

- one topic, `TOPIC`: a Task of a handoff or a referral was created or changed status;
- one filter, on the Task's owner, and only the subscriber's own organisation: `Task?owner=Organization/<its org>`
  (a partner is told of its own Tasks, never of another's);
- heartbeats on request (`backport-heartbeat-period`, 60 s to a day): one every period while the subscription
  is active, whatever else was sent (R5: "an interval less than or equal to" the period);
- `rest-hook` only, `id-only` only: a notification names the Task, the partner reads it through `/fhir/Task/{id}`
  with its key, where the disclosure rules decide and register the read. Nothing personal leaves in a
  notification; `full-resource` is refused, and so is `empty` (a partner could not tell which Task).

The aggregate is the record of one subscription: requested, its handshake's attempts (active on a 2xx, error
when refused or given up), every event numbered once (`eventsSinceSubscriptionStart`) and each attempt to
deliver it, and `off` when its partner deletes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from pydantic import Field

from domain.crisis.state import CaseView
from domain.delivery.model import Attempt, Outcome
from domain.ententes.model import Frozen
from domain.errors import DomainError, NotFound
from domain.fhir.tasks import tasks

NAMESPACE = UUID("3c1f4e9a-7b52-4d0e-a8c6-51e2f0b9d744")
TOPIC = "http://arrimage.example/fhir/SubscriptionTopic/task-status"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
FILTER_CRITERIA = f"{BACKPORT}/backport-filter-criteria"
PAYLOAD_CONTENT = f"{BACKPORT}/backport-payload-content"
HEARTBEAT_PERIOD = f"{BACKPORT}/backport-heartbeat-period"
TIMEOUT = f"{BACKPORT}/backport-timeout"
MAX_COUNT = f"{BACKPORT}/backport-max-count"
FHIR_JSON = "application/fhir+json"
HANDSHAKE_ATTEMPTS = 3  # 5 s then 10 s apart: a partner not answering its own handshake gets `error`
# A heartbeat (backport-heartbeat-period) every period while active: at least a minute, at most a day apart.
HEARTBEAT_MIN, HEARTBEAT_MAX = 60, 86_400
ORG_SYSTEM = "urn:arrimage:organisation"
OWNER = re.compile(r"^owner=(?:Organization/|" + re.escape(ORG_SYSTEM) + r"\|)?([A-Za-z0-9][A-Za-z0-9._-]{0,63})$")


class SubscriptionRefused(DomainError):
    """A subscription request the rules refuse (nothing recorded): its HTTP status beside its code."""

    def __init__(self, message: str, *, code: str, status: int = 422, field: str | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.field = field


class SubscriptionStatus(StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    ERROR = "error"
    OFF = "off"


def subscription_id(org_id: str, key: str) -> UUID:
    """Deterministic from what the partner sent it under (its Idempotency-Key): a retried creation whose first
    answer was lost finds the subscription it made."""
    return uuid5(NAMESPACE, f"subscription:{org_id}:{key}")


def index_id(org_id: str) -> UUID:
    return uuid5(NAMESPACE, f"subscriptions-of:{org_id}")


def owner_filter(criteria: str | None) -> str:
    """The organisation a filter names: `Task?owner=Organization/<org>` (or `owner=urn:arrimage:organisation|<org>`,
    or the query part alone). Any other parameter, or none, is refused: the topic is filtered on the owner."""
    if not criteria:
        raise SubscriptionRefused(
            "a subscription names its filter (extension backport-filter-criteria on criteria): "
            "Task?owner=Organization/<your organisation>", code="filter_required", field="_criteria")
    query = criteria.strip()
    if "?" in query:
        resource, _, query = query.partition("?")
        if resource not in ("Task", ""):
            raise SubscriptionRefused(f"the topic's filters are on Task, not {resource}", code="unknown_filter",
                                      field="_criteria")
    found = OWNER.match(query)
    if found is None:
        raise SubscriptionRefused(
            f"unsupported filter {criteria!r}: the topic takes one filter, owner=Organization/<your organisation>",
            code="unknown_filter", field="_criteria")
    return found[1]


def check_heartbeat(period: int | None) -> None:
    if period is not None and not HEARTBEAT_MIN <= period <= HEARTBEAT_MAX:
        raise SubscriptionRefused(f"a heartbeat period of {HEARTBEAT_MIN} to {HEARTBEAT_MAX} seconds, not {period}",
                                  code="invalid_heartbeat", field="channel.extension")


def check_owner(owner: str, org_id: str) -> None:
    """A partner subscribes to its own organisation's Tasks only."""
    if owner != org_id:
        raise SubscriptionRefused(f"{org_id} may subscribe to the Tasks its own organisation owns, not {owner}'s",
                                  code="not_your_tasks", status=403, field="_criteria")


class Notification(Frozen):
    """One event told to the subscriber: its number (1, 2, … in the order they were queued), the Task it names."""

    number: int = Field(ge=1)
    key: str  # the status change it tells (a retried activity finds it)
    focus: str  # the Task's id
    at: datetime  # when the change was recorded (notificationEvent.timestamp)
    attempts: list[Attempt] = Field(default_factory=list)

    @property
    def outcome(self) -> Outcome | None:
        return self.attempts[-1].outcome if self.attempts else None


class SubscriptionView(Frozen):
    subscription_id: str
    org_id: str
    topic: str
    owner: str
    endpoint: str
    base: str  # the FHIR base the partner subscribed at: the references a notification carries
    reason: str
    status: SubscriptionStatus
    end: datetime | None = None
    heartbeat_period: int | None = None  # seconds
    error: str | None = None
    created_at: datetime
    created_by: str
    handshake: list[Attempt] = Field(default_factory=list)
    events: int = 0  # eventsSinceSubscriptionStart
    notifications: list[Notification] = Field(default_factory=list)

    def beating(self, at: datetime) -> bool:
        """Its heartbeats go on at `at`: asked for, active, not past its end."""
        return (self.heartbeat_period is not None and self.status is SubscriptionStatus.ACTIVE
                and (self.end is None or at < self.end))


class Subscription(Aggregate):
    @staticmethod
    def create_id(subscription_id: str, **_: Any) -> UUID:
        return UUID(subscription_id)

    @event("Requested")
    def __init__(self, subscription_id: str, org_id: str, topic: str, owner: str, endpoint: str, base: str,
                 reason: str, end: datetime | None, by: str, at: datetime, heartbeat_period: int | None = None,
                 ) -> None:
        self.subscription_id = subscription_id
        self.heartbeat_period = heartbeat_period
        self.org_id, self.topic, self.owner = org_id, topic, owner
        self.endpoint, self.base, self.reason, self.end = endpoint, base, reason, end
        self.status = SubscriptionStatus.REQUESTED
        self.error: str | None = None
        self.created_by, self.created_at = by, at
        self.handshake: list[Attempt] = []
        self.notifications: dict[int, Notification] = {}
        self.numbers: dict[str, int] = {}

    # ------------------------------------------------------------------ handshake
    def handshake_attempted(self, attempt: Attempt) -> None:
        """One handshake attempt's end, once per attempt number: a 2xx makes it active; a refusal, or the last
        attempt failing, makes it `error`. Nothing once it is off."""
        if self.status is not SubscriptionStatus.REQUESTED or any(a.attempt == attempt.attempt for a in self.handshake):
            return
        self._handshake_attempted(attempt=attempt.attempt, at=attempt.at, outcome=attempt.outcome.value,
                                  status=attempt.status, error=attempt.error, duration_ms=attempt.duration_ms)

    @event("HandshakeAttempted")
    def _handshake_attempted(self, attempt: int, at: datetime, outcome: str, status: int | None, error: str | None,
                             duration_ms: int) -> None:
        done = Attempt(attempt=attempt, at=at, outcome=Outcome(outcome), status=status, error=error,
                       duration_ms=duration_ms)
        self.handshake.append(done)
        if done.outcome is Outcome.DELIVERED:
            self.status = SubscriptionStatus.ACTIVE
        elif done.outcome in (Outcome.REFUSED, Outcome.ABANDONED):
            self.status = SubscriptionStatus.ERROR
            self.error = f"handshake {done.outcome.value}: {status if status is not None else error}"

    # ------------------------------------------------------------------ notifications
    def listening(self, at: datetime) -> bool:
        """Told of a change recorded at `at`: active, subscribed before it, and not past its end."""
        return (self.status is SubscriptionStatus.ACTIVE and self.created_at <= at
                and (self.end is None or at < self.end))

    def queue(self, key: str, focus: str, at: datetime) -> Notification | None:
        """The event of `key`, numbered now unless it already was (a retried activity); None when the subscription
        does not listen (off, in error, or past its end) and never numbered it."""
        if key not in self.numbers:
            if not self.listening(at):
                return None
            self._queued(number=len(self.notifications) + 1, key=key, focus=focus, at=at)
        return self.notifications[self.numbers[key]]

    @event("NotificationQueued")
    def _queued(self, number: int, key: str, focus: str, at: datetime) -> None:
        self.notifications[number] = Notification(number=number, key=key, focus=focus, at=at)
        self.numbers[key] = number

    def attempted(self, number: int, attempt: Attempt) -> Notification:
        """One attempt's end, once per attempt number."""
        found = self.notifications.get(number)
        if found is None:
            raise NotFound(f"no event {number} in subscription {self.subscription_id}")
        if all(a.attempt != attempt.attempt for a in found.attempts):
            self._attempted(number=number, attempt=attempt.attempt, at=attempt.at, outcome=attempt.outcome.value,
                            status=attempt.status, error=attempt.error, duration_ms=attempt.duration_ms)
        return self.notifications[number]

    @event("NotificationAttempted")
    def _attempted(self, number: int, attempt: int, at: datetime, outcome: str, status: int | None,
                   error: str | None, duration_ms: int) -> None:
        found = self.notifications[number]
        done = Attempt(attempt=attempt, at=at, outcome=Outcome(outcome), status=status, error=error,
                       duration_ms=duration_ms)
        self.notifications[number] = found.model_copy(update={"attempts": [*found.attempts, done]})

    # ------------------------------------------------------------------ off
    def turn_off(self, by: str, at: datetime) -> None:
        """Deleted by its partner: nothing more is sent. Off already: nothing recorded."""
        if self.status is not SubscriptionStatus.OFF:
            self._turned_off(by=by, at=at)

    @event("TurnedOff")
    def _turned_off(self, by: str, at: datetime) -> None:
        self.status = SubscriptionStatus.OFF

    def view(self) -> SubscriptionView:
        return SubscriptionView(
            subscription_id=self.subscription_id, org_id=self.org_id, topic=self.topic, owner=self.owner,
            endpoint=self.endpoint, base=self.base, reason=self.reason, status=self.status, end=self.end,
            heartbeat_period=self.heartbeat_period, error=self.error, created_at=self.created_at,
            created_by=self.created_by, handshake=list(self.handshake),
            events=len(self.notifications), notifications=[self.notifications[n] for n in sorted(self.notifications)],
        )


class SubscriptionIndex(Aggregate):
    """The subscriptions of one organisation, in the order they were made: whom a change of its Tasks tells."""

    @staticmethod
    def create_id(org_id: str, **_: Any) -> UUID:
        return index_id(org_id)

    @event("Opened")
    def __init__(self, org_id: str) -> None:
        self.org_id = org_id
        self.subscriptions: list[str] = []

    def add(self, subscription_id: str) -> None:
        if subscription_id not in self.subscriptions:
            self._added(subscription_id=subscription_id)

    @event("Added")
    def _added(self, subscription_id: str) -> None:
        self.subscriptions.append(subscription_id)


# ---------------------------------------------------------------------- what a step changed
class TaskChange(Frozen):
    """A Task created or whose status changed in a step: the topic's trigger."""

    task_id: str
    owner: str
    status: str
    at: datetime  # the Task's lastModified: when the change was recorded
    key: str  # what numbers it once per subscription (the Task, its status, when)


def statuses(view: CaseView | None) -> dict[str, str]:
    return {t.task_id: t.status.value for t in tasks(view)} if view is not None else {}


def task_changes(known: Mapping[str, str], view: CaseView) -> list[TaskChange]:
    """The Tasks of `view` that are new or whose status differs from `known` (the statuses last told), in the
    order the case lists its Tasks."""
    return [TaskChange(task_id=t.task_id, owner=t.owner, status=t.status.value, at=t.last_modified,
                       key=f"{t.task_id}:{t.status.value}:{t.last_modified.isoformat()}")
            for t in tasks(view) if known.get(t.task_id) != t.status.value]


def owners(changes: Iterable[TaskChange]) -> list[str]:
    return sorted({c.owner for c in changes})
