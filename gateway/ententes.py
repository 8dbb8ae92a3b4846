"""`/v1/ententes`: draft an entente, read it, give it a command — the same command objects and rules as
`arrimage ententes`. Only a party acts or reads; a party signs, refuses, withdraws or gives notice for itself
only. A read is registered as an access (the entente's reads log, as `arrimage audit replay` registers one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from domain.audit.replay import AggregateKind, AggregateRef
from domain.disclosure.model import Outcome
from domain.ententes import commands as ec
from domain.ententes.model import EntenteCode
from domain.ententes.state import EntenteView
from domain.principals.access import check_entente_party, own_party
from gateway import bodies
from gateway.cases import READ_PROBLEMS, TIMEOUT, WRITE_PROBLEMS, Access, IdempotencyKey, body_of, ok, validated
from gateway.guard import Guard, json_body, now, once
from gateway.problems import FieldProblem, ProblemError

if TYPE_CHECKING:
    from workers.bootstrap import Root

CODE = TypeAdapter(EntenteCode)


class EntenteRead(BaseModel):
    entente: EntenteView
    access: Access


def entente_code(code: str) -> str:
    try:
        return str(CODE.validate_python(code))
    except ValidationError:
        raise ProblemError(422, "not an entente code", errors=[FieldProblem(
            field="code", message="an entente code, e.g. ENT-LAV-2026-01")]) from None


def routes(root: Root, guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/v1/ententes", tags=["ententes"])
    draft_body = TypeAdapter(bodies.DRAFT_ENTENTE)

    @router.post("", status_code=201, responses={**ok("EntenteView", 201), **WRITE_PROBLEMS},
                 openapi_extra=body_of("DraftEntenteBody"), response_class=JSONResponse)
    async def draft(request: Request, idempotency_key: IdempotencyKey = None) -> JSONResponse:
        """Draft an entente (version 1) of which the principal's organisation is a party."""
        principal = await guard.principal(request)
        body = await json_body(request)

        async def run() -> tuple[int, Any]:
            given = validated(lambda: draft_body.validate_python(body))
            cmd = validated(lambda: ec.DraftEntente.model_validate({**given.model_dump(), "by": principal.actor}))
            check_entente_party(principal, cmd.code, cmd.content)
            view = await root.entente_client.draft(cmd, TIMEOUT)
            return 201, view.model_dump(mode="json")

        return await once(root, request, principal, body, idempotency_key, run)

    @router.get("/{code}", responses={**ok("EntenteRead"), **READ_PROBLEMS}, response_class=JSONResponse)
    async def show(code: str, request: Request) -> JSONResponse:
        """The entente, for its parties; the read is registered in its reads log."""
        principal = await guard.principal(request)
        code = entente_code(code)
        view = await run_in_threadpool(root.ententes.view, code)
        check_entente_party(principal, code, view.content, view.proposed_content)
        read = await run_in_threadpool(lambda: root.replays.replay(
            AggregateRef(kind=AggregateKind.ENTENTE, key=code), role=principal.role, actor_id=principal.actor,
            moment=now()))
        if read.outcome is not Outcome.ALLOWED:
            raise ProblemError(403, f"the role {principal.role.value} does not read ententes from the record",
                               code="not_an_entente_reader")
        answer = EntenteRead(entente=view, access=Access(access_id=read.access_id, outcome=read.outcome.value))
        return JSONResponse(answer.model_dump(mode="json"))

    @router.post("/{code}/commands", responses={**ok("EntenteView"), **WRITE_PROBLEMS},
                 openapi_extra=body_of("EntenteCommandBody"), response_class=JSONResponse)
    async def act(code: str, request: Request, idempotency_key: IdempotencyKey = None) -> JSONResponse:
        """Any command of the entente (revise, submit, sign, refuse, withdraw, amend, renew, review, revoke)."""
        principal = await guard.principal(request)
        body = await json_body(request)
        code = entente_code(code)

        async def run() -> tuple[int, Any]:
            given = validated(lambda: bodies.ENTENTE_COMMAND.validate_python(body))
            view = await run_in_threadpool(root.ententes.view, code)
            check_entente_party(principal, code, view.content, view.proposed_content)
            data = {**given.model_dump(), "by": principal.actor}
            if "party_id" in data:
                data["party_id"] = own_party(principal, data["party_id"])
            cmd = validated(lambda: bodies.ENTENTE_COMMAND_REAL.validate_python(data))
            done = await root.entente_client.command(code, cmd, TIMEOUT)
            return 200, done.model_dump(mode="json")

        return await once(root, request, principal, body, idempotency_key, run)

    return router
