"""`/v1/cases`: open a crisis case, read it, give it a command — the same command objects and rules as
`arrimage cases open|show|act`. The organisation acting is the principal's. A read by the CISSS's own people is
decided by the disclosure rules and registered in the person's register (`usecases.audit.reads`) before it
is answered; a partner's read answers its operational view, registered in the record-level reads log."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from adapters.temporal import updates
from domain.audit.reads import CaseItem
from domain.crisis import commands as cc
from domain.crisis.model import CaseCode, case_code_for, new_case_code
from domain.crisis.partner_view import PartnerCaseView
from domain.crisis.state import CaseStage, CaseView
from domain.disclosure.model import Decision
from domain.disclosure.roles import PurposeKind
from domain.principals.access import check_case_party
from domain.principals.model import Principal
from domain.principals.standing import needs_entente
from gateway import bodies
from gateway.guard import Guard, json_body, now, once
from gateway.problems import FieldProblem, ProblemError, documented, invalid
from usecases.audit.reads import Reader
from usecases.audit.replays import ReaderFacts

if TYPE_CHECKING:
    from workers.bootstrap import Root

TIMEOUT = 30.0  # seconds a command may wait for a worker (then 504: retry with the same Idempotency-Key)
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description=(
    "Required on writes: the same key with the same body returns the first answer and records nothing new; "
    "with another body it is refused (422). 1-200 of A-Z a-z 0-9 . _ : -"))]
WRITE_PROBLEMS = documented(400, 401, 403, 404, 409, 413, 422, 429, 503, 504)
READ_PROBLEMS = documented(401, 403, 404, 422, 429)
CODE = TypeAdapter(CaseCode)
T = TypeVar("T")


class Access(BaseModel):
    """The read, as registered: its decision id, outcome, and the basis that allowed it."""

    access_id: str
    outcome: str
    basis: str | None = None

    @classmethod
    def decided(cls, decision: Decision) -> Access:
        """A read the disclosure rules allowed: its basis, or the metadata rule for a read of metadata only."""
        basis = decision.basis.code if decision.basis else decision.metadata_basis
        return cls(access_id=decision.decision_id, outcome=decision.outcome.value, basis=basis)


def read_refused(decision: Decision) -> ProblemError:
    """A read the disclosure rules refused, as its 403: the refusal's (or the first withheld item's) reason and
    code, and the id under which the refusal is recorded."""
    refusal = decision.refusal
    withheld = next(iter(decision.withheld), None)
    return ProblemError(403, f"{refusal.reason if refusal else withheld.reason if withheld else 'refused'} "
                        f"(this refused access is recorded: {decision.decision_id})",
                        code=refusal.code if refusal else withheld.code if withheld else "refused")


class CaseRead(BaseModel):
    """The CISSS's own people: the case as the disclosure rules let their role read it."""

    case: CaseView
    access: Access


class PartnerCaseRead(BaseModel):
    """A partner (an organisation other than the case's CISSS, its system or its people): its own part of the
    case, and of the intake only what a registered handoff sending gave it (`domain.crisis.partner_view`);
    `access.basis` is the rule the read was registered under."""

    case: PartnerCaseView
    access: Access


class CaseReceipt(BaseModel):
    """What a command by a partner answers: the case's code, its stage, who must act now and how many events it
    holds; never the case's content. The full `CaseView` holds the intake's characterisation, the subject id and
    the other teams' attempts: a partner reads its own part of the case through `GET /v1/cases/{code}`, a
    registered read (`PartnerCaseRead`); the CISSS's own people, whose case it is, get the `CaseView`."""

    case_code: str
    stage: CaseStage
    holder: str | None
    event_count: int

    @classmethod
    def of(cls, view: CaseView) -> CaseReceipt:
        return cls(case_code=view.case_code, stage=view.stage, holder=view.holder, event_count=view.event_count)


def body_of(name: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{name}"}}}}}


def ok(model: str, status: int = 200) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": "done", "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model}"}}}}}


def case_code(code: str) -> str:
    try:
        return str(CODE.validate_python(code))
    except ValidationError:
        raise ProblemError(422, "not a case code", errors=[FieldProblem(
            field="code", message="C- and 10 letters or digits 2-7 (e.g. C-ABCDEFGH23)")]) from None


def validated(build: Callable[[], T]) -> T:
    """A body or command built, its invalid fields as a 422 problem."""
    try:
        return build()
    except ValidationError as err:
        raise invalid(err) from None


def routes(root: Root, guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/v1/cases", tags=["crisis cases"])
    intake = TypeAdapter(bodies.OPEN_CASE)

    @router.post("", status_code=201, responses={**ok("CaseView", 201), **WRITE_PROBLEMS},
                 openapi_extra=body_of("OpenCaseBody"), response_class=JSONResponse)
    async def open_case(request: Request, idempotency_key: IdempotencyKey = None) -> JSONResponse:
        """Open a case from an intake (as `arrimage cases open --file`); `by` and `actor_org` are the principal's."""
        principal = await guard.principal(request)
        body = await json_body(request)

        async def run() -> tuple[int, Any]:
            given = validated(lambda: intake.validate_python(body))
            data = {**given.model_dump(), "by": principal.actor, "actor_org": principal.org_id}
            request_id = updates.current_request()  # run again after its gateway died: the same code
            data["case_code"] = data["case_code"] or (case_code_for(request_id) if request_id else new_case_code())
            cmd = validated(lambda: cc.OpenCase.model_validate(data))
            planned = root.case_client.planned_command_id(cmd.case_code)  # run again: its own opening is no duplicate
            await run_in_threadpool(root.crisis_cases.check_opening,
                                    cmd.model_copy(update={"command_id": planned}) if planned else cmd, now())
            view = await root.case_client.open(cmd, TIMEOUT)
            return 201, view.model_dump(mode="json")

        return await once(root, request, principal, body, idempotency_key, run)

    @router.get("/{code}", responses={**read_answer(), **READ_PROBLEMS}, response_class=JSONResponse)
    async def show_case(code: str, request: Request) -> JSONResponse:
        """The case as its parties may see it, registered as an access. The CISSS's own people: the case as the
        disclosure rules decide for their role and registered authorisations (`CaseRead`). A partner: its
        operational view (`PartnerCaseRead`): its attempts, intervention, follow-ups, referrals and deadlines,
        and only the intake items a registered handoff sending gave it."""
        principal = await guard.principal(request)
        code = case_code(code)
        view = await run_in_threadpool(root.crisis_cases.view, code)
        await standing(root, principal, view)
        if needs_entente(principal, view):
            return await partner_read(root, principal, code)
        who = await run_in_threadpool(reader, root, principal)
        read = await run_in_threadpool(root.reads.case, code, CaseItem.STATE, who, now())
        decision = read.decision
        if read.view is None:
            refusal = decision.refusal
            raise ProblemError(403, refusal.reason if refusal else "the disclosure rules refuse this read",
                               code=refusal.code if refusal else "refused")
        basis = decision.basis.code if decision.basis else None
        answer = CaseRead(case=read.view, access=Access(access_id=decision.decision_id,
                                                        outcome=decision.outcome.value, basis=basis))
        return JSONResponse(answer.model_dump(mode="json"))

    @router.post("/{code}/commands", responses={**command_answer(), **WRITE_PROBLEMS},
                 openapi_extra=body_of("CaseCommandBody"), response_class=JSONResponse)
    async def act(code: str, request: Request, idempotency_key: IdempotencyKey = None) -> JSONResponse:
        """Any command of the case (as `arrimage cases act --file`), for the principal's organisation. Answers the
        `CaseView` to the CISSS's own people, a `CaseReceipt` (no content) to a partner."""
        principal = await guard.principal(request)
        body = await json_body(request)
        code = case_code(code)

        async def run() -> tuple[int, Any]:
            given = validated(lambda: bodies.CASE_COMMAND.validate_python(body))
            await standing(root, principal, await run_in_threadpool(root.crisis_cases.view, code))
            cmd = validated(lambda: bodies.case_command(given, principal))
            view = await root.case_client.act(code, cmd, TIMEOUT)
            answer: BaseModel = CaseReceipt.of(view) if needs_entente(principal, view) else view
            return 200, answer.model_dump(mode="json")

        return await once(root, request, principal, body, idempotency_key, run)

    return router


async def standing(root: Root, principal: Principal, view: CaseView) -> None:
    """The door to a case: a party (`not_a_party`), and for a partner an entente in force that lets it act, or
    the case held since before that entente ended (`no_entente_in_force`, `domain.principals.standing`);
    refused before anything is decided or recorded."""
    check_case_party(principal, view)
    await run_in_threadpool(root.principals.check_case_standing, principal, view, now())


async def partner_read(root: Root, principal: Principal, code: str) -> JSONResponse:
    """A partner's view of the case, registered once in the record-level reads log (allowed or refused)."""
    who = Reader.of(principal.actor, principal.role, PurposeKind.CONTINUITY)  # a partner reads for continuity
    done = await run_in_threadpool(root.reads.partner_case, code, principal.org_id, who, now())
    read = done.read
    if done.view is None:
        raise ProblemError(403, read.reason, code="read_refused")
    answer = PartnerCaseRead(case=done.view, access=Access(access_id=read.read_id, outcome=read.outcome.value,
                                                           basis=read.rule))
    return JSONResponse(answer.model_dump(mode="json"))


def command_answer() -> dict[int | str, dict[str, Any]]:
    """`POST /v1/cases/{code}/commands` answers the case to its CISSS, a receipt to a partner."""
    refs = [{"$ref": f"#/components/schemas/{name}"} for name in ("CaseView", "CaseReceipt")]
    return {200: {"description": "done: the case (its CISSS) or a receipt (a partner)",
                  "content": {"application/json": {"schema": {"anyOf": refs}}}}}


def read_answer() -> dict[int | str, dict[str, Any]]:
    """`GET /v1/cases/{code}` answers one of two reads, by who asks (FastAPI puts both in the components)."""
    return {200: {"description": "the case as the caller may see it", "model": CaseRead | PartnerCaseRead}}


def reader(root: Root, principal: Principal) -> Reader:
    """Who reads, in the principal's role, with a person's access authorisations (R-22.1, r. 1, s. 8) as
    registered on their account (`arrimage users authorise`), read from the record now: a withdrawal or an
    expiry holds from the next request. Reads the record: call it in the thread pool."""
    facts = ReaderFacts(authorisations=root.principals.authorisations(principal))
    return Reader.of(principal.actor, principal.role, facts=facts)
