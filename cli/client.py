"""How the CLI reaches the engine: settings, the record, and Temporal (connect, update, query).

Commands go through the entente's workflow (its validators are the rules); reads go to the
record, the legal one, which needs no Temporal and no worker.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from cli.errors import CliError, Exit, refused, translate
from domain.ententes import commands as c
from domain.ententes.state import EntenteView
from domain.errors import NotFound
from adapters.record.record import Record
from usecases.ententes import Ententes
from workers import logs, tracing
from workers.settings import Settings
from workers.temporal import connect
from workflows.crisis import workflow_id as case_workflow_id
from workflows.entente import EntenteWorkflow, EntenteWorkflowInput, workflow_id

T = TypeVar("T")
CONNECT_TIMEOUT = 10.0
QUERY_TIMEOUT = 5.0


def load_settings() -> Settings:
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    tracing.configure(settings.otel_exporter, settings.otel_endpoint)
    return settings


@contextmanager
def ententes(settings: Settings) -> Iterator[Ententes]:
    """The use cases over the record, closed afterwards."""
    record = Record(settings.store_env())
    try:
        yield Ententes(record, settings.entente_policy)
    finally:
        record.close()


async def open_client(settings: Settings) -> Client:
    try:
        return await asyncio.wait_for(connect(settings), CONNECT_TIMEOUT)
    except TimeoutError:
        raise temporal_down(settings, f"no answer in {CONNECT_TIMEOUT:.0f}s") from None
    except RuntimeError as err:
        raise temporal_down(settings, _reason(err)) from None


START_HINT = ": start the engine with `arrimage up` or check ARRIMAGE_TEMPORAL_ADDRESS"


def temporal_down(settings: Settings, reason: str) -> CliError:
    return CliError(
        Exit.UNREACHABLE, f"unreachable: Temporal does not answer at {settings.temporal_address} ({reason}){START_HINT}"
    )


def _reason(err: Exception) -> str:
    """The OS's words from a native connection error ("Connection refused"), else the error."""
    found = re.search(r'message: "([^"]+)"', str(err))
    return found.group(1) if found else str(err)


# ---------------------------------------------------------------------- sending a command
# A command is an update. Until it is completed, an update can be lost on the way (Temporal
# restarting, the worker killed before it accepted the update): the client sends it again, with
# the same update id, until the caller's timeout is spent. The workflow records the command under
# `workflow_id/update_id` and Temporal answers an update id it already completed with its outcome,
# so a command sent twice is recorded once.
RETRY_FIRST = 0.2
RETRY_LONGEST = 2.0
TRANSIENT_RPC = (
    RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED,
    RPCStatusCode.ABORTED, RPCStatusCode.RESOURCE_EXHAUSTED,
)
INTERNAL_ERROR = "internal_error"  # activities.errors: a bug, not retried by the worker


@dataclass(frozen=True)
class Subject:
    """What a command is about, for the messages: an entente or a crisis case, by its code."""

    noun: str
    group: str  # the CLI command group that shows it
    code: str

    @classmethod
    def of(cls, wf_id: str) -> Subject:
        prefix, _, code = wf_id.partition("-")
        return cls("case", "cases", code) if prefix == "case" else cls("entente", "ententes", code)


def _transient(err: BaseException) -> bool:
    if isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError):
        return True
    return isinstance(err, RPCError) and err.status in TRANSIENT_RPC


async def send_update(settings: Settings, wf_id: str, timeout: float, send: Callable[[str], Awaitable[T]]) -> T:
    """`send(update_id)` until it completes, resent with the same id on a transient failure; give up
    (exit 4) after `timeout` seconds, saying whether Temporal or a worker did not answer."""
    update_id = str(uuid.uuid4())
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
                raise CliError(Exit.FAILED, f"unexpected failure: {cause.message}") from None
            raise
        except Exception as err:
            if not _transient(err):
                raise
            last = err
        await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
        pause = min(pause * 2, RETRY_LONGEST)
    raise await _not_completed(settings, Subject.of(wf_id), timeout, last)


async def _not_completed(settings: Settings, subject: Subject, timeout: float, last: BaseException | None) -> CliError:
    """Temporal down, or up with no worker completing the command: the hint differs."""
    if isinstance(last, RPCError) and last.status == RPCStatusCode.UNAVAILABLE:
        return temporal_down(settings, last.message)
    try:  # a new connection: the one that timed out may be stuck
        client = await open_client(settings)
        await client.service_client.check_health(timeout=timedelta(seconds=QUERY_TIMEOUT))
    except CliError as err:
        return err
    except Exception as err:
        return temporal_down(settings, err.message if isinstance(err, RPCError) else type(err).__name__)
    return CliError(
        Exit.UNREACHABLE,
        f"unreachable: no worker completed the command within {timeout:g} s: is a worker running on task "
        f"queue {settings.task_queue}? Nothing is recorded unless `arrimage {subject.group} show {subject.code}` "
        "shows it",
    )


async def execute_update_with_start(
    settings: Settings, client: Client, wf_id: str, update: Any, arg: Any,
    start: Callable[[], WithStartWorkflowOperation[Any, Any]], timeout: float,
) -> Any:
    """Start the workflow `wf_id` if need be and send it its first command (update-with-start), resent
    like any update; `start` makes a fresh start operation for each sending (one is used once)."""

    async def send(update_id: str) -> Any:
        return await client.execute_update_with_start_workflow(
            update, arg, id=update_id, start_workflow_operation=start()
        )

    return await send_update(settings, wf_id, timeout, send)


async def draft(settings: Settings, cmd: c.DraftEntente, timeout: float) -> EntenteView:
    """Start the entente's workflow and record its first version, in one call."""
    client = await open_client(settings)

    def start() -> WithStartWorkflowOperation[Any, Any]:
        return WithStartWorkflowOperation(
            EntenteWorkflow.run,
            EntenteWorkflowInput(code=cmd.code, policy=settings.entente_policy),
            id=workflow_id(cmd.code),
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )

    view: EntenteView = await execute_update_with_start(
        settings, client, workflow_id(cmd.code), EntenteWorkflow.draft, cmd, start, timeout
    )
    return view


async def update_or_explain(
    settings: Settings, handle: WorkflowHandle[Any, Any], update: Any, arg: Any, timeout: float,
    explain: Callable[[], CliError],
) -> Any:
    """Send an update; when no workflow takes it, say why from the record (`explain`): an ended
    entente or closed case accepts no command, an unknown code is not found."""
    try:
        return await send_update(
            settings, handle.id, timeout, lambda update_id: handle.execute_update(update, arg, id=update_id)
        )
    except Exception as err:
        known = translate(err)
        if known is not None and known.exit_code is Exit.NOT_FOUND:
            raise explain() from None
        raise


async def command(settings: Settings, code: str, cmd: c.Command, timeout: float) -> EntenteView:
    """Give a command to the entente's workflow (its `act` update); its validator refuses before anything
    is recorded."""
    client = await open_client(settings)
    view: EntenteView = await update_or_explain(
        settings, client.get_workflow_handle(workflow_id(code)), EntenteWorkflow.act, cmd, timeout,
        lambda: _why_no_workflow(settings, code),
    )
    return view


def _why_no_workflow(settings: Settings, code: str) -> CliError:
    """No running workflow: an entente that ended accepts no command; otherwise it does not exist."""
    with ententes(settings) as e:
        try:
            view = e.view(code)
        except NotFound:
            return CliError(Exit.NOT_FOUND, f"not found: no entente with code {code}")
    if view.status.ended:
        return refused("agreement_ended", f"entente {code} is {view.status.value}: it accepts no command")
    return CliError(
        Exit.NOT_FOUND,
        f"not found: entente {code} is in the record but Temporal at {settings.temporal_address} has no workflow "
        "for it (another Temporal server or namespace?)",
    )


@dataclass(frozen=True)
class WorkflowAnswer:
    reachable: bool
    next_wakeup: datetime | None = None
    running: bool | None = None
    event_count: int | None = None  # the workflow's view, to compare with the record
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "reachable": self.reachable,
            "running": self.running,
            "next_wakeup": self.next_wakeup.isoformat() if self.next_wakeup else None,
            "event_count": self.event_count,
            "error": self.error,
        }


async def ask_workflow(settings: Settings, code: str, kind: Any = EntenteWorkflow) -> WorkflowAnswer:
    """What an entente's (or, with `kind=CrisisCaseWorkflow`, a case's) workflow says: running, next
    wake-up, events seen. Never raises: says why it could not be asked."""
    try:
        client = await open_client(settings)
        wf_id = workflow_id(code) if kind is EntenteWorkflow else case_workflow_id(code)
        handle = client.get_workflow_handle(wf_id)
        rpc = timedelta(seconds=QUERY_TIMEOUT)
        desc = await asyncio.wait_for(handle.describe(rpc_timeout=rpc), QUERY_TIMEOUT)
        running = desc.status is not None and desc.status.name == "RUNNING"
        wake = await asyncio.wait_for(handle.query(kind.next_wakeup, rpc_timeout=rpc), QUERY_TIMEOUT)
        view = await asyncio.wait_for(handle.query(kind.state, rpc_timeout=rpc), QUERY_TIMEOUT)
    except TimeoutError:
        return WorkflowAnswer(False, error=f"no answer within {QUERY_TIMEOUT:g}s (is a worker running?)")
    except Exception as err:
        known = translate(err)
        first = known.message.splitlines()[0].removeprefix("unreachable: ").removesuffix(START_HINT) if known else None
        return WorkflowAnswer(False, error=first or f"{type(err).__name__}: {err}")
    return WorkflowAnswer(True, next_wakeup=wake, running=running, event_count=view.event_count if view else None)
