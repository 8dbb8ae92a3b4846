"""The record's accesses and communications as FHIR R4 AuditEvent resources, following IHE Basic Audit Log
Patterns (BALP, https://profiles.ihe.net/ITI/BALP/), so that an organisation's audit repository (an ATNA or
FHIR audit record repository) can take them. Validated by fhir.resources' R4B models (as `resources`).

- an access decision about one person (`AccessDecided`; a partner's operational read of a case) is the
  **PatientRead** pattern: type `rest`, subtype `read`, action `R`, the user as requestor, the person as the
  patient entity (object role 1), the items read as data entities; a refusal is outcome 4 (minor failure);
- a communication outside the care team (`CommunicationRegistered`, LRSSS s. 265) is the **Privacy
  Disclosure** pattern as recorded at the source: type DICOM 110106 « Export », subtype ISO 21089 `disclose`,
  the institution as source (DICOM 110153), the recipient as destination (DICOM 110152), its purpose of use;
- a read across persons (listings, the access log, an export: `RecordReadEntry`) is the **Query** pattern:
  type `rest`, subtype `search`, action `E`, its filters as the query entity's details.

Metadata only: the items are named (their kind), never their content; identifiers are the record's opaque ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from domain.audit.record_reads import ReadKind, RecordRead
from domain.disclosure.model import Decision, Outcome
from domain.disclosure.register import CommunicationEntry
from domain.disclosure.roles import PurposeKind

NAMESPACE = UUID("6c1e9a57-2f0b-4d3e-8a71-5b9c0d2e4f18")
BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"
PATIENT_READ = BALP + "IHE.BasicAudit.PatientRead"
QUERY = BALP + "IHE.BasicAudit.Query"
DISCLOSURE = BALP + "IHE.BasicAudit.PrivacyDisclosure.Source"

EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
PURPOSE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ROLES = "urn:arrimage:role"  # the record's roles (domain.disclosure.roles.Role)
ITEMS = "urn:arrimage:item"  # the record's item names
SUBJECTS = "urn:arrimage:subject"  # the record's opaque person ids
ACTORS = "urn:arrimage:actor"  # user ids and partner organisation ids

# Purposes of use (HL7 v3 ActReason) for the record's purposes; ours in `urn:arrimage:purpose` beside it.
PURPOSE_OF_USE: dict[PurposeKind, tuple[str, str]] = {
    PurposeKind.CARE: ("TREAT", "treatment"),
    PurposeKind.SELF_ACCESS: ("PATRQT", "patient requested"),
    PurposeKind.CONTINUITY: ("COC", "coordination of care"),
    PurposeKind.EMERGENCY: ("ETREAT", "Emergency Treatment"),
    PurposeKind.RESEARCH: ("HRESCH", "healthcare research"),
    PurposeKind.MANDATE: ("HOPERAT", "healthcare operations"),
    PurposeKind.LEGAL_POWER: ("COMPL", "compliance"),
    PurposeKind.HEIR_RIGHTS: ("FAMRQT", "family requested"),
    PurposeKind.CAUSE_OF_DEATH: ("FAMRQT", "family requested"),
    PurposeKind.GENETIC: ("FAMRQT", "family requested"),
    PurposeKind.PARENTAL: ("PWATRNY", "power of attorney"),
    PurposeKind.REPRESENTATION: ("PWATRNY", "power of attorney"),
    PurposeKind.AUDIT: ("HSYSADMIN", "health system administration"),
}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def _purpose(purpose: PurposeKind) -> list[dict[str, Any]]:
    code, display = PURPOSE_OF_USE[purpose]
    return [{"coding": [_coding(PURPOSE, code, display), _coding("urn:arrimage:purpose", purpose.value)]}]


def _source(site: str) -> dict[str, Any]:
    return {"site": site, "observer": {"display": "arrimage"},
            "type": [_coding(SOURCE_TYPE, "4", "Application Server")]}


def _user(actor_id: str, role: str) -> dict[str, Any]:
    return {"type": {"coding": [_coding(ROLES, role)]}, "who": {"identifier": {"system": ACTORS, "value": actor_id}},
            "requestor": True}


def _system(role_code: str, display: str, who: str) -> dict[str, Any]:
    return {"type": {"coding": [_coding(DCM, role_code, display)]},
            "who": {"identifier": {"system": ACTORS, "value": who}}, "requestor": False}


def _patient(subject_id: str) -> dict[str, Any]:
    return {"what": {"identifier": {"system": SUBJECTS, "value": subject_id}},
            "type": _coding(ENTITY_TYPE, "1", "Person"), "role": _coding(OBJECT_ROLE, "1", "Patient")}


def _data(items: Iterable[str]) -> list[dict[str, Any]]:
    return [{"what": {"identifier": {"system": ITEMS, "value": i}}, "type": _coding(ENTITY_TYPE, "2", "System Object")}
            for i in items]


def _id(kind: str, ref: str) -> str:
    return str(uuid5(NAMESPACE, f"{kind}:{ref}"))


def _outcome(outcome: Outcome) -> tuple[str, str | None]:
    return ("0", None) if outcome is not Outcome.REFUSED else ("4", "refused")


def access_event(d: Decision, site: str) -> AuditEvent:
    """An access decision about one person: BALP PatientRead (a refusal: outcome 4 with its code)."""
    code, _ = _outcome(d.outcome)
    items = d.allowed if d.outcome is not Outcome.REFUSED else d.requested
    basis = d.basis.code if d.basis else d.metadata_basis
    desc = f"{d.outcome.value}; basis {basis}; {d.log_article}" if basis else f"{d.outcome.value}; {d.log_article}"
    if d.refusal is not None:
        desc = f"refused: {d.refusal.code} ({d.refusal.article})"
    return AuditEvent.model_validate({
        "resourceType": "AuditEvent", "id": _id("access", d.decision_id), "meta": {"profile": [PATIENT_READ]},
        "type": _coding(EVENT_TYPE, "rest", "Restful Operation"), "subtype": [_coding(RESTFUL, "read", "read")],
        "action": "R", "recorded": d.moment, "outcome": code, "outcomeDesc": desc,
        "purposeOfEvent": _purpose(d.purpose),
        "agent": [_user(d.actor_id, d.role.value), _system("110152", "Destination Role ID", site)],
        "source": _source(site), "entity": [_patient(d.subject_id), *_data(items)],
    })


def disclosure_event(e: CommunicationEntry, site: str, discloser: str | None = None) -> AuditEvent:
    """A communication entered in the register (LRSSS s. 265 / LSSSS 27.2): BALP Privacy Disclosure at the source."""
    agents = [_system("110153", "Source Role ID", site), _system("110152", "Destination Role ID", e.recipient_id)]
    if discloser is not None:
        agents.append(_user(discloser, "discloser"))
    return AuditEvent.model_validate({
        "resourceType": "AuditEvent", "id": _id("disclosure", e.decision_id), "meta": {"profile": [DISCLOSURE]},
        "type": _coding(DCM, "110106", "Export"),
        "subtype": [_coding(LIFECYCLE, "disclose", "Disclose Record Lifecycle Event")],
        "action": "R", "recorded": e.communicated_at, "outcome": "0",
        "outcomeDesc": f"basis {e.basis_code}; {e.register_article or ''}".strip("; "),
        "purposeOfEvent": _purpose(e.purpose), "agent": agents, "source": _source(site),
        "entity": [_patient(e.subject_id), *_data(e.nature)],
    })


def record_read_event(r: RecordRead, site: str, subject_id: str | None = None) -> AuditEvent:
    """A read across persons: BALP Query; a partner's read of one person's case (its subject known): PatientRead."""
    code, _ = _outcome(r.outcome)
    details = [{"type": k, "valueString": v} for k, v in sorted(r.scope.items())]
    query = {"what": {"identifier": {"system": "urn:arrimage:read", "value": r.kind.value}},
             "type": _coding(ENTITY_TYPE, "2", "System Object"), "role": _coding(OBJECT_ROLE, "24", "Query"),
             **({"detail": details} if details else {})}
    one = r.kind is ReadKind.PARTNER_CASE and subject_id is not None
    return AuditEvent.model_validate({
        "resourceType": "AuditEvent", "id": _id("record-read", r.read_id),
        "meta": {"profile": [PATIENT_READ if one else QUERY]},
        "type": _coding(EVENT_TYPE, "rest", "Restful Operation"),
        "subtype": [_coding(RESTFUL, "read", "read") if one else _coding(RESTFUL, "search", "search")],
        "action": "R" if one else "E", "recorded": r.moment, "outcome": code,
        "outcomeDesc": f"{r.outcome.value}: {r.rule}", "purposeOfEvent": _purpose(r.purpose),
        "agent": [_user(r.actor_id, r.role.value), _system("110152", "Destination Role ID", site)],
        "source": _source(site), "entity": [*([_patient(subject_id)] if one and subject_id else []), query],
    })


def audit_bundle(events: Iterable[AuditEvent], at: datetime, *, searchset: bool = False) -> Bundle:
    """The events as one Bundle, oldest first: a `collection` as an audit repository imports it, or the
    `searchset` answering `GET /fhir/AuditEvent` (with its total and each entry's search mode)."""
    found = sorted(events, key=lambda e: (e.recorded.isoformat() if e.recorded else "", e.id or ""))
    search = {"search": {"mode": "match"}} if searchset else {}
    return Bundle.model_validate({
        "resourceType": "Bundle", "type": "searchset" if searchset else "collection", "timestamp": at,
        **({"total": len(found)} if searchset else {}),
        "entry": [{"fullUrl": f"urn:uuid:{e.id}", "resource": e, **search} for e in found],
    })


SITE = "arrimage"  # the audit source: this engine (an institution may name its own in front of its repository)


def trail_bundle(decisions: Iterable[Decision], communications: Iterable[CommunicationEntry],
                 record_reads: Iterable[RecordRead], case_subjects: Mapping[str, str], at: datetime,
                 site: str = SITE, *, searchset: bool = False) -> Bundle:
    """An audit trail (`usecases.audit.reads.AuditTrail`'s parts) as one Bundle: each communication once, as its
    Privacy Disclosure (with the actor of its decision as discloser), every other decision as a PatientRead, each
    read across persons as a Query (a partner's read of a case as a PatientRead of the case's subject)."""
    found = list(decisions)
    actors = {d.decision_id: d.actor_id for d in found}
    sent = list(communications)
    communicated = {e.decision_id for e in sent}
    events = [access_event(d, site) for d in found if d.decision_id not in communicated]
    events += [disclosure_event(e, site, actors.get(e.decision_id)) for e in sent]
    events += [record_read_event(r, site, case_subjects.get(r.scope.get("case", "")) if r.kind is
                                 ReadKind.PARTNER_CASE else None) for r in record_reads]
    return audit_bundle(events, at, searchset=searchset)
