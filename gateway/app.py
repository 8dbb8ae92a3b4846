"""The gateway's application: `/v1` (cases, ententes), `/healthz`, `/readyz`, the OpenAPI 3.1 document at
`/v1/openapi.json` and its docs at `/v1/docs`; every failure a problem document (`gateway.problems`)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError

from adapters.telemetry.spans import RequestSpans
from adapters.temporal.errors import InternalFailure, NotCompleted, Unreachable
from domain.crisis.state import CaseView
from domain.ententes.state import EntenteView
from domain.episodes.state import EpisodeView
from domain.errors import DomainError
from gateway import audit, bodies, cases, ententes, episodes, fhir, fhir_audit, fhir_subscriptions, me, people
from gateway.guard import Guard
from gateway.portal import Portal
from gateway.problems import FieldProblem, Problem, ProblemError, translate

if TYPE_CHECKING:
    from workers.bootstrap import Root

log = logging.getLogger("arrimage.gateway")
# What `problems.translate` words, handled where the route raised them (Starlette's handler for `Exception`
# answers last, after its error middleware).
KNOWN: tuple[type[Exception], ...] = (ProblemError, DomainError, ValidationError, WorkflowUpdateFailedError,
                                      WorkflowAlreadyStartedError, Unreachable, NotCompleted, InternalFailure)
READY_TIMEOUT = 3.0
# FastAPI's own telemetry (0.13x on) writes a request's raw path and query in its spans and exception messages in
# its logs, where a case code or a person's id can be: off, for `adapters.telemetry.spans.RequestSpans`, which
# names a request by its route's template only.
NO_NATIVE_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})


async def http_error(_: Request, err: Exception) -> JSONResponse:
    """Starlette's HTTP errors (404, 405…) as problem documents."""
    assert isinstance(err, HTTPException)
    return ProblemError(err.status_code, str(err.detail), headers=err.headers).response()


def failure_handler(logger: logging.Logger, what: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    """The handler of a known failure (its problem document, `translate`) or of any other (a 500 problem, the
    traceback in `logger` as "<what>: unexpected failure")."""

    async def failure(_: Request, err: Exception) -> JSONResponse:
        known = translate(err)
        if known is None:
            logger.exception("%s: unexpected failure", what)
            known = ProblemError(500, f"unexpected failure: {type(err).__name__} (logged)")
        return known.response()

    return failure


def create_app(root: Root) -> FastAPI:
    app = FastAPI(
        title="arrimage partner gateway", version="1", openapi_url="/v1/openapi.json", docs_url="/v1/docs",
        redoc_url=None, **NO_NATIVE_TELEMETRY,
        description="Crisis cases and ententes for partner systems. `Authorization: Bearer <API key>` on /v1; "
                    "`Idempotency-Key` on every write; failures are RFC 9457 problem documents.",
    )
    # One server span per request, parent of the Temporal client's spans (so of the workflow's and activities').
    app.add_middleware(RequestSpans)
    guard = Guard(root)
    app.include_router(cases.routes(root, guard))
    app.include_router(ententes.routes(root, guard))
    app.include_router(episodes.routes(root, guard))  # épisodes de services: the CSSS's own people and systems
    app.include_router(fhir.routes(root, guard))
    app.include_router(fhir_subscriptions.routes(root, guard))  # /fhir/Subscription (the R4 backport)
    app.include_router(fhir_audit.routes(root, guard))  # /fhir/AuditEvent: the trail as IHE BALP AuditEvents
    app.include_router(me.routes(root, guard))  # /v1/me/register: « qui a vu mon dossier ? » (before /v1/me…)
    app.include_router(people.routes(root, guard))  # /v1/me, listings, a case's history (a person's CLI)
    app.include_router(audit.routes(root, guard))  # /v1/audit: replay, register, in the token's role
    app.state.portal = Portal(root)  # the partners' portal, /portail (its sessions: app.state.portal.sessions)
    app.include_router(app.state.portal.router())

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Live: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "not ready"}})
    async def readyz() -> JSONResponse:
        """Ready: the record answers a read and Temporal its health check."""
        found = {"record": "ok", "temporal": "ok"}
        try:
            await asyncio.wait_for(run_in_threadpool(lambda: root.record.recorder.max_notification_id()),
                                   READY_TIMEOUT)
        except Exception as err:
            found["record"] = type(err).__name__
        try:
            client = await asyncio.wait_for(root.temporal.client(), READY_TIMEOUT)
            await asyncio.wait_for(client.service_client.check_health(), READY_TIMEOUT)
        except Exception as err:
            found["temporal"] = type(err).__name__
        ready = all(v == "ok" for v in found.values())
        return JSONResponse({"status": "ready" if ready else "not ready", **found}, status_code=200 if ready else 503)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        fields = [FieldProblem(field=".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]), message=e["msg"])
                  for e in err.errors()]
        return ProblemError(422, f"{len(fields)} invalid field{'s' if len(fields) != 1 else ''}",
                            errors=fields).response()

    app.add_exception_handler(HTTPException, http_error)
    failure = failure_handler(log, "gateway")

    for kind in KNOWN:
        app.add_exception_handler(kind, failure)
    app.add_exception_handler(Exception, failure)  # the rest: a 500 problem, the traceback in the log

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                              openapi_version="3.1.0")
            components = doc.setdefault("components", {}).setdefault("schemas", {})
            components.update(bodies.schemas())
            components.update(bodies.response_schemas(CaseView, EntenteView, EpisodeView, cases.CaseRead,
                                                       cases.CaseReceipt, ententes.EntenteRead, episodes.EpisodeRead,
                                                       Problem))
            doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                                               "description": "an API key (ark_<kid>_<secret>), or a "
                                                               "person's token from the OIDC provider (a JWT)"}}
            for path, ops in doc["paths"].items():
                if path.startswith("/v1/"):
                    for op in ops.values():
                        op["security"] = [{"bearer": []}]
                        for param in op.get("parameters", []):
                            if param["name"] == "Idempotency-Key":
                                param["required"] = True  # checked after the key (401 first), so not by FastAPI
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
