"""The worker's liveness file (issue 12, deploy/kubernetes/arrimage.yaml's worker probe): with
ARRIMAGE_WORKER_HEALTH_FILE set, the running worker rewrites it every HEARTBEAT_SECONDS from the event loop that
drives it, and removes it when it stops; unset, it writes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from workers import worker as worker_module
from workers.bootstrap import bootstrap
from workers.settings import Settings


async def wait_for(condition: Callable[[], bool], limit: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + limit
    while not condition():
        assert loop.time() < give_up, "not within the limit"
        await asyncio.sleep(0.05)


async def test_the_running_worker_keeps_its_health_file_fresh_and_removes_it_on_stop(
        dev_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "HEARTBEAT_SECONDS", 0.2)
    alive = tmp_path / "worker.alive"
    settings = Settings(_env_file=None, mode="development", task_queue=task_queue, worker_health_file=alive)
    stop = asyncio.Event()
    with bootstrap(settings, record_env=store_env, client=dev_env.client) as root:
        running = asyncio.create_task(worker_module.run_worker(root, stop))
        await wait_for(alive.exists)
        first = alive.stat().st_mtime_ns
        written = datetime.fromisoformat(alive.read_text(encoding="utf-8").strip())
        assert abs((datetime.now(UTC) - written).total_seconds()) < 5
        await wait_for(lambda: alive.exists() and alive.stat().st_mtime_ns > first)
        stop.set()
        await asyncio.wait_for(running, 30)
    assert not alive.exists()


async def test_without_the_setting_nothing_is_written(dev_env: WorkflowEnvironment, task_queue: str,
                                                      store_env: dict[str, str], tmp_path: Path) -> None:
    settings = Settings(_env_file=None, mode="development", task_queue=task_queue, data_dir=tmp_path / "var")
    stop = asyncio.Event()
    with bootstrap(settings, record_env=store_env, client=dev_env.client) as root:
        running = asyncio.create_task(worker_module.run_worker(root, stop))
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.wait_for(running, 30)
    assert not any(p.name.endswith(".alive") for p in tmp_path.rglob("*"))
