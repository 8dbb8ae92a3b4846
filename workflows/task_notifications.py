"""How a crisis case tells FHIR subscribers its Tasks changed (the R4 Subscriptions backport), without waiting.

After a step, the workflow compares each Task's status with the last it saw (`domain.fhir.subscriptions.
task_changes`: a new Task or a new status); when some changed, it asks the record who listens to the owners of
those Tasks (`fhir.subscribers`, a local activity: each organisation's own subscriptions) and starts one
`fhir.notify` per change and subscription, beside the workflow with the webhooks' retry policy
(`workflows.deliveries.RETRY`). Nothing waits for it: a subscriber that stays unreachable changes none of the
case's timers. A new subscription's handshake, and its heartbeats, are its own small workflow (`SubscriptionWorkflow`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

# The domain and the workflows' own helpers (deterministic, no module state: workflows.common says why).
with workflow.unsafe.imports_passed_through():
    from activities.fhir_subscriptions import (
        HandshakeInput,
        HeartbeatInput,
        Listener,
        NotifyInput,
        SentResult,
        SubscribersInput,
        SubscriptionActivities,
    )
    from domain.delivery.model import Outcome
    from domain.fhir.subscriptions import HANDSHAKE_ATTEMPTS, TaskChange
    from workflows.deliveries import ATTEMPT_TIMEOUT, LOOKUP_RETRY, LOOKUP_TIMEOUT, RETRY, Deliveries, _kind

# 5 s then 10 s: HANDSHAKE_ATTEMPTS in about 15 seconds, then the subscription is in error.
HANDSHAKE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                              maximum_attempts=HANDSHAKE_ATTEMPTS)


HEARTBEATS_PER_RUN = 500  # a run's history stays short: continue as new after this many


def handshake_workflow_id(subscription_id: str) -> str:
    return f"fhir-subscription-{subscription_id}"


async def listeners(org_ids: Iterable[str], at: datetime | None = None, **ids: str) -> list[Listener]:
    """The subscriptions listening to Tasks of `org_ids` at `at` (when the changes were recorded, on the workflow's
    clock, never the worker's); none when the lookup failed for good (logged: the partner still reads its Tasks
    with a search, and the case runs as always)."""
    wanted = sorted(set(org_ids))
    if not wanted:
        return []
    try:
        found = await workflow.execute_local_activity_method(
            SubscriptionActivities.subscribers, SubscribersInput(org_ids=wanted, at=at),
            start_to_close_timeout=LOOKUP_TIMEOUT, retry_policy=LOOKUP_RETRY,
        )
    except ActivityError as err:
        workflow.logger.error("subscriber lookup failed: nothing notified", extra={**ids, "error": _kind(err)})
        return []
    return found.listeners


def notify(deliveries: Deliveries, changes: list[TaskChange], found: list[Listener]) -> None:
    """Each change to each subscription of its Task's owner: started, not awaited."""
    for change in changes:
        for listener in found:
            if listener.org_id == change.owner:
                task = asyncio.create_task(_notify(NotifyInput(
                    subscription_id=listener.subscription_id, task_id=change.task_id, key=change.key, at=change.at)))
                deliveries.running.add(task)
                task.add_done_callback(deliveries.running.discard)


async def _notify(inp: NotifyInput) -> None:
    try:
        result = await workflow.execute_activity_method(
            SubscriptionActivities.notify, inp, start_to_close_timeout=ATTEMPT_TIMEOUT, retry_policy=RETRY,
        )
    except ActivityError as err:
        workflow.logger.warning("notification given up", extra={"subscription": inp.subscription_id,
                                                                 "task": inp.task_id, "error": _kind(err)})
        return
    workflow.logger.info("notification ended", extra={
        "subscription": inp.subscription_id, "task": inp.task_id,
        "outcome": result.outcome.value if result.outcome else "not_listening", "attempts": result.attempts})


@workflow.defn(name="FhirSubscription")
class SubscriptionWorkflow:
    """A new subscription's handshake (backport: requested → active on a 2xx, error otherwise), tried
    HANDSHAKE_ATTEMPTS times with back-off, the activity recording each attempt and the status; then, when the
    partner asked for heartbeats, one every period (a durable timer) until the subscription is off, in error or
    past its end. No query, no update: the subscription's state is the record's (`GET /fhir/Subscription/{id}`).
    """

    @workflow.run
    async def run(self, inp: HandshakeInput) -> SentResult:
        result = SentResult(outcome=Outcome.DELIVERED)
        if not inp.handshaken:
            result = await workflow.execute_activity_method(
                SubscriptionActivities.handshake, inp, start_to_close_timeout=ATTEMPT_TIMEOUT,
                retry_policy=HANDSHAKE_RETRY,
            )
        if result.outcome is not Outcome.DELIVERED or not inp.heartbeat_seconds:
            return result
        period, number = timedelta(seconds=inp.heartbeat_seconds), inp.heartbeats
        while True:
            await workflow.sleep(period)
            number += 1
            try:
                beat = await workflow.execute_activity_method(
                    SubscriptionActivities.heartbeat, HeartbeatInput(subscription_id=inp.subscription_id,
                                                                     number=number),
                    start_to_close_timeout=ATTEMPT_TIMEOUT, retry_policy=HANDSHAKE_RETRY,
                )
            except ActivityError as err:  # the partner down for this one: the next period tries again
                workflow.logger.warning("heartbeat given up", extra={"subscription": inp.subscription_id,
                                                                     "error": _kind(err)})
                continue
            if beat.outcome is None:
                return beat  # off, in error or past its end
            if workflow.info().is_continue_as_new_suggested() or number % HEARTBEATS_PER_RUN == 0:
                workflow.continue_as_new(inp.model_copy(update={"heartbeats": number, "handshaken": True}))
