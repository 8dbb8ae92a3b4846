"""Use cases of FHIR Task subscriptions (the R4 backport, `domain.fhir.subscriptions`): a partner requests one,
reads it and its status, turns it off; the worker finds who listens to a change of an organisation's Tasks,
numbers each event once per subscription, and records each attempt to deliver it. Thin: the rules are the
aggregate's.

A partner subscribes only with a registered endpoint (`arrimage partners endpoint`): its secret signs the
notifications exactly as it signs the webhooks; a revoked partner gets nothing more (`Deliveries.target`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import RecordConflictError

from adapters.fhir import subscriptions as resources
from adapters.record.record import Record
from domain.delivery.model import Attempt
from domain.errors import NotFound
from domain.fhir.subscriptions import (
    TOPIC,
    Notification,
    Subscription,
    SubscriptionIndex,
    SubscriptionRefused,
    SubscriptionView,
    check_heartbeat,
    check_owner,
    index_id,
    subscription_id,
)
from usecases.delivery import Deliveries, Target

T = TypeVar("T")
CONFLICT_TRIES = 5


class Subscriptions:
    def __init__(self, record: Record, deliveries: Deliveries) -> None:
        self.record = record
        self.deliveries = deliveries

    # ------------------------------------------------------------------ the partner's requests
    def request(self, org_id: str, owner: str, endpoint: str, reason: str, end: datetime | None, base: str,
                key: str, by: str, at: datetime, heartbeat_period: int | None = None) -> SubscriptionView:
        """A subscription of `org_id` to its own Tasks, requested (its handshake follows); the same `key` again
        finds the one it made. Refused, nothing recorded: another organisation's Tasks, or no endpoint."""
        check_owner(owner, org_id)
        check_heartbeat(heartbeat_period)
        if org_id not in self.deliveries.with_endpoint([org_id]):
            raise SubscriptionRefused(
                f"{org_id} has no webhook endpoint registered (arrimage partners endpoint): its secret signs the "
                "notifications", code="no_endpoint", status=409)
        made = str(subscription_id(org_id, key))
        found = self._get(made)
        if found is not None:
            return found.view()
        subscription = Subscription(subscription_id=made, org_id=org_id, topic=TOPIC, owner=owner, endpoint=endpoint,
                                    base=base, reason=reason, end=end, by=by, at=at, heartbeat_period=heartbeat_period)
        index = self._index(org_id)
        index.add(made)
        self.record.save(subscription, index)
        return subscription.view()

    def view(self, subscription_id: str, org_id: str) -> SubscriptionView:
        """The subscription, to the organisation that made it (to any other, it does not exist)."""
        found = self._get(subscription_id)
        if found is None or found.org_id != org_id:
            raise NotFound(f"no Subscription {subscription_id}")
        return found.view()

    def get(self, subscription_id: str) -> SubscriptionView:
        found = self._get(subscription_id)
        if found is None:
            raise NotFound(f"no Subscription {subscription_id}")
        return found.view()

    def turn_off(self, subscription_id: str, org_id: str, by: str, at: datetime) -> SubscriptionView:
        self.view(subscription_id, org_id)
        def off(s: Subscription) -> SubscriptionView:
            s.turn_off(by, at)
            return s.view()
        return self._change(subscription_id, off)

    # ------------------------------------------------------------------ the worker's
    def listening(self, org_ids: Iterable[str], at: datetime) -> list[SubscriptionView]:
        """The subscriptions told of a change, recorded at `at`, of a Task owned by one of `org_ids`: those of
        that organisation (a subscription's owner is its own), active and subscribed before the change, while its
        partner is not revoked and keeps an endpoint (its secret signs)."""
        found = []
        for org in self.deliveries.with_endpoint(org_ids):
            index = self._index(org)
            for made in index.subscriptions:
                subscription = self._get(made)
                if subscription is not None and subscription.listening(at):
                    found.append(subscription.view())
        return found

    def handshake_attempted(self, subscription_id: str, attempt: Attempt) -> SubscriptionView:
        def attempted(s: Subscription) -> SubscriptionView:
            s.handshake_attempted(attempt)
            return s.view()
        return self._change(subscription_id, attempted)

    def queue(self, subscription_id: str, key: str, focus: str, at: datetime,
              ) -> tuple[SubscriptionView, Notification | None]:
        """The event `key` numbered in the subscription (once), or None when it no longer listens."""
        def queue(s: Subscription) -> tuple[SubscriptionView, Notification | None]:
            queued = s.queue(key, focus, at)
            return s.view(), queued
        return self._change(subscription_id, queue, save_if=lambda done: done[1] is not None)

    def attempted(self, subscription_id: str, number: int, attempt: Attempt) -> Notification:
        return self._change(subscription_id, lambda s: s.attempted(number, attempt))

    def target(self, org_id: str, at: datetime) -> Target:
        return self.deliveries.target(org_id, at)

    def handshake_body(self, view: SubscriptionView, at: datetime) -> dict[str, Any]:
        return resources.notification(view, "handshake", at)

    def heartbeat_body(self, view: SubscriptionView, number: int, at: datetime) -> dict[str, Any]:
        return resources.notification(view, "heartbeat", at, tag=f"heartbeat:{number}")

    def notification_body(self, view: SubscriptionView, event: Notification, at: datetime) -> dict[str, Any]:
        """The id-only event-notification Bundle of `event` (validated by fhir.resources)."""
        return resources.notification(view, "event-notification", at, [(event.number, event.at, event.focus)])

    # ------------------------------------------------------------------ helpers
    def _get(self, made: str) -> Subscription | None:
        try:
            found: Subscription = self.record.repository.get(UUID(made))
        except (AggregateNotFoundError, ValueError):
            return None
        return found if isinstance(found, Subscription) else None

    def _index(self, org_id: str) -> SubscriptionIndex:
        try:
            found: SubscriptionIndex = self.record.repository.get(index_id(org_id))
        except AggregateNotFoundError:
            return SubscriptionIndex(org_id=org_id)
        return found

    def _change(self, made: str, change: Callable[[Subscription], T],
                save_if: Callable[[T], bool] = lambda _: True) -> T:
        for tries in range(1, CONFLICT_TRIES + 1):
            subscription = self._get(made)
            if subscription is None:
                raise NotFound(f"no Subscription {made}")
            result = change(subscription)
            if not save_if(result):
                return result
            try:
                self.record.save(subscription)
                return result
            except RecordConflictError:
                if tries == CONFLICT_TRIES:
                    raise
        raise AssertionError("unreachable")
