"""Issue 7 through `arrimage ententes`, as a supervisor meets it: oversized documents, escape
sequences, implausible deadlines and codes in another case. The installed CLI runs as a subprocess
against a real Temporal dev server and a real worker, with a real record (a SQLite file or a PostgreSQL
schema, issue 12).

Every refusal exits 2 with its message on stderr, and leaves no workflow and no event behind.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from cli.templates import template
from domain.clock import add_days, local_date
from domain.ententes.model import EntenteKind
from domain.values import MAX_COMMAND_BYTES
from tests.e2e.engines import EntenteEngine, entente_engine
from workflows.entente import workflow_id

pytestmark = pytest.mark.slow


@dataclass
class Engine(EntenteEngine):
    """The ententes' CLI engine, plus the Temporal server it talks to: to see that nothing reached it."""

    client: object = None

    async def no_workflow(self, code: str) -> None:
        """Nothing was sent to Temporal: no workflow for this entente."""
        env = self.client
        assert isinstance(env, WorkflowEnvironment)
        with pytest.raises(RPCError) as err:
            await env.client.get_workflow_handle(workflow_id(code)).describe()
        assert err.value.status == RPCStatusCode.NOT_FOUND

    async def nothing_recorded(self, code: str) -> None:
        await self.no_workflow(code)
        missing = await self.run("history", code)
        assert (missing.code, missing.err) == (3, f"not found: no entente with code {code}\n")
        assert (await self.ok("list", "--json")).json() == []


@pytest_asyncio.fixture
async def engine(dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                 store_env: dict[str, str]) -> AsyncIterator[Engine]:
    """On each store (issue 12): a SQLite file or a throw-away PostgreSQL schema."""
    async with entente_engine(dev_env, task_queue, tmp_path, store_env) as base:
        yield Engine(env=base.env, workdir=base.workdir, client=dev_env)


def new_code() -> str:
    return f"ENT-LAV-{uuid.uuid4().hex[:8].upper()}"


async def test_an_oversized_draft_is_refused_before_anything_is_recorded(engine: Engine) -> None:
    """A 1.5 MB content file (400 annexes) was recorded, and then every later command on the entente
    failed at Temporal's payload limit. It is refused in one line naming the limit: exit 2, no
    workflow, no event."""
    code = new_code()
    content = template(EntenteKind.SERVICE)
    content["annexes"] = [{"title": f"Annexe {i}", "text": "Protocole détaillé. " * 190} for i in range(400)]
    path = engine.write("big.json", content)
    size = Path(path).stat().st_size
    assert size > 1_400_000
    refused = await engine.run("draft", code, "--file", path)
    assert refused.code == 2, refused
    assert refused.err == (
        f"invalid input: {path} is {size:,} bytes; an entente command may not exceed "
        f"{MAX_COMMAND_BYTES:,} bytes (256 KiB)\n"
    )
    assert refused.out == ""
    await engine.nothing_recorded(code)


async def test_a_draft_just_under_the_file_limit_but_over_the_list_bounds_is_refused(engine: Engine) -> None:
    """Under the byte budget, the lists of a version are still bounded (30 annexes): refused in one line."""
    code = new_code()
    content = template(EntenteKind.SERVICE)
    content["annexes"] = [{"title": f"Annexe {i}", "text": "Protocole."} for i in range(31)]
    path = engine.write("annexes.json", content)
    refused = await engine.run("draft", code, "--file", path)
    assert refused.code == 2, refused
    assert refused.err == "invalid input: annexes: at most 30 items allowed, 31 given\n"
    await engine.nothing_recorded(code)


async def test_a_title_with_a_terminal_escape_sequence_is_refused(engine: Engine) -> None:
    """`\\x1b[2J` in a title would clear a supervisor's screen in every table that shows it: refused,
    without echoing it, and nothing recorded. The same for a signatory or `--by`."""
    code = new_code()
    content = template(EntenteKind.SERVICE)
    content["title"] = "Entente\x1b[2J de Laval"
    path = engine.write("escape.json", content)
    refused = await engine.run("draft", code, "--file", path)
    assert refused.code == 2, refused
    assert refused.err == "invalid input: title: a name or title may not contain control characters (found U+001B)\n"
    assert "\x1b" not in refused.err + refused.out
    await engine.nothing_recorded(code)

    await engine.ok("draft", code, "--file", engine.write("ok.json", template(EntenteKind.SERVICE)))
    await engine.ok("submit", code)
    for option, value in (("--signatory", "Luc\x1b[2J"), ("--by", "luc\x1b]0;pwned\x07")):
        args = ["sign", code, "--party", "cc-laval", "--version", "1", "--signatory", "Luc Côté", option, value]
        bad = await engine.run(*args)
        assert bad.code == 2, bad
        assert bad.err == (
            f"invalid input: {option}: a name or title may not contain control characters (found U+001B)\n"
        )
        assert "\x1b" not in bad.out
    assert await engine.events(code) == ["Drafted", "SubmittedForSignature"]


async def test_an_entente_code_is_the_same_in_any_case(engine: Engine) -> None:
    """`ent-lav-…` and `ENT-LAV-…` are one entente: drafted in lower case, it is recorded upper-case,
    and every verb finds it in either case; party ids are lower-case whatever was typed."""
    code = new_code()
    lower = code.lower()
    drafted = await engine.ok("draft", lower, "--file", engine.write("s.json", template(EntenteKind.SERVICE)))
    assert drafted.out.startswith(f"{code}: brouillon\n")
    shown = (await engine.ok("show", lower, "--json")).json()
    assert shown["view"]["code"] == code and shown["workflow"]["running"] is True
    assert await engine.events(lower) == ["Drafted"]
    await engine.ok("submit", f" {lower} ")
    signed = (await engine.ok("sign", lower, "--party", "CC-Laval", "--version", "1", "--signatory", "Luc Côté",
                              "--json")).json()
    assert [s["party_id"] for s in signed["proposal"]["signatures"]] == ["cc-laval"]
    again = await engine.run("draft", code, "--file", engine.write("s.json", template(EntenteKind.SERVICE)))
    assert again.code == 2 and again.err.startswith("refused [duplicate_code]: "), again
    assert [v["code"] for v in (await engine.ok("list", "--json")).json()] == [code]
    assert await engine.events(code) == ["Drafted", "SubmittedForSignature", "Signed"]

    malformed = await engine.run("show", "ent lav/01")
    assert (malformed.code, malformed.err) == (
        2, "invalid input: CODE 'ent lav/01': expected letters, digits, '.', '_' or '-' (e.g. ENT-LAV-2026-01)\n"
    )


async def test_an_implausible_signature_deadline_is_refused(engine: Engine) -> None:
    """A deadline two years ahead is a typing error (`date_implausible`, the policy allows 365 days);
    a date before 2000 is refused as malformed. Nothing is recorded."""
    code = new_code()
    await engine.ok("draft", code, "--file", engine.write("s.json", template(EntenteKind.SERVICE)))
    far = add_days(local_date(datetime.now(UTC)), 730).isoformat()
    refused = await engine.run("submit", code, "--deadline", far)
    assert refused.code == 2, refused
    assert refused.err.startswith("refused [date_implausible]: the signature deadline "), refused.err
    assert refused.err.endswith("is more than 365 days ahead (the policy's maximum signature period)\n")
    ancient = await engine.run("submit", code, "--deadline", "1999-12-30")
    assert ancient.code == 2, ancient
    assert "is not a plausible moment (expected 2000–2099)" in ancient.err
    assert await engine.events(code) == ["Drafted"]
    assert json.loads((await engine.ok("show", code, "--json")).out)["view"]["status"] == "brouillon"
