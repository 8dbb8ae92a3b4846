"""A command that nobody completes says truly why (issue 7): Temporal down, or no worker.

Temporal unreachable: exit 4, "start the engine". Temporal up but no worker on the task queue:
exit 4, the task queue to check and the read that tells whether anything was recorded, with the
noun and command of what was commanded (`ententes show` for an entente, `cases show` for a
case). Through the installed CLI, against a dev server with no worker at all.
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
from tests.e2e.harness import Engine, cli_env

pytestmark = pytest.mark.slow


@pytest.fixture
def engine(dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path) -> Engine:
    """The CLI pointed at a live Temporal and an existing record, and no worker on its task queue."""
    record_path = tmp_path / "record.sqlite"
    Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(record_path)}).close()
    env = cli_env(record_path=record_path, data_dir=tmp_path, columns=200,
                  target=dev_env.client.service_client.config.target_host, task_queue=task_queue,
                  ARRIMAGE_USER="superviseure", ARRIMAGE_ORG="cisss-laval")
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
