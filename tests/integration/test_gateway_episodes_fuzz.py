"""`/v1/episodes` fuzzed with schemathesis as the CSSS's own intervenant (issue 11): `test_gateway_fuzz` calls every
operation as a partner, which the episodes refuse at the door (`not_a_party`) before reading a body; here their
bodies and codes are generated for a principal who is a party, over real HTTP, a real record (SQLite, then
PostgreSQL, the same budget on both) and a real Temporal with the production worker. Each answer: no 5xx, what the
OpenAPI document declares; a refused request records nothing, but a read the disclosure rules refuse, which
registers its refusal. Bounded and derandomised."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from gateway.server import Gateway
from tests.crisis_builders import crisis_worker
from tests.gateway.api import Api, events, gateway, recorded_since
from tests.integration.test_gateway_fuzz import CHECKS, REGISTERS

EXAMPLES = 40  # per operation
WHO = "intervenante"  # a person of the CSSS: a party to its episodes
OPENING = {"service": "consultation_sociale", "subject_id": "p-0f1e2d3c", "territory": "laval",
           "request_mode": "telephone"}


@pytest.fixture
async def served(dev_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str],
                 tmp_path: Path) -> AsyncIterator[tuple[Api, str]]:
    record = Record(store_env)
    async with crisis_worker(dev_env.client, task_queue, record, tmp_path), \
            gateway(dev_env.client, task_queue, store_env, tmp_path, gateway_rate=10_000,
                    gateway_burst=10_000) as api:
        server = Gateway(api.root, host="127.0.0.1", port=0)
        base = await server.start()
        try:
            yield api, base
        finally:
            await server.stop()
    record.close()


def fuzz(api: Api, base: str, code: str, statuses: Counter[int]) -> list[str]:
    findings: list[str] = []
    schema = schemathesis.openapi.from_url(f"{base}/v1/openapi.json")
    session = requests.Session()
    record = api.root.record
    for result in schema.include(path_regex=r"^/v1/episodes").get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        generated = operation.as_strategy()
        if "{code}" in operation.path:  # half the requests on the episode that exists
            generated = st.one_of(generated, generated.map(functools.partial(with_code, code=code)))

        @given(case=generated)
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            headers = {"Authorization": f"Bearer {api.keys[WHO]}", "Idempotency-Key": uuid.uuid4().hex}
            before = events(record)
            response = case.call(base_url=base, session=session, headers=headers)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)
            if response.status_code >= 400:
                added = recorded_since(record, before)
                if case.method == "GET" and response.status_code == 403:
                    assert {t.split(":")[-1].split(".")[0] for t in added} <= REGISTERS, added
                else:
                    assert added == [], (case.method, case.formatted_path, response.status_code, added)

        try:
            call()
        except Exception as err:  # every operation's findings in one run
            findings.append(f"{operation.label}: {err}")
    return findings


def with_code(case: schemathesis.Case, code: str) -> schemathesis.Case:
    case.path_parameters = {**(case.path_parameters or {}), "code": code}
    return case


async def test_the_episode_routes_hold_under_fuzzing_by_a_party(served: tuple[Api, str]) -> None:
    api, base = served
    opened = await api.post("/v1/episodes", WHO, OPENING)
    assert opened.status_code == 201, opened.text
    statuses: Counter[int] = Counter()
    findings = await asyncio.to_thread(fuzz, api, base, opened.json()["episode_code"], statuses)
    assert findings == []
    # the fuzzing got past the boundary (an opening or a command accepted) and met the rules' and the boundary's
    # refusals; which 2xx it meets varies between runs (a CI run met 200 but no 201), so either counts
    assert set(statuses) & {200, 201} and {403, 409, 422} <= set(statuses), statuses
    assert not any(s >= 500 for s in statuses), statuses
