"""`arrimage cases template` end to end (issue 7): the intake it prints, comments and all, opens a case
as is on a real dev server and worker, over a SQLite file or a PostgreSQL schema (`store_env`, issue 12)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.e2e.engines import CaseEngine as Engine
from tests.e2e.engines import case_engine

pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def engine(case_server: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                 store_env: dict[str, str]) -> AsyncIterator[Engine]:
    """A dev server with the case search attributes, a worker, the CLI (as in test_cases_cli), on each store."""
    async with case_engine(case_server, task_queue, tmp_path, store_env) as engine:
        yield engine


async def test_the_printed_intake_opens_a_case_as_is(engine: Engine) -> None:
    printed = await engine.ok("cases", "template", "--kind", "info_social")
    path = engine.workdir / "intake.json"
    path.write_text(printed.out, encoding="utf-8")
    assert '"// urgency"' in printed.out  # the fields are explained in the file itself
    opened = await engine.ok("cases", "open", "--file", str(path))
    code = opened.out.split(":")[0]
    assert opened.out.startswith(f"{code}: accueil · holder cisss-laval\n"), opened
    assert (await engine.ok("cases", "show", code, "--json")).json()["view"]["intake"]["urgency"] == "urgent"
    listed = (await engine.ok("cases", "list", "--limit", "0")).out
    assert code in listed and "accueil" in listed
