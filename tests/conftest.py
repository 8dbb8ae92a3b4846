"""Real parts for every test: the Temporal servers pip installed, SQLite files, PostgreSQL.

- `time_env`: the time-skipping test server (years of timers in seconds).
- `dev_env`: the Temporal dev server (what `arrimage up` runs), for visibility and restarts.
- `store_env`: an `eventsourcing` environment, parametrised over SQLite and PostgreSQL.
  PostgreSQL tests skip when no server answers, except under CI=true, where
  they fail instead: CI must run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from adapters.record.environment import PostgresAddress, record_env
from tests.postgres import PostgresParams, postgres_params
from tests.postgres import postgres_available as reachable
from workers.binaries import temporal_cli, temporal_test_server
from workers.bootstrap import data_converter

# The tests run on the public development keys: development mode, set here once for every in-process test and
# every subprocess inheriting this environment (tests/e2e/harness.py `cli_env` and
# tests/integration/worker_process.py, which start from a clean environment, set it again for theirs).
DEVELOPMENT_MODE = {"ARRIMAGE_MODE": "development"}
os.environ.update(DEVELOPMENT_MODE)

PG: PostgresParams = postgres_params("ARRIMAGE_TEST_POSTGRES_")

# The project's own packages, compiled once per run. Every end-to-end test runs the installed `arrimage` as a
# subprocess (hundreds of them), and where PYTHONDONTWRITEBYTECODE is set (as on the CI machines) Python never
# caches what it compiles: each subprocess would compile ~190 modules from source again (measured: `import cli.main`
# 1.15 CPU s uncompiled, 0.95 compiled, on 2 busy cores).
PROJECT_PACKAGES = ("activities", "adapters", "benchmarks", "cli", "domain", "gateway", "tests", "usecases", "verifier",
                    "workers", "workflows")


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: the controller compiled before starting it
        return
    import compileall

    root = Path(__file__).resolve().parent.parent
    for package in PROJECT_PACKAGES:
        compileall.compile_dir(root / package, quiet=2)


def postgres_available() -> bool:
    return reachable(PG)


def require_postgres() -> None:
    if postgres_available():
        return
    if os.environ.get("CI"):
        pytest.fail("PostgreSQL is required in CI (localhost:5432, database 'test')")
    pytest.skip("no PostgreSQL server answers on localhost:5432")


class PostgresSchema:
    """A throw-away schema, so each test starts from an empty store."""

    def __init__(self) -> None:
        import psycopg

        self.name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(autocommit=True, **PG) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')

    def env(self) -> dict[str, str]:
        return record_env(postgres=PostgresAddress(**PG, schema=self.name))

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(autocommit=True, **PG) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield record_env(sqlite=tmp_path / "record.sqlite")
        return
    require_postgres()
    schema = PostgresSchema()
    try:
        yield schema.env()
    finally:
        schema.drop()


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return record_env(sqlite=tmp_path / "record.sqlite")


@pytest_asyncio.fixture(scope="session")
async def time_env_session() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(), data_converter=data_converter()
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture
async def time_env(time_env_session: WorkflowEnvironment) -> AsyncIterator[WorkflowEnvironment]:
    """The session's time-skipping server; workflows a test leaves open are terminated after it.

    A workflow left running with no worker gets a task whenever a timer fires, nobody completes
    it, and the server then skips no time: every later test's `sleep` would stall.
    """
    yield time_env_session
    from tests.integration.lifecycle import terminate_open_workflows

    await terminate_open_workflows(time_env_session.client)


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), data_converter=data_converter(), ui=False
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Settings tests: no ARRIMAGE_* of the machine's own, and no `.env` in the working directory."""
    for name in [n for n in os.environ if n.startswith("ARRIMAGE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch
