"""The CLI pointed at a real worker (in this process) on a fresh task queue and record: the
`ententes` engine on the shared dev server, the `cases` engine on a dev server with the case search
attributes registered (tests/e2e/conftest.py `case_server`). Each test module makes its `engine`
fixture from one of them. The record is `store` (tests/conftest.py `store_env`: a SQLite file or a
throw-away PostgreSQL schema; issue 12), or a SQLite file of the test's own when none is given."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from adapters.record.environment import record_env
from adapters.record.record import Record
from tests.e2e.harness import Engine, cli_env, store_cli_env
from workers.settings import Settings
from workers.worker import build_worker

CSSS = "cisss-laval"
REGION = 'region = "13-laval-essai"\n\n[standards."aaor.analyse"]\nduration = "PT3S"\n'


# ---------------------------------------------------------------------- the store
def store_settings(store: dict[str, str]) -> dict[str, Any]:
    """The worker's `Settings` fields for the record of `store` (what `arrimage worker` reads from ARRIMAGE_*)."""
    if store["PERSISTENCE_MODULE"] != "adapters.record.postgres":
        return {"sqlite_path": Path(store["SQLITE_DBNAME"])}
    return {"store": "postgres", "postgres_host": store["POSTGRES_HOST"], "postgres_port": int(store["POSTGRES_PORT"]),
            "postgres_dbname": store["POSTGRES_DBNAME"], "postgres_user": store["POSTGRES_USER"],
            "postgres_password": store.get("POSTGRES_PASSWORD", ""), "postgres_schema": store["POSTGRES_SCHEMA"]}


def store_of(store: dict[str, str] | None, tmp_path: Path) -> dict[str, str]:
    return store if store is not None else record_env(sqlite=tmp_path / "record.sqlite")


def engine_env(store: dict[str, str], tmp_path: Path, **settings: Any) -> dict[str, str]:
    """`cli_env` (`settings`: its keywords) with the record's variables those of `store`."""
    env = cli_env(record_path=tmp_path / "record.sqlite", data_dir=tmp_path, **settings)
    del env["ARRIMAGE_SQLITE_PATH"]
    env.update(store_cli_env(store))
    return env


# ---------------------------------------------------------------------- ententes
@dataclass
class EntenteEngine(Engine):
    prefix: tuple[str, ...] = ("ententes",)

    async def events(self, code: str) -> list[str]:
        return [row["event"] for row in (await self.ok("history", code, "--json")).json()]


@asynccontextmanager
async def entente_engine(server: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                         store: dict[str, str] | None = None) -> AsyncIterator[EntenteEngine]:
    """A worker on a fresh task queue and record (`store`); the CLI pointed at both by environment."""
    store = store_of(store, tmp_path)
    settings = Settings(task_queue=task_queue, data_dir=tmp_path, **store_settings(store))
    record = Record(store)
    env = engine_env(store, tmp_path, columns=200, target=server.client.service_client.config.target_host,
                     task_queue=task_queue, ARRIMAGE_USER="superviseure")
    workdir = tmp_path / "shell"
    workdir.mkdir()
    with ThreadPoolExecutor(4) as executor:
        async with build_worker(server.client, settings, record, executor=executor):
            yield EntenteEngine(env=env, workdir=workdir)
    record.close()


def new_code() -> str:
    return f"ENT-LAV-{uuid.uuid4().hex[:8].upper()}"  # as the record spells it: entente codes are upper-case


# ---------------------------------------------------------------------- cases
@dataclass
class CaseEngine(Engine):
    standards_file: Path | None = None

    async def events(self, code: str) -> list[str]:
        return [row["event"] for row in (await self.ok("cases", "history", code, "--json")).json()]

    async def listed(self, *filters: str) -> list[str]:
        return [row["case_code"] for row in (await self.ok("cases", "list", "--json", *filters)).json()]


@asynccontextmanager
async def case_engine(server: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                      store: dict[str, str] | None = None) -> AsyncIterator[CaseEngine]:
    """A worker with the region file of REGION (aaor.analyse: 3 seconds) on a fresh task queue and record
    (`store`)."""
    standards_file = tmp_path / "region.toml"
    standards_file.write_text(REGION, encoding="utf-8")
    store = store_of(store, tmp_path)
    settings = Settings(_env_file=None, task_queue=task_queue, data_dir=tmp_path, standards_file=standards_file,
                        **store_settings(store))
    record = Record(store)
    env = engine_env(store, tmp_path, columns=220, target=server.client.service_client.config.target_host,
                     task_queue=task_queue, ARRIMAGE_STANDARDS_FILE=str(standards_file),
                     ARRIMAGE_USER="superviseure")
    workdir = tmp_path / "shell"
    workdir.mkdir()
    with ThreadPoolExecutor(4) as executor:
        async with build_worker(server.client, settings, record, executor=executor):
            yield CaseEngine(env=env, workdir=workdir, standards_file=standards_file)
    record.close()


def intake(service: str, *, received: timedelta, first: timedelta, face: bool = True, urgency: str = "urgent",
           mode: str = "telephone") -> dict[str, Any]:
    """An intake file: the request came `received` ago and the person was reached `first` ago."""
    now = datetime.now(UTC)
    return {
        "actor_org": CSSS, "responsible_org": CSSS, "territory": "laval", "subject_id": "test-personne-0001",
        "intake": {"service": service, "request_mode": mode, "urgency": urgency, "face_to_face_needed": face},
        "received_at": (now - received).isoformat(), "first_contact_at": (now - first).isoformat(),
    }


async def open_case(engine: CaseEngine, name: str, data: dict[str, Any]) -> str:
    view = (await engine.ok("cases", "open", "--file", engine.write(name, data), "--json")).json()
    code: str = view["case_code"]
    return code


async def eventually(check: Any, what: str, tries: int = 60) -> None:
    """Visibility and timers are asynchronous: poll the CLI until `check()` is true."""
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"never: {what}")
