"""How a workflow delivers what a step asks of a partner, without waiting for it.

A step that asks a partner (a team to take a handoff, a receiving service to decide on a referral, a party to
sign, or to hold its annual review) asks the record which partners have an endpoint (`delivery.endpoints`, a
local activity: a quick read), then starts `delivery.deliver` for each and goes on. The delivery runs beside
the workflow with its own retry policy; the workflow never waits for it, so a partner that stays unreachable
changes none of the workflow's timers: the answer deadline runs, and cascades or escalates, exactly as for a
team that does not answer. Each attempt is in the subject's delivery
log (`cases show`). A delivery still running when the workflow ends or continues as new is dropped by
Temporal (its last attempt stays recorded).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.delivery import DeliverInput, DeliveryActivities, EndpointsInput
    from domain.delivery.model import MAX_ATTEMPTS

# 5 s, 10 s, 20 s … up to 10 min between attempts: MAX_ATTEMPTS (10) span about 50 minutes of trying.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=10), maximum_attempts=MAX_ATTEMPTS)
ATTEMPT_TIMEOUT = timedelta(seconds=30)  # one POST (the sender's own timeout is 10 s) and its recording
LOOKUP_TIMEOUT = timedelta(seconds=10)
LOOKUP_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=5)


async def with_endpoint(org_ids: Iterable[str], **ids: str) -> set[str]:
    """The organisations among `org_ids` to deliver to; none when the lookup failed for good (logged: the
    partner then learns of the step through the gateway or the portal, and the deadline runs as always)."""
    wanted = sorted(set(org_ids))
    if not wanted:
        return set()
    try:
        found = await workflow.execute_local_activity_method(
            DeliveryActivities.endpoints, EndpointsInput(org_ids=wanted),
            start_to_close_timeout=LOOKUP_TIMEOUT, retry_policy=LOOKUP_RETRY,
        )
    except ActivityError as err:
        workflow.logger.error("endpoint lookup failed: nothing delivered", extra={**ids, "error": _kind(err)})
        return set()
    return set(found.org_ids)


class Deliveries:
    """The deliveries a workflow has started and not seen end (kept referenced while they run)."""

    def __init__(self) -> None:
        self.running: set[asyncio.Task[None]] = set()

    def start(self, inp: DeliverInput) -> None:
        task = asyncio.create_task(_deliver(inp))
        self.running.add(task)
        task.add_done_callback(self.running.discard)


async def _deliver(inp: DeliverInput) -> None:
    try:
        result = await workflow.execute_activity_method(
            DeliveryActivities.deliver, inp, start_to_close_timeout=ATTEMPT_TIMEOUT, retry_policy=RETRY,
        )
    except ActivityError as err:
        workflow.logger.warning("delivery given up", extra={"subject": inp.subject, "org": inp.org_id,
                                                            "error": _kind(err)})
        return
    workflow.logger.info("delivery ended", extra={"subject": inp.subject, "org": inp.org_id,
                                                  "outcome": result.outcome.value, "attempts": result.attempts})


def _kind(err: ActivityError) -> str:
    cause = err.cause
    return (cause.type if isinstance(cause, ApplicationError) else type(cause).__name__) or "unknown"
