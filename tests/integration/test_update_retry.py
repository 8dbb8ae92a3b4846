"""A command in flight when its worker dies completes once the worker is back (issue 7).

`arrimage demo` lost a command when its worker was SIGKILLed, though a new worker was back in
two seconds. The typed client (`adapters.temporal`, the CLI's) now resends an update that is not completed yet,
on a transient failure, with the same update id, until the caller's `--timeout` is spent: the
workflow records the command under `workflow_id/update_id`, so a resent update records nothing
twice. The worker runs as its own process (`arrimage worker`), killed with SIGKILL while the
command is in flight, as in `test_worker_crash.py`; over SQLite, then PostgreSQL (`tests.integration.stores`).
On PostgreSQL the killed worker's insert may still land: its server process waits on the lock, gets it once the
lock is released, and commits for a client that is gone; the new worker then finds the command recorded.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.ententes import commands as c
from tests.factories import service_entente
from tests.integration.lifecycle import start
from tests.integration.stores import StoreUnderTest
from tests.integration.worker_process import WorkerProcess
from usecases.ententes import Ententes
from workers.bootstrap import bootstrap
from workers.settings import Settings
from workflows.entente import EntenteWorkflow, workflow_id

pytestmark = pytest.mark.slow


async def test_a_command_in_flight_when_the_worker_dies_completes_once(
    dev_env: WorkflowEnvironment, task_queue: str, worker: WorkerProcess, tmp_path: Path, store: StoreUnderTest
) -> None:
    code = f"RETRY-{task_queue.removeprefix('tq-').upper()}"
    settings = Settings(temporal_address=dev_env.client.service_client.config.target_host, task_queue=task_queue,
                        data_dir=tmp_path / "data")
    record = store.record()
    ententes = Ententes(record)
    engine = bootstrap(settings, record_env={**store.env, "CREATE_TABLE": "n"})  # a read, as the CLI opens it
    worker.start()
    try:
        handle, _ = await start(dev_env.client, code, service_entente(effective=None), task_queue)
        await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))

        # The command reaches the worker, whose activity waits on the record (another connection holds
        # its writes): it is in flight for sure when the worker is killed. A new worker is back two
        # seconds later, as in the demo.
        sign = c.SignEntente(by="cisss", party_id="cisss-laval", version=1, signatory="DG")
        with store.writes_held():
            command = asyncio.create_task(engine.entente_client.command(code, sign, timeout=30))
            await _activity_started(handle)
            worker.sigkill()
        assert not command.done(), "the command finished before the kill: nothing was in flight"
        await asyncio.sleep(2)
        worker.start()

        view = await asyncio.wait_for(command, 130)
        assert view.proposal is not None and view.proposal.signed_by("cisss-laval")
    finally:
        worker.stop()
    try:
        history = ententes.history(code)
        assert [h["event"] for h in history] == ["Drafted", "SubmittedForSignature", "Signed"]
        signed = history[-1]
        assert signed["party_id"] == "cisss-laval"
        assert signed["command_id"].startswith(f"{workflow_id(code)}/")
        assert len({h["command_id"] for h in history}) == 3
    finally:
        engine.close()
        record.close()


async def _activity_started(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the workflow has an activity started on a worker (and not finished)."""
    for _ in range(600):
        desc = await handle.describe()
        if any(a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
               for a in desc.raw_description.pending_activities):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no activity started within 30 s")
