"""Sending a command: an update, resent until it is completed.

Until it is completed, an update can be lost on the way (Temporal restarting, the worker killed
before it accepted the update): it is sent again, with the same update id, until the caller's
timeout is spent. The workflow records the command under `workflow_id/update_id` and Temporal
answers an update id it already completed with its outcome, so a command sent twice is recorded once.

The update id is random, unless the caller runs inside `sent_as(request_id)`: the gateway does so for a write
with an Idempotency-Key, so that the same request run again by another gateway process (the first one killed
mid-request) sends its command under the same id, and is recorded once and answered with the first outcome.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from adapters.temporal.client import TemporalSettings, connect_within
from adapters.temporal.errors import InternalFailure, NotCompleted, Subject, Unreachable

T = TypeVar("T")
QUERY_TIMEOUT = 5.0
RETRY_FIRST = 0.2
RETRY_LONGEST = 2.0
TRANSIENT_RPC = (
    RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED,
    RPCStatusCode.ABORTED, RPCStatusCode.RESOURCE_EXHAUSTED,
)
INTERNAL_ERROR = "internal_error"  # activities.errors: a bug, not retried by the worker


_REQUEST: ContextVar[tuple[str, dict[str, int]] | None] = ContextVar("arrimage_update_request", default=None)


@contextmanager
def sent_as(request_id: str) -> Iterator[None]:
    """Updates sent inside this block take their ids from `request_id` (the n-th to one workflow: `-n` after it),
    so that running the same request again sends the same updates."""
    token = _REQUEST.set((request_id, {}))
    try:
        yield
    finally:
        _REQUEST.reset(token)


def current_request() -> str | None:
    """The request id of the enclosing `sent_as`, if any."""
    request = _REQUEST.get()
    return request[0] if request is not None else None


def planned_command_id(wf_id: str) -> str | None:
    """Inside `sent_as`: the command id (`workflows.common.command_id`) the next update to `wf_id` will be
    recorded under; None outside (a random update id, not known before it is sent)."""
    request = _REQUEST.get()
    if request is None:
        return None
    request_id, sent = request
    n = sent.get(wf_id, -1) + 1
    return f"{wf_id}/{request_id if n == 0 else f'{request_id}-{n}'}"


def _update_id(wf_id: str) -> str:
    request = _REQUEST.get()
    if request is None:
        return str(uuid.uuid4())
    request_id, sent = request
    n = sent[wf_id] = sent.get(wf_id, -1) + 1
    return request_id if n == 0 else f"{request_id}-{n}"


def _transient(err: BaseException) -> bool:
    if isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError):
        return True
    return isinstance(err, RPCError) and err.status in TRANSIENT_RPC


async def send_update(
    settings: TemporalSettings, wf_id: str, timeout: float, send: Callable[[str], Awaitable[T]]
) -> T:
    """`send(update_id)` until it completes, resent with the same id on a transient failure; give up after
    `timeout` seconds, saying whether Temporal (`Unreachable`) or a worker (`NotCompleted`) did not answer.
    A refusal is the SDK's `WorkflowUpdateFailedError`; an activity's bug is `InternalFailure`."""
    update_id = _update_id(wf_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pause = RETRY_FIRST
    last: BaseException | None = None
    while (remaining := deadline - loop.time()) > 0:
        try:
            return await asyncio.wait_for(send(update_id), remaining)
        except TimeoutError:
            break
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == INTERNAL_ERROR:
                raise InternalFailure(cause.message) from None
            raise
        except Exception as err:
            if not _transient(err):
                raise
            last = err
        await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
        pause = min(pause * 2, RETRY_LONGEST)
    raise await _not_completed(settings, Subject.of(wf_id), timeout, last)


async def _not_completed(
    settings: TemporalSettings, subject: Subject, timeout: float, last: BaseException | None
) -> Exception:
    """Temporal down, or up with no worker completing the command: the hint differs."""
    if isinstance(last, RPCError) and last.status == RPCStatusCode.UNAVAILABLE:
        return Unreachable(settings.temporal_address, last.message)
    try:  # a new connection: the one that timed out may be stuck
        client = await connect_within(settings)
        await client.service_client.check_health(timeout=timedelta(seconds=QUERY_TIMEOUT))
    except Unreachable as err:
        return err
    except Exception as err:
        return Unreachable(settings.temporal_address, err.message if isinstance(err, RPCError) else type(err).__name__)
    return NotCompleted(subject, settings.task_queue, timeout)


async def execute_update_with_start(
    settings: TemporalSettings, client: Client, wf_id: str, update: Any, arg: Any,
    start: Callable[[], WithStartWorkflowOperation[Any, Any]], timeout: float,
) -> Any:
    """Start the workflow `wf_id` if need be and send it its first command (update-with-start), resent
    like any update; `start` makes a fresh start operation for each sending (one is used once)."""

    async def send(update_id: str) -> Any:
        return await client.execute_update_with_start_workflow(
            update, arg, id=update_id, start_workflow_operation=start()
        )

    return await send_update(settings, wf_id, timeout, send)


async def execute_update(
    settings: TemporalSettings, client: Client, wf_id: str, update: Any, arg: Any, timeout: float,
    explain: Callable[[], Exception],
) -> Any:
    """Send an update to the running workflow `wf_id`; when Temporal has no such workflow, raise what
    `explain()` says (from the record: an ended entente or closed case accepts no command, an unknown code
    is not found)."""
    handle = client.get_workflow_handle(wf_id)
    try:
        return await send_update(
            settings, wf_id, timeout, lambda update_id: handle.execute_update(update, arg, id=update_id)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise explain() from None
        raise


async def ask(client: Client, wf_id: str, state: Any, next_wakeup: Any) -> tuple[bool, Any, Any]:
    """(running, next wake-up, state) of the workflow `wf_id`, each call within QUERY_TIMEOUT (TimeoutError)."""
    handle = client.get_workflow_handle(wf_id)
    rpc = timedelta(seconds=QUERY_TIMEOUT)
    desc = await asyncio.wait_for(handle.describe(rpc_timeout=rpc), QUERY_TIMEOUT)
    running = desc.status is not None and desc.status.name == "RUNNING"
    wake = await asyncio.wait_for(handle.query(next_wakeup, rpc_timeout=rpc), QUERY_TIMEOUT)
    view = await asyncio.wait_for(handle.query(state, rpc_timeout=rpc), QUERY_TIMEOUT)
    return running, wake, view
