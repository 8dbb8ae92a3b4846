"""Starting a FHIR subscription's handshake (`workflows.task_notifications.SubscriptionHandshakeWorkflow`): once per
subscription (its workflow id is the subscription's), so a creation retried with the same Idempotency-Key does not
shake hands twice."""

from __future__ import annotations

from contextlib import suppress

from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.fhir_subscriptions import HandshakeInput
from adapters.temporal.client import Temporal
from workflows.task_notifications import SubscriptionHandshakeWorkflow, handshake_workflow_id


async def start_handshake(temporal: Temporal, task_queue: str, subscription_id: str) -> None:
    client = await temporal.client()
    with suppress(WorkflowAlreadyStartedError):  # started by the first request with this key: it runs or ran
        await client.start_workflow(
            SubscriptionHandshakeWorkflow.run, HandshakeInput(subscription_id=subscription_id),
            id=handshake_workflow_id(subscription_id), task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
