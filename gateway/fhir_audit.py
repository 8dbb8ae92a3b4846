"""`GET /fhir/AuditEvent`: the record's accesses and communications as FHIR R4 AuditEvents following IHE Basic
Audit Log Patterns (`adapters.fhir.auditevent`), for an auditor's audit repository (issue 11).

A search (`patient`, `date=geT` / `date=ltT`) answered with a `searchset` Bundle. Auditors and supervisors, for an
audit (`domain.audit.reads.decide_record_read`): the search is itself an export, registered first in the
record-level reads log (`usecases.audit.reads.Reads.audit_trail`), allowed or refused (403 OperationOutcome with
the rule's code, only the refusal recorded).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from adapters.fhir.auditevent import trail_bundle
from gateway.cases import reader
from gateway.fhir import FHIR_RESPONSES, FhirJSONResponse, answered, fhir
from gateway.guard import Guard, now
from gateway.problems import FieldProblem, ProblemError
from usecases.audit.trail import knows

if TYPE_CHECKING:
    from workers.bootstrap import Root

MOMENT = TypeAdapter(AwareDatetime)


def period(dates: list[str]) -> tuple[datetime | None, datetime | None]:
    """`date=geT` (from T) and `date=ltT` (before T), T an instant with its offset; 422 otherwise."""
    since = until = None
    if len(dates) > 2:
        raise ProblemError(422, "date: at most geT and ltT", errors=[FieldProblem(field="date", message="3 or more")])
    for d in dates:
        try:
            if d[:2] not in ("ge", "lt"):
                raise ValueError(d)
            at = MOMENT.validate_python(d[2:])
        except (ValidationError, ValueError):
            raise ProblemError(422, "date: geT or ltT, T an instant with its offset",
                               errors=[FieldProblem(field="date", message=d)]) from None
        if d.startswith("ge"):
            since = at
        else:
            until = at
    return since, until


def routes(root: Root, guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/fhir", tags=["FHIR R4"], default_response_class=FhirJSONResponse)

    @router.get("/AuditEvent", responses=FHIR_RESPONSES)
    async def search_audit_events(
        request: Request,
        patient: Annotated[str | None, Query(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
                                             description="The person's opaque id: only what concerns them.")]
        = None,
        date: Annotated[list[str] | None, Query(description="geT and/or ltT: the period.")]
        = None,
    ) -> Response:
        """Every access and communication (about `patient`) as BALP AuditEvents: PatientRead for an access,
        Privacy Disclosure for a communication, Query for a read across persons. An export, registered first."""
        async def run() -> Response:
            principal = await guard.principal(request)
            since, until = period(date or [])
            if patient is not None and not await run_in_threadpool(knows, root.record, patient):
                raise ProblemError(404, f"the record holds nothing about person {patient}", code="not_found")
            who = await run_in_threadpool(reader, root, principal)
            at = now()
            trail = await run_in_threadpool(lambda: root.reads.audit_trail(who, at, person=patient, since=since,
                                                                           until=until))
            if not trail.read.allowed:
                raise ProblemError(403, f"{trail.read.reason} (this refused access is recorded: "
                                        f"{trail.read.read_id})", code="not_a_metadata_reader")
            bundle = trail_bundle(trail.decisions, trail.communications, trail.record_reads, trail.case_subjects,
                                  at, searchset=True)
            return fhir(bundle.model_dump(mode="json"))
        return await answered(run)

    return router
