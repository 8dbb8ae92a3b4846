"""The crisis case's workflow as a typed client: open (update-with-start), act, ask, list from visibility.

Search attributes carry opaque codes only; the list filter is built here from checked values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from adapters.temporal import updates
from adapters.temporal.client import Temporal
from adapters.temporal.errors import AcceptsNoCommand, NoWorkflow
from adapters.temporal.workflow_client import WorkflowClient
from domain.crisis import commands as c
from domain.crisis import rules
from domain.crisis.state import CaseStage, CaseView
from domain.standards.config import StandardsConfig
from workflows.crisis import (
    HOLDER,
    NEXT_DEADLINE,
    OPENED_AT,
    OVERDUE,
    STAGE,
    TEAM,
    TERRITORY,
    CaseWorkflowInput,
    CrisisCaseWorkflow,
    current_team,
    overdue,
    workflow_id,
)


@dataclass(frozen=True)
class VisibleCase:
    """An open case as Temporal's visibility lists it (its search attributes)."""

    code: str
    stage: str
    holder: str
    territory: str
    team: str
    next_deadline: datetime | None
    overdue: bool
    opened_at: datetime | None

    @classmethod
    def of(cls, view: CaseView, config: StandardsConfig) -> VisibleCase:
        """The case as its workflow's search attributes describe it, computed from the record's view (a
        closed case, or Temporal unreachable)."""
        return cls(
            code=view.case_code, stage=view.stage.value, holder=view.holder or "", territory=view.territory,
            team=current_team(view), next_deadline=rules.next_wakeup(view, config), overdue=overdue(view),
            opened_at=view.opened_at,
        )


class CaseClient(WorkflowClient[CaseView]):
    workflow = CrisisCaseWorkflow
    subject = "crisis case"

    def __init__(self, temporal: Temporal, standards: Callable[[], StandardsConfig],
                 view: Callable[[str], CaseView], bind: Callable[[str, str], None] | None = None) -> None:
        super().__init__(temporal, view)
        self.standards = standards  # the standards in force, given to a new case's workflow
        self.bind = bind  # case code → person, in the record (`adapters.temporal.case_keys`)

    def _workflow_id(self, code: str) -> str:
        return workflow_id(code)

    async def open(self, cmd: c.OpenCase, timeout: float) -> CaseView:
        """Start the case's workflow and record the intake, in one call (update-with-start).

        The opening's rules that need no record are run first, on this machine's clock: a refusal
        (a `DomainError`) starts nothing. The workflow's validator runs them again on its own clock.
        Then the case is bound to its person in the record (idempotent), before its first payload, so that
        every payload of its history is sealed with that person's key (`adapters.temporal.codec`)."""
        rules.check_open_command(cmd, datetime.now(UTC), self.standards())
        if self.bind is not None:
            await asyncio.to_thread(self.bind, cmd.case_code, cmd.subject_id)
        client = await self.temporal.client()
        made: list[WithStartWorkflowOperation[Any, Any]] = []  # one per sending: a resent update needs a new one

        def start() -> WithStartWorkflowOperation[Any, Any]:
            made.append(WithStartWorkflowOperation(
                CrisisCaseWorkflow.run,
                CaseWorkflowInput.starting(cmd.case_code, self.standards()),
                id=workflow_id(cmd.case_code),
                task_queue=self.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            ))
            return made[-1]

        try:
            view: CaseView = await updates.execute_update_with_start(
                self.settings, client, workflow_id(cmd.case_code), CrisisCaseWorkflow.open, cmd, start, timeout
            )
        except WorkflowUpdateFailedError:
            await _forget_refused_opening(client, made[-1])
            raise
        return view

    async def act(self, code: str, cmd: c.Command, timeout: float) -> CaseView:
        """Give a command to the case's workflow; its validator refuses before anything is recorded."""
        return await self._act(code, cmd, timeout)

    def _no_workflow(self, code: str, view: CaseView) -> Exception:
        """A closed case accepts no command; otherwise its workflow is elsewhere."""
        if view.stage is CaseStage.CLOSED:
            return AcceptsNoCommand(f"case {code} is closed: it accepts no command", code="case_closed")
        return NoWorkflow(
            f"case {code} is in the record but Temporal at {self.settings.temporal_address} has no workflow for it"
        )

    def visibility_query(
        self, *, stage: CaseStage | None, team: str | None, territory: str | None, holder: str | None,
        overdue: bool, since: datetime | None,
    ) -> str:
        """The list filter for Temporal visibility. Values are opaque codes, checked before they are quoted."""
        parts = ['WorkflowType="CrisisCase"', 'ExecutionStatus="Running"', f'TaskQueue="{self.settings.task_queue}"']
        for key, value in ((STAGE, stage.value if stage else None), (TEAM, team), (TERRITORY, territory),
                           (HOLDER, holder)):
            if value is not None:
                parts.append(f'{key.name}="{value}"')
        if overdue:
            parts.append(f"{OVERDUE.name}=true")
        if since is not None:
            parts.append(f'{OPENED_AT.name}>="{since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}"')
        return " AND ".join(parts)

    async def running(self, query: str) -> list[VisibleCase]:
        """The open cases visibility lists for `query` (see `visibility_query`)."""
        client = await self.temporal.client()
        rows = []
        async for wf in client.list_workflows(query):
            sa = wf.typed_search_attributes
            rows.append(VisibleCase(
                code=wf.id.removeprefix("case-"), stage=sa.get(STAGE) or "", holder=sa.get(HOLDER) or "",
                territory=sa.get(TERRITORY) or "", team=sa.get(TEAM) or "", next_deadline=sa.get(NEXT_DEADLINE),
                overdue=bool(sa.get(OVERDUE)), opened_at=sa.get(OPENED_AT) or wf.start_time,
            ))
        return rows


async def _forget_refused_opening(client: Client, start: WithStartWorkflowOperation[Any, Any]) -> None:
    """The last line of defence when an opening is refused after its workflow started (a race with the
    record: an entente revoked between the entry point's check and the activity).

    Update-with-start starts the workflow even when its `open` is refused; the workflow then ends at
    once with no case (result None), so no open case is ever listed. That run is then deleted, and only
    when it ended so: a run that holds a case (an existing one, or another caller's opening accepted
    meanwhile) is left alone. The server deletes asynchronously (the dev server kept the closed run
    in visibility for 34 s under load), which is why entry points check before they start.
    """
    try:
        handle = await asyncio.wait_for(start.workflow_handle(), 5)
        if await asyncio.wait_for(handle.result(), 5) is not None:
            return
        await client.workflow_service.delete_workflow_execution(DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=handle.result_run_id or ""),
        ))
    except (TimeoutError, WorkflowFailureError, RPCError):
        pass  # still running (so it holds a case), failed, or already gone: nothing to forget
