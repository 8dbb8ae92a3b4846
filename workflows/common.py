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

ACTIVITY_TIMEOUT = timedelta(seconds=30)
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


async def back_off(stalls: int, first: timedelta, **ids: str) -> None:
    """Due by the workflow's reckoning, yet the record had nothing to add: never spin (each turn
    is history); look again later, doubling the wait from `first` up to a day."""
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
