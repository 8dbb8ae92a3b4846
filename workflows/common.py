"""What every long-lived workflow of arrimage does the same way: the calendar loop.

An entente and a crisis case share their mechanics: activities with one timeout
and retry policy, called by reference with one typed input; refusals as
non-retryable application errors; a command id made of the workflow id and the
update id; and one calendar loop (`run_calendar`): record what fell due, back
off when the calendar and the record disagree, otherwise wait for either a
command or the next due moment, and continue as new past a history length.
Only the decisions differ, and each workflow gives them through `Calendar`. A workflow opened by
update-with-start (a crisis case, an episode) records its opening with `record_opening` and, in
`run`, ends at once through `opened` when the opening was refused.
Every helper here issues exactly the commands the workflows issued before it
existed, so recorded histories replay unchanged.

The workflows import this module (and `workflows.deliveries`, `workflows.task_notifications`) passed through the
sandbox, as they import the domain: it is executed once per worker instead of again for every workflow run (a
crisis case's run spent more time executing these modules than its own). That holds because they are
deterministic and keep no state of their own at module level (constants, functions and classes only: a workflow's
state lives in its instance); every call into `temporalio.workflow` reaches the calling workflow's runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.types import MethodSyncSingleParam

# Activities take milliseconds. A worker killed mid-activity is noticed only when this runs out,
# and the activity is then retried on another worker: short enough that a command in flight
# completes within a client's timeout (30 s by default) once a worker is back.
ACTIVITY_TIMEOUT = timedelta(seconds=10)
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))
LONGEST_BACKOFF = timedelta(days=1)

A = TypeVar("A")
R = TypeVar("R")
# An activity method of an activities class (`EntenteActivities.execute`): its registered name,
# input and result type come from its definition, so mypy checks the input a workflow passes.
Activity = MethodSyncSingleParam[Any, A, R]


def refused(code: str, message: str) -> ApplicationError:
    """A refusal: from a validator, the update is rejected and nothing reaches history."""
    return ApplicationError(message, type=code, non_retryable=True)


def command_id() -> str:
    """The id a command is recorded under: a retried update (same id) records nothing twice."""
    update = workflow.current_update_info()
    assert update is not None  # only called from update handlers
    return f"{workflow.info().workflow_id}/{update.id}"


async def execute(activity: Activity[A, R], arg: A) -> R:
    return await workflow.execute_activity_method(
        activity, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY,
    )


async def execute_command(activity: Activity[A, R], arg: A) -> R:
    """An activity recording a command: a domain refusal it raises fails the update with the same code."""
    try:
        return await execute(activity, arg)
    except ActivityError as err:
        if isinstance(err.cause, ApplicationError):
            raise refused(err.cause.type or "refused", err.cause.message) from None
        raise


async def advance(activity: Activity[A, R], arg: A, **ids: str) -> R | None:
    """The calendar's activity: None when it failed for good (a bug, bad input, a refusal).

    A transient failure is retried by the policy and never surfaces here. A final one must not fail
    the workflow (the entente or case would lose its process) nor be retried at once (the same
    failure, again and again): the calendar loop backs off as when nothing was recorded.
    """
    return await try_step(activity, arg, "advance failed: backing off", **ids)


async def try_step(activity: Activity[A, R], arg: A, failure: str, **ids: str) -> R | None:
    """An activity whose final failure is logged (`failure`, the error's type, `ids`) and given as None."""
    try:
        return await execute(activity, arg)
    except ActivityError as err:
        cause = err.cause
        kind = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
        workflow.logger.error(failure, extra={**ids, "error": kind or "unknown"})
        return None


class Opening(Protocol):
    """What a workflow opened by update-with-start gives `record_opening` and `opened`.

    `opening`: an opening update was accepted (its handler runs); `open_refused`: the record refused it.
    """

    lock: asyncio.Lock
    opening: bool
    open_refused: bool

    @property
    def view(self) -> Any:
        """The state once opened (None before)."""


async def record_opening(process: Opening, activity: Activity[A, R], arg: Callable[[], A],
                         set_view: Callable[[R], None]) -> R:
    """The opening update's handler: record the opening (`arg` is built under the lock, with its command id)."""
    process.opening = True
    async with process.lock:
        inp = arg()
        try:
            view = await execute_command(activity, inp)
        except Exception:
            process.open_refused = process.view is None
            raise
        set_view(view)
        return view


async def opened(process: Opening) -> bool:
    """At the start of `run`, before any view: whether the opening was recorded.

    Update-with-start delivers the opening update in the first workflow task, and its handler starts before
    `run`: if it is not running now, the validator refused it (False: the workflow ends at once, leaving
    nothing behind). If the record refused it, False too, once every handler finished.
    """
    if not process.opening:
        return False
    await workflow.wait_condition(lambda: process.view is not None or process.open_refused)
    if process.view is None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        return False
    return True


class Calendar(Protocol):
    """What a workflow gives the calendar loop: its decisions; the loop does the waiting.

    `lock` serialises the loop's recording with the update handlers'; a handler sets `changed`
    after recording a command (the calendar may have moved).
    """

    lock: asyncio.Lock
    changed: bool
    stall_backoff: timedelta  # the first back-off when due yet nothing was recorded
    history_limit: int

    def running(self) -> bool:
        """Opened (drafted) and not ended: the loop runs while this holds."""

    def due_now(self, now: datetime) -> bool:
        """Something falls due at `now` by the workflow's reckoning."""

    def next_wakeup(self) -> datetime | None:
        """The next moment something falls due (None: only a command can change anything)."""

    async def record_due(self, now: datetime) -> bool | None:
        """Let the record add what fell due (under `lock`): whether it added anything, None if it failed."""

    def continue_as_new_input(self) -> Any:
        """The input the next run starts from, carrying the state."""

    def log_ids(self) -> dict[str, str]:
        """Opaque ids for log lines (a code, never personal content)."""


async def run_calendar(process: Calendar) -> None:
    """The one calendar loop of every long-lived workflow, until `process.running()` stops."""
    stalls = 0
    while process.running():
        now = workflow.now()
        if process.due_now(now):
            async with process.lock:
                recorded = await process.record_due(now)
            if recorded:
                stalls = 0
            else:
                stalls += 1
                await back_off(stalls, process.stall_backoff, failed=recorded is None, **process.log_ids())
            continue
        process.changed = False
        await wait_for_command_or(process.next_wakeup(), now, lambda: process.changed)
        if history_too_long(process.history_limit):
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(process.continue_as_new_input())
    await workflow.wait_condition(workflow.all_handlers_finished)


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
