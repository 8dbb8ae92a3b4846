"""Task, ServiceRequest, Consent, Bundle, OperationOutcome and CapabilityStatement as FHIR JSON: each built as
a plain mapping, then validated by its `fhir.resources` model (a resource that does not validate is a bug here,
raised, never sent), then dumped as the model writes it.

Identifiers are arrimage's own (opaque codes, never a name): organisations, the person's pseudonymous id and the
case code under `urn:arrimage:*` systems; the references are logical (`identifier`), as the IG allows when the
resources live on different servers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from adapters.fhir.auditevent import DISCLOSURE, PATIENT_READ, QUERY
from domain.disclosure.model import ConsentState, ConsentView
from domain.fhir.subscriptions import TOPIC
from domain.fhir.task_states import TaskStatus
from domain.fhir.tasks import TaskFacts

FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "4.0.1"
ORG = "urn:arrimage:organisation"
SUBJECT = "urn:arrimage:subject"
CASE = "urn:arrimage:case"
SERVICE = "urn:arrimage:service"
BUSINESS = "urn:arrimage:task-business-status"
PROBLEM = "urn:arrimage:problem"
ITEM = "urn:arrimage:dossier-item"
PURPOSE = "urn:arrimage:purpose"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"
# The IG's Task.output type for what was done in fulfilment of the referral.
SDOHCC_CODES = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"


def _org(org_id: str, name: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"type": "Organization", "identifier": {"system": ORG, "value": org_id}}
    if name:
        ref["display"] = name
    return ref


def _person(subject_id: str | None) -> dict[str, Any]:
    """The person, by their opaque id; withheld (None) as FHIR says it: data-absent-reason `masked`."""
    if subject_id is None:
        return {"extension": [{"url": DATA_ABSENT, "valueCode": "masked"}]}
    return {"type": "Patient", "identifier": {"system": SUBJECT, "value": subject_id}}


DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"


def _at(moment: datetime) -> str:
    return moment.isoformat()


def _dump(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = model.model_dump(mode="json")
    return out


def task(facts: TaskFacts) -> dict[str, Any]:
    data: dict[str, Any] = {
        "resourceType": "Task", "id": facts.task_id,
        "meta": {"lastUpdated": _at(facts.last_modified)},
        "identifier": [{"system": f"{CASE}:task", "value": facts.task_id}],
        "groupIdentifier": {"system": CASE, "value": facts.case_code},
        "status": facts.status.value,
        "businessStatus": {"coding": [{"system": BUSINESS, "code": facts.business_status}],
                           "text": facts.business_status},
        "intent": "order",
        "code": {"coding": [{"system": TASK_CODE, "code": "fulfill"}]},
        "focus": {"reference": f"ServiceRequest/{facts.task_id}"},
        "authoredOn": _at(facts.authored_on),
        "lastModified": _at(facts.last_modified),
        "requester": _org(facts.requester),
        "owner": _org(facts.owner, facts.owner_name),
    }
    if facts.subject_id is not None:  # Task.for is optional: left out when withheld
        data["for"] = _person(facts.subject_id)
    if facts.status_reason:
        data["statusReason"] = {"text": facts.status_reason}
    if facts.started or facts.ended:
        data["executionPeriod"] = {k: _at(v) for k, v in (("start", facts.started), ("end", facts.ended)) if v}
    if facts.service_given:
        data["output"] = [{
            "type": {"coding": [{"system": SDOHCC_CODES, "code": "resulting-activity"}],
                     "text": "service given: the person reached the receiving service"},
            "valueCodeableConcept": {"coding": [{"system": SERVICE, "code": facts.service}],
                                     "text": facts.service_given},
        }]
    return _dump(Task.model_validate(data))


REQUEST_STATUS = {
    TaskStatus.DRAFT: "draft", TaskStatus.REQUESTED: "active", TaskStatus.ACCEPTED: "active",
    TaskStatus.IN_PROGRESS: "active", TaskStatus.ON_HOLD: "on-hold", TaskStatus.COMPLETED: "completed",
    TaskStatus.REJECTED: "revoked", TaskStatus.CANCELLED: "revoked", TaskStatus.FAILED: "revoked",
    TaskStatus.ENTERED_IN_ERROR: "entered-in-error",
}
CONSENT_STATUS = {ConsentState.VALID: "active", ConsentState.NOT_YET_VALID: "proposed",
                  ConsentState.EXPIRED: "inactive", ConsentState.WITHDRAWN: "inactive"}


def service_request(facts: TaskFacts, consent: ConsentView | None, now: datetime) -> dict[str, Any]:
    """The request a Task fulfils; `consent`, when the person's consent is the basis for sharing the intake with
    the team, contained and named in supportingInfo."""
    data: dict[str, Any] = {
        "resourceType": "ServiceRequest", "id": facts.task_id,
        "identifier": [{"system": f"{CASE}:request", "value": facts.task_id}],
        "status": REQUEST_STATUS[facts.status], "intent": "order",
        "code": {"coding": [{"system": SERVICE, "code": facts.service}]},
        "subject": _person(facts.subject_id),
        "authoredOn": _at(facts.authored_on),
        "requester": _org(facts.requester),
        "performer": [_org(facts.owner, facts.owner_name)],
    }
    if consent is not None:
        data["contained"] = [consent_resource(consent, now, "consent")]
        data["supportingInfo"] = [{"reference": "#consent", "display": "the person's consent to the sharing"}]
    return _dump(ServiceRequest.model_validate(data))


def consent_resource(view: ConsentView, now: datetime, local_id: str) -> dict[str, Any]:
    """The person's consent as it stands `now`: its purpose, recipients, items and period, and the provision its
    capacity decision relied on."""
    data: dict[str, Any] = {
        "resourceType": "Consent", "id": local_id,
        "identifier": [{"system": "urn:arrimage:consent", "value": view.consent_id}],
        "status": CONSENT_STATUS[view.state_at(now)],
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": _person(view.subject_id),
        "dateTime": _at(view.granted_at),
        "policyRule": {"text": view.capacity_article},
        "provision": {
            "type": "permit",
            "period": {"start": _at(view.valid_from), "end": _at(view.valid_until)},
            "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                            "code": "IRCP"}]},
                       "reference": _org(r)} for r in view.recipients],
            "purpose": [{"system": PURPOSE, "code": view.purpose.value}],
            "code": [{"coding": [{"system": ITEM, "code": item}]} for item in view.items],
        },
    }
    return _dump(Consent.model_validate(data))


def bundle(resources: Iterable[dict[str, Any]], base: str) -> dict[str, Any]:
    found = list(resources)
    data = {"resourceType": "Bundle", "type": "searchset", "total": len(found), "entry": [
        {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
        for r in found]}
    return _dump(Bundle.model_validate(data))


ISSUE_TYPE = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
              409: "conflict", 413: "too-long", 415: "not-supported", 422: "invalid", 429: "throttled",
              503: "transient", 504: "timeout"}


def outcome(status: int, detail: str, code: str | None = None, fields: Iterable[str] = ()) -> dict[str, Any]:
    """A failure as an OperationOutcome: the rule's code in details.coding, the invalid fields in expression."""
    issue: dict[str, Any] = {"severity": "error", "code": ISSUE_TYPE.get(status, "exception"), "diagnostics": detail,
                             "details": {"text": detail}}
    if code:
        issue["details"]["coding"] = [{"system": PROBLEM, "code": code}]
    where = [f for f in fields if f]
    if where:
        issue["expression"] = where
    return _dump(OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": [issue]}))


def capability_statement(published: datetime) -> dict[str, Any]:
    search = [{"name": "owner", "type": "reference"}, {"name": "requester", "type": "reference"},
              {"name": "status", "type": "token"}, {"name": "_id", "type": "token"}]
    data = {
        "resourceType": "CapabilityStatement", "status": "active", "date": _at(published), "kind": "instance",
        "software": {"name": "arrimage"}, "implementation": {"description": "arrimage partner gateway, /fhir"},
        "fhirVersion": FHIR_VERSION, "format": [FHIR_JSON], "instantiates": [BACKPORT_SERVER],
        "rest": [{
            "mode": "server",
            "documentation": "Authorization: Bearer <API key>; Idempotency-Key on PUT. Tasks follow the SDOH "
                             "Clinical Care IG's referral Task state machine; a responder's status change is the "
                             "case's own command.",
            "security": {"description": "API keys per partner organisation (Bearer)"},
            "resource": [
                {"type": "Task", "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "update"}],
                 "versioning": "no-version", "updateCreate": False, "searchParam": search},
                {"type": "ServiceRequest", "interaction": [{"code": "read"}]},
                subscription_capability(),
                {"type": "AuditEvent", "interaction": [{"code": "search-type"}],  # to auditors: the record's trail
                 "supportedProfile": [PATIENT_READ, QUERY, DISCLOSURE],
                 "searchParam": [{"name": "patient", "type": "reference"}, {"name": "date", "type": "date"}]},
            ],
        }],
    }
    return _dump(CapabilityStatement.model_validate(data))


BACKPORT_SERVER = "http://hl7.org/fhir/uv/subscriptions-backport/CapabilityStatement/backport-subscription-server-r4"
TOPIC_CANONICAL = ("http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                   "capabilitystatement-subscriptiontopic-canonical")
STATUS_OPERATION = "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status"


def subscription_capability() -> dict[str, Any]:
    """Subscription (the R4 backport): the one topic advertised, create/read/delete and $status."""
    return {"type": "Subscription",
            "extension": [{"url": TOPIC_CANONICAL, "valueCanonical": TOPIC}],
            "supportedProfile": ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                                 "backport-subscription"],
            "interaction": [{"code": "create"}, {"code": "read"}, {"code": "delete"}],
            "operation": [{"name": "status", "definition": STATUS_OPERATION}],
            "documentation": f"Topic {TOPIC}: a Task of a handoff or a referral created or its status changed. "
                             "Filter Task?owner=Organization/<your organisation> (yours only); channel rest-hook "
                             "to https (or loopback http); payload application/fhir+json, id-only; heartbeats "
                             "(backport-heartbeat-period) 60 s to a day. Notifications are signed like the webhooks "
                             "(Arrimage-Signature)."}


def task_change(body: dict[str, Any]) -> tuple[str | None, str, str | None, str | None]:
    """What a PUT Task asks, once the body validates as a Task: its id, status, statusReason.text and
    businessStatus.text (a referral's intake worker, on acceptance). Raises pydantic's ValidationError."""
    given = Task.model_validate(body)
    reason = given.statusReason.text if given.statusReason is not None else None
    business = given.businessStatus.text if given.businessStatus is not None else None
    return given.id, str(given.status), reason, business
