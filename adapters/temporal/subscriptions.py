"""Starting a FHIR subscription's workflow (`workflows.task_notifications.SubscriptionWorkflow`: its handshake, then
its heartbeats): once per subscription (its workflow id is the subscription's), so a creation retried with the same
Idempotency-Key does not shake hands twice."""

from __future__ import annotations

from contextlib import suppress

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.fhir_subscriptions import HandshakeInput
from workflows.task_notifications import SubscriptionWorkflow, handshake_workflow_id


async def start_subscription(client: Client, task_queue: str, subscription_id: str,
                             heartbeat_seconds: int | None = None) -> str:
    """Its workflow started (the id returned), or found started by the first request with the same key."""
    made = handshake_workflow_id(subscription_id)
    with suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            SubscriptionWorkflow.run,
            HandshakeInput(subscription_id=subscription_id, heartbeat_seconds=heartbeat_seconds),
            id=made, task_queue=task_queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    return made
