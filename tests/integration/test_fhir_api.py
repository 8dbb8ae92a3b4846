"""FHIR closed-loop referral through the real gateway (issue 10), on a real record and a real Temporal with the
production worker: a partner's FHIR system updates its Task (accept, reject, the team with the person, the
person reached the service) and the case records exactly the events the same partner's /v1 commands record;
refused changes and non-parties get OperationOutcomes and record nothing; every resource validates with
fhir.resources."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from domain.audit.record_reads import ReadKind, RecordRead, RecordReadEntry
from tests.crisis_builders import activate, crisis_content, crisis_worker
from tests.gateway.api import OTHER, PARTNER, Api, events, gateway, intake
from usecases.ententes import Ententes

FHIR = "application/fhir+json"
TEAM_ORG = "cc-laval"  # the entente's community crisis team: routing asks it when the CISSS names no team
RECEIVING = "clsc-ouest"
SUBJECT = "p-7f3a9c2e"


@pytest.fixture
async def api(visible_env: WorkflowEnvironment, task_queue: str, record: Record, store_env: dict[str, str],
              tmp_path: Path) -> AsyncIterator[Api]:
    async with crisis_worker(visible_env.client, task_queue, record, tmp_path), \
            gateway(visible_env.client, task_queue, store_env, tmp_path) as opened:
        at = datetime.now(UTC)
        # the receiving service acts on the CISSS's cases under an entente of its own (elsewhere: not routed to)
        activate(Ententes(opened.root.record), "ENT-CLSC", crisis_content(RECEIVING, territory="montreal"),
                 at=at - timedelta(hours=1))
        for org in (TEAM_ORG, RECEIVING):
            opened.keys[org] = opened.root.principals.add_partner(org, f"Organisme {org}", by="t", at=at).key
        yield opened


def outcome(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == FHIR
    body: dict[str, Any] = response.json()
    OperationOutcome.model_validate(body)
    if code is not None:
        assert body["issue"][0]["details"]["coding"][0]["code"] == code, body
    return body


def task_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == FHIR
    body: dict[str, Any] = response.json()
    Task.model_validate(body)
    return body


async def put(api: Api, who: str, task_id: str, status: str, *, reason: str | None = None,
              worker: str | None = None, key: str | None = "auto") -> httpx.Response:
    body: dict[str, Any] = {"resourceType": "Task", "id": task_id, "status": status, "intent": "order"}
    if reason:
        body["statusReason"] = {"text": reason}
    if worker:
        body["businessStatus"] = {"text": worker}
    headers = api.headers(who, uuid.uuid4().hex if key == "auto" else key)
    return await api.client.put(f"/fhir/Task/{task_id}", json=body, headers=headers)


async def command(api: Api, who: str, code: str, body: dict[str, Any]) -> None:
    done = await api.post(f"/v1/cases/{code}/commands", who, body)
    assert done.status_code == 200, done.text


async def asked(api: Api) -> str:
    """A partner's case, its CISSS asking for a mobile intervention: routing asks the entente's team."""
    opened = await api.post("/v1/cases", PARTNER, intake())
    assert opened.status_code == 201, opened.text
    code = str(opened.json()["case_code"])
    await command(api, PARTNER, code, {"type": "request_mobile", "csss_teams": []})
    return code


def trail(api: Api, code: str) -> list[tuple[Any, Any, Any]]:
    """The case's events as recorded: name, who, for which organisation (ids and moments differ by case)."""
    return [(h["event"], h.get("by"), h.get("actor_org")) for h in api.root.crisis_cases.history(code)]


async def test_a_team_accepts_its_task_and_a_service_closes_the_referral_as_through_v1(api: Api) -> None:
    by_fhir, by_v1 = await asked(api), await asked(api)

    # the team's FHIR system: requested → accepted → in-progress; the /v1 twin gives accept and arrive
    task = task_of(await put(api, TEAM_ORG, f"{by_fhir}-h1", "accepted"))
    assert (task["status"], task["owner"]["identifier"]["value"]) == ("accepted", TEAM_ORG)
    assert trail(api, by_fhir)[-1][0] == "HandoffAccepted" and trail(api, by_fhir)[-1][1:] == (TEAM_ORG, TEAM_ORG)
    assert task_of(await put(api, TEAM_ORG, f"{by_fhir}-h1", "in-progress"))["status"] == "in-progress"
    await command(api, TEAM_ORG, by_v1, {"type": "accept", "team_id": TEAM_ORG})
    await command(api, TEAM_ORG, by_v1, {"type": "arrive"})

    # the team records the outcome and refers (/v1 for both cases: no FHIR Task stands for these)
    for code in (by_fhir, by_v1):
        await command(api, TEAM_ORG, code, {"type": "outcome", "outcome": "crise_desamorcee", "subject_id": SUBJECT})
        await command(api, TEAM_ORG, code, {"type": "refer", "subject_id": SUBJECT, "channel": "telephone",
                                            "receiving": {"org_id": RECEIVING, "service": "consultation_sociale"}})

    # the receiving service: accepted (its intake worker in businessStatus.text), then completed when the person
    # reached it: the case closes, as ConfirmReached closes it through /v1
    accepted = task_of(await put(api, RECEIVING, f"{by_fhir}-r1", "accepted", worker="intervenante à l'accueil"))
    assert accepted["status"] == "accepted"
    done = task_of(await put(api, RECEIVING, f"{by_fhir}-r1", "completed"))
    assert done["status"] == "completed"
    assert done["output"][0]["valueCodeableConcept"]["coding"][0]["code"] == "consultation_sociale"
    await command(api, RECEIVING, by_v1, {"type": "accept_referral", "intake_worker": "intervenante à l'accueil"})
    await command(api, RECEIVING, by_v1, {"type": "confirm_reached"})

    assert trail(api, by_fhir) == trail(api, by_v1)
    names = [e for e, *_ in trail(api, by_fhir)]
    assert names.index("ReferralAccepted") < names.index("PersonReachedService")
    assert api.root.crisis_cases.view(by_fhir).stage.value == "fermee"
    # the same status again is no change: nothing recorded
    count = events(api.root.record)
    assert task_of(await put(api, RECEIVING, f"{by_fhir}-r1", "completed"))["status"] == "completed"
    assert events(api.root.record) == count


async def test_a_team_rejects_with_its_reason_as_through_v1(api: Api) -> None:
    by_fhir, by_v1 = await asked(api), await asked(api)
    rejected = task_of(await put(api, TEAM_ORG, f"{by_fhir}-h1", "rejected", reason="équipe déjà mobilisée"))
    assert (rejected["status"], rejected["statusReason"]["text"]) == ("rejected", "équipe déjà mobilisée")
    await command(api, TEAM_ORG, by_v1, {"type": "decline", "team_id": TEAM_ORG, "reason": "équipe déjà mobilisée"})
    assert trail(api, by_fhir) == trail(api, by_v1)


async def test_refused_changes_and_non_parties_record_nothing(api: Api) -> None:
    record = api.root.record
    code = await asked(api)
    h1 = f"{code}-h1"
    before = events(record)
    outcome(await put(api, TEAM_ORG, h1, "completed"), 409, "task_transition_not_allowed")  # not accepted first
    outcome(await put(api, TEAM_ORG, h1, "entered-in-error"), 403, "task_status_not_for_party")  # the requester's
    outcome(await put(api, TEAM_ORG, h1, "rejected"), 422, "status_reason_required")
    outcome(await put(api, TEAM_ORG, h1, "on-hold"), 409, "task_transition_not_allowed")
    outcome(await put(api, TEAM_ORG, h1, "bogus"), 422, "unknown_task_status")
    # a party to the case (it referred it) that neither owns nor requested the Task: it is not shown to exist
    outcome(await put(api, PARTNER, h1, "accepted"), 404, "not_found")
    outcome(await put(api, OTHER, h1, "accepted"), 403, "not_a_party")
    outcome(await put(api, TEAM_ORG, f"{code}-h9", "accepted"), 404, "not_found")
    outcome(await put(api, TEAM_ORG, h1, "accepted", key=None), 400, "idempotency_key_required")
    wrong = await api.client.put(f"/fhir/Task/{h1}", headers=api.headers(TEAM_ORG, "k-id"),
                                 json={"resourceType": "Task", "id": f"{code}-h2", "status": "accepted",
                                       "intent": "order"})
    outcome(wrong, 422, "id_mismatch")
    not_a_task = await api.client.put(f"/fhir/Task/{h1}", headers=api.headers(TEAM_ORG, "k-nat"),
                                      json={"resourceType": "Task", "id": h1, "intent": "order"})
    assert outcome(not_a_task, 422)["issue"][0]["expression"] == ["status"]
    outcome(await api.client.get(f"/fhir/Task/{h1}"), 401, "unauthenticated")
    outcome(await api.get(f"/fhir/Task/{h1}", OTHER), 403, "not_a_party")
    outcome(await api.get(f"/fhir/ServiceRequest/{h1}", OTHER), 403, "not_a_party")
    outcome(await api.get("/fhir/Task/C-AAAAAAAA22-h1", TEAM_ORG), 404, "not_found")
    assert events(record) == before
    # a refusal is kept for its Idempotency-Key: the same request gets it again
    again = [await put(api, TEAM_ORG, h1, "completed", key="k-done") for _ in range(2)]
    assert again[0].json() == again[1].json() and again[1].headers["idempotent-replayed"] == "true"
    assert again[1].headers["content-type"] == FHIR
    assert events(record) == before


async def test_reads_are_decided_and_registered_as_v1_reads(api: Api) -> None:
    code = await asked(api)
    h1 = f"{code}-h1"
    accesses = len(api.root.disclosures.accesses(subject_id=SUBJECT))
    # the CISSS's auditor reads the Task, its ServiceRequest and searches the Tasks the CISSS requested
    task = task_of(await api.get(f"/fhir/Task/{h1}", "auditrice"))
    assert (task["status"], task["requester"]["identifier"]["value"]) == ("requested", "cisss-laval")
    request = (await api.get(f"/fhir/ServiceRequest/{h1}", "auditrice")).json()
    ServiceRequest.model_validate(request)
    assert request["status"] == "active" and request["performer"][0]["identifier"]["value"] == TEAM_ORG
    found = await api.get(f"/fhir/Task?owner=Organization/{TEAM_ORG}&status=requested", "auditrice")
    bundle = found.json()
    Bundle.model_validate(bundle)
    assert [e["resource"]["id"] for e in bundle["entry"]] == [h1] and bundle["total"] == 1
    assert (await api.get(f"/fhir/Task?owner={TEAM_ORG}&status=completed", "auditrice")).json()["total"] == 0
    # the team reads its own Task as /v1 answers it its operational view: its Tasks only, without the person's
    # id, each read registered once in the record-level reads log (not the person's register: the communication
    # to the team is registered there already, when it was asked)
    reads_before = len(list(api.root.record.events_of(RecordReadEntry.Registered)))  # type: ignore[attr-defined]
    own = task_of(await api.get(f"/fhir/Task/{h1}", TEAM_ORG))
    assert (own["id"], own["owner"]["identifier"]["value"], "for" in own) == (h1, TEAM_ORG, False)
    request = (await api.get(f"/fhir/ServiceRequest/{h1}", TEAM_ORG)).json()
    ServiceRequest.model_validate(request)
    assert request["subject"] == {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                                                 "valueCode": "masked"}]} and "contained" not in request
    listed = (await api.get(f"/fhir/Task?owner=Organization/{TEAM_ORG}", TEAM_ORG)).json()
    assert [e["resource"]["id"] for e in listed["entry"]] == [h1] and SUBJECT not in json.dumps(listed)
    v1 = await api.get(f"/v1/cases/{code}", TEAM_ORG)
    assert v1.status_code == 200 and v1.json()["case"]["org_id"] == TEAM_ORG, v1.text
    reads = [RecordRead.model_validate(e.read) for e in api.root.record.events_of(RecordReadEntry.Registered)]  # type: ignore[attr-defined]
    assert [(r.kind, r.scope["org"], r.allowed) for r in reads[reads_before:]] == [
        (ReadKind.PARTNER_CASE, TEAM_ORG, True)] * 4
    outcomes = [a.outcome.value for a in api.root.disclosures.accesses(subject_id=SUBJECT)[accesses:]]
    assert outcomes == ["autorise", "autorise", "autorise"]  # the auditor's three reads; none of the team's


async def test_the_capability_statement(api: Api) -> None:
    found = await api.client.get("/fhir/metadata")
    assert found.headers["content-type"] == FHIR
    statement = found.json()
    CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1"
    assert [r["type"] for r in statement["rest"][0]["resource"]] == ["Task", "ServiceRequest", "Subscription",
                                                                     "AuditEvent"]
