"""What the typed clients of a workflow per code (an entente's, a crisis case's) share: a command sent as
the workflow's `act` update, why no workflow took it (the record says), what the workflow says of itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from adapters.temporal import updates
from adapters.temporal.client import Temporal
from adapters.temporal.errors import NoWorkflow
from domain.errors import NotFound

V = TypeVar("V")


@dataclass(frozen=True)
class WorkflowStatus:
    """What a workflow says of itself: running, its next wake-up, how many events it has seen."""

    running: bool
    next_wakeup: datetime | None
    event_count: int | None


class WorkflowClient(Generic[V]):
    """The workflow of a code, commanded through its `act` update and asked through its `state` and
    `next_wakeup` queries; when no workflow takes a command, the record (`view`) says why."""

    workflow: Any  # the workflow class
    subject: str  # what a code names, as in "no entente with code …"

    def __init__(self, temporal: Temporal, view: Callable[[str], V]) -> None:
        self.temporal = temporal
        self.settings = temporal.settings
        self.view = view  # as the record has it (NotFound when it has none)

    def _workflow_id(self, code: str) -> str:
        raise NotImplementedError

    def planned_command_id(self, code: str) -> str | None:
        """The command id the next command to this code's workflow will be recorded under, when the caller sends
        it under a known update id (`updates.sent_as`): a request run again finds its first run's opening done."""
        return updates.planned_command_id(self._workflow_id(code))

    def _no_workflow(self, code: str, view: V) -> Exception:
        """Why the record's `view` of `code` has no running workflow to take a command."""
        raise NotImplementedError

    async def _act(self, code: str, cmd: Any, timeout: float) -> V:
        """Give a command to the workflow (its `act` update); its validator refuses before anything is
        recorded."""
        client = await self.temporal.client()
        view: V = await updates.execute_update(
            self.settings, client, self._workflow_id(code), self.workflow.act, cmd, timeout,
            lambda: self._why_no_workflow(code),
        )
        return view

    def _why_no_workflow(self, code: str) -> Exception:
        try:
            view = self.view(code)
        except NotFound:
            return NoWorkflow(f"no {self.subject} with code {code}")
        return self._no_workflow(code, view)

    async def ask(self, code: str) -> WorkflowStatus:
        """Running, next wake-up, events seen; TimeoutError past QUERY_TIMEOUT, or the SDK's error."""
        running, wake, view = await updates.ask(
            await self.temporal.client(), self._workflow_id(code), self.workflow.state, self.workflow.next_wakeup
        )
        return WorkflowStatus(running, wake, view.event_count if view else None)
