"""A command that nobody completes says truly why (issue 7): Temporal down, or no worker.

Temporal unreachable: exit 4, "start the engine". Temporal up but no worker on the task queue:
exit 4, the task queue to check and the read that tells whether anything was recorded, with the
noun and command of what was commanded (`ententes show` for an entente, `cases show` for a
case). Through the installed CLI, against a dev server with no worker at all.

On a SQLite file and a PostgreSQL schema (`store_env`, issue 12) where the command meets the record: the case's
opening is checked on the record (the ententes in force) and `cases show` reads it; the entente's draft opens it
too (the payload codec looks up the keys it seals with). Temporal down stays on SQLite (SQLITE_ONLY): the command
fails on connecting, before opening any record (pointed at a PostgreSQL where nothing listens, it answers the
same), so a PostgreSQL variant would test nothing more.
"""

from __future__ import annotations

import re
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from cli.templates import template
from domain.ententes.model import EntenteKind
from tests.e2e.engines import engine_env
from tests.e2e.harness import Engine

pytestmark = pytest.mark.slow
SQLITE_ONLY = pytest.mark.parametrize("store_env", ["sqlite"], indirect=True)


@pytest.fixture
def engine(dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, store_env: dict[str, str]) -> Engine:
    """The CLI pointed at a live Temporal and an existing record (`store_env`), and no worker on its task queue."""
    Record(store_env).close()
    env = engine_env(store_env, tmp_path, columns=200, target=dev_env.client.service_client.config.target_host,
                     task_queue=task_queue, ARRIMAGE_USER="superviseure", ARRIMAGE_ORG="cisss-laval")
    workdir = tmp_path / "shell"
    workdir.mkdir()
    return Engine(env=env, workdir=workdir)


async def test_no_worker_names_the_task_queue_and_the_read_for_an_entente(engine: Engine, task_queue: str) -> None:
    code = f"ENT-IDLE-{uuid.uuid4().hex[:6].upper()}"
    path = engine.write("service.json", template(EntenteKind.SERVICE))
    result = await engine.run("ententes", "draft", code, "--file", path, "--timeout", "2")
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"unreachable: no worker completed the command within 2 s: is a worker running on task queue {task_queue}? "
        f"Nothing is recorded unless `arrimage ententes show {code}` shows it\n"
    )


async def test_no_worker_names_the_task_queue_and_the_read_for_a_case(engine: Engine, task_queue: str) -> None:
    now = datetime.now(UTC)
    path = engine.write("intake.json", {
        "actor_org": "cisss-laval", "responsible_org": "cisss-laval", "territory": "laval",
        "subject_id": "test-personne-0001",
        "intake": {"service": "info_social", "request_mode": "telephone", "urgency": "urgent",
                   "face_to_face_needed": True},
        "received_at": (now - timedelta(minutes=2)).isoformat(),
        "first_contact_at": (now - timedelta(minutes=1)).isoformat(),
    })
    result = await engine.run("cases", "open", "--file", path, "--timeout", "2")
    assert (result.code, result.out) == (4, "")
    found = re.fullmatch(
        rf"unreachable: no worker completed the command within 2 s: is a worker running on task queue {task_queue}\? "
        r"Nothing is recorded unless `arrimage cases show (C-[A-Z0-9]+)` shows it\n", result.err)
    assert found is not None, result.err
    shown = await engine.run("cases", "show", found.group(1))
    assert shown.code == 3  # and indeed nothing was recorded


@SQLITE_ONLY
async def test_temporal_down_says_start_the_engine(engine: Engine) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    path = engine.write("service.json", template(EntenteKind.SERVICE))
    result = await engine.run("ententes", "draft", "ENT-DOWN-1", "--file", path, "--timeout", "2",
                              ARRIMAGE_TEMPORAL_ADDRESS=closed)
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"unreachable: Temporal does not answer at {closed} (Connection refused): start the engine with "
        "`arrimage up` or check ARRIMAGE_TEMPORAL_ADDRESS\n"
    )
