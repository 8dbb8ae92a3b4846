"""`arrimage ententes` end to end: the installed command, run as a subprocess, against a real
Temporal dev server and a real worker (in this process), with a real record: a SQLite file or a
PostgreSQL schema (issue 12; SQLITE_ONLY below says which tests stay on SQLite).

The CLI finds the server, the task queue and the record through ARRIMAGE_* variables, as a
supervisor's shell would. No mocks: every refusal comes from the workflow's validators, every
read from the record.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from cli.templates import template
from domain.clock import add_days, local_date, quebec_text, start_of
from domain.ententes.model import EntenteContent, EntenteKind
from tests.e2e.engines import EntenteEngine as Engine
from tests.e2e.engines import entente_engine, new_code

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# The tests whose behaviour touches the record (drafting, acting, history, reads with the engine down, an unknown
# code) run on both stores; these three check the CLI's input, templates and task queue, and stay on SQLite: on
# PostgreSQL the whole file added 77 s (CI=true -n 0), over the ~60 s a file may add.
SQLITE_ONLY = pytest.mark.parametrize("store_env", ["sqlite"], indirect=True)


@pytest_asyncio.fixture
async def engine(dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                 store_env: dict[str, str]) -> AsyncIterator[Engine]:
    """A worker on a fresh task queue and record, on each store (issue 12: a SQLite file or a PostgreSQL schema);
    the CLI pointed at both by environment."""
    async with entente_engine(dev_env, task_queue, tmp_path, store_env) as engine:
        yield engine


async def drafted_and_submitted(engine: Engine, code: str) -> None:
    await engine.ok("draft", code, "--file", engine.write("service.json", template(EntenteKind.SERVICE)))
    await engine.ok("submit", code)


async def wait_for_status(engine: Engine, code: str, status: str) -> dict[str, Any]:
    for _ in range(50):
        view: dict[str, Any] = (await engine.ok("show", code, "--json")).json()["view"]
        if view["status"] == status:
            return view
        await asyncio.sleep(0.2)
    raise AssertionError(f"{code} never reached {status}")


async def test_a_service_agreement_from_draft_to_amendment(engine: Engine) -> None:
    code = new_code()
    content = template(EntenteKind.SERVICE)
    path = engine.write("service.json", content)

    drafted = await engine.run("draft", code, "--file", path, "--by", "marie.tremblay")
    assert (drafted.code, drafted.err) == (0, "")
    assert drafted.out == f"{code}: brouillon\nversion 1 (initiale): rédaction · signed 0/2\n"

    # The last day to sign, two months ahead (a deadline more than a year ahead is implausible).
    last_day = add_days(local_date(datetime.now(UTC)), 60)
    submitted = (await engine.ok("submit", code, "--deadline", last_day.isoformat(), "--json")).json()
    assert submitted["status"] == "en_signature"
    closes = start_of(add_days(last_day, 1))  # midnight in Québec after the last day
    assert submitted["proposal"]["signature_deadline"] == closes.isoformat()  # UTC, with its offset

    first = await engine.ok("sign", code, "--party", "cisss-laval", "--version", "1",
                            "--signatory", "Julie Roy", "--title", "Présidente-directrice générale")
    assert first.out == (
        f"{code}: en signature\n"
        "version 1 (initiale): en signature · signed 1/2 · awaiting cc-laval · "
        f"deadline {quebec_text(closes)}\n"
    )
    last = (await engine.ok("sign", code, "--party", "cc-laval", "--version", "1",
                            "--signatory", "Luc Côté", "--json")).json()
    # The last signature completes version 1; with no effective date it takes effect at once.
    assert last["status"] in {"signee", "en_vigueur"}
    view = await wait_for_status(engine, code, "en_vigueur")
    assert view["in_force_version"] == 1
    assert view["proposal"] is None

    listed = (await engine.ok("list", "--json")).json()
    assert [(v["code"], v["status"], v["in_force_version"]) for v in listed] == [(code, "en_vigueur", 1)]
    table = (await engine.ok("list", "--status", "en_vigueur")).out
    assert code in table and "entente de service" in table and "2/2" in table and view["next_review_due"] in table
    assert "(0)" in (await engine.ok("list", "--status", "brouillon")).out

    shown = (await engine.ok("show", code, "--json")).json()
    assert shown["workflow"]["reachable"] is True
    assert shown["workflow"]["running"] is True
    # The workflow sleeps until the first anniversary: the annual review.
    due = shown["view"]["next_review_due"]
    assert shown["workflow"]["next_wakeup"] == start_of(date.fromisoformat(due)).isoformat()
    text = (await engine.ok("show", code)).out
    assert "en vigueur" in text and "Julie Roy" not in text  # no open proposal: parties "signed version 1"
    wakeup = quebec_text(start_of(date.fromisoformat(due)))
    assert "signed version 1" in text and f"running · next wake-up {wakeup}" in text

    history = (await engine.ok("history", code, "--json")).json()
    assert [h["event"] for h in history] == ["Drafted", "SubmittedForSignature", "Signed", "Signed", "Activated"]
    assert [h["seq"] for h in history] == [1, 2, 3, 4, 5]
    assert history[0]["by"] == "marie.tremblay" and history[1]["by"] == "superviseure"
    assert history[2]["signatory"] == "Julie Roy"
    assert "Activated" in (await engine.ok("history", code)).out

    review = await engine.run("review", code, "--outcome", "maintenir")
    assert review.code == 2
    assert review.err.startswith(f"refused [review_not_due]: the next review of entente {code} is due on {due}")

    amended = dict(content)
    amended["services"] = [dict(content["services"][0], annual_volume=1500), content["services"][1]]
    proposed = await engine.run("amend", code, "--file", engine.write("v2.json", amended),
                                "--reason", "Volume annuel revu par le comité de suivi")
    assert proposed.code == 0, proposed
    assert proposed.out.splitlines()[:2] == [
        f"{code}: en vigueur · version 1 in force since {view['activated_on']}",
        "version 2 (modification): rédaction · signed 0/2",
    ]

    changes = (await engine.ok("diff", code, "1", "2", "--json")).json()
    assert changes == [
        {"path": "services[0].annual_volume", "before": 1200, "after": 1500, "kind": "changed"}
    ]
    assert "services[0].annual_volume" in (await engine.ok("diff", code, "1", "2")).out
    v2 = (await engine.ok("show", code, "--version", "2", "--json")).json()
    assert EntenteContent.model_validate(v2).services[0].annual_volume == 1500
    assert (await engine.events(code))[-1] == "AmendmentProposed"


async def test_refused_commands_exit_2_with_their_code_and_record_nothing(engine: Engine) -> None:
    code = new_code()
    await drafted_and_submitted(engine, code)
    before = (await engine.ok("history", code, "--json")).json()

    not_a_party = await engine.run("sign", code, "--party", "cps-laval", "--version", "1", "--signatory", "X")
    assert (not_a_party.code, not_a_party.out) == (2, "")
    assert not_a_party.err == (
        f"refused [not_a_party]: cps-laval is not a party to entente {code} (parties: cisss-laval, cc-laval)\n"
    )
    assert (await engine.ok("history", code, "--json")).json() == before

    # Version 2 replaces version 1 before anyone signs: signing version 1 is refused.
    await engine.ok("revise", code, "--file", engine.write("v2.json", template(EntenteKind.SERVICE) | {
        "title": "Intervention de crise dans le milieu — Laval (révisée)"}), "--reason", "Titre")
    await engine.ok("submit", code)
    before = (await engine.ok("history", code, "--json")).json()
    superseded = await engine.run("sign", code, "--party", "cisss-laval", "--version", "1", "--signatory", "X")
    assert superseded.code == 2
    assert superseded.err == (
        f"refused [superseded_version]: version 1 of entente {code} is superseded: version 2 is the one to sign\n"
    )
    duplicate = await engine.run("draft", code, "--file", engine.write("s.json", template(EntenteKind.SERVICE)))
    assert (duplicate.code, duplicate.err) == (2, f"refused [duplicate_code]: entente {code} already exists\n")
    not_in_force = await engine.run("revoke", code, "--party", "cc-laval", "--effective", "2099-01-01",
                                    "--reason", "Fin du financement")
    assert not_in_force.code == 2 and not_in_force.err.startswith("refused [not_in_force]: ")
    assert (await engine.ok("history", code, "--json")).json() == before


@SQLITE_ONLY
async def test_malformed_input_exits_2_and_sends_nothing(engine: Engine) -> None:
    code = new_code()
    bad_json = engine.workdir / "broken.json"
    bad_json.write_text('{"title": "x",', encoding="utf-8")
    broken = await engine.run("draft", code, "--file", str(bad_json))
    assert broken.code == 2
    assert broken.err == (
        f"not valid JSON: {bad_json} line 1 column 15: Expecting property name enclosed in double quotes\n")

    content = template(EntenteKind.SERVICE)
    content["parties"] = content["parties"][:1]
    content["information_sharing"] = {"permitted": True}
    invalid = await engine.run("draft", code, "--file", engine.write("invalid.json", content))
    assert invalid.code == 2
    assert invalid.err == (
        "invalid input: parties: at least 2 items needed, 1 given\n"
        "invalid input: information_sharing: information sharing that is permitted must name its purposes and the "
        "security measures for the transfer (section 7)\n"
    )
    missing = await engine.run("draft", code, "--file", "nowhere.json")
    assert (missing.code, missing.err) == (2, "no such file: nowhere.json\n")
    ok_file = engine.write("ok.json", template(EntenteKind.SERVICE))
    bad_code = await engine.run("draft", "bad code!", "--file", ok_file)
    assert (bad_code.code, bad_code.err) == (
        2, "invalid input: CODE 'bad code!': expected letters, digits, '.', '_' or '-' (e.g. ENT-LAV-2026-01)\n")
    assert (await engine.run("history", code)).code == 3  # nothing was drafted

    await drafted_and_submitted(engine, code)
    before = await engine.events(code)
    options = await engine.run("sign", code, "--party", "cc-laval", "--version", "0", "--signatory", " ")
    assert options.code == 2
    assert options.err == (
        "invalid input: --version: expected at least 1\n"
        "invalid input: --signatory: must not be empty\n"
    )
    both = await engine.run("renew", code, "--until", "2099-01-01", "--no-end", "--reason", "r")
    assert (both.code, both.err) == (2, "invalid input: give exactly one of --until DATE or --no-end\n")
    bad_date = await engine.run("revoke", code, "--party", "cc-laval", "--effective", "31/12/2099", "--reason", "r")
    assert (bad_date.code, bad_date.err) == (
        2, "invalid input: --effective: not a date: expected ISO 8601, e.g. 2026-12-01\n")
    assert await engine.events(code) == before


async def test_unknown_code_exits_3(engine: Engine) -> None:
    for args in (["show", "ENT-INCONNUE"], ["history", "ENT-INCONNUE"], ["diff", "ENT-INCONNUE", "1", "2"],
                 ["sign", "ENT-INCONNUE", "--party", "p", "--version", "1", "--signatory", "X"]):
        result = await engine.run(*args)
        assert (result.code, result.out, result.err) == (3, "", "not found: no entente with code ENT-INCONNUE\n")
    code = new_code()
    await drafted_and_submitted(engine, code)
    no_version = await engine.run("diff", code, "1", "7")
    assert (no_version.code, no_version.err) == (3, f"not found: entente {code} has no version 7 (latest: 1)\n")
    assert (await engine.run("show", code, "--version", "7")).code == 3


async def test_engine_down_commands_exit_4_and_reads_still_work(engine: Engine) -> None:
    code = new_code()
    await drafted_and_submitted(engine, code)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    down = {"ARRIMAGE_TEMPORAL_ADDRESS": closed}
    sign = await engine.run("sign", code, "--party", "cc-laval", "--version", "1", "--signatory", "X", **down)
    assert sign.code == 4
    assert sign.err == (
        f"unreachable: Temporal does not answer at {closed} (Connection refused): start the engine with "
        "`arrimage up` or check ARRIMAGE_TEMPORAL_ADDRESS\n"
    )
    shown = await engine.run("show", code, "--json", **down)
    assert shown.code == 0
    assert shown.json()["view"]["status"] == "en_signature"
    assert shown.json()["workflow"] == {
        "reachable": False, "running": None, "next_wakeup": None, "event_count": None,
        "error": f"Temporal does not answer at {closed} (Connection refused)",
    }
    assert "shown from the record only" in (await engine.run("show", code, **down)).out
    assert (await engine.run("list", "--json", **down)).code == 0


@SQLITE_ONLY
async def test_templates_and_examples_are_valid_and_draftable(engine: Engine) -> None:
    for kind in EntenteKind:
        printed = (await engine.ok("template", "--kind", kind.value)).json()
        assert printed == template(kind)
        assert EntenteContent.model_validate(printed).kind is kind
    service = json.loads((EXAMPLES / "entente-service-crise-laval.json").read_text(encoding="utf-8"))
    cadre = json.loads((EXAMPLES / "entente-cadre-laval.json").read_text(encoding="utf-8"))
    assert (service, cadre) == (template(EntenteKind.SERVICE), template(EntenteKind.CADRE))
    parsed = EntenteContent.model_validate(service)
    assert [p.name for p in parsed.parties] == ["CISSS de Laval", "Centre de crise de Laval"]
    assert parsed.services[0].hours == "24/7" and parsed.information_sharing.permitted
    assert parsed.information_sharing.security_measures
    assert len(EntenteContent.model_validate(cadre).parties) == 3

    code = new_code()
    toml = engine.workdir / "collaboration.toml"
    toml.write_text(
        'title = "Collaboration Info-Social — ligne d\'écoute"\nkind = "entente_collaboration"\n'
        '[[parties]]\nparty_id = "cisss-laval"\nname = "CISSS de Laval"\ntype = "cisss"\n'
        '[[parties]]\nparty_id = "ecoute-laval"\nname = "Ligne d\'écoute de Laval"\ntype = "centre_ecoute"\n'
        '[object]\nnature = "Référence réciproque"\n',
        encoding="utf-8",
    )
    drafted = (await engine.ok("draft", code, "--file", str(toml), "--json")).json()
    assert (drafted["kind"], drafted["status"]) == ("entente_collaboration", "brouillon")
    cadre_code = new_code()
    await engine.ok("draft", cadre_code, "--file", str(EXAMPLES / "entente-cadre-laval.json"))
    await engine.ok("submit", cadre_code)
    for party in ("cisss-laval", "cc-laval"):
        await engine.ok("sign", cadre_code, "--party", party, "--version", "1", "--signatory", "S")
    show = (await engine.ok("show", cadre_code)).out
    assert "awaiting" in show and "signatures of version 1 (initiale, en signature" in " ".join(show.split())
    listed = {v["code"]: v for v in (await engine.ok("list", "--json")).json()}
    assert listed[cadre_code]["status"] == "en_signature"
    assert len(listed[cadre_code]["proposal"]["signatures"]) == 2


@SQLITE_ONLY
async def test_no_worker_on_the_queue_exits_4_after_the_timeout(engine: Engine) -> None:
    idle = {"ARRIMAGE_TASK_QUEUE": f"idle-{uuid.uuid4().hex[:8]}"}  # no worker polls it
    path = engine.write("service.json", template(EntenteKind.SERVICE))
    code = new_code()
    result = await engine.run("draft", code, "--file", path, "--timeout", "2", **idle)
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        f"unreachable: no worker completed the command within 2 s: is a worker running on task queue "
        f"{idle['ARRIMAGE_TASK_QUEUE']}? Nothing is recorded unless `arrimage ententes show {code}` shows it\n"
    )
