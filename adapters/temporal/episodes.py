"""The épisode de services' workflow as a typed client: open (update-with-start), act, ask.

What an entry point (CLI, gateway) calls to command an episode; reads go to the record
(`usecases.episodes.ServiceEpisodes`). A refusal comes back as the SDK's `WorkflowUpdateFailedError` whose cause
is an `ApplicationError` typed with the rule's code (`meeting_cap_reached`, `not_accepted`…), as for crisis cases.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from adapters.temporal import updates
from adapters.temporal.client import Temporal
from adapters.temporal.errors import AcceptsNoCommand, NoWorkflow
from adapters.temporal.workflow_client import WorkflowClient
from domain.episodes import commands as c
from domain.episodes import rules
from domain.episodes.state import EpisodeStage, EpisodeView
from domain.standards.config import StandardsConfig
from workflows.episodes import EpisodeWorkflowInput, ServiceEpisodeWorkflow, workflow_id


class EpisodeClient(WorkflowClient[EpisodeView]):
    workflow = ServiceEpisodeWorkflow
    subject = "episode"

    def __init__(self, temporal: Temporal, standards: Callable[[], StandardsConfig],
                 view: Callable[[str], EpisodeView], bind: Callable[[str, str], None] | None = None) -> None:
        super().__init__(temporal, view)
        self.standards = standards  # the standards in force, given to a new episode's workflow
        self.bind = bind  # episode code → person, in the record (`adapters.temporal.case_keys`)

    def _workflow_id(self, code: str) -> str:
        return workflow_id(code)

    async def open(self, cmd: c.OpenEpisode, timeout: float) -> EpisodeView:
        """Start the episode's workflow and record its opening, in one call (update-with-start).

        The opening's rules are run first on this machine's clock: a refusal (a `DomainError`) starts nothing.
        The episode is then bound to its person in the record (idempotent), before its first payload, so that
        every payload of its history is sealed with that person's key (`adapters.temporal.codec`)."""
        rules.check_open(cmd, datetime.now(UTC), self.standards())
        if self.bind is not None:
            await asyncio.to_thread(self.bind, cmd.episode_code, cmd.subject_id)
        client = await self.temporal.client()

        def start() -> WithStartWorkflowOperation[Any, Any]:
            return WithStartWorkflowOperation(
                ServiceEpisodeWorkflow.run,
                EpisodeWorkflowInput(episode_code=cmd.episode_code, config=self.standards()),
                id=workflow_id(cmd.episode_code),
                task_queue=self.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )

        view: EpisodeView = await updates.execute_update_with_start(
            self.settings, client, workflow_id(cmd.episode_code), ServiceEpisodeWorkflow.open, cmd, start, timeout
        )
        return view

    async def act(self, code: str, cmd: c.Command, timeout: float) -> EpisodeView:
        """Give a command (`domain.episodes.commands.EpisodeCommand`) to the episode's workflow; its validator
        refuses before anything is recorded."""
        return await self._act(code, cmd, timeout)

    def _no_workflow(self, code: str, view: EpisodeView) -> Exception:
        if view.stage is EpisodeStage.CLOSED:
            return AcceptsNoCommand(f"episode {code} is closed: it accepts no command", code="episode_closed")
        return NoWorkflow(
            f"episode {code} is in the record but Temporal at {self.settings.temporal_address} has no workflow for it"
        )
