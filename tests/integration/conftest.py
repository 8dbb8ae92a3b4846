"""The integration tests' shared set-ups: a record over the store under test, a production worker over it
for the ententes (`ententes`) or the crisis cases (`cases`), both over SQLite then PostgreSQL, and a dev server
with the case search attributes (`visible_env`). A module that needs another record defines its own
`record`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from tests.crisis_builders import crisis_worker
from tests.integration.lifecycle import Started, terminate_open_workflows
from tests.integration.stores import StoreUnderTest
from tests.integration.worker_process import WorkerProcess
from tests.tamper_builders import Dossier, Raw, interleaved_dossiers
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes
from workers.binaries import temporal_cli
from workers.bootstrap import data_converter
from workers.settings import Settings
from workers.worker import build_worker
from workflows.crisis import SEARCH_ATTRIBUTES


@pytest.fixture
def record(store_env: dict[str, str]) -> Iterator[Record]:
    """The record over the store under test (SQLite, then PostgreSQL), closed after the test."""
    rec = Record(store_env)
    yield rec
    rec.close()


@pytest.fixture
def started() -> Started:
    return Started()


@pytest_asyncio.fixture
async def ententes(
    time_env: WorkflowEnvironment, task_queue: str, record: Record, tmp_path: Path, started: Started
) -> AsyncIterator[Ententes]:
    """A worker on a fresh task queue over the store under test; yields a reader of that store.
    Workflows earlier tests left running are terminated first (they would stall time skipping), and
    those this test left running before its worker stops."""
    await terminate_open_workflows(time_env.client)
    settings = Settings(task_queue=task_queue, data_dir=tmp_path)
    with ThreadPoolExecutor(4) as executor:
        async with build_worker(time_env.client, settings, record, executor=executor):
            try:
                yield Ententes(record)
            finally:
                await started.terminate_running()


@pytest_asyncio.fixture
async def cases(time_env: WorkflowEnvironment, task_queue: str, record: Record, tmp_path: Path
                ) -> AsyncIterator[CrisisCases]:
    """A production worker over the store under test (SQLite and PostgreSQL)."""
    async with crisis_worker(time_env.client, task_queue, record, tmp_path) as reader:
        yield reader


@pytest_asyncio.fixture(scope="module")
async def visible_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server with the case search attributes registered (the `dev_env` fixture registers none)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), data_converter=data_converter(), ui=False,
        search_attributes=SEARCH_ATTRIBUTES,
    )
    yield env
    await env.shutdown()
@pytest.fixture
def raw(store_env: dict[str, str], record: Record) -> Iterator[Raw]:
    r = Raw(store_env)
    yield r
    r.close()


@pytest.fixture
def dossiers(record: Record) -> list[Dossier]:
    """Notifications 1–9: A1 B1 C1 A2 B2 C2 A3 B3 C3 (letter = dossier, digit = version)."""
    return interleaved_dossiers(record, "ABC", 2)


@pytest.fixture
def store(store_env: dict[str, str]) -> StoreUnderTest:
    """The store under test of the tests that run `arrimage worker` as its own process (`tests/integration/stores`)."""
    return StoreUnderTest(store_env)


@pytest.fixture
def worker(dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, store: StoreUnderTest
           ) -> Iterator[WorkerProcess]:
    """`arrimage worker` over `store` on `dev_env`, not started yet (the test starts it); stopped at the end."""
    with store.worker(dev_env.client.service_client.config.target_host, task_queue, tmp_path) as proc:
        yield proc

