"""The CLI pointed at a real worker (in this process) on a fresh task queue and SQLite record: the
`ententes` engine on the shared dev server, the `cases` engine on a dev server with the case search
attributes registered (tests/e2e/conftest.py `case_server`). Each test module makes its `engine`
fixture from one of them."""

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

from adapters.record.record import Record
from tests.e2e.harness import Engine, cli_env
from workers.settings import Settings
from workers.worker import build_worker

CSSS = "cisss-laval"
REGION = 'region = "13-laval-essai"\n\n[standards."aaor.analyse"]\nduration = "PT3S"\n'


# ---------------------------------------------------------------------- ententes
@dataclass
class EntenteEngine(Engine):
    prefix: tuple[str, ...] = ("ententes",)

    async def events(self, code: str) -> list[str]:
        return [row["event"] for row in (await self.ok("history", code, "--json")).json()]


@asynccontextmanager
async def entente_engine(server: WorkflowEnvironment, task_queue: str, tmp_path: Path) -> AsyncIterator[EntenteEngine]:
    """A worker on a fresh task queue and record; the CLI pointed at both by environment."""
    record_path = tmp_path / "record.sqlite"
    settings = Settings(task_queue=task_queue, data_dir=tmp_path, sqlite_path=record_path)
    record = Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(record_path)})
    env = cli_env(record_path=record_path, data_dir=tmp_path, columns=200,
                  target=server.client.service_client.config.target_host, task_queue=task_queue,
                  ARRIMAGE_USER="superviseure")
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
async def case_engine(server: WorkflowEnvironment, task_queue: str, tmp_path: Path) -> AsyncIterator[CaseEngine]:
    """A worker with the region file of REGION (aaor.analyse: 3 seconds) on a fresh task queue and record."""
    standards_file = tmp_path / "region.toml"
    standards_file.write_text(REGION, encoding="utf-8")
    record_path = tmp_path / "record.sqlite"
    settings = Settings(_env_file=None, task_queue=task_queue, data_dir=tmp_path,
                        sqlite_path=record_path, standards_file=standards_file)
    record = Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(record_path)})
    env = cli_env(record_path=record_path, data_dir=tmp_path, columns=220,
                  target=server.client.service_client.config.target_host, task_queue=task_queue,
                  ARRIMAGE_STANDARDS_FILE=str(standards_file), ARRIMAGE_USER="superviseure")
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
