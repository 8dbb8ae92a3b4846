"""« Qui a vu mon dossier ? » and the audit trail as FHIR AuditEvents, through the gateway (issue 11): the person's
account (a usager whose user id is their opaque id) reads every access and communication of their record, a
partner's operational reads of their case included (LRSSS s. 265 with s. 18), itself recorded first; an auditor
searches `/fhir/AuditEvent` (IHE BALP), itself a registered export. A refused caller gets the rule's code and
only the refusal is recorded (nothing when no register is named). Real record, dev server, production worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from temporalio.testing import WorkflowEnvironment

from adapters.fhir.auditevent import DISCLOSURE, PATIENT_READ, QUERY
from adapters.record.record import Record
from domain.audit.record_reads import ReadKind
from domain.disclosure.roles import Role
from tests.crisis_builders import CSSS, crisis_content, crisis_worker
from tests.gateway.api import PARTNER, Api, events, gateway, intake, problem, recorded_since

PROVIDER = "cc-laval"
PERSON = intake()["subject_id"]


@pytest.fixture
async def api(visible_env: WorkflowEnvironment, task_queue: str, record: Record, store_env: dict[str, str],
              tmp_path: Path) -> AsyncIterator[Api]:
    content = crisis_content(PROVIDER, may_refer=[PARTNER])
    async with crisis_worker(visible_env.client, task_queue, record, tmp_path), \
            gateway(visible_env.client, task_queue, store_env, tmp_path, entente=content) as opened:
        principals, now = opened.root.principals, datetime.now(UTC)
        opened.keys[PROVIDER] = principals.add_partner(PROVIDER, "Centre de crise", by="t", at=now).key
        opened.keys["person"] = principals.add_user(PERSON, CSSS, Role.USAGER, by="t", at=now).key
        opened.keys["auditor"] = principals.add_user("aud-1", CSSS, Role.AUDITOR, by="t", at=now).key
        opened.keys["rep"] = principals.add_user("rep-1", CSSS, Role.REPRESENTATIVE, by="t", at=now).key
        yield opened


async def seen_by_provider(api: Api) -> str:
    """PARTNER opens a case, routing asks PROVIDER, and PROVIDER reads its part of the case (a partner read)."""
    done = await api.post("/v1/cases", PARTNER, intake())
    assert done.status_code == 201, done.text
    code = str(done.json()["case_code"])
    sent = await api.post(f"/v1/cases/{code}/commands", PARTNER, {"type": "request_mobile", "csss_teams": []})
    assert sent.status_code == 200, sent.text
    read = await api.get(f"/v1/cases/{code}", PROVIDER)
    assert read.status_code == 200, read.text
    return code


async def test_the_person_sees_who_read_and_received_their_record_and_that_read_is_recorded(api: Api) -> None:
    code = await seen_by_provider(api)
    (partner_read,) = [r for r in api.root.reads.record_reads(actor_id=PROVIDER) if r.kind is ReadKind.PARTNER_CASE]
    before = len(api.root.disclosures.accesses(subject_id=PERSON))
    got = await api.get("/v1/me/register?born=1990-01-01", "person")
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["person"] == PERSON and body["access"]["outcome"] == "autorise"
    seen = body["seen"]
    mine = seen[-1]  # this read, recorded in the register before it was answered
    assert (mine["kind"], mine["who"], mine["organisation"], mine["reference"], mine["basis"]) == (
        "acces", PERSON, CSSS, body["access"]["access_id"], "LRSSS-17")
    (partner,) = [s for s in seen if s["kind"] == "consultation_partenaire"]
    assert (partner["who"], partner["organisation"], partner["reference"]) == (
        PROVIDER, PROVIDER, partner_read.read_id)
    assert code in partner["summary"]
    sent = [s for s in seen if s["kind"] == "communication"]
    assert all(s["article"] == "LRSSS-265" for s in sent)
    assert len(api.root.disclosures.accesses(subject_id=PERSON)) == before + 1


async def test_refused_callers_get_the_rules_code_and_only_a_refusal_is_recorded(api: Api) -> None:
    await seen_by_provider(api)
    record = api.root.record
    count = events(record)
    # not a person's account: no register named, nothing recorded
    problem(await api.get("/v1/me/register", PARTNER), 403, "not_the_person_or_representative")
    problem(await api.get("/v1/me/register", "auditor"), 403, "not_the_person_or_representative")
    problem(await api.get("/v1/me/register", "rep"), 403, "no_person_bound")
    problem(await api.get("/v1/me/register?born=not-a-date", "person"), 422)
    assert events(record) == count
    # the person without their age on the day: refused by the rules (LRSSS s. 21), the refusal recorded
    refused = problem(await api.get("/v1/me/register", "person"), 403, "age_unknown")
    assert "this refused access is recorded" in refused["detail"]
    assert [t.rsplit(".", 1)[-1] for t in recorded_since(record, count)] == ["AccessDecided", "RefusalIssued"]
    last = api.root.disclosures.accesses(subject_id=PERSON)[-1]
    assert (last.actor_id, last.outcome.value, last.allowed) == (PERSON, "refuse", [])


async def test_an_auditor_searches_balp_auditevents_and_a_partner_is_refused(api: Api) -> None:
    await seen_by_provider(api)
    record = api.root.record
    got = await api.get(f"/fhir/AuditEvent?patient={PERSON}", "auditor")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/fhir+json"
    bundle = Bundle.model_validate(got.json()).model_dump(mode="json")
    assert bundle["type"] == "searchset" and bundle["total"] == len(bundle["entry"]) > 0
    profiles = {e["resource"]["meta"]["profile"][0] for e in bundle["entry"]}
    assert PATIENT_READ in profiles and QUERY not in profiles  # about one person: no read across persons
    partner = [e["resource"] for e in bundle["entry"] if e["resource"]["agent"][0]["who"]["identifier"]["value"]
               == PROVIDER]
    assert partner and all(p["entity"][0]["what"]["identifier"]["value"] == PERSON for p in partner)
    assert all(e["resource"]["type"]["code"] == "110106" for e in bundle["entry"]
               if e["resource"]["meta"]["profile"] == [DISCLOSURE])
    (export,) = [r for r in api.root.reads.record_reads(actor_id="aud-1") if r.kind is ReadKind.EXPORT]
    assert (export.outcome.value, export.scope) == ("autorise", {"format": "fhir-auditevent", "person": PERSON})
    count = events(record)
    no = await api.get("/fhir/AuditEvent", PARTNER)
    assert no.status_code == 403 and no.json()["resourceType"] == "OperationOutcome", no.text
    assert no.json()["issue"][0]["details"]["coding"][0]["code"] == "not_a_metadata_reader"
    assert events(record) == count + 1  # the refusal, in the record-level reads log
    bad = await api.get("/fhir/AuditEvent?date=yesterday", "auditor")
    assert bad.status_code == 422 and events(record) == count + 1
