"""The partner gateway (issue 10) over a real record (SQLite, PostgreSQL) and a real Temporal (the dev server
with the case search attributes, as `arrimage up` runs it, and the production worker): a partner opens a case
under its entente, reads and commands it; every refusal is a problem document and records nothing (the
record's event count before and after)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from domain.principals.model import PrincipalKind
from gateway import cases as gateway_cases
from tests.crisis_builders import crisis_worker
from tests.gateway.api import OTHER, PARTNER, Api, events, gateway, intake, problem, recorded_since

PROBLEM = "application/problem+json"
TEAM = {"team_id": "crise-laval-1", "org_id": "cisss-laval"}


@pytest.fixture
async def api(visible_env: WorkflowEnvironment, task_queue: str, record: Record, store_env: dict[str, str],
              tmp_path: Path) -> AsyncIterator[Api]:
    async with crisis_worker(visible_env.client, task_queue, record, tmp_path), \
            gateway(visible_env.client, task_queue, store_env, tmp_path) as opened:
        yield opened


async def opened(api: Api) -> str:
    done = await api.post("/v1/cases", PARTNER, intake())
    assert done.status_code == 201, done.text
    return str(done.json()["case_code"])


async def test_a_partner_opens_a_case_the_cisss_reads_it_and_acts(api: Api) -> None:
    record = api.root.record
    before = events(record)
    done = await api.post("/v1/cases", PARTNER, intake())
    assert done.status_code == 201, done.text
    view = done.json()
    code = view["case_code"]
    # by and actor_org are the principal's, never the body's
    assert (view["intake_org"], view["referring_agreement"], view["stage"]) == (PARTNER, "ENT-CPS-GW", "accueil")
    history = api.root.crisis_cases.history(code)
    assert history[0]["event"] == "Opened" and history[0]["by"] == PARTNER
    assert events(record) > before

    # a read is decided by the disclosure rules and registered, allowed or refused: the intervenant's access
    # authorisations (R-22.1, r. 1, s. 8) are not known to the gateway yet, so the rules refuse; the auditor
    # reads the case as audit metadata
    count = events(record)
    refused = problem(await api.get(f"/v1/cases/{code}", "intervenante"), 403, "no_active_authorisation")
    assert events(record) > count and "detail" in refused
    read = await api.get(f"/v1/cases/{code.lower()}", "auditrice")  # codes in any case, as the CLI
    assert read.status_code == 200, read.text
    assert read.json()["case"]["case_code"] == code and read.json()["access"]["outcome"] == "autorise"
    assert [a.actor_id for a in api.root.disclosures.accesses(subject_id=view["subject_id"])][-2:] == [
        "intervenante", "auditrice"]

    count = events(record)
    acted = await api.post(f"/v1/cases/{code}/commands", PARTNER, {"type": "request_mobile", "csss_teams": [TEAM]})
    assert acted.status_code == 200, acted.text
    assert acted.json()["stage"] == "transfert" and events(record) > count
    # a partner's command answers a receipt, never the case's content (the intake's characterisation, the subject
    # id, the other teams' attempts): its own part of the case is the registered read `GET /v1/cases/{code}`
    assert set(acted.json()) == {"case_code", "stage", "holder", "event_count"}, acted.text
    asked = [h for h in api.root.crisis_cases.history(code) if h["event"] == "MobileInterventionRequested"]
    assert [h["by"] for h in asked] == [PARTNER]


async def test_refusals_record_nothing(api: Api) -> None:
    record = api.root.record
    code = await opened(api)
    before = events(record)
    problem(await api.post("/v1/cases", None, intake()), 401, "unauthenticated")
    problem(await api.client.post("/v1/cases", json=intake(), headers={"Authorization": "Bearer ark_nope"}), 401)
    # another organisation's case: neither read nor commanded
    problem(await api.get(f"/v1/cases/{code}", OTHER), 403, "not_a_party")
    problem(await api.post(f"/v1/cases/{code}/commands", OTHER, {"type": "arrive"}), 403, "not_a_party")
    # out of turn: the rule's own code, from the workflow's validator
    late = problem(await api.post(f"/v1/cases/{code}/commands", PARTNER, {"type": "arrive"}), 409)
    assert late["code"] not in (None, "refused")
    # by / actor_org in the body: unknown fields (they come from the key)
    body = problem(await api.post(f"/v1/cases/{code}/commands", PARTNER,
                                  {"type": "arrive", "actor_org": "cisss-laval"}), 422)
    assert body["errors"] == [{"field": "actor_org", "message": "Extra inputs are not permitted"}]
    # malformed JSON, an invalid field, an oversized body, no Idempotency-Key
    bad = await api.client.post("/v1/cases", content=b'{"territory": ', headers=api.headers(PARTNER, "k-bad"))
    assert problem(bad, 422)["errors"][0]["field"] == "(body)"
    wrong = problem(await api.post("/v1/cases", PARTNER, intake(territory="Laval Nord!")), 422)
    assert [e["field"] for e in wrong["errors"]] == ["territory"]
    huge = await api.client.post("/v1/cases", content=b"{" + b" " * (300 * 1024) + b"}",
                                 headers=api.headers(PARTNER, "k-huge"))
    problem(huge, 413, "body_too_large")
    problem(await api.post("/v1/cases", PARTNER, intake(), key=None), 400, "idempotency_key_required")
    problem(await api.get("/v1/cases/C-AAAAAAAA22", PARTNER), 404, "not_found")
    # a person id with a NUL, which a PostgreSQL text parameter cannot carry (a 500 on PostgreSQL, found by
    # test_gateway_fuzz): bad input on both stores, before any lookup
    odd = problem(await api.get("/v1/audit/register?person=p-%00-inconnu", "auditrice"), 422)
    assert [e["field"] for e in odd["errors"]] == ["person"]
    problem(await api.get("/v1/audit/register?person=p-inconnu-0001", "auditrice"), 404, "not_found")
    assert events(record) == before


async def test_an_idempotency_key_gives_the_first_answer_and_records_nothing_new(api: Api) -> None:
    record = api.root.record
    first = await api.post("/v1/cases", PARTNER, intake(), key="intake-2027-0001")
    assert first.status_code == 201
    after_first = events(record)
    again = await api.post("/v1/cases", PARTNER, intake(), key="intake-2027-0001")
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (201, first.json(), "true")
    assert events(record) == after_first
    other = await api.post("/v1/cases", PARTNER, intake(territory="laval-ouest"), key="intake-2027-0001")
    problem(other, 422, "idempotency_key_reused")
    # a refusal is an answer too: the same request gets it again, and still nothing is recorded
    code = first.json()["case_code"]
    refused = await api.post(f"/v1/cases/{code}/commands", PARTNER, {"type": "arrive"}, key="arrive-1")
    replayed = await api.post(f"/v1/cases/{code}/commands", PARTNER, {"type": "arrive"}, key="arrive-1")
    assert (replayed.status_code, replayed.json()) == (refused.status_code, refused.json())
    assert events(record) == after_first
    # the key is the principal's: another principal's same key is its own
    assert (await api.post("/v1/cases", OTHER, intake(), key="intake-2027-0001")).status_code != 201


async def test_a_write_answered_504_and_retried_with_its_key_is_carried_out_once(
    visible_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No worker: the gateway answers 504 ("it may still be applied; retry with the same Idempotency-Key"), the
    command waiting in Temporal. A worker back, the retry with that key gets the command's own answer, and it is
    recorded once. Before, the 504 deleted the key's reservation and the retry ran under a new request id: the
    opening became a second case (its code is derived from that id), a command a second update."""
    monkeypatch.setattr(gateway_cases, "TIMEOUT", 3.0)  # the wait for a worker, shortened: nothing else changes
    # After the wait the gateway dials Temporal again to tell "down" (503) from "no worker" (504): the settings'
    # address is the test server's, as in production the client's and the settings' are one.
    address = visible_env.client.service_client.config.target_host
    async with gateway(visible_env.client, task_queue, store_env, tmp_path, temporal_address=address) as api:
        record = api.root.record
        before = events(record)
        no_worker = problem(await api.post("/v1/cases", PARTNER, intake(), key="intake-504"), 504)
        assert "retry with the same Idempotency-Key" in no_worker["detail"]
        async with crisis_worker(visible_env.client, task_queue, record, tmp_path):
            opened = await api.post("/v1/cases", PARTNER, intake(), key="intake-504")
            assert opened.status_code == 201, opened.text
            code = opened.json()["case_code"]
            # the key stays that request's: another body with it is refused, as the first may still be carried out
            problem(await api.post("/v1/cases", PARTNER, intake(territory="laval-ouest"), key="intake-504"), 422,
                    "idempotency_key_reused")
        assert [t.rsplit(".", 1)[-1] for t in recorded_since(record, before) if "CrisisCase" in t] == ["Opened"]
        at_open = events(record)
        mobile = {"type": "request_mobile", "csss_teams": [TEAM]}
        problem(await api.post(f"/v1/cases/{code}/commands", PARTNER, mobile, key="mobile-504"), 504)
        async with crisis_worker(visible_env.client, task_queue, record, tmp_path):
            acted = await api.post(f"/v1/cases/{code}/commands", PARTNER, mobile, key="mobile-504")
            assert acted.status_code == 200, acted.text
            replayed = await api.post(f"/v1/cases/{code}/commands", PARTNER, mobile, key="mobile-504")
            assert (replayed.json(), replayed.headers["idempotent-replayed"]) == (acted.json(), "true")
        asked = [t.rsplit(".", 1)[-1] for t in recorded_since(record, at_open) if "CrisisCase" in t]
        assert asked and len(asked) == len(set(asked)), asked  # each event of the request once
        assert [e["event"] for e in api.root.crisis_cases.history(code)].count("Opened") == 1


async def test_revoked_and_rotated_out_keys_are_refused_at_once(api: Api) -> None:
    record = api.root.record
    code = await opened(api)
    principals = api.root.principals
    old = api.keys[PARTNER]
    now = datetime.now(UTC)
    new = principals.rotate_key(PrincipalKind.PARTNER, PARTNER, timedelta(0), at=now).key  # no overlap
    before = events(record)
    problem(await api.client.get(f"/v1/cases/{code}", headers={"Authorization": f"Bearer {old}"}), 401,
            "unauthenticated")
    api.keys[PARTNER] = new
    assert (await api.post(f"/v1/cases/{code}/commands", PARTNER, {"type": "arrive"})).status_code == 409
    principals.revoke(PrincipalKind.PARTNER, PARTNER, "fin de l'entente", by="t", at=datetime.now(UTC))
    problem(await api.post(f"/v1/cases/{code}/commands", PARTNER, {"type": "arrive"}), 401, "unauthenticated")
    assert events(record) == before + 3  # the revocation only: Revoked on the account and on its two keys


async def test_a_principal_is_held_to_its_rate(visible_env: WorkflowEnvironment, task_queue: str,
                                              store_env: dict[str, str], tmp_path: Path) -> None:
    async with gateway(visible_env.client, task_queue, store_env, tmp_path, gateway_rate=0.5,
                       gateway_burst=2) as api:
        statuses = [(await api.get("/v1/cases/C-AAAAAAAA22", PARTNER)).status_code for _ in range(3)]
        assert statuses[:2] == [404, 404]
        limited = await api.get("/v1/cases/C-AAAAAAAA22", PARTNER)
        problem(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) >= 1
        assert (await api.get("/v1/cases/C-AAAAAAAA22", OTHER)).status_code == 404  # each principal its own


async def test_health_readiness_and_the_openapi_document(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "record": "ok", "temporal": "ok"})
    doc = (await api.client.get("/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    assert {"/v1/cases", "/v1/cases/{code}", "/v1/cases/{code}/commands", "/v1/ententes", "/v1/ententes/{code}",
            "/v1/ententes/{code}/commands"} <= set(doc["paths"])
    assert (await api.client.get("/v1/docs")).status_code == 200
