"""Outbound delivery through the installed CLI (issue 10): `arrimage partners endpoint` registers a partner's
endpoint and prints its signing secret once (refused for a partner not added, or a plain-http URL elsewhere than
this machine); a case whose CSSS team declines asks the crisis centre, whose system (a real loopback server
checking the README's signature) takes the webhook; `cases show` and its JSON list the delivery and its attempt.
On a SQLite file and a PostgreSQL schema (`store_env`, issue 12)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from cli.templates import template
from domain.ententes.model import EntenteKind
from tests.crisis_builders import activate, crisis_content
from tests.e2e.engines import CSSS, case_engine, entente_engine, eventually, intake, new_code, open_case
from tests.e2e.engines import CaseEngine as Engine
from tests.webhook_receiver import receiving
from usecases.ententes import Ententes


@pytest_asyncio.fixture
async def engine(case_server: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                 store_env: dict[str, str]) -> AsyncIterator[Engine]:
    """On each store (issue 12): a SQLite file or a throw-away PostgreSQL schema."""
    async with case_engine(case_server, task_queue, tmp_path, store_env) as engine:
        yield engine


async def test_a_partner_endpoint_registered_by_the_cli_gets_the_handoff_and_cases_show_lists_it(
    engine: Engine, store_env: dict[str, str]
) -> None:
    record = Record(store_env)  # the worker's record
    activate(Ententes(record), "ENT-CC-LAVAL", crisis_content("cc-laval"), datetime.now(UTC) - timedelta(days=1))
    record.close()

    unknown = await engine.run("partners", "endpoint", "cc-laval", "--url", "https://cc.example/hook")
    assert unknown.code == 3 and "no partner cc-laval" in unknown.err
    await engine.ok("partners", "add", "cc-laval", "--name", "Centre de crise de Laval")
    plain = await engine.run("partners", "endpoint", "cc-laval", "--url", "http://cc.example/hook")
    assert plain.code == 2 and "invalid_endpoint" in plain.err
    with receiving() as partner:
        done = await engine.ok("partners", "endpoint", "cc-laval", "--url", partner.url)
        partner.secret = done.out.strip()
        assert partner.secret.startswith("whsec_") and "shown once" in done.err
        again = await engine.ok("partners", "endpoint", "cc-laval", "--url", partner.url, "--json")
        assert again.json()["secret"] is None  # the secret is never shown again (only a rotation makes one)

        code = await open_case(engine, "intake.json", intake("info_social", received=timedelta(minutes=5),
                                                             first=timedelta(minutes=4)))
        await engine.ok("cases", "act", code, "--org", CSSS, "--file", engine.write("mobile.json", {
            "type": "request_mobile", "csss_teams": [{"team_id": "crise-laval-1", "org_id": CSSS}]}))
        await engine.ok("cases", "act", code, "--org", CSSS, "--file", engine.write("decline.json", {
            "type": "decline", "team_id": "crise-laval-1", "reason": "équipe déjà mobilisée"}))

        async def taken() -> bool:
            return len(partner.taken()) == 1
        await eventually(taken, "the crisis centre's system takes the webhook")
    message = partner.taken()[0].message
    assert (message["type"], message["data"]["case_code"], message["data"]["team_id"]) == (
        "handoff.requested", code, "cc-laval")

    shown = (await engine.ok("cases", "show", code, "--json")).json()
    [delivery] = shown["deliveries"]
    assert (delivery["event_id"], delivery["org_id"], delivery["sequence"], delivery["outcome"]) == (
        message["id"], "cc-laval", 1, "delivered")
    assert [(a["attempt"], a["status"], a["outcome"]) for a in delivery["attempts"]] == [(1, 200, "delivered")]
    table = (await engine.ok("cases", "show", code)).out
    assert "Webhooks (1)" in table and "handoff.requested (attempt 2)" in table and "HTTP 200" in table


async def test_an_entente_signature_request_is_listed_by_ententes_show(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, store_env: dict[str, str]
) -> None:
    """`ententes show` and its JSON list the webhooks sent about the entente, as `cases show` does for a case:
    here the signature request to the crisis centre's endpoint when the version is submitted."""
    async with entente_engine(dev_env, task_queue, tmp_path, store_env) as engine:
        cli = replace(engine, prefix=())
        await cli.ok("partners", "add", "cc-laval", "--name", "Centre de crise de Laval")
        with receiving() as partner:
            partner.secret = (await cli.ok("partners", "endpoint", "cc-laval", "--url", partner.url)).out.strip()
            code = new_code()
            await engine.ok("draft", code, "--file", engine.write("service.json", template(EntenteKind.SERVICE)))
            await engine.ok("submit", code)

            async def taken() -> bool:
                return len(partner.taken()) == 1
            await eventually(taken, "the crisis centre's system takes the signature request")

            async def logged() -> bool:  # the attempt is recorded just after the partner answered
                found = (await engine.ok("show", code, "--json")).json()["deliveries"]
                return bool(found) and found[0]["outcome"] == "delivered"
            await eventually(logged, "the delivery is logged")
        message = partner.taken()[0].message
        shown = (await engine.ok("show", code, "--json")).json()
        [delivery] = shown["deliveries"]
        assert (delivery["event_id"], delivery["type"], delivery["org_id"], delivery["outcome"]) == (
            message["id"], "signature.requested", "cc-laval", "delivered")
        table = (await engine.ok("show", code)).out
        assert "Webhooks (1)" in table and "signature.requested (version 1)" in table and "HTTP 200" in table
