"""What the épisodes de services' integration tests and the history recorder share: a production worker over a
record, an episode started through its workflow (update-with-start), its commands and state."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from adapters.record.record import Record
from domain.episodes import commands as c
from domain.episodes.model import RequestMode, ServiceKind, new_episode_code
from domain.episodes.state import ClockStatus, EpisodeView
from domain.standards.config import StandardsConfig, UrgencyLevel
from usecases.episodes import ServiceEpisodes
from workers.settings import Settings
from workers.worker import build_worker
from workflows.episodes import EpisodeWorkflowInput, ServiceEpisodeWorkflow, workflow_id

CSSS = "cisss-laval"

_STARTED: dict[str, list[WorkflowHandle[Any, Any]]] = {}  # per task queue (the test server lists nothing)


@asynccontextmanager
async def episodes_worker(client: Client, task_queue: str, record: Record, tmp_path: Path
                          ) -> AsyncIterator[ServiceEpisodes]:
    """The production worker (`build_worker`) on a fresh task queue; the episodes it leaves running are ended
    before it stops (a timer firing with no worker would hold the time-skipping server's clock)."""
    settings = Settings(task_queue=task_queue, data_dir=tmp_path)
    with ThreadPoolExecutor(4) as executor:
        async with build_worker(client, settings, record, executor=executor):
            try:
                yield ServiceEpisodes(record, settings.standards())
            finally:
                for handle in _STARTED.pop(task_queue, []):
                    if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                        await handle.terminate(reason="end of test")


async def start(client: Client, task_queue: str, service: ServiceKind = ServiceKind.CONSULTATION_SOCIALE,
                urgency: UrgencyLevel = UrgencyLevel.NONE, code: str | None = None,
                ) -> tuple[WorkflowHandle[Any, Any], str]:
    """Open an episode through its workflow (update `open` with start), as `EpisodeClient.open` does."""
    code = code or new_episode_code()
    cmd = c.OpenEpisode(by="accueil-1", actor_org=CSSS, episode_code=code, service=service,
                        subject_id=f"subj-{uuid.uuid4().hex[:10]}", territory="laval", responsible_org=CSSS,
                        request_mode=RequestMode.PHONE, urgency=urgency, personal={"request": "deuil"})
    op = WithStartWorkflowOperation(
        ServiceEpisodeWorkflow.run, EpisodeWorkflowInput(episode_code=code, config=StandardsConfig()),
        id=workflow_id(code), task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await client.execute_update_with_start_workflow(ServiceEpisodeWorkflow.open, cmd, start_workflow_operation=op,
                                                    id=f"open-{code}")
    handle = await op.workflow_handle()
    _STARTED.setdefault(task_queue, []).append(handle)
    return handle, code


async def act(handle: WorkflowHandle[Any, Any], cmd: c.Command) -> EpisodeView:
    view: EpisodeView = await handle.execute_update("act", cmd, result_type=EpisodeView)
    return view


async def wait_for(handle: WorkflowHandle[Any, Any], predicate: Callable[[EpisodeView], bool]) -> EpisodeView:
    """A timer fired and its activity records: poll `state` until it shows (bounded in real time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        view = await handle.query(ServiceEpisodeWorkflow.state)
        if view is not None and predicate(view):
            return view
        if loop.time() > deadline:
            pytest.fail(f"{handle.id}: never happened; {view}")
        await asyncio.sleep(0.05)


def names(episodes: ServiceEpisodes, code: str) -> list[str]:
    return [h["event"] for h in episodes.history(code)]


def accept() -> c.AcceptRequest:
    return c.AcceptRequest(by="accueil-1", actor_org=CSSS)


def missed(standard_id: str) -> Callable[[EpisodeView], bool]:
    def check(view: EpisodeView) -> bool:
        clock = view.clock(standard_id)
        return clock is not None and clock.status is ClockStatus.MISSED
    return check
