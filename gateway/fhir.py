"""`/fhir`: handoffs and personalised referrals as FHIR R4 Task and ServiceRequest (`application/fhir+json`).

The same doors as /v1: the caller is its API key (`Guard`), only a party of the case in standing reads or
acts (`gateway.cases.standing`), every read is decided by the disclosure rules and registered (`Reads.case`, as
`GET /v1/cases/{code}`), and a partner's status change is the case command it stands for
(`domain.fhir.task_states.partner_command`), given through the same case client with the same
Idempotency-Key handling as `POST /v1/cases/{code}/commands`. Failures are OperationOutcomes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from adapters.fhir import resources as fr
from domain.audit.reads import CaseItem
from domain.crisis.model import CandidateKind
from domain.disclosure.model import ConsentView
from domain.disclosure.roles import PurposeKind
from domain.errors import DomainError, NotFound
from domain.fhir.task_states import Setter, TaskKind, TaskRefused, TaskStatus, check_transition, partner_command
from domain.fhir.tasks import TaskFacts, for_party, parse_task_id, task, tasks
from domain.principals.model import Principal
from domain.principals.standing import needs_entente
from gateway.cases import TIMEOUT, IdempotencyKey, reader, standing
from gateway.guard import Guard, json_body, now, once
from gateway.problems import ProblemError, translate
from usecases.audit.reads import Reader

if TYPE_CHECKING:
    from usecases.crisis import CrisisCases
    from workers.bootstrap import Root

FHIR_RESPONSES: dict[int | str, dict[str, Any]] = {
    s: {"description": d, "content": {fr.FHIR_JSON: {}}} for s, d in (
        (401, "unauthenticated (OperationOutcome)"), (403, "forbidden (OperationOutcome)"),
        (404, "not found (OperationOutcome)"), (409, "conflict (OperationOutcome)"),
        (422, "invalid (OperationOutcome)"), (429, "too many requests (OperationOutcome)"))}


class FhirJSONResponse(JSONResponse):
    """What every /fhir route answers: its OpenAPI document says `application/fhir+json` for 200 too."""

    media_type = fr.FHIR_JSON


def fhir(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return FhirJSONResponse(body, status_code=status, headers=headers)


def outcome_of(err: ProblemError) -> dict[str, Any]:
    return fr.outcome(err.status, err.detail, err.code, (e.field for e in err.errors or []))


def refusal(err: BaseException) -> ProblemError | None:
    if isinstance(err, TaskRefused):
        return ProblemError(err.status, err.message, code=err.code)
    return translate(err)


async def answered(run: Callable[[], Awaitable[Response]]) -> Response:
    """The route's answer, or its failure as an OperationOutcome with the status and headers /v1 would give."""
    try:
        return await run()
    except Exception as err:
        known = refusal(err)
        if known is None:
            raise  # the app's handler: a 500, the traceback in the log
        return fhir(outcome_of(known), known.status, known.headers)


def routes(root: Root, guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/fhir", tags=["FHIR R4"], default_response_class=FhirJSONResponse)

    async def visible(code: str, principal: Principal, only: str | None = None) -> list[TaskFacts]:
        """The case's Tasks the caller may read, to a party in standing (as /v1). The CISSS's people: every
        Task, once the disclosure rules allowed the read (registered either way). A partner: the Tasks it owns
        or requested, without the person's id (`for_party`), its read registered once in the record-level reads
        log, as GET /v1/cases/{code} registers it. `only`: one Task, found before anything is registered (a Task
        that does not exist, or not the caller's to see, is a 404 that records nothing)."""
        view = await run_in_threadpool(root.crisis_cases.view, code)
        await standing(root, principal, view)
        partner = needs_entente(principal, view)
        if only is not None:
            wanted = task(view, only)
            if wanted is None or (partner and for_party(wanted, principal.org_id) is None):
                raise NotFound(f"no Task {only}")
        if partner:
            who = Reader.of(principal.actor, principal.role, PurposeKind.CONTINUITY)
            done = await run_in_threadpool(root.reads.partner_case, code, principal.org_id, who, now())
            if done.view is None:
                raise ProblemError(403, done.read.reason, code="read_refused")
            return [t for t in (for_party(f, principal.org_id) for f in tasks(view)) if t is not None]
        reading = await run_in_threadpool(reader, root, principal)  # its role, its registered authorisations
        read = await run_in_threadpool(root.reads.case, code, CaseItem.STATE, reading, now())
        if read.view is None:
            why = read.decision.refusal
            raise ProblemError(403, why.reason if why else "the disclosure rules refuse this read",
                               code=why.code if why else "refused")
        return tasks(read.view)

    async def located(task_id: str, principal: Principal) -> TaskFacts:
        found = next((t for t in await visible(case_of(task_id), principal, task_id) if t.task_id == task_id), None)
        if found is None:
            raise NotFound(f"no Task {task_id}")
        return found

    @router.get("/metadata", responses=FHIR_RESPONSES)
    async def metadata() -> Response:
        """The CapabilityStatement: what this server does with Task and ServiceRequest."""
        return fhir(fr.capability_statement(now()))

    @router.get("/Task/{task_id}", responses=FHIR_RESPONSES)
    async def read_task(task_id: str, request: Request) -> Response:
        """One Task, to a party of its case, once the disclosure rules allowed the read."""
        async def run() -> Response:
            principal = await guard.principal(request)
            found = await located(task_id, principal)
            return fhir(fr.task(found))
        return await answered(run)

    @router.get("/Task", responses=FHIR_RESPONSES)
    async def search_tasks(request: Request, owner: str | None = None, requester: str | None = None,
                           status: str | None = None, _id: Annotated[str | None, Query(alias="_id")] = None,
                           ) -> Response:
        """The Tasks the caller's organisation owns or requested, matching the filters: one read decided and
        registered per case that has any; a case whose read is refused is left out."""
        async def run() -> Response:
            principal = await guard.principal(request)
            wanted = Search.of(owner, requester, status, _id)
            found = await search(principal, wanted)
            return fhir(fr.bundle((fr.task(t) for t in found), str(request.base_url).rstrip("/") + "/fhir"))
        return await answered(run)

    async def search(principal: Principal, wanted: Search) -> list[TaskFacts]:
        out: list[TaskFacts] = []
        for code, ids in await run_in_threadpool(candidates, principal, wanted):
            try:
                shown = await visible(code, principal)
            except (ProblemError, DomainError):
                continue  # not in standing, or the read refused (and registered as refused)
            out.extend(t for t in shown if t.task_id in ids)
        return out

    def candidates(principal: Principal, wanted: Search) -> list[tuple[str, set[str]]]:
        return task_candidates(root.crisis_cases, principal.org_id, wanted)

    @router.get("/ServiceRequest/{request_id}", responses=FHIR_RESPONSES)
    async def read_service_request(request_id: str, request: Request) -> Response:
        """The request a Task fulfils; for a handoff to a community organisation under the person's consent, that
        consent (contained)."""
        async def run() -> Response:
            principal = await guard.principal(request)
            found = await located(request_id, principal)
            consent = await run_in_threadpool(sharing_consent, found)
            return fhir(fr.service_request(found, consent, now()))
        return await answered(run)

    def sharing_consent(facts: TaskFacts) -> ConsentView | None:
        if facts.kind is not TaskKind.HANDOFF or facts.subject_id is None:  # None: a partner's read, no person
            return None
        case = root.crisis_cases.get(facts.case_code)
        attempt = next(a for a in case.view().attempts if a.number == facts.number)
        sharing = case.handoff_sharing
        if attempt.candidate.kind is not CandidateKind.COMMUNITY_ORG or sharing is None or not sharing.consent_key:
            return None
        try:
            return root.disclosures.consent(facts.subject_id, sharing.consent_key)
        except NotFound:
            return None

    @router.put("/Task/{task_id}", responses=FHIR_RESPONSES)
    async def update_task(task_id: str, request: Request, idempotency_key: IdempotencyKey = None) -> Response:
        """The Task's owner changes its status: accepted, rejected (statusReason.text), in-progress (a handoff's
        team is with the person), completed (a referral's person reached the service); the case command it stands
        for is given for the owner's organisation. The same status again records nothing."""
        async def run() -> Response:
            principal = await guard.principal(request)
            body = await json_body(request)
            response = await once(root, request, principal, body, idempotency_key,
                                  lambda: change(task_id, principal, body))
            response.headers["content-type"] = fr.FHIR_JSON
            return response
        return await answered(run)

    async def change(task_id: str, principal: Principal, body: dict[str, Any]) -> tuple[int, Any]:
        """(status, Task or OperationOutcome): a refusal is an answer kept for its Idempotency-Key like any other."""
        try:
            given_id, given_status, reason, business = fr.task_change(body)
            if given_id != task_id:
                raise ProblemError(422, f"the Task's id ({given_id}) is not the one in the URL ({task_id})",
                                   code="id_mismatch")
            try:
                wanted = TaskStatus(given_status)
            except ValueError:
                raise ProblemError(422, f"{given_status} is not a Task status of the IG",
                                   code="unknown_task_status") from None
            code = case_of(task_id)
            view = await run_in_threadpool(root.crisis_cases.view, code)
            await standing(root, principal, view)
            current = task(view, task_id)
            partner = needs_entente(principal, view)
            if current is None or (partner and for_party(current, principal.org_id) is None):
                raise NotFound(f"no Task {task_id}")  # another organisation's Task is not shown to exist

            def answer(facts: TaskFacts) -> dict[str, Any]:
                shown = for_party(facts, principal.org_id) if partner else facts
                return fr.task(shown if shown is not None else facts)

            if wanted is current.status:
                return 200, answer(current)
            if principal.org_id != current.owner:
                setter = Setter.REQUESTER if principal.org_id == current.requester else None
                if setter is not None:
                    check_transition(current.status, wanted, setter)
                raise TaskRefused(f"only the Task's owner ({current.owner}) changes its status over FHIR",
                                  code="not_task_owner", status=403)
            cmd = partner_command(current.kind, current.team_id, current.status, wanted, reason=reason,
                                  intake_worker=business, by=principal.actor, org=principal.org_id,
                                  number=current.number)
            after = await root.case_client.act(code, cmd, TIMEOUT)
            changed = task(after, task_id)
            return 200, answer(changed if changed is not None else current)
        except Exception as err:
            known = refusal(err)
            if known is None or not known.final:
                raise
            return known.status, outcome_of(known)

    return router


def task_candidates(cases: CrisisCases, org_id: str, wanted: Search, *, from_view: bool = True,
                    ) -> list[tuple[str, set[str]]]:
    """The cases with Tasks `org_id` owns or requested that match, and those Tasks' ids: the cases the listings
    view says name `org_id` (`CrisisCases.naming`, a superset; `from_view=False`: every case of the scan of the
    notification log), narrowed by `_id` (`Search.cases`), each loaded and its Tasks decided on here."""
    found = []
    for code, _ in wanted.cases(cases.naming(org_id, from_view=from_view)):
        view = cases.view(code)
        mine = {t.task_id for t in tasks(view) if org_id in (t.owner, t.requester) and wanted.matches(t)}
        if mine:
            found.append((code, mine))
    return found


def case_of(task_id: str) -> str:
    parsed = parse_task_id(task_id)
    if parsed is None:
        raise NotFound(f"no Task or ServiceRequest {task_id} (ids are <case code>-h<n> or -r<n>)")
    return parsed[0]


class Search:
    """The search parameters a partner's poll uses (SDOHCC "Checking Task Status"): owner and requester as
    `Organization/<id>`, `<system>|<id>` or `<id>`; status; _id (comma-separated)."""

    def __init__(self, owner: str | None, requester: str | None, status: str | None, ids: str | None) -> None:
        self.owner, self.requester = owner, requester
        self.statuses = set(status.split(",")) if status else None
        self.ids = set(ids.split(",")) if ids else None

    @classmethod
    def of(cls, owner: str | None, requester: str | None, status: str | None, ids: str | None) -> Search:
        return cls(org_param(owner), org_param(requester), status, ids)

    def cases(self, listed: list[tuple[str, datetime]]) -> list[tuple[str, datetime]]:
        """The cases of `listed` that may hold a matching Task: with `_id`, only those its Task ids name (a Task's
        id begins with its case's code), so a poll by id loads those cases and not every case of the record."""
        if self.ids is None:
            return listed
        named = {parsed[0] for parsed in map(parse_task_id, self.ids) if parsed is not None}
        return [(code, at) for code, at in listed if code in named]

    def matches(self, t: TaskFacts) -> bool:
        return ((self.owner is None or t.owner == self.owner)
                and (self.requester is None or t.requester == self.requester)
                and (self.statuses is None or t.status.value in self.statuses)
                and (self.ids is None or t.task_id in self.ids))


def org_param(value: str | None) -> str | None:
    if value is None:
        return None
    return value.rpartition("|")[2].removeprefix("Organization/")
