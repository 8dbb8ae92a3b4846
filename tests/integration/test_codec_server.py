"""The codec server for Temporal's UI (`arrimage codec-server`, issue 12): real payloads of a crisis case's history
(read from the dev server, as the UI gets them: encoded with the person's key by the production worker and the
gateway's case client) and of an entente's workflow (encoded by the root's codec for that workflow), decoded only
for who the rules allow, every decode registered before the answer; refused, the payload comes back exactly as
sent; no token 401; bad input 4xx; neither registers anything. Real record (SQLite, PostgreSQL), dev server."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from adapters.temporal.codec import WORKFLOW_ID
from domain.audit.payload_reads import PAYLOAD_ITEM
from domain.audit.record_reads import ReadKind
from domain.disclosure.model import AccessAuthorisation, Decision
from domain.errors import NotFound
from gateway.codec_server import MAX_PAYLOADS, NOTE, create_codec_app
from tests.crisis_builders import crisis_content, crisis_worker
from tests.gateway.api import ENTENTE, OTHER, PARTNER, Api, events, gateway, intake, problem, recorded_since

PERSON = intake()["subject_id"]
UI = "http://localhost:8233"


@pytest.fixture
async def api(visible_env: WorkflowEnvironment, task_queue: str, record: Record, store_env: dict[str, str],
              tmp_path: Path) -> AsyncIterator[Api]:
    async with crisis_worker(visible_env.client, task_queue, record, tmp_path), \
            gateway(visible_env.client, task_queue, store_env, tmp_path,
                    entente=crisis_content("cc-laval", may_refer=[PARTNER])) as opened:
        yield opened


@pytest.fixture
async def codec(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_codec_app(api.root, [UI]))
    async with httpx.AsyncClient(transport=transport, base_url="http://codec") as http:
        yield http


def as_json(p: Payload) -> dict[str, Any]:
    return {"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
            "data": base64.b64encode(p.data).decode()}


def from_json(d: dict[str, Any]) -> Payload:
    return Payload(metadata={k: base64.b64decode(v) for k, v in d["metadata"].items()},
                   data=base64.b64decode(d["data"]))


async def decode(codec: httpx.AsyncClient, api: Api, who: str | None, payloads: list[Payload]) -> httpx.Response:
    headers = {"X-Namespace": "default", "Origin": UI, **api.headers(who)}
    return await codec.post("/decode", json={"payloads": [as_json(p) for p in payloads]}, headers=headers)


async def case_payloads(api: Api, env: WorkflowEnvironment) -> tuple[str, list[Payload]]:
    """A case opened through the gateway by PARTNER; its history's payloads as the dev server keeps them."""
    done = await api.post("/v1/cases", PARTNER, intake())
    assert done.status_code == 201, done.text
    code = str(done.json()["case_code"])
    found: list[Payload] = []
    async for ev in env.client.get_workflow_handle(f"case-{code}").fetch_history_events():
        found.extend(ev.workflow_execution_started_event_attributes.input.payloads)
        found.extend(ev.activity_task_scheduled_event_attributes.input.payloads)
        found.extend(ev.activity_task_completed_event_attributes.result.payloads)
    assert found and all(p.metadata[WORKFLOW_ID] == f"case-{code}".encode() for p in found)
    return code, found


def accesses(api: Api) -> list[Decision]:
    """The person's register's access decisions (none before the first)."""
    try:
        return api.root.disclosures.accesses(subject_id=PERSON)
    except NotFound:
        return []


def authorise(api: Api, who: str) -> None:
    now = datetime.now(UTC)
    api.root.principals.authorise(who, AccessAuthorisation(
        holder_id=who, granted_by="dsp", valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=30),
        training_current_until=date.today() + timedelta(days=180), discretion_undertaking_signed=True),
        by="admin", at=now)


async def test_a_case_history_decodes_for_an_authorised_intervenant_of_its_cisss_and_nobody_else(
        api: Api, codec: httpx.AsyncClient, visible_env: WorkflowEnvironment) -> None:
    """The person's file decoded is an access decided by the disclosure rules and entered in the person's register
    before the answer (R-22.1 r. 1 s. 8: an intervenant with an active authorisation; an auditor reads audit
    metadata only, disclosure-law 3.1 R3); a partner of the case (not its CISSS) gets nothing decoded, logged in
    the record-level reads log; refused, the payload comes back exactly as sent."""
    code, payloads = await case_payloads(api, visible_env)
    record = api.root.record

    # no authorisation registered yet: refused by the rules, the refusal in the register, the payloads unchanged
    before, known = events(record), len(accesses(api))
    got = await decode(codec, api, "intervenante", payloads)
    assert got.status_code == 200, got.text
    assert got.headers["access-control-allow-origin"] == UI
    assert [from_json(p) for p in got.json()["payloads"]] == payloads
    (refused,) = accesses(api)[known:]
    assert (refused.actor_id, refused.outcome.value, refused.requested) == ("intervenante", "refuse", [PAYLOAD_ITEM])
    assert "DisclosureRegister.RefusalIssued" in {t.rsplit(":", 1)[-1] for t in recorded_since(record, before)}

    # the auditor: refused (content, not metadata), registered too
    got = await decode(codec, api, "auditrice", payloads)
    assert [from_json(p) for p in got.json()["payloads"]] == payloads
    assert [(a.actor_id, a.outcome.value) for a in accesses(api)[known + 1:]] == [
        ("auditrice", "refuse")]

    # authorised: decoded (the pydantic JSON of the workflow's input), the access registered before the answer
    authorise(api, "intervenante")
    before = events(record)
    got = await decode(codec, api, "intervenante", payloads)
    clear = [from_json(p) for p in got.json()["payloads"]]
    assert all(p.metadata["encoding"] == b"json/plain" for p in clear), clear[0].metadata
    assert any(code.encode() in p.data for p in clear)
    allowed = accesses(api)[-1]
    assert (allowed.actor_id, allowed.outcome.value, allowed.allowed) == ("intervenante", "autorise", [PAYLOAD_ITEM])
    assert [t.rsplit(":", 1)[-1] for t in recorded_since(record, before)] == ["DisclosureRegister.AccessDecided"]

    # the partner that opened the case: not its CISSS, nothing decoded, logged across persons (no decision)
    count = len(accesses(api))
    got = await decode(codec, api, PARTNER, payloads)
    assert [from_json(p) for p in got.json()["payloads"]] == payloads
    assert len(accesses(api)) == count
    (logged,) = [r for r in api.root.reads.record_reads(actor_id=PARTNER) if r.kind is ReadKind.WORKFLOW_PAYLOADS]
    assert (logged.outcome.value, logged.scope["workflow"], logged.scope["payloads"]) == (
        "refuse", f"case-{code}", str(len(payloads)))

    # the person's key destroyed (as `audit shred` does): stays encoded with a note, nothing registered
    record.subject_keys.destroy(PERSON, datetime.now(UTC).isoformat())
    before = events(record)
    got = await decode(codec, api, "intervenante", payloads[:1])
    (kept,) = [from_json(p) for p in got.json()["payloads"]]
    assert kept.data == payloads[0].data and kept.metadata[NOTE].startswith(b"erased: the person's key was destroyed")
    assert events(record) == before


async def test_an_entente_payload_decodes_for_its_parties_readers_logged_across_persons(
        api: Api, codec: httpx.AsyncClient) -> None:
    """Ententes carry no personal information (replay.ENTENTE_READERS, auditors included) but only their parties
    see them decoded; each decode, allowed or refused, is one entry of the record-level reads log."""
    clear = Payload(metadata={"encoding": b"json/plain"}, data=b'{"code": "%s"}' % ENTENTE.encode())
    (sealed,) = await api.root.payload_codec.for_workflow(f"entente-{ENTENTE}").encode([clear])
    got = await decode(codec, api, "auditrice", [sealed])
    assert [from_json(p) for p in got.json()["payloads"]] == [clear]
    got = await decode(codec, api, OTHER, [sealed])  # not a party
    assert [from_json(p) for p in got.json()["payloads"]] == [sealed]
    logged = [(r.actor_id, r.outcome.value, r.scope["workflow"]) for r in api.root.reads.record_reads()
              if r.kind is ReadKind.WORKFLOW_PAYLOADS]
    assert logged == [("auditrice", "autorise", f"entente-{ENTENTE}"), (OTHER, "refuse", f"entente-{ENTENTE}")]
    # a payload that names no workflow (encoded outside one, or before the field) stays encoded, noted
    (nameless,) = await api.root.payload_codec.encode([clear])
    before = events(api.root.record)
    got = await decode(codec, api, "auditrice", [nameless])
    (kept,) = [from_json(p) for p in got.json()["payloads"]]
    assert kept.data == nameless.data and NOTE in kept.metadata and events(api.root.record) == before


async def test_no_token_bad_input_and_encode_are_refused_with_nothing_registered(
        api: Api, codec: httpx.AsyncClient) -> None:
    record = api.root.record
    clear = Payload(metadata={"encoding": b"json/plain"}, data=b"{}")
    (sealed,) = await api.root.payload_codec.for_workflow(f"entente-{ENTENTE}").encode([clear])
    before = events(record)
    problem(await decode(codec, api, None, [sealed]), 401)
    problem(await codec.post("/decode", json={"payloads": []}, headers={"Authorization": "Bearer ark_nope_x"}), 401)
    auth = {"X-Namespace": "default", **api.headers("auditrice")}
    problem(await codec.post("/decode", content=b"{not json", headers=auth), 422, "invalid_body")
    problem(await codec.post("/decode", json={"payload": []}, headers=auth), 422, "invalid_payloads")
    bad = problem(await codec.post("/decode", json={"payloads": [{"metadata": {"encoding": "%%"}, "data": ""}]},
                                   headers=auth), 422, "invalid_payloads")
    assert bad["errors"][0]["field"] == "payloads[0].metadata.encoding"
    problem(await codec.post("/decode", json={"payloads": [as_json(sealed)] * (MAX_PAYLOADS + 1)}, headers=auth),
            422, "too_many_payloads")
    problem(await codec.post("/decode", content=b" " * (4 * 1024 * 1024 + 1), headers=auth), 413, "body_too_large")
    problem(await codec.post("/decode", json={"payloads": [as_json(sealed)]},
                             headers={**auth, "X-Namespace": "autre"}), 422, "unknown_namespace")
    problem(await codec.post("/encode", json={"payloads": [as_json(clear)]}, headers=auth), 403, "encode_refused")
    # the UI's preflight from its origin is answered for POST with these headers; another origin is not let in
    asked = {"Origin": UI, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type,x-namespace"}
    preflight = await codec.options("/decode", headers=asked)
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == UI
    assert (await codec.options("/decode", headers={**asked, "Origin": "https://ailleurs.example"})).status_code == 400
    problem(await codec.get("/decode", headers=auth), 405)
    assert events(record) == before
    # the same through the CLI's templated path decodes (and registers)
    got = await codec.post("/default/decode", json={"payloads": [as_json(sealed)]}, headers=api.headers("auditrice"))
    assert [from_json(p) for p in got.json()["payloads"]] == [clear] and events(record) == before + 1
