"""What every long-lived workflow of arrimage does the same way.

An entente and a crisis case share their mechanics: activities with one timeout
and retry policy, refusals as non-retryable application errors, a command id
made of the workflow id and the update id, a back-off when the calendar and the
record disagree, a wait for either a command or the next due moment, and
continue-as-new past a history length. Only the decisions differ, and those
stay in each workflow. Every helper here issues exactly the commands the
workflows issued before it existed, so recorded histories replay unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

# Activities take milliseconds. A worker killed mid-activity is noticed only when this runs out,
# and the activity is then retried on another worker: short enough that a command in flight
# completes within a client's timeout (30 s by default) once a worker is back.
ACTIVITY_TIMEOUT = timedelta(seconds=10)
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))
LONGEST_BACKOFF = timedelta(days=1)

T = TypeVar("T")


def refused(code: str, message: str) -> ApplicationError:
    """A refusal: from a validator, the update is rejected and nothing reaches history."""
    return ApplicationError(message, type=code, non_retryable=True)


def command_id() -> str:
    """The id a command is recorded under: a retried update (same id) records nothing twice."""
    update = workflow.current_update_info()
    assert update is not None  # only called from update handlers
    return f"{workflow.info().workflow_id}/{update.id}"


async def execute(name: str, arg: Any, result_type: type[T]) -> T:
    result: T = await workflow.execute_activity(
        name, arg, result_type=result_type, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY,
    )
    return result


async def execute_command(name: str, arg: Any, result_type: type[T]) -> T:
    """An activity recording a command: a domain refusal it raises fails the update with the same code."""
    try:
        return await execute(name, arg, result_type)
    except ActivityError as err:
        if isinstance(err.cause, ApplicationError):
            raise refused(err.cause.type or "refused", err.cause.message) from None
        raise


async def advance(name: str, arg: Any, result_type: type[T], **ids: str) -> T | None:
    """The calendar's activity: None when it failed for good (a bug, bad input, a refusal).

    A transient failure is retried by the policy and never surfaces here. A final one must not fail
    the workflow (the entente or case would lose its process) nor be retried at once (the same
    failure, again and again): the caller backs off as when nothing was recorded.
    """
    try:
        return await execute(name, arg, result_type)
    except ActivityError as err:
        cause = err.cause
        kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
        workflow.logger.error("advance failed: backing off", extra={**ids, "error": kind or "unknown"})
        return None


async def back_off(stalls: int, first: timedelta, *, failed: bool = False, **ids: str) -> None:
    """Due by the workflow's reckoning, yet the record had nothing to add (or `advance` failed for
    good): never spin (each turn is history); look again later, doubling the wait from `first` up
    to a day."""
    if not failed:
        workflow.logger.warning("advance recorded nothing", extra=ids)
    await workflow.sleep(min(first * 2 ** (stalls - 1), LONGEST_BACKOFF))


async def wait_for_command_or(wake: datetime | None, now: datetime, changed: Callable[[], bool]) -> None:
    """Wake on a command (which may change the calendar) or when the next moment comes."""
    with contextlib.suppress(TimeoutError):
        await workflow.wait_condition(changed, timeout=(wake - now) if wake is not None else None)


def history_too_long(limit: int) -> bool:
    """Years of life must not outgrow Temporal's history limits (51,200 events hard, warning at 10,240)."""
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() > limit
