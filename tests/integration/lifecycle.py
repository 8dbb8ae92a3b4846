"""Helpers shared by the integration tests: drive entente workflows only through their public
updates and queries, and check refusals the way a partner system would see them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ListOpenWorkflowExecutionsRequest
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from domain.ententes import commands as c
from domain.ententes.model import EntenteContent
from domain.ententes.state import EntentePolicy, EntenteView
from usecases.ententes import Ententes
from workflows.entente import EntenteWorkflow, EntenteWorkflowInput, workflow_id

ACCEPTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED


class Started:
    """The workflows a test started, to terminate those still running when its worker stops.

    The time-skipping server lives for the whole session: a workflow left running on a task queue
    nobody polls any more gets workflow tasks when its timers fire, and while a task is outstanding
    the server skips no time, so every later `sleep` would stall.
    """

    def __init__(self) -> None:
        self.handles: list[WorkflowHandle[Any, Any]] = []

    async def terminate_running(self) -> None:
        for handle in self.handles:
            desc = await handle.describe()
            if desc.status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate(reason="test over")


async def terminate_open_workflows(client: Client) -> list[str]:
    """Terminate every workflow still open on the server; returns their ids.

    On the session's time-skipping server, a workflow a finished test left running (its worker gone)
    gets a workflow task whenever one of its timers fires, nobody completes it, and the server then
    skips no time: every later `sleep` stalls until its RPC times out. Tests that skip time call this
    first, so they do not depend on what ran before them.
    """
    ids: list[str] = []
    token = b""
    while True:
        resp = await client.workflow_service.list_open_workflow_executions(
            ListOpenWorkflowExecutionsRequest(namespace=client.namespace, maximum_page_size=1000,
                                              next_page_token=token)
        )
        for info in resp.executions:
            handle = client.get_workflow_handle(info.execution.workflow_id, run_id=info.execution.run_id)
            with contextlib.suppress(RPCError):  # it may have closed meanwhile
                await handle.terminate(reason="left running by a finished test")
                ids.append(info.execution.workflow_id)
        token = resp.next_page_token
        if not token:
            return ids


async def start(
    client: Client, code: str, content: EntenteContent, task_queue: str, *,
    policy: EntentePolicy | None = None, started: Started | None = None, history_limit: int | None = None,
) -> tuple[WorkflowHandle[Any, Any], EntenteView]:
    """Start the entente's workflow with its first draft (update-with-start)."""
    inp = EntenteWorkflowInput(code=code, policy=policy or EntentePolicy())
    if history_limit is not None:
        inp = inp.model_copy(update={"history_limit": history_limit})
    op = WithStartWorkflowOperation(
        EntenteWorkflow.run, inp,
        id=workflow_id(code), task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    view = await client.execute_update_with_start_workflow(
        EntenteWorkflow.draft, c.DraftEntente(by="superviseur", code=code, content=content),
        start_workflow_operation=op,
    )
    handle = await op.workflow_handle()
    if started is not None:
        started.handles.append(client.get_workflow_handle(handle.id))
    return handle, view


async def state(handle: WorkflowHandle[Any, Any]) -> EntenteView:
    view = await handle.query(EntenteWorkflow.state)
    assert view is not None
    return view


async def wait_for(
    handle: WorkflowHandle[Any, Any], what: str, predicate: Callable[[EntenteView], bool], *,
    within: float = 60.0,
) -> EntenteView:
    """Timers fire while the server skips (or lets) time pass; the workflow then records the transition
    through an activity. Poll its `state` query until the transition shows, bounded in real time."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        view = await state(handle)
        if predicate(view):
            return view
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{handle.id}: {what} never happened; last view: status={view.status}, "
                        f"proposal={view.proposal}, events={view.event_count}")
        await asyncio.sleep(0.05)


async def accepted_update_ids(handle: WorkflowHandle[Any, Any]) -> set[str]:
    """Ids of every update the workflow accepted, from its history (all runs of this handle's run chain
    are not followed: the current run only)."""
    history = await handle.fetch_history()
    return {
        e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        for e in history.events
        if e.event_type == ACCEPTED
    }


async def assert_rejected(
    handle: WorkflowHandle[Any, Any], ententes: Ententes, code: str, update: Any, cmd: c.Command,
    expected: str, *parts: str,
) -> ApplicationError:
    """The update fails with an ApplicationError typed `expected`, the record gains no event and the
    workflow history holds no acceptance of it (the validator rejected it)."""
    before = [h["event"] for h in ententes.history(code)]
    update_id = f"rejected-{expected}-{uuid.uuid4().hex[:8]}"
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update(update, cmd, id=update_id)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError), repr(cause)
    assert cause.type == expected, (cause.type, cause.message)
    for part in parts:
        assert part in cause.message, (part, cause.message)
    assert [h["event"] for h in ententes.history(code)] == before
    assert update_id not in await accepted_update_ids(handle)
    return cause


def names(ententes: Ententes, code: str) -> list[str]:
    return [h["event"] for h in ententes.history(code)]


def until(moment: datetime, now: datetime, margin: timedelta = timedelta(hours=1)) -> timedelta:
    """How long to sleep from `now` to just past `moment`."""
    assert moment.tzinfo is not None and now.tzinfo is not None
    return moment.astimezone(UTC) - now.astimezone(UTC) + margin


def delivery_activities(record: Any) -> list[Any]:
    """The delivery activities (issue 10) a hand-built worker registers beside the ones its test replaces: the
    workflows look up partners' endpoints with a local activity after each signature request or team asked, and
    a worker without it fails that workflow task again and again."""
    from activities.delivery import DeliveryActivities
    from adapters.webhooks.sender import WebhookSender
    from workers.bootstrap import use_cases
    from workers.settings import Settings

    uses = use_cases(record, Settings(_env_file=None))
    return DeliveryActivities(uses.deliveries, WebhookSender()).all()
