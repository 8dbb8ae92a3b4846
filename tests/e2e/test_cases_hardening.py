"""Issue 7 through `arrimage cases`: bad input never sticks, nothing is invented.

The installed command against a real Temporal dev server (the case search attributes registered),
a real worker and a real record (a SQLite file or a PostgreSQL schema, issue 12), as in
`test_cases_cli.py` (both make their engine with tests/e2e/engines.py).
Each refusal is checked as a script sees it (exit code, the exact line on stderr) and by what it
left behind: nothing in `cases list` (Temporal visibility), nothing in the record, and, for a
refused opening, no workflow execution at all in Temporal's visibility.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.crisis import commands as c
from domain.crisis.model import new_case_code
from domain.errors import DomainError
from domain.values import MAX_COMMAND_BYTES
from tests.e2e.engines import CSSS, case_engine, eventually, intake, open_case, store_settings
from tests.e2e.engines import CaseEngine as Engine
from workers.bootstrap import bootstrap
from workers.settings import Settings
from workflows.crisis import workflow_id

pytestmark = pytest.mark.slow


@pytest_asyncio.fixture
async def engine(case_server: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                 store_env: dict[str, str]) -> AsyncIterator[Engine]:
    """A dev server with the case search attributes, a worker, the CLI (as in test_cases_cli)."""
    async with case_engine(case_server, task_queue, tmp_path, store_env) as engine:
        yield engine

MIN = timedelta(minutes=1)


async def nothing_anywhere(engine: Engine, server: WorkflowEnvironment, code: str) -> None:
    """No open case listed, no case in the record, and no execution of the case's workflow in visibility."""
    assert await engine.listed() == [] and await engine.listed("--all") == []
    missing = await engine.run("cases", "show", code)
    assert (missing.code, missing.err) == (3, f"not found: no crisis case with code {code}\n")

    async def no_execution() -> bool:
        found = [wf async for wf in server.client.list_workflows(f'WorkflowId="{workflow_id(code)}"')]
        return found == []
    await eventually(no_execution, f"no workflow execution of {code} in Temporal's visibility")


# ---------------------------------------------------------------------- 1. aware moments
async def test_a_moment_without_its_time_zone_is_refused_at_once(engine: Engine, case_server: WorkflowEnvironment
                                                                ) -> None:
    """It used to pass, then fail in the worker (naive vs aware): retried for ever, a timeout, a ghost case."""
    code = new_case_code()
    data = {**intake("info_social", received=2 * MIN, first=MIN), "case_code": code,
            "received_at": "2026-12-01T05:00:00"}
    naive = await engine.run("cases", "open", "--file", engine.write("naive.json", data))
    assert (naive.code, naive.out, naive.err) == (2, "", "invalid input: received_at: no time zone: expected ISO 8601 "
                                                        "with a time zone, e.g. 2026-12-01T05:00-05:00\n")
    await nothing_anywhere(engine, case_server, code)

    opened = await open_case(engine, "ok.json", intake("aaor", received=2 * MIN, first=MIN, face=False,
                                                         urgency="non_urgent"))
    before = await engine.events(opened)
    extend = await engine.run("cases", "act", opened, "--org", CSSS, "--file", engine.write("extend.json", {
        "type": "extend", "deadline_id": "aaor.analyse", "until": "2026-12-01T05:00:00", "reason": "r"}))
    assert (extend.code, extend.err) == (2, "invalid input: until: no time zone: expected ISO 8601 with a time zone, "
                                            "e.g. 2026-12-01T05:00-05:00\n")
    assert await engine.events(opened) == before


# ---------------------------------------------------------------------- 2. plausible moments
async def test_implausible_moments_are_refused_by_rule(engine: Engine, case_server: WorkflowEnvironment) -> None:
    code = new_case_code()
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    future = {**intake("info_social", received=2 * MIN, first=MIN), "case_code": code,
              "received_at": later, "first_contact_at": later}
    refused = await engine.run("cases", "open", "--file", engine.write("future.json", future))
    assert refused.code == 2 and refused.err.startswith("refused [moment_in_future]: received_at "), refused
    assert refused.err.endswith("by more than the 5 min allowed for clocks that disagree\n")
    await nothing_anywhere(engine, case_server, code)

    old = {**intake("info_social", received=2 * MIN, first=MIN), "case_code": code,
           "received_at": "1999-12-01T05:00:00-05:00"}
    refused = await engine.run("cases", "open", "--file", engine.write("old.json", old))
    assert (refused.code, refused.err) == (
        2, "invalid input: received_at: 1999-12-01T05:00:00-05:00 is not a plausible moment (expected 2000–2099)\n")
    stale = {**intake("info_social", received=8 * 24 * 60 * MIN, first=MIN), "case_code": code}
    refused = await engine.run("cases", "open", "--file", engine.write("stale.json", stale))
    assert refused.code == 2 and refused.err.startswith("refused [moment_too_old]: received_at "), refused
    assert refused.err.endswith("a case cannot begin that long before it is opened\n")
    await nothing_anywhere(engine, case_server, code)

    # AAOR, urgent: its urgency deadline (aaor.urgence) is due 4 h after the opening.
    opened = await open_case(engine, "ok.json", intake("aaor", received=2 * MIN, first=MIN, face=False))
    before = await engine.events(opened)
    too_long = await engine.run("cases", "extend", opened, "--deadline", "aaor.urgence", "--until", "+100000h",
                                "--reason", "Essai", "--org", CSSS)
    assert too_long.code == 2 and too_long.err.startswith(
        "refused [extension_too_long]: an extension gives at most 72 h past the current due moment ("), too_long
    assert await engine.events(opened) == before
    fine = await engine.ok("cases", "extend", opened, "--deadline", "aaor.urgence", "--until", "+3d",
                           "--reason", "Essai", "--org", CSSS, "--json")
    assert [d["status"] for d in fine.json()["deadlines"] if d["deadline_id"] == "aaor.urgence"] == ["prolonge"]


# ---------------------------------------------------------------------- 3. sizes
def big_personal() -> dict[str, str]:
    """20 fields of 4,000 characters of 4 bytes each: every field valid, the whole over the budget."""
    return {f"note_{chr(97 + i)}": "😀" * 4000 for i in range(20)}


async def test_a_command_over_its_byte_budget_is_refused(engine: Engine, case_server: WorkflowEnvironment) -> None:
    code = new_case_code()
    big = engine.write("big.json", {**intake("info_social", received=2 * MIN, first=MIN), "case_code": code,
                                    "personal": big_personal()})
    refused = await engine.run("cases", "open", "--file", big)
    assert refused.code == 2 and len(refused.err.splitlines()) == 1, refused
    assert refused.err.startswith(f"invalid input: {big}: the command is 32")
    assert refused.err.endswith(f" bytes; the limit is {MAX_COMMAND_BYTES:,} bytes (256 KiB)\n")
    await nothing_anywhere(engine, case_server, code)

    opened = await open_case(engine, "ok.json", intake("info_social", received=2 * MIN, first=MIN))
    before = await engine.events(opened)
    refer = engine.write("refer.json", {"type": "refer", "subject_id": "test-personne-0001", "channel": "telephone",
                                        "receiving": {"org_id": "clsc-ouest", "service": "consultation_sociale"},
                                        "personal": big_personal()})
    refused = await engine.run("cases", "act", opened, "--org", CSSS, "--file", refer)
    assert refused.code == 2 and len(refused.err.splitlines()) == 1, refused
    assert refused.err.endswith(f" bytes; the limit is {MAX_COMMAND_BYTES:,} bytes (256 KiB)\n")
    huge = Path(engine.write("huge.json", {"type": "close", "reason": "r"}))
    huge.write_text(json.dumps({"type": "close", "reason": "r", "pad": " " * (2 * 1024 * 1024)}), encoding="utf-8")
    refused = await engine.run("cases", "act", opened, "--org", CSSS, "--file", str(huge))
    assert (refused.code, refused.err) == (2, f"invalid input: {huge} is {huge.stat().st_size:,} bytes; a case "
                                              f"command may not exceed {MAX_COMMAND_BYTES:,} bytes (256 KiB)\n")
    teams = engine.write("teams.json", {"type": "request_mobile", "csss_teams": [
        {"team_id": f"t-{i}", "org_id": CSSS} for i in range(21)]})
    refused = await engine.run("cases", "act", opened, "--org", CSSS, "--file", teams)
    assert refused.code == 2 and refused.err.startswith("invalid input: csss_teams: "), refused
    assert await engine.events(opened) == before


# ---------------------------------------------------------------------- 4. a refused opening leaves nothing
async def test_a_refused_opening_leaves_nothing_behind(engine: Engine, case_server: WorkflowEnvironment,
                                                       task_queue: str, tmp_path: Path, store_env: dict[str, str]
                                                       ) -> None:
    """Update-with-start starts the workflow even when `open` is refused: it used to stay listed, an open case
    with no stage, for an hour. Refused by the record (no entente: the CLI asks the use case first), by the
    opening's own rules (a partner system's client checks them before it starts anything), or as a
    duplicate: no case, no execution left; an existing case is left untouched."""
    code = new_case_code()
    partner = {**intake("partenaire", received=2 * MIN, first=MIN), "case_code": code, "actor_org": "cc-laval"}
    refused = await engine.run("cases", "open", "--file", engine.write("partner.json", partner))
    assert (refused.code, refused.err) == (
        2, "refused [no_agreement]: cc-laval has no entente in force with cisss-laval to refer mobile crisis "
           "interventions in laval (Orientations ministérielles, services sociaux généraux)\n")
    await nothing_anywhere(engine, case_server, code)

    # What a partner system's client meets without the CLI's own check: the workflow's validator refuses.
    settings = Settings(_env_file=None, task_queue=task_queue, data_dir=tmp_path, standards_file=engine.standards_file,
                        **store_settings(store_env))
    early = new_case_code()
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    fields: dict[str, Any] = {**intake("info_social", received=2 * MIN, first=MIN), "by": "i", "case_code": early,
                              "received_at": later, "first_contact_at": later}
    with pytest.raises(DomainError) as info:
        cases = bootstrap(settings, client=case_server.client).case_client
        await cases.open(c.OpenCase.model_validate(fields), 30)
    assert info.value.code == "moment_in_future"
    await nothing_anywhere(engine, case_server, early)

    # A second opening with the code of an open case is refused; the case and its workflow stay.
    first = {**intake("info_social", received=2 * MIN, first=MIN), "case_code": code}
    assert await open_case(engine, "first.json", first) == code
    again = await engine.run("cases", "open", "--file", engine.write("again.json", first))
    assert (again.code, again.err) == (2, f"refused [duplicate_code]: crisis case {code} is already open\n")

    async def still_listed() -> bool:
        return await engine.listed() == [code]
    await eventually(still_listed, "the open case still listed")
    assert await engine.events(code) == ["Opened"]


# ---------------------------------------------------------------------- 5. one spelling of a case code
async def test_a_case_code_typed_in_lower_case_is_the_case(engine: Engine) -> None:
    code = await open_case(engine, "ok.json", intake("info_social", received=2 * MIN, first=MIN))
    shown = (await engine.ok("cases", "show", code.lower(), "--json")).json()
    assert shown["view"]["case_code"] == code
    assert [row["event"] for row in (await engine.ok("cases", "history", f" {code.lower()}", "--json")).json()] == [
        "Opened"]
    closed = await engine.ok("cases", "close", code.lower(), "--org", CSSS, "--reason", "Essai")
    assert closed.out.startswith(f"{code}: ")
    bad = await engine.run("cases", "show", "C-0000000000")
    assert (bad.code, bad.out, bad.err) == (
        2, "", "invalid input: CASE 'C-0000000000': expected C- and 10 letters or digits 2-7 (e.g. C-ABCDEFGH23)\n")
