"""Accesses and communications as FHIR R4 AuditEvents following IHE BALP (PatientRead, Query, Privacy
Disclosure at the source), validated by fhir.resources' R4B models (`adapters.fhir.auditevent`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from adapters.fhir.auditevent import (
    DISCLOSURE,
    PATIENT_READ,
    QUERY,
    access_event,
    audit_bundle,
    disclosure_event,
    record_read_event,
)
from domain.audit.record_reads import ReadKind, RecordRead
from domain.disclosure import rules
from domain.disclosure.commands import RequestAccess
from domain.disclosure.model import DisclosureContext, DossierItem, Outcome, SubjectStatus
from domain.disclosure.register import CommunicationEntry
from domain.disclosure.roles import ItemCategory, PurposeKind, Role
from tests.disclosure_builders import CONFIG

MOMENT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
ITEMS = [DossierItem(name="motif", category=ItemCategory.CLINICAL)]


def _json(ev: AuditEvent) -> dict[str, Any]:
    found: dict[str, Any] = ev.model_dump(mode="json")
    return found


def _codes(ev: AuditEvent) -> tuple[str, str, str, str, str]:
    j = _json(ev)
    return (j["type"]["system"], j["type"]["code"], j["subtype"][0]["system"], j["subtype"][0]["code"], j["action"])


def _decision(by: str, cid: str) -> object:
    req = RequestAccess(by=by, command_id=cid, role=Role.USAGER, subject_id="u-1", items=["motif"],
                        purpose=PurposeKind.SELF_ACCESS, moment=MOMENT)
    return rules.decide(req, DisclosureContext(subject=SubjectStatus(birth_date=date(1990, 1, 1)),
                                               dossier_items=ITEMS, consents=[]), CONFIG)


def test_an_access_is_the_balp_patient_read_pattern_and_a_refusal_a_minor_failure() -> None:
    ev = access_event(_decision("u-1", "acc-1"), "cisss-laval")  # type: ignore[arg-type]
    j = _json(ev)
    assert j["meta"]["profile"] == [PATIENT_READ]
    assert _codes(ev) == ("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest",
                          "http://hl7.org/fhir/restful-interaction", "read", "R")
    assert (j["outcome"], ev.recorded) == ("0", MOMENT)
    assert j["purposeOfEvent"][0]["coding"][0]["code"] == "PATRQT"
    user, server = j["agent"]
    assert (user["requestor"], user["who"]["identifier"]["value"], user["type"]["coding"][0]["code"]) == (
        True, "u-1", "usager")
    assert (server["requestor"], server["type"]["coding"][0]["code"]) == (False, "110152")
    patient, data = j["entity"]
    assert (patient["what"]["identifier"]["value"], patient["type"]["code"], patient["role"]["code"]) == (
        "u-1", "1", "1")
    assert (data["what"]["identifier"]["value"], data["type"]["code"]) == ("motif", "2")
    refused = _json(access_event(_decision("u-2", "acc-2"), "cisss-laval"))  # type: ignore[arg-type]
    assert refused["outcome"] == "4" and refused["outcomeDesc"].startswith("refused: not_the_person")
    assert AuditEvent.model_validate(ev.model_dump()) == ev  # round-trips the R4B model


def test_a_communication_is_the_balp_privacy_disclosure_at_the_source() -> None:
    """LRSSS s. 265 / LSSSS 27.2: nature, recipient, purpose, basis of each communication."""
    entry = CommunicationEntry(
        decision_id="com-1", subject_id="u-1", recipient_id="cc-laval", role=Role.PARTNER_ORG, nature=["motif"],
        purpose=PurposeKind.CONTINUITY, basis_code="CONSENTEMENT", consent_id="c-1", register_article="LRSSS-265",
        communicated_at=MOMENT, intended_use="sealed words")
    ev = disclosure_event(entry, "cisss-laval", discloser="int-1")
    j = _json(ev)
    assert j["meta"]["profile"] == [DISCLOSURE]
    assert _codes(ev) == ("http://dicom.nema.org/resources/ontology/DCM", "110106",
                          "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle", "disclose", "R")
    assert [(a["type"]["coding"][0]["code"], a["who"]["identifier"]["value"]) for a in j["agent"]] == [
        ("110153", "cisss-laval"), ("110152", "cc-laval"), ("discloser", "int-1")]
    assert j["purposeOfEvent"][0]["coding"][0]["code"] == "COC"
    assert j["outcomeDesc"] == "basis CONSENTEMENT; LRSSS-265"
    assert "sealed words" not in ev.model_dump_json()  # metadata only


def test_reads_across_persons_are_queries_and_a_partner_read_a_patient_read() -> None:
    listing = RecordRead(read_id="list-1", kind=ReadKind.ACCESS_LOG, actor_id="aud-1", role=Role.AUDITOR,
                         purpose=PurposeKind.AUDIT, moment=MOMENT, scope={"since": "2026-11-01"},
                         outcome=Outcome.REFUSED, rule="POL-AUDIT", reason="")
    q = record_read_event(listing, "cisss-laval")
    jq = _json(q)
    assert jq["meta"]["profile"] == [QUERY] and _codes(q)[3:] == ("search", "E") and jq["outcome"] == "4"
    (query,) = jq["entity"]
    assert (query["role"]["code"], query["detail"]) == ("24", [{"type": "since", "valueString": "2026-11-01"}])
    partner = listing.model_copy(update={"read_id": "p-1", "kind": ReadKind.PARTNER_CASE,
                                         "outcome": Outcome.ALLOWED, "moment": MOMENT + timedelta(minutes=1)})
    p = record_read_event(partner, "cisss-laval", subject_id="u-1")
    jp = _json(p)
    assert jp["meta"]["profile"] == [PATIENT_READ] and _codes(p)[3:] == ("read", "R") and jp["outcome"] == "0"
    assert jp["entity"][0]["what"]["identifier"]["value"] == "u-1"
    bundle = audit_bundle([p, q], MOMENT).model_dump(mode="json")
    assert Bundle.model_validate(bundle).type == "collection"
    assert [e["resource"]["id"] for e in bundle["entry"]] == [q.id, p.id]  # oldest first
