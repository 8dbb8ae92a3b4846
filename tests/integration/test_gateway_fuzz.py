"""The gateway's OpenAPI document fuzzed with schemathesis (issue 10): every operation of `/v1/openapi.json`
called with generated requests (valid and invalid) as an authenticated partner, over real HTTP (uvicorn on
loopback), a real record on each store (a SQLite file, a PostgreSQL schema: `store_env`, issue 12) and a real
Temporal with the production worker. Each answer: no 5xx, the status, content type, headers and body the document
declares; and a refused request records nothing (the record's event count before and after), but a read the
disclosure rules refuse, which registers its refusal. Bounded (examples per operation, derandomised) so that it
runs in CI in well under two minutes."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from gateway.server import Gateway
from tests.crisis_builders import crisis_worker
from tests.gateway.api import ENTENTE, PARTNER, Api, events, gateway, intake, recorded_since

EXAMPLES = 100  # per operation
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.response_headers_conformance]
# A read refused at the door records nothing; one refused by the disclosure rules (or the entente readers'
# rule) is registered in the person's register (or the entente's reads log, or the record's reads log for a
# listing): the one refusal that records.
# The partner API, FHIR and the probes.
FUZZED = r"^/(v1/|fhir/|healthz|readyz)"
TEAM = {"team_id": "crise-laval-1", "org_id": "cisss-laval"}
DOOR = {"not_a_party", "no_entente_in_force", "unauthenticated", "rate_limited"}
# A refused listing of cases (GET /v1/cases) is registered in the record-level reads log (RecordReadEntry).
REGISTERS = {"DisclosureRegister", "EntenteReads", "RecordReadEntry"}


@dataclass
class Served:
    api: Api
    base_url: str
    codes: dict[str, str] = field(default_factory=dict)  # a path's {code} that exists: a case, an entente
    findings: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


@pytest.fixture
async def served(visible_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str],
                 tmp_path: Path) -> AsyncIterator[Served]:
    record = Record(store_env)
    async with crisis_worker(visible_env.client, task_queue, record, tmp_path), \
            gateway(visible_env.client, task_queue, store_env, tmp_path, gateway_rate=10_000,
                    gateway_burst=10_000) as api:
        server = Gateway(api.root, host="127.0.0.1", port=0)
        base = await server.start()
        try:
            yield Served(api, base)
        finally:
            await server.stop()
    record.close()


def known(served: Served, operation: Any) -> list[schemathesis.Case]:
    """Valid requests, so that the answers a partner gets when it does things right are checked too."""
    path, code = operation.path, served.codes["entente" if "ententes" in operation.path else "case"]
    body: dict[str, Any] | None = {
        ("POST", "/v1/cases"): intake(),
        ("POST", "/v1/cases/{code}/commands"): {"type": "request_mobile", "csss_teams": [TEAM]},
        ("POST", "/v1/ententes/{code}/commands"): {"type": "review", "outcome": "maintenir"},
    }.get((operation.method.upper(), path))
    extra: dict[str, Any] = {"body": body, "media_type": "application/json"} if body is not None else {}
    if "{code}" in path:
        extra["path_parameters"] = {"code": code}
    for name in ("task_id", "request_id"):  # FHIR: the case's first handoff (none yet: a 404 done right)
        if f"{{{name}}}" in path:
            extra["path_parameters"] = {name: f"{served.codes['case']}-h1"}
    if "{subscription_id}" in path:  # FHIR Subscription: one that does not exist (a 404 done right)
        extra["path_parameters"] = {"subscription_id": str(uuid.uuid5(uuid.NAMESPACE_URL, path))}
    return [operation.Case(**extra)] if extra or operation.method.upper() == "GET" else []


def fuzz(served: Served) -> None:
    """Runs in a thread while the test's event loop serves the gateway and the worker."""
    schema = schemathesis.openapi.from_url(f"{served.base_url}/v1/openapi.json")
    session = requests.Session()
    key = served.api.keys[PARTNER]
    record = served.api.root.record
    for result in schema.include(path_regex=FUZZED).get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid document raises here
        generated = operation.as_strategy()
        if "{code}" in operation.path:  # half the requests on a case or an entente that exists
            code = served.codes["entente" if "ententes" in operation.path else "case"]
            generated = st.one_of(generated, generated.map(functools.partial(with_code, code=code)))

        @given(case=generated)
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": uuid.uuid4().hex}
            before = events(record)
            response = case.call(base_url=served.base_url, session=session, headers=headers)
            served.statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)
            if response.status_code >= 400:
                code = response.json().get("code") if response.content else None
                added = recorded_since(record, before)
                if case.method == "GET" and response.status_code == 403 and code not in DOOR:
                    # a read refused by the rules: its refusal registered, and nothing else
                    assert {t.split(":")[-1].split(".")[0] for t in added} <= REGISTERS, added
                else:
                    assert added == [], (case.method, case.formatted_path, response.status_code, code, added)

        try:
            for case in known(served, operation):
                call.hypothesis.inner_test(case)  # type: ignore[attr-defined]
            call()
        except Exception as err:  # every operation's findings in one run
            served.findings.append(f"{operation.label}: {err}")


def with_code(case: schemathesis.Case, code: str) -> schemathesis.Case:
    case.path_parameters = {**(case.path_parameters or {}), "code": code}
    return case


async def test_the_openapi_document_holds_under_fuzzing(served: Served) -> None:
    opened = await served.api.post("/v1/cases", PARTNER, intake())
    assert opened.status_code == 201, opened.text
    served.codes.update(case=opened.json()["case_code"], entente=ENTENTE)
    before = events(served.api.root.record)
    await asyncio.to_thread(fuzz, served)
    assert served.findings == []
    assert {200, 201, 403, 404, 409, 422} <= set(served.statuses), served.statuses  # every kind of answer met
    assert events(served.api.root.record) > before  # some generated requests were valid: they recorded
