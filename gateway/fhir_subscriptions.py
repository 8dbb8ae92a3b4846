"""`/fhir/Subscription`: Task status subscriptions after the Subscriptions R5 Backport IG for R4 (1.1.0).

A partner subscribes to the topic `domain.fhir.subscriptions.TOPIC` for the Tasks its own organisation owns
(`Task?owner=Organization/<its org>`, a rest-hook, id-only, heartbeats if it asks), reads its subscription and
its `$status`, and deletes it (status off). The same doors as /fhir: its API key (`Guard`), an Idempotency-Key on
every write, every failure an OperationOutcome; a refused request records nothing. The handshake (requested →
active or error), the heartbeats and the notifications are the worker's (`workflows.task_notifications`), signed
like the webhooks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from adapters.fhir import subscriptions as fs
from adapters.fhir.resources import FHIR_JSON
from adapters.temporal.subscriptions import start_subscription
from domain.fhir.subscriptions import SubscriptionRefused
from domain.principals.model import Principal
from gateway.cases import IdempotencyKey
from gateway.fhir import FHIR_RESPONSES, FhirJSONResponse, fhir, outcome_of, refusal
from gateway.guard import Guard, json_body, now, once
from gateway.problems import FieldProblem, ProblemError

if TYPE_CHECKING:
    from usecases.fhir_subscriptions import Subscriptions
    from workers.bootstrap import Root


def refused(err: BaseException) -> ProblemError | None:
    if isinstance(err, SubscriptionRefused):
        fields = [FieldProblem(field=err.field, message=err.message)] if err.field else None
        return ProblemError(err.status, err.message, code=err.code, errors=fields)
    return refusal(err)


async def answered(run: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return await run()
    except Exception as err:
        known = refused(err)
        if known is None:
            raise
        return fhir(outcome_of(known), known.status, known.headers)


async def kept(run: Callable[[], Awaitable[tuple[int, Any]]]) -> tuple[int, Any]:
    """(status, resource or OperationOutcome): a final refusal is an answer kept for its Idempotency-Key."""
    try:
        return await run()
    except Exception as err:
        known = refused(err)
        if known is None or not known.final:
            raise
        return known.status, outcome_of(known)


def routes(root: Root, guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/fhir", tags=["FHIR R4"], default_response_class=FhirJSONResponse)
    def uses() -> Subscriptions:  # the record is opened on the first request, not when the app is built
        return root.deliveries.subscriptions

    async def written(request: Request, principal: Principal, body: dict[str, Any], key: str | None,
                      run: Callable[[], Awaitable[tuple[int, Any]]]) -> Response:
        response = await once(root, request, principal, body, key, lambda: kept(run))
        response.headers["content-type"] = FHIR_JSON
        return response

    @router.post("/Subscription", status_code=201, responses=FHIR_RESPONSES)
    async def create_subscription(request: Request, idempotency_key: IdempotencyKey = None) -> Response:
        """Subscribe to the topic for the Tasks the caller's organisation owns: a rest-hook, id-only. Answers the
        Subscription, requested; the handshake follows (active on the endpoint's 2xx, error otherwise)."""
        async def run() -> Response:
            principal = await guard.principal(request)
            body = await json_body(request)

            async def create() -> tuple[int, Any]:
                asked = fs.asked(body, now())
                base = str(request.base_url).rstrip("/") + "/fhir"
                view = await run_in_threadpool(
                    uses().request, principal.org_id, asked.owner, asked.endpoint, asked.reason, asked.end, base,
                    idempotency_key or "", principal.actor, now(), asked.heartbeat_period)
                await start_subscription(await root.temporal.client(), root.settings.task_queue,
                                         view.subscription_id, view.heartbeat_period)
                return 201, fs.subscription(view)
            return await written(request, principal, body, idempotency_key, create)
        return await answered(run)

    @router.get("/Subscription/{subscription_id}", responses=FHIR_RESPONSES)
    async def read_subscription(subscription_id: str, request: Request) -> Response:
        """The caller's subscription, with its status (requested, active, error, off)."""
        async def run() -> Response:
            principal = await guard.principal(request)
            view = await run_in_threadpool(uses().view, subscription_id, principal.org_id)
            return fhir(fs.subscription(view))
        return await answered(run)

    @router.get("/Subscription/{subscription_id}/$status", responses=FHIR_RESPONSES)
    async def subscription_status(subscription_id: str, request: Request) -> Response:
        """`$status`: a searchset of one query-status Parameters (status, eventsSinceSubscriptionStart, error)."""
        async def run() -> Response:
            principal = await guard.principal(request)
            view = await run_in_threadpool(uses().view, subscription_id, principal.org_id)
            return fhir(fs.status_bundle(view))
        return await answered(run)

    @router.delete("/Subscription/{subscription_id}", responses=FHIR_RESPONSES)
    async def delete_subscription(subscription_id: str, request: Request,
                                  idempotency_key: IdempotencyKey = None) -> Response:
        """The caller's subscription turned off: nothing more is sent. Answers it, status off."""
        async def run() -> Response:
            principal = await guard.principal(request)

            async def off() -> tuple[int, Any]:
                view = await run_in_threadpool(uses().turn_off, subscription_id, principal.org_id, principal.actor,
                                               now())
                return 200, fs.subscription(view)
            return await written(request, principal, {}, idempotency_key, off)
        return await answered(run)

    return router
