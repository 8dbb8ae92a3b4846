"""`arrimage worker` in its own process (issue 12): its metrics endpoint when ARRIMAGE_METRICS asks, and « graceful
shutdown that finishes in-flight activities »: an activity held mid-save by a write lock this test keeps on the
record (SQLite, then PostgreSQL: `tests.integration.stores`), SIGTERM, then the lock released. The worker waits for
the activity (ARRIMAGE_GRACEFUL_SHUTDOWN_SECONDS), which records its event and reports its completion, once, before
the process exits 0; a new worker then completes the command without running the activity again. Bounded: every
wait has its limit."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.testing import WorkflowEnvironment

from domain.ententes import commands as c
from tests.factories import service_entente
from tests.integration.lifecycle import names, start
from tests.integration.stores import StoreUnderTest
from usecases.ententes import Ententes
from workflows.entente import EntenteWorkflow

pytestmark = pytest.mark.slow

HELD = 1.5  # seconds the activity waits on the lock after SIGTERM: under SQLite's 5 s lock timeout


async def test_sigterm_finishes_the_activity_in_flight(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, store: StoreUnderTest
) -> None:
    client = dev_env.client
    code = f"GRACE-{task_queue.removeprefix('tq-')}"
    address = client.service_client.config.target_host
    with store.worker(address, task_queue, tmp_path) as worker:
        worker.env["ARRIMAGE_GRACEFUL_SHUTDOWN_SECONDS"] = "20"
        worker.start()
        handle, _ = await asyncio.wait_for(start(client, code, service_entente(effective=None, notice_days=0),
                                                 task_queue), 60)
        ententes = Ententes(store.record())
        assert names(ententes, code) == ["Drafted"]

        with store.writes_held(sqlite_begin="BEGIN IMMEDIATE"):  # every writer now waits: the next save is held
            submit = asyncio.create_task(handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="s")))
            loop = asyncio.get_running_loop()
            give_up = loop.time() + 20
            while loop.time() < give_up:  # until the activity runs (started on the worker)
                pending = (await handle.describe()).raw_description.pending_activities
                if any(p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED for p in pending):
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the activity never started")
            assert worker.proc is not None
            worker.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(HELD)
            assert worker.proc.poll() is None, "the worker left before its activity finished"
        assert await asyncio.to_thread(worker.proc.wait, 20) == 0
        assert not submit.done()  # nothing processes the workflow task that follows: no worker runs
        assert names(ententes, code) == ["Drafted", "SubmittedForSignature"]

        history = [e async for e in handle.fetch_history_events()]
        kinds = [e.event_type for e in history]
        # the activity in flight at SIGTERM completed (its result reported), neither cancelled nor timed out
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in kinds
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED not in kinds
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT not in kinds
        started = [e for e in history if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
        assert all(e.activity_task_started_event_attributes.attempt == 1 for e in started)

        worker.start()  # a new worker completes the command from the recorded result
        view = await asyncio.wait_for(submit, 60)
        assert view.proposal is not None
        assert names(ententes, code) == ["Drafted", "SubmittedForSignature"]


async def test_the_worker_serves_its_metrics_when_asked(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, store: StoreUnderTest
) -> None:
    """`arrimage worker` with ARRIMAGE_METRICS=prometheus (`Root.serve_metrics` before its connection): its
    endpoint serves the Temporal SDK's metrics and the engine's, the entente drafted counted by aggregate kind."""
    client = dev_env.client
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = client.service_client.config.target_host
    with store.worker(address, task_queue, tmp_path) as worker:
        worker.env |= {"ARRIMAGE_METRICS": "prometheus", "ARRIMAGE_PROMETHEUS_ADDRESS": f"127.0.0.1:{port}"}
        worker.start()
        await asyncio.wait_for(start(client, f"PROM-{task_queue}", service_entente(effective=None, notice_days=0),
                                     task_queue), 60)
        async with httpx.AsyncClient() as http:
            scraped = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    assert "temporal_worker_task_slots_available{" in scraped and "temporal_activity_task_received{" in scraped
    assert 'arrimage_events_appended{aggregate="Entente"' in scraped, scraped
