"""`/v1/ententes` (issue 10): an entente drafted, submitted and signed by each of its parties through the
gateway until it is in force, on the entente's workflow (the production worker, a real Temporal and record);
a party reads it and the read is registered in the entente's reads log (`EntenteReads`, as `arrimage audit
replay` registers one); a non-party neither reads nor acts, a party signs for itself only, and a role that
does not read ententes is refused with its refusal registered. Event counts before and after each refusal."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from domain.disclosure.model import Outcome
from domain.disclosure.roles import Role
from domain.ententes.state import EntenteStatus
from tests.crisis_builders import CSSS, crisis_content, crisis_worker
from tests.gateway.api import OTHER, PARTNER, Api, events, gateway, problem

PROVIDER = "cc-laval"


@pytest.fixture
async def api(visible_env: WorkflowEnvironment, task_queue: str, record: Record, store_env: dict[str, str],
              tmp_path: Path) -> AsyncIterator[Api]:
    async with crisis_worker(visible_env.client, task_queue, record, tmp_path), \
            gateway(visible_env.client, task_queue, store_env, tmp_path) as opened:
        now = datetime.now(UTC)
        principals = opened.root.principals
        opened.keys[PROVIDER] = principals.add_partner(PROVIDER, "Centre de crise de Laval", by="t", at=now).key
        opened.keys["dsp"] = principals.add_user("dsp", CSSS, Role.SUPERVISOR, by="t", at=now).key
        opened.keys["chercheur"] = principals.add_user("chercheur", CSSS, Role.RESEARCHER, by="t", at=now).key
        yield opened


def fresh_code() -> str:
    """Entente workflows are named by code on a dev server shared by the module's tests."""
    return f"ENT-GW-{uuid.uuid4().hex[:10].upper()}"


def draft_body(code: str, territory: str = "laval") -> dict[str, Any]:
    content = crisis_content(PROVIDER, may_refer=[PARTNER], territory=territory)
    return {"code": code, "content": content.model_dump(mode="json")}


async def command(api: Api, code: str, who: str, body: dict[str, Any]) -> dict[str, Any]:
    done = await api.post(f"/v1/ententes/{code}/commands", who, body)
    assert done.status_code == 200, done.text
    answer: dict[str, Any] = done.json()
    return answer


async def in_force(api: Api, code: str, within: float = 30.0) -> None:
    """Poll the record until the workflow has recorded the activation (bounded in real time; the bound is a
    failure, never an assertion about speed), as `crisis_builders.wait_for` does for a case."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while api.root.ententes.view(code).status is not EntenteStatus.ACTIVE:
        if loop.time() > deadline:
            pytest.fail(f"{code} never came into force: {api.root.ententes.view(code).status}")
        await asyncio.sleep(0.05)


async def test_an_entente_drafted_submitted_and_signed_by_each_party_comes_into_force(api: Api) -> None:
    code = fresh_code()
    drafted = await api.post("/v1/ententes", "dsp", draft_body(code))
    assert drafted.status_code == 201, drafted.text
    assert (drafted.json()["code"], drafted.json()["status"]) == (code, "brouillon")
    assert (await command(api, code, "dsp", {"type": "submit"}))["status"] == "en_signature"
    signed = [await command(api, code, who, {"type": "sign", "version": 1, "signatory": f"D.G. {who}"})
              for who in ("dsp", PROVIDER, PARTNER)]  # party_id: the principal's organisation
    assert [s["status"] for s in signed] == ["en_signature", "en_signature", "signee"]
    await in_force(api, code)  # the workflow's calendar activates it at the last signature
    assert [(g["party_id"], g["signatory"]) for g in signed[-1]["proposal"]["signatures"]] == [
        (CSSS, "D.G. dsp"), (PROVIDER, f"D.G. {PROVIDER}"), (PARTNER, f"D.G. {PARTNER}")]
    history = [(h["event"], h.get("by")) for h in api.root.ententes.history(code)]
    assert history[:3] == [("Drafted", "dsp"), ("SubmittedForSignature", "dsp"), ("Signed", "dsp")]
    assert ("Signed", PROVIDER) in history and ("Signed", PARTNER) in history and history[-1][0] == "Activated"

    # a party reads it: answered and registered in the entente's reads log, with the reader's role
    read = await api.get(f"/v1/ententes/{code.lower()}", PARTNER)
    assert read.status_code == 200, read.text
    assert (read.json()["entente"]["status"], read.json()["access"]["outcome"]) == ("en_vigueur", "autorise")
    registered = api.root.replays.entente_reads(actor_id=PARTNER)
    assert [(r.read_id, r.code, r.role, r.outcome) for r in registered] == [
        (read.json()["access"]["access_id"], code, Role.PARTNER_ORG, Outcome.ALLOWED)]


async def test_only_a_party_reads_or_acts_and_each_for_itself(api: Api) -> None:
    record = api.root.record
    code = fresh_code()
    assert (await api.post("/v1/ententes", "dsp", draft_body(code))).status_code == 201
    await command(api, code, "dsp", {"type": "submit"})
    before = events(record)
    problem(await api.get(f"/v1/ententes/{code}", OTHER), 403, "not_a_party")
    problem(await api.post(f"/v1/ententes/{code}/commands", OTHER,
                           {"type": "sign", "version": 1, "signatory": "X"}), 403, "not_a_party")
    # a party signs for itself only
    problem(await api.post(f"/v1/ententes/{code}/commands", PARTNER,
                           {"type": "sign", "party_id": PROVIDER, "version": 1, "signatory": "X"}), 403, "not_a_party")
    # a draft of which the principal's organisation is no party
    problem(await api.post("/v1/ententes", OTHER, draft_body(fresh_code())), 403, "not_a_party")
    # the same code for another text, and a command out of turn: the entente's own rules
    problem(await api.post("/v1/ententes", "dsp", draft_body(code, territory="laval-ouest")), 409, "duplicate_code")
    out_of_turn = problem(await api.post(f"/v1/ententes/{code}/commands", PARTNER,
                                         {"type": "review", "outcome": "maintenir"}), 409)
    assert out_of_turn["code"] not in (None, "refused")
    problem(await api.get("/v1/ententes/ENT-NOWHERE-1", PARTNER), 404, "not_found")
    problem(await api.get("/v1/ententes/not a code", PARTNER), 422)
    assert events(record) == before
    # a role that does not read ententes: refused, and the refusal is registered (a refused read)
    refused = problem(await api.get(f"/v1/ententes/{code}", "chercheur"), 403, "not_an_entente_reader")
    assert "chercheur" in refused["detail"]
    assert [(r.actor_id, r.outcome) for r in api.root.replays.entente_reads(actor_id="chercheur")] == [
        ("chercheur", Outcome.REFUSED)]
    assert events(record) == before + 2  # the entente's reads log, opened, and the refusal
