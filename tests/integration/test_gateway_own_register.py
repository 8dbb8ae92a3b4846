"""« Qui a vu mon dossier ? » and the audit trail as FHIR AuditEvents, through the gateway (issue 11): the person's
account (a usager whose user id is their opaque id) reads every access and communication of their record, a
partner's operational reads of their case included (LRSSS s. 265 with s. 18), itself recorded first; an auditor
searches `/fhir/AuditEvent` (IHE BALP), itself a registered export. A refused caller gets the rule's code and
only the refusal is recorded (nothing when no register is named). Real record, dev server, production worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from temporalio.testing import WorkflowEnvironment

from adapters.fhir.auditevent import DISCLOSURE, PATIENT_READ, QUERY
from adapters.record.record import Record
from domain.audit.record_reads import ReadKind
from domain.disclosure.facts import FactKind, PersonFact, RecordFact
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


async def test_the_recorded_facts_decide_who_reads_a_register_and_a_born_against_them_is_refused(api: Api) -> None:
    """Issue 11: the facts a decision rests on are events of the record. The person's age comes from their
    recorded birth date (LRSSS s. 17), and `born` then contradicts the record (facts_in_record, nothing
    recorded). A person's own account reads another's register (`?person=`) only while a standing fact names it:
    a parent of a child under 14 under LRSSS 23, registered in the child's register; a tutor is refused after
    2024-07-01 (LSSSS 22, LRSSS counterpart not located: the refusal registered); anyone else
    not_the_person_or_representative, nothing recorded."""
    record, book, now = api.root.record, api.root.person_facts, datetime.now(UTC)
    child = "enfant-1"

    def fact(subject: str, n: int, **kw: object) -> RecordFact:
        return RecordFact(by="archiviste", command_id=f"f-{subject}-{n}", subject_id=subject,
                          fact=PersonFact.model_validate(kw))

    book.record_fact(fact(PERSON, 1, kind=FactKind.BIRTH_DATE, on=date(1990, 1, 1)), now)
    book.record_fact(fact(child, 1, kind=FactKind.BIRTH_DATE, on=date(now.year - 10, 1, 1)), now)
    book.record_fact(fact(child, 2, kind=FactKind.PARENT, holder_id="parent-1", reference="jugement 500-04-1"), now)
    book.record_fact(fact(child, 3, kind=FactKind.REPRESENTATIVE, holder_id="tutrice-1", reference="tutelle 2"), now)
    for user in ("parent-1", "tutrice-1", "autre-1"):
        api.keys[user] = api.root.principals.add_user(user, CSSS, Role.USAGER, by="t", at=now).key
    mine = await api.get("/v1/me/register", "person")
    assert mine.status_code == 200, mine.text
    assert mine.json()["access"]["basis"] == "LRSSS-17"
    count = events(record)
    problem(await api.get("/v1/me/register?born=1990-01-01", "person"), 409, "facts_in_record")
    problem(await api.get(f"/v1/me/register?person={child}", "autre-1"), 403, "not_the_person_or_representative")
    assert events(record) == count
    got = await api.get(f"/v1/me/register?person={child}", "parent-1")
    assert got.status_code == 200, got.text
    assert (got.json()["person"], got.json()["access"]["basis"]) == (child, "LRSSS-23")
    last = got.json()["seen"][-1]
    assert (last["who"], last["role"], last["purpose"]) == ("parent-1", "parent", "autorite_parentale")
    refused = problem(await api.get(f"/v1/me/register?person={child}", "tutrice-1"), 403,
                      "lrsss_counterpart_not_located")
    assert "LSSSS-22" in refused["detail"] and "this refused access is recorded" in refused["detail"]
    assert [(d.actor_id, d.role, d.outcome.value) for d in api.root.disclosures.accesses(subject_id=child)] == [
        ("parent-1", Role.PARENT, "autorise"), ("tutrice-1", Role.REPRESENTATIVE, "refuse")]
