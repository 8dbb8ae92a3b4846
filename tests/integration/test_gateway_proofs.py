"""Issue 13 through the gateway: `GET /v1/audit/checkpoint` (the signed C2SP note, the log key in a header) and
`GET /v1/audit/proofs/inclusion|consistency`, on SQLite and PostgreSQL. A proof fetched over HTTP is checked as an
auditor would: with `domain.audit.merkle` against the root of a checkpoint fetched over HTTP and opened with the
log's verifier key (the one the engine's configuration derives, pinned by the test, not the header's word). Only
the readers of audit metadata; a refused role is registered (one record-level read), bad parameters and unknown
events record nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from dataclasses import field as default
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from temporalio.testing import WorkflowEnvironment

from adapters.record.keys import DEV_CHECKPOINT_KEYS
from domain.audit import merkle
from domain.audit.note import VerifiedCheckpoint, VerifierKey
from domain.audit.record_reads import ReadKind
from domain.disclosure.model import Outcome
from domain.disclosure.roles import Role
from gateway.server import Gateway
from tests.crisis_builders import CSSS
from tests.gateway.api import PARTNER, Api, events, gateway, problem, recorded_since
from tests.tamper_builders import Raw
from usecases.audit import proofs

AUDITOR = "auditrice"
LOG_KEY = "Arrimage-Log-Key"
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.response_headers_conformance]


@pytest.fixture
async def api(time_env_session: WorkflowEnvironment, task_queue: str, store_env: dict[str, str],
              tmp_path: Path) -> AsyncIterator[Api]:
    """The gateway over the store (no worker: nothing here runs a workflow)."""
    async with gateway(time_env_session.client, task_queue, store_env, tmp_path) as opened:
        yield opened


def pinned(api: Api) -> VerifierKey:
    """The log key an auditor pins: derived from the engine's checkpoint seed (the development ring here)."""
    key = proofs.log_verifier(api.root.record, DEV_CHECKPOINT_KEYS)
    assert str(key).startswith("arrimage/")
    return key


async def checkpoint(api: Api) -> VerifiedCheckpoint:
    got = await api.get("/v1/audit/checkpoint", AUDITOR)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    assert got.headers[LOG_KEY] == str(pinned(api))
    return proofs.open_tree_checkpoint(got.content, pinned(api))


def more_events(api: Api, n: int) -> None:
    at = datetime.now(UTC)
    for i in range(n):
        api.root.principals.add_user(f"intervenant-{i}-{at.timestamp():.0f}", CSSS, Role.INTERVENANT, by="t", at=at)


def event_hashes(api: Api) -> list[bytes]:
    """The chain's entries in seq order: the tree's leaves."""
    with api.root.record.audit_store().snapshot() as snap:
        return [bytes(r[6]) for r in snap.chain_rows()]


async def test_proofs_over_http_verify_against_checkpoints_over_http(api: Api) -> None:
    record = api.root.record
    before = events(record)
    first = await checkpoint(api)
    assert events(record) == before  # a checkpoint names no event: not registered, nothing appended
    n = first.head.size
    assert n == before  # every event chained, the tree caught up
    hashes = event_hashes(api)
    for nid in (1, n // 2 + 1, n):
        got = await api.get(f"/v1/audit/proofs/inclusion?event={nid}&tree_size={n}", AUDITOR)
        assert got.status_code == 200, got.text
        body = got.json()
        assert (body["leaf_index"], body["tree_size"], body["notification_id"]) == (nid - 1, n, nid)
        assert bytes.fromhex(body["event_hash"]) == hashes[nid - 1]
        leaf = bytes.fromhex(body["leaf_hash"])
        assert leaf == merkle.leaf_hash(bytes.fromhex(body["event_hash"]))
        merkle.verify_inclusion(body["leaf_index"], n, leaf, [bytes.fromhex(h) for h in body["proof"]],
                                first.head.root_hash)
        assert bytes.fromhex(body["root"]) == first.head.root_hash
        assert body["access"]["outcome"] == Outcome.ALLOWED.value
    # named by aggregate and version, as `arrimage audit prove` names it
    target = (await api.get(f"/v1/audit/proofs/inclusion?event=2&tree_size={n}", AUDITOR)).json()
    by_ref = await api.get(f"/v1/audit/proofs/inclusion?event={target['aggregate_id']}@{target['version']}"
                           f"&tree_size={n}", AUDITOR)
    assert by_ref.status_code == 200, by_ref.text
    assert {k: v for k, v in by_ref.json().items() if k != "access"} == \
        {k: v for k, v in target.items() if k != "access"}
    # each inclusion proof is registered as a read of that event (5 so far), nothing else
    registered = [r for r in api.root.reads.record_reads() if r.kind is ReadKind.MERKLE_PROOF]
    assert len(registered) == 5 and all(r.outcome is Outcome.ALLOWED and r.actor_id == AUDITOR for r in registered)
    assert registered[-1].scope["event"] == f"{target['aggregate_id']}@{target['version']}"
    assert registered[-1].scope["tree_size"] == str(n) and registered[-1].scope["notification_id"] == "2"
    assert {t.split(":")[-1] for t in recorded_since(record, before)} == {"RecordReadEntry.Registered"}

    more_events(api, 3)
    second = await checkpoint(api)
    assert second.head.size > n + 3  # the reads registered above and the 3 new users
    got = await api.get(f"/v1/audit/proofs/consistency?first={n}&second={second.head.size}", AUDITOR)
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["first"], body["second"]) == (n, second.head.size)
    merkle.verify_consistency(n, second.head.size, first.head.root_hash, second.head.root_hash,
                              [bytes.fromhex(h) for h in body["proof"]])
    same = await api.get(f"/v1/audit/proofs/consistency?first={n}&second={n}", AUDITOR)
    assert same.json() == {"first": n, "second": n, "proof": []}
    # a forged old root (another tree) fails with the same proof
    with pytest.raises(merkle.MerkleProofError):
        merkle.verify_consistency(n, second.head.size, merkle.leaf_hash(b"x"), second.head.root_hash,
                                  [bytes.fromhex(h) for h in body["proof"]])
    # an event after the first tree is proven in the second, not in the first
    late = second.head.size
    problem(await api.get(f"/v1/audit/proofs/inclusion?event={late}&tree_size={n}", AUDITOR), 404, "not_found")
    got = await api.get(f"/v1/audit/proofs/inclusion?event={late}&tree_size={late}", AUDITOR)
    merkle.verify_inclusion(late - 1, late, bytes.fromhex(got.json()["leaf_hash"]),
                            [bytes.fromhex(h) for h in got.json()["proof"]], second.head.root_hash)


async def test_refusals(api: Api) -> None:
    record = api.root.record
    size = (await checkpoint(api)).head.size
    before = events(record)
    ok = f"event=1&tree_size={size}"
    # no token: 401, nothing
    problem(await api.get(f"/v1/audit/proofs/inclusion?{ok}", None), 401, "unauthenticated")
    # bad parameters (422) and unknown events (404), for an auditor: nothing registered
    for query, field in [("event=abc&tree_size=1", "event"), ("event=0&tree_size=1", "event"),
                         ("event=1", "tree_size"), (f"event=1&tree_size={size + 5}", "tree_size"),
                         ("event=1&tree_size=0", "tree_size"),
                         ("event=00000000-0000-0000-0000-00000000000z@1&tree_size=1", "event"),
                         ("event=00000000-0000-0000-0000-000000000000@0&tree_size=1", "event"),
                         ("event=99999999999999999999&tree_size=1", "event"),
                         ("event=9223372036854775808&tree_size=1", "event")]:
        body = problem(await api.get(f"/v1/audit/proofs/inclusion?{query}", AUDITOR), 422)
        assert [e["field"] for e in body["errors"]] == [field], (query, body)
    for query in [f"event=999999&tree_size={size}", f"event=00000000-0000-4000-8000-000000000000@1&tree_size={size}",
                  "event=9223372036854775807&tree_size=1"]:
        problem(await api.get(f"/v1/audit/proofs/inclusion?{query}", AUDITOR), 404, "not_found")
    for query, field in [("first=3&second=2", "first"), (f"first=1&second={size + 1}", "second"),
                         ("first=-1&second=2", "first"), ("second=2", "first")]:
        body = problem(await api.get(f"/v1/audit/proofs/consistency?{query}", AUDITOR), 422)
        assert [e["field"] for e in body["errors"]] == [field], (query, body)
    assert events(record) == before
    # another role: 403 with the rule's reason, the refusal registered (as every refused read of the record), and
    # the same answer whether the event exists or not (the tree is not shown to it)
    for who in (PARTNER, "intervenante"):
        for path in ("/v1/audit/checkpoint", f"/v1/audit/proofs/inclusion?{ok}",
                     f"/v1/audit/proofs/inclusion?event=999999&tree_size={size + 9}",
                     f"/v1/audit/proofs/consistency?first=1&second={size}"):
            mark = events(record)
            body = problem(await api.get(path, who), 403, "not_a_metadata_reader")
            assert "this refused access is recorded" in body["detail"]
            assert [t.split(":")[-1] for t in recorded_since(record, mark)] == ["RecordReadEntry.Registered"], path
    refused = [r for r in api.root.reads.record_reads() if r.kind is ReadKind.MERKLE_PROOF]
    assert len(refused) == 8 and all(r.outcome is Outcome.REFUSED for r in refused)
    assert {r.scope["proof"] for r in refused} == {"checkpoint", "inclusion", "consistency"}


async def test_an_altered_event_is_not_proven_and_no_checkpoint_is_signed(api: Api, store_env: dict[str, str]) -> None:
    """The attacker's edit of a stored event: its proof is refused by name (500 `not_provable`: the store no longer
    proves what it holds), the checkpoint is not signed (409 `not_signed`, what the verify found); nothing
    recorded. Another event is still proven. (The checkpoint resumes from the last note the engine signed and
    reads only the events after it: the edit it names is one of those; one before it is the full verify's.)"""
    record = api.root.record
    size = (await checkpoint(api)).head.size
    more_events(api, 1)
    raw = Raw(store_env)
    try:
        raw.x("UPDATE {events} SET state = ? WHERE {nid} = 2", b"{}")
        (last,), = raw.x("SELECT max(notification_id) FROM {chain}")
        raw.x("UPDATE {events} SET state = ? WHERE {nid} = ?", b"{}", last)
    finally:
        raw.close()
    before = events(record)
    body = problem(await api.get(f"/v1/audit/proofs/inclusion?event=2&tree_size={size}", AUDITOR), 500, "not_provable")
    assert "notification 2" in body["detail"] and "altered" in body["detail"]
    refused = problem(await api.get("/v1/audit/checkpoint", AUDITOR), 409, "not_signed")["detail"]
    assert f"notification {last}" in refused and "altered" in refused
    assert events(record) == before
    assert (await api.get(f"/v1/audit/proofs/inclusion?event=3&tree_size={size}", AUDITOR)).status_code == 200


async def test_the_openapi_document_lists_the_proofs(api: Api) -> None:
    doc = (await api.client.get("/v1/openapi.json")).json()
    checkpoint_op = doc["paths"]["/v1/audit/checkpoint"]["get"]
    assert "text/plain" in checkpoint_op["responses"]["200"]["content"]
    assert checkpoint_op["responses"]["200"]["headers"][LOG_KEY]["required"] is True
    assert checkpoint_op["security"] == [{"bearer": []}]
    for path, params in [("/v1/audit/proofs/inclusion", {"event", "tree_size"}),
                         ("/v1/audit/proofs/consistency", {"first", "second"})]:
        op = doc["paths"][path]["get"]
        assert {p["name"] for p in op["parameters"]} == params
        assert {"200", "401", "403", "422"} <= set(op["responses"])
        assert op["security"] == [{"bearer": []}]
    assert "leaf_hash" in doc["components"]["schemas"]["InclusionRead"]["properties"]


async def test_the_proof_operations_hold_under_fuzzing_as_an_auditor(
        time_env_session: WorkflowEnvironment, task_queue: str, store_env: dict[str, str], tmp_path: Path) -> None:
    """`test_gateway_fuzz` calls every operation as a partner (here: 403 or 422); as an auditor, the answers
    themselves (the note as text/plain with its required header, the proofs' JSON) must be what the document
    declares: schemathesis over real HTTP. A 4xx records nothing; a 200 inclusion proof registers its read, and
    only that."""
    async with gateway(time_env_session.client, task_queue, store_env, tmp_path, gateway_rate=10_000,
                       gateway_burst=10_000) as api:
        server = Gateway(api.root, host="127.0.0.1", port=0)
        base = await server.start()
        try:
            found = await asyncio.to_thread(fuzz_proofs, api, base)
        finally:
            await server.stop()
    assert found.findings == []
    assert {200, 404, 422} <= set(found.statuses), found.statuses


@dataclass
class Fuzzed:
    findings: list[str] = default(default_factory=list)
    statuses: Counter[int] = default(default_factory=Counter)


def fuzz_proofs(api: Api, base: str) -> Fuzzed:
    out = Fuzzed()
    schema = schemathesis.openapi.from_url(f"{base}/v1/openapi.json")
    session = requests.Session()
    headers = {"Authorization": f"Bearer {api.keys[AUDITOR]}"}
    record = api.root.record
    size = events(record)
    valid: dict[str, dict[str, object] | None] = {"/v1/audit/proofs/inclusion": {"event": "1", "tree_size": size},
             "/v1/audit/proofs/consistency": {"first": 1, "second": size}, "/v1/audit/checkpoint": None}
    for result in schema.include(path_regex=r"^/v1/audit/(checkpoint|proofs/)").get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid document raises here

        @given(case=operation.as_strategy())
        @settings(max_examples=60, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            before = events(record)
            response = case.call(base_url=base, session=session, headers=headers)
            out.statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)
            added = [t.split(":")[-1] for t in recorded_since(record, before)]
            if response.status_code == 200 and case.path.endswith("/inclusion"):
                assert added == ["RecordReadEntry.Registered"], added
            else:
                assert added == [], (case.formatted_path, case.query, response.status_code, added)

        try:
            query = valid[operation.path]
            case = operation.Case(query=query) if query else operation.Case()
            call.hypothesis.inner_test(case)  # type: ignore[attr-defined]
            call()
        except Exception as err:
            out.findings.append(f"{operation.label}: {err}")
    return out
