"""The entente's workflow as a typed client: draft (update-with-start), command, ask.

Commands go through the workflow (its validators are the rules); when no workflow takes one, the
record (`view`) says why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from adapters.temporal import updates
from adapters.temporal.client import Temporal
from adapters.temporal.errors import AcceptsNoCommand, NoWorkflow
from adapters.temporal.workflow_client import WorkflowClient
from domain.ententes import commands as c
from domain.ententes.state import EntentePolicy, EntenteView
from workflows.entente import EntenteWorkflow, EntenteWorkflowInput, workflow_id


class EntenteClient(WorkflowClient[EntenteView]):
    workflow = EntenteWorkflow
    subject = "entente"

    def __init__(self, temporal: Temporal, policy: EntentePolicy, view: Callable[[str], EntenteView]) -> None:
        super().__init__(temporal, view)
        self.policy = policy

    def _workflow_id(self, code: str) -> str:
        return workflow_id(code)

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
        return await self._act(code, cmd, timeout)

    def _no_workflow(self, code: str, view: EntenteView) -> Exception:
        """An entente that ended accepts no command; otherwise its workflow is elsewhere."""
        if view.status.ended:
            return AcceptsNoCommand(f"entente {code} is {view.status.value}: it accepts no command",
                                    code="agreement_ended")
        return NoWorkflow(
            f"entente {code} is in the record but Temporal at {self.settings.temporal_address} has no workflow "
            "for it (another Temporal server or namespace?)"
        )
