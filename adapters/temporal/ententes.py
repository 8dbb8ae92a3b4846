"""The entente's workflow as a typed client: draft (update-with-start), command, ask.

Commands go through the workflow (its validators are the rules); when no workflow takes one, the
record (`view`) says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from adapters.temporal import updates
from adapters.temporal.client import Temporal
from adapters.temporal.errors import AcceptsNoCommand, NoWorkflow
from domain.ententes import commands as c
from domain.ententes.state import EntentePolicy, EntenteView
from domain.errors import NotFound
from workflows.entente import EntenteWorkflow, EntenteWorkflowInput, workflow_id


@dataclass(frozen=True)
class WorkflowStatus:
    """What a workflow says of itself: running, its next wake-up, how many events it has seen."""

    running: bool
    next_wakeup: datetime | None
    event_count: int | None


class EntenteClient:
    def __init__(self, temporal: Temporal, policy: EntentePolicy, view: Callable[[str], EntenteView]) -> None:
        self.temporal = temporal
        self.settings = temporal.settings
        self.policy = policy
        self.view = view  # the entente as the record has it (NotFound when it has none)

    async def draft(self, cmd: c.DraftEntente, timeout: float) -> EntenteView:
        """Start the entente's workflow and record its first version, in one call."""
        client = await self.temporal.client()

        def start() -> WithStartWorkflowOperation[Any, Any]:
            return WithStartWorkflowOperation(
                EntenteWorkflow.run,
                EntenteWorkflowInput(code=cmd.code, policy=self.policy),
                id=workflow_id(cmd.code),
                task_queue=self.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )

        view: EntenteView = await updates.execute_update_with_start(
            self.settings, client, workflow_id(cmd.code), EntenteWorkflow.draft, cmd, start, timeout
        )
        return view

    async def command(self, code: str, cmd: c.Command, timeout: float) -> EntenteView:
        """Give a command to the entente's workflow (its `act` update); its validator refuses before anything
        is recorded."""
        client = await self.temporal.client()
        view: EntenteView = await updates.execute_update(
            self.settings, client, workflow_id(code), EntenteWorkflow.act, cmd, timeout,
            lambda: self._why_no_workflow(code),
        )
        return view

    def _why_no_workflow(self, code: str) -> Exception:
        """No running workflow: an entente that ended accepts no command; otherwise it does not exist."""
        try:
            view = self.view(code)
        except NotFound:
            return NoWorkflow(f"no entente with code {code}")
        if view.status.ended:
            return AcceptsNoCommand(f"entente {code} is {view.status.value}: it accepts no command",
                                    code="agreement_ended")
        return NoWorkflow(
            f"entente {code} is in the record but Temporal at {self.settings.temporal_address} has no workflow "
            "for it (another Temporal server or namespace?)"
        )

    async def ask(self, code: str) -> WorkflowStatus:
        """Running, next wake-up, events seen; TimeoutError past QUERY_TIMEOUT, or the SDK's error."""
        running, wake, view = await updates.ask(
            await self.temporal.client(), workflow_id(code), EntenteWorkflow.state, EntenteWorkflow.next_wakeup
        )
        return WorkflowStatus(running, wake, view.event_count if view else None)
