"""How the CLI reaches the engine: settings, the record, and Temporal (connect, update, query).

Commands go through the entente's workflow (its validators are the rules); reads go to the
record, the legal one, which needs no Temporal and no worker.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.workflow import UpdateMethodMultiParam

from cli.errors import CliError, Exit, refused, translate, unreachable
from domain.agreements import commands as c
from domain.agreements.application import Ententes
from domain.agreements.state import AgreementView
from domain.errors import NotFound
from domain.record import Record
from workers import logs, tracing
from workers.settings import Settings
from workers.temporal import connect
from workflows.agreement import AgreementWorkflow, AgreementWorkflowInput, workflow_id
from workflows.crisis import workflow_id as case_workflow_id

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
        yield Ententes(record, settings.agreement_policy)
    finally:
        record.close()


async def open_client(settings: Settings) -> Client:
    try:
        return await asyncio.wait_for(connect(settings), CONNECT_TIMEOUT)
    except TimeoutError:
        raise unreachable(f"Temporal at {settings.temporal_address} did not answer in {CONNECT_TIMEOUT:.0f}s") from None
    except RuntimeError as err:
        raise unreachable(f"cannot connect to Temporal at {settings.temporal_address} ({_reason(err)})") from None


def _reason(err: Exception) -> str:
    """The OS's words from a native connection error ("Connection refused"), else the error."""
    found = re.search(r'message: "([^"]+)"', str(err))
    return found.group(1) if found else str(err)


async def _within(settings: Settings, timeout: float, call: Awaitable[T]) -> T:
    """Wait for a worker to complete the command; give up (exit 4) after `timeout` seconds."""
    try:
        return await asyncio.wait_for(call, timeout)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise CliError(
            Exit.UNREACHABLE,
            f"unreachable: the command was not completed within {timeout:g}s: is a worker polling task queue "
            f"{settings.task_queue} at {settings.temporal_address}, and is its log free of retried failures? "
            "The command may still be applied later: check with `arrimage agreements show`.\n"
            "hint: start the engine in another shell with `arrimage up`",
        ) from None


async def draft(settings: Settings, cmd: c.DraftAgreement, timeout: float) -> AgreementView:
    """Start the entente's workflow and record its first version, in one call."""
    client = await open_client(settings)
    start = WithStartWorkflowOperation(
        AgreementWorkflow.run,
        AgreementWorkflowInput(code=cmd.code, policy=settings.agreement_policy),
        id=workflow_id(cmd.code),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    view: AgreementView = await _within(
        settings, timeout,
        client.execute_update_with_start_workflow(AgreementWorkflow.draft, cmd, start_workflow_operation=start),
    )
    return view


async def update_or_explain(
    settings: Settings, handle: WorkflowHandle[Any, Any], update: Any, arg: Any, timeout: float,
    explain: Callable[[], CliError],
) -> Any:
    """Send an update; when no workflow takes it, say why from the record (`explain`): an ended
    entente or closed case accepts no command, an unknown code is not found."""
    try:
        return await _within(settings, timeout, handle.execute_update(update, arg))
    except Exception as err:
        known = translate(err)
        if known is not None and known.exit_code is Exit.NOT_FOUND:
            raise explain() from None
        raise


async def command(
    settings: Settings, code: str, update: UpdateMethodMultiParam[Any, AgreementView], cmd: c.Command,
    timeout: float,
) -> AgreementView:
    """Give a command to the entente's workflow; its validator refuses before anything is recorded."""
    client = await open_client(settings)
    view: AgreementView = await update_or_explain(
        settings, client.get_workflow_handle(workflow_id(code)), update, cmd, timeout,
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


async def ask_workflow(settings: Settings, code: str, kind: Any = AgreementWorkflow) -> WorkflowAnswer:
    """What an entente's (or, with `kind=CrisisCaseWorkflow`, a case's) workflow says: running, next
    wake-up, events seen. Never raises: says why it could not be asked."""
    try:
        client = await open_client(settings)
        wf_id = workflow_id(code) if kind is AgreementWorkflow else case_workflow_id(code)
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
        first = known.message.splitlines()[0].removeprefix("unreachable: ") if known else None
        return WorkflowAnswer(False, error=first or f"{type(err).__name__}: {err}")
    return WorkflowAnswer(True, next_wakeup=wake, running=running, event_count=view.event_count if view else None)
