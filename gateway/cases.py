"""`/v1/cases`: open a crisis case, read it, give it a command — the same command objects and rules as
`arrimage cases open|show|act`. The organisation acting is the principal's; a read is decided by the
disclosure rules and registered in the person's register (`usecases.audit.reads`) before it is answered."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from domain.audit.reads import CaseItem
from domain.crisis import commands as cc
from domain.crisis.model import CaseCode, new_case_code
from domain.crisis.state import CaseView
from domain.principals.access import check_case_party
from domain.principals.model import Principal
from gateway import bodies
from gateway.guard import Guard, json_body, now, once
from gateway.problems import FieldProblem, ProblemError, documented, invalid
from usecases.audit.reads import Reader

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


class CaseRead(BaseModel):
    case: CaseView
    access: Access


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
            data["case_code"] = data["case_code"] or new_case_code()
            cmd = validated(lambda: cc.OpenCase.model_validate(data))
            await run_in_threadpool(root.crisis_cases.check_opening, cmd, now())
            view = await root.case_client.open(cmd, TIMEOUT)
            return 201, view.model_dump(mode="json")

        return await once(root, request, principal, body, idempotency_key, run)

    @router.get("/{code}", responses={**ok("CaseRead"), **READ_PROBLEMS}, response_class=JSONResponse)
    async def show_case(code: str, request: Request) -> JSONResponse:
        """The case as its parties may see it: decided by the disclosure rules and registered as an access."""
        principal = await guard.principal(request)
        code = case_code(code)
        view = await run_in_threadpool(root.crisis_cases.view, code)
        await standing(root, principal, view)
        read = await run_in_threadpool(root.reads.case, code, CaseItem.STATE, reader(principal), now())
        decision = read.decision
        if read.view is None:
            refusal = decision.refusal
            raise ProblemError(403, refusal.reason if refusal else "the disclosure rules refuse this read",
                               code=refusal.code if refusal else "refused")
        basis = decision.basis.code if decision.basis else None
        answer = CaseRead(case=read.view, access=Access(access_id=decision.decision_id,
                                                        outcome=decision.outcome.value, basis=basis))
        return JSONResponse(answer.model_dump(mode="json"))

    @router.post("/{code}/commands", responses={**ok("CaseView"), **WRITE_PROBLEMS},
                 openapi_extra=body_of("CaseCommandBody"), response_class=JSONResponse)
    async def act(code: str, request: Request, idempotency_key: IdempotencyKey = None) -> JSONResponse:
        """Any command of the case (as `arrimage cases act --file`), for the principal's organisation."""
        principal = await guard.principal(request)
        body = await json_body(request)
        code = case_code(code)

        async def run() -> tuple[int, Any]:
            given = validated(lambda: bodies.CASE_COMMAND.validate_python(body))
            await standing(root, principal, await run_in_threadpool(root.crisis_cases.view, code))
            cmd = validated(lambda: bodies.case_command(given, principal))
            view = await root.case_client.act(code, cmd, TIMEOUT)
            return 200, view.model_dump(mode="json")

        return await once(root, request, principal, body, idempotency_key, run)

    return router


async def standing(root: Root, principal: Principal, view: CaseView) -> None:
    """The door to a case: a party (`not_a_party`), and for a partner an entente in force that lets it act
    (`no_entente_in_force`); refused before anything is decided or recorded."""
    check_case_party(principal, view)
    await run_in_threadpool(root.principals.check_case_standing, principal, view, now())


def reader(principal: Principal) -> Reader:
    return Reader.of(principal.actor, principal.role)
