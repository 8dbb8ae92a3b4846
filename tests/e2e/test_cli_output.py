"""What a supervisor reads from `arrimage ententes`, end to end (issue 7): Québec time with its zone
in text and UTC with its offset in JSON, statuses in French, stored text printed as written, long
lists cut with a last line saying how many more. On a SQLite file and a PostgreSQL schema (`store_env`, issue 12)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from cli.templates import template
from domain.clock import quebec_text
from domain.ententes.model import EntenteKind
from tests.e2e.engines import EntenteEngine as Engine
from tests.e2e.engines import entente_engine, new_code

pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def engine(dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                 store_env: dict[str, str]) -> AsyncIterator[Engine]:
    """A worker, a record (each store) and the CLI pointed at both (as in test_ententes_cli)."""
    async with entente_engine(dev_env, task_queue, tmp_path, store_env) as engine:
        yield engine

MOMENT_JSON = re.compile(r'"\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:\d{2})"')


async def test_text_in_quebec_time_json_in_utc_statuses_in_french_markup_literal(engine: Engine) -> None:
    code = new_code().upper()  # codes are kept upper-case
    content = dict(template(EntenteKind.SERVICE), title="[bold]Entente[/bold] de Laval")
    drafted = await engine.ok("draft", code, "--file", engine.write("service.json", content))
    assert drafted.out == f"{code}: brouillon\nversion 1 (initiale): rédaction · signed 0/2\n"
    submitted = await engine.ok("submit", code, "--deadline", "2027-01-15")
    deadline = (await engine.ok("show", code, "--json")).json()["view"]["proposal"]["signature_deadline"]
    assert deadline == "2027-01-16T05:00:00+00:00"  # midnight in Québec after the last day, in UTC
    assert submitted.out == (f"{code}: en signature\nversion 1 (initiale): en signature · signed 0/2 · "
                             "awaiting cisss-laval, cc-laval · deadline 2027-01-16 00:00 HNE\n")

    listed = (await engine.ok("list")).out
    assert "[bold]Entente[/bold] de Laval" in listed and "en signature" in listed and "entente de service" in listed
    shown = (await engine.ok("show", code)).out
    assert f"{code} — [bold]Entente[/bold] de Laval" in shown
    history = await engine.ok("history", code, "--json")
    moments = [m.group(1) for m in MOMENT_JSON.finditer(history.out)]
    assert moments and set(moments) == {"+00:00"}  # every moment in UTC, written one way
    recorded = history.json()[0]["recorded_at"]
    table = (await engine.ok("history", code)).out
    assert quebec_text(datetime.fromisoformat(recorded)) in table


async def test_long_lists_take_a_limit(engine: Engine) -> None:
    codes = [new_code().upper() for _ in range(3)]
    for code in codes:
        await engine.ok("draft", code, "--file", engine.write("service.json", template(EntenteKind.SERVICE)))
    cut = (await engine.ok("list", "--limit", "2")).out
    assert cut.startswith("  ") and "Ententes (3)" in cut and cut.endswith("… 1 more (use --limit)\n")
    assert codes[0] in cut and codes[1] in cut and codes[2] not in cut
    everything = (await engine.ok("list", "--limit", "0")).out
    assert all(c in everything for c in codes) and "more (use --limit)" not in everything
    assert [v["code"] for v in (await engine.ok("list", "--json")).json()] == codes
    assert [v["code"] for v in (await engine.ok("list", "--json", "--limit", "1")).json()] == codes[:1]
    history = (await engine.ok("history", codes[0], "--limit", "0")).out
    assert "History of" in history and "more (use --limit)" not in history
    bad = await engine.run("list", "--limit", "-1")
    assert bad.code == 2 and bad.out == ""
