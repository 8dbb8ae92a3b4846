"""Rotating a partner's webhook secret through the installed CLI (issue 10): `arrimage partners rotate-secret`
prints the new secret once and says until when the old one still signs; an overlap outside 0-90 days, or a
partner without an endpoint, is refused and changes nothing; during the overlap the crisis centre's system
(a loopback server running the README's check with the secret it had) takes the handoff's webhook, which
verifies with the new secret too. On a SQLite file and a PostgreSQL schema (`store_env`, issue 12)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from tests.crisis_builders import activate, crisis_content
from tests.e2e.engines import CSSS, case_engine, eventually, intake, open_case
from tests.e2e.engines import CaseEngine as Engine
from tests.webhook_receiver import readme_verify, receiving
from usecases.ententes import Ententes


@pytest_asyncio.fixture
async def engine(case_server: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                 store_env: dict[str, str]) -> AsyncIterator[Engine]:
    """On each store (issue 12): a SQLite file or a throw-away PostgreSQL schema."""
    async with case_engine(case_server, task_queue, tmp_path, store_env) as engine:
        yield engine


async def test_a_secret_rotated_with_an_overlap_keeps_the_partner_taking_deliveries_with_either_secret(
    engine: Engine, store_env: dict[str, str]
) -> None:
    record = Record(store_env)  # the worker's record
    activate(Ententes(record), "ENT-CC-LAVAL", crisis_content("cc-laval"), datetime.now(UTC) - timedelta(days=1))
    record.close()
    await engine.ok("partners", "add", "cc-laval", "--name", "Centre de crise de Laval")
    none = await engine.run("partners", "rotate-secret", "cc-laval", "--overlap", "7d")
    assert none.code == 3 and "no endpoint" in none.err
    with receiving() as partner:
        first = (await engine.ok("partners", "endpoint", "cc-laval", "--url", partner.url, "--json")).json()
        partner.secret = first["secret"]
        too_long = await engine.run("partners", "rotate-secret", "cc-laval", "--overlap", "91d")
        assert too_long.code == 2 and "invalid_overlap" in too_long.err
        unchanged = (await engine.ok("partners", "endpoint", "cc-laval", "--url", partner.url, "--json")).json()
        assert unchanged == {"endpoint": first["endpoint"], "secret": None}  # nothing recorded

        before = datetime.now(UTC)
        rotated = await engine.ok("partners", "rotate-secret", "cc-laval", "--overlap", "7d")
        new = rotated.out.strip()
        assert new.startswith("whsec_") and new != partner.secret and "shown once" in rotated.err
        assert f"secret {first['endpoint']['secret_id']} also signs until" in rotated.err
        shown = (await engine.ok("partners", "endpoint", "cc-laval", "--url", partner.url, "--json")).json()
        view = shown["endpoint"]
        assert shown["secret"] is None and view["previous_secret_id"] == first["endpoint"]["secret_id"]
        until = datetime.fromisoformat(view["previous_until"])
        assert before + timedelta(days=7) <= until <= datetime.now(UTC) + timedelta(days=7)

        code = await open_case(engine, "intake.json", intake("info_social", received=timedelta(minutes=5),
                                                             first=timedelta(minutes=4)))
        await engine.ok("cases", "act", code, "--org", CSSS, "--file", engine.write("mobile.json", {
            "type": "request_mobile", "csss_teams": [{"team_id": "crise-laval-1", "org_id": CSSS}]}))
        await engine.ok("cases", "act", code, "--org", CSSS, "--file", engine.write("decline.json", {
            "type": "decline", "team_id": "crise-laval-1", "reason": "équipe déjà mobilisée"}))

        async def taken() -> bool:
            return len(partner.taken()) == 1
        await eventually(taken, "the crisis centre's system takes the webhook with the secret it had")
    [delivery] = partner.got
    assert delivery.headers["Arrimage-Signature"].count("v1=") == 2
    assert readme_verify()(new, delivery.headers, delivery.body, set()) == "ok"  # once it swaps its copy
    shown_case = (await engine.ok("cases", "show", code, "--json")).json()
    assert [(d["type"], d["outcome"]) for d in shown_case["deliveries"]] == [("handoff.requested", "delivered")]
