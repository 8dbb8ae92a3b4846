"""The codec server (`arrimage codec-server`): Temporal's remote codec protocol, so that operators can read a
workflow's history in Temporal's UI (or `temporal workflow show --codec-endpoint`), under the gateway's principals
and the disclosure rules. The default is to show nothing.

Protocol (Temporal's « Codec Server »): ``POST /decode`` (also ``/{namespace}/decode``, the CLI's templating) with
``{"payloads": [{"metadata": {key: base64}, "data": base64}]}`` (proto3 JSON: every bytes field in base64) and the
header ``X-Namespace``; the answer has the same shape. The UI sends ``Authorization: Bearer <its OIDC access token>``
when its codec setting « pass access token » is on (and only to an HTTPS endpoint), and calls from its own origin:
CORS allows the origins given (``--cors-origin``).

What happens, in this order:

1. **Who asks** (`gateway.guard.Guard.principal`, the gateway's own): an API key or an OIDC token of a known
   principal; none or unknown → 401, nothing decoded, nothing registered.
2. **The namespace**: ``X-Namespace`` (or the path's) must be the one the engine runs in → else 422.
3. **The body**: JSON, at most `MAX_BODY_BYTES`, at most `MAX_PAYLOADS` payloads, every bytes field valid base64
   → else 413/422, nothing registered.
4. **Whose payloads**: the workflow id each payload names in its metadata (``workflow-id``, written by the payload
   codec since this server: ``adapters.temporal.codec``; the UI sends none, and the key of a payload is derived from
   its workflow id, so without it nothing can be opened or decided). A payload encoded before that field, a v1
   payload, or one encoded outside a workflow stays encoded with a note (metadata ``arrimage-codec-note``).
   A payload that is not ours (not encrypted: development mode) is returned as it came.
5. **Opened in memory** per workflow; a person's key destroyed (`arrimage audit shred`) or a payload that does not
   open → stays encoded with a note, nothing registered (nothing was read).
6. **Decided and registered** per workflow before the answer (`usecases.audit.payload_reads`, rules in
   `domain.audit.payload_reads`): a person's file in the person's register, an entente's or a refusal made before
   any decision about a person in the record-level reads log. Allowed → decoded; refused → the payload exactly as
   it came (the UI shows it encoded).

``/encode`` is refused (403 ``encode_refused``, nothing registered): the UI calls it only to encode the input an
operator types to start, signal or update a workflow from the UI. Every command of this engine goes through its
typed clients, checked by the domain's rules and the update validators (the gateway, the CLI); and a payload
encoded here has no workflow context, so it would be bound to no workflow and no worker could open it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from temporalio.api.common.v1 import Payload

from adapters.temporal.codec import ENCODING, LEGACY_ENCODING, PayloadDecryptionError, PayloadErased, workflow_of
from domain.errors import DomainError
from gateway.app import failure_handler, http_error
from gateway.cases import reader
from gateway.guard import Guard, bounded_body, now
from gateway.problems import FieldProblem, ProblemError
from gateway.server import Gateway, _Server, tls_options

if TYPE_CHECKING:
    from workers.bootstrap import Root

log = logging.getLogger("arrimage.codec_server")
MAX_BODY_BYTES = 4 * 1024 * 1024  # one request of the UI: an event's payloads (a history page at most)
MAX_PAYLOADS = 1000
NOTE = "arrimage-codec-note"  # metadata added to a payload left encoded for a reason other than a refusal


def create_codec_app(root: Root, cors_origins: list[str]) -> FastAPI:
    app = FastAPI(title="arrimage codec server", version="1", openapi_url=None, docs_url=None, redoc_url=None)
    guard = Guard(root)
    namespace = root.settings.temporal_namespace

    async def decode(request: Request, path_namespace: str | None) -> JSONResponse:
        principal = await guard.principal(request)
        check_namespace(request, path_namespace, namespace)
        given = parse(await body(request))
        who = await run_in_threadpool(reader, root, principal)
        answer: list[Payload] = list(given)
        groups: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(given):
            encoding = p.metadata.get("encoding", b"")
            workflow = workflow_of(p)
            if workflow is not None:
                groups[workflow].append(i)
            elif encoding in (ENCODING, LEGACY_ENCODING):
                answer[i] = noted(p, "encoded outside a workflow or before the codec named its workflow "
                                     "(workflow-id): nobody can decide who may read it, so it stays encoded")
        for workflow, indices in groups.items():
            codec = root.payload_codec.for_workflow(workflow)
            try:
                opened = await codec.decode([given[i] for i in indices])
            except PayloadErased as err:
                for i in indices:
                    answer[i] = noted(given[i], f"{err}: nobody can read it any more")
                continue
            except PayloadDecryptionError as err:
                for i in indices:
                    answer[i] = noted(given[i], str(err))
                continue
            access = await run_in_threadpool(root.payload_reads.decide, workflow, who, principal.org_id, now(),
                                             {"namespace": namespace, "payloads": len(indices)})
            if access.allowed:
                for i, p in zip(indices, opened, strict=True):
                    answer[i] = p
        return JSONResponse({"payloads": [as_json(p) for p in answer]})

    async def encode(request: Request) -> JSONResponse:
        await guard.principal(request)
        raise ProblemError(403, "this codec server does not encode: commands go through the gateway or the CLI, "
                                "under the domain's rules (a payload encoded here would belong to no workflow)",
                           code="encode_refused")

    @app.post("/decode")
    async def decode_default(request: Request) -> JSONResponse:
        """Decode the payloads a principal may read; the others as they came (see the module docstring)."""
        return await decode(request, None)

    @app.post("/{path_namespace}/decode")
    async def decode_in(path_namespace: str, request: Request) -> JSONResponse:
        return await decode(request, path_namespace)

    @app.post("/encode")
    async def encode_default(request: Request) -> JSONResponse:
        """Refused: see the module docstring."""
        return await encode(request)

    @app.post("/{path_namespace}/encode")
    async def encode_in(path_namespace: str, request: Request) -> JSONResponse:
        return await encode(request)

    failure = failure_handler(log, "codec server")

    app.add_exception_handler(HTTPException, http_error)  # 404, 405: problem documents too
    for kind in (ProblemError, DomainError, Exception):
        app.add_exception_handler(kind, failure)
    app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["POST"], allow_credentials=True,
                       allow_headers=["Authorization", "Content-Type", "X-Namespace"])
    return app


def check_namespace(request: Request, path_namespace: str | None, namespace: str) -> None:
    asked = request.headers.get("x-namespace") or path_namespace
    if asked is not None and asked != namespace:
        raise ProblemError(422, f"namespace {asked!r}: this codec server decodes the namespace {namespace!r} only",
                           code="unknown_namespace")


async def body(request: Request) -> Any:
    raw = await bounded_body(request, MAX_BODY_BYTES, too_large)
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProblemError(422, "the body is not valid JSON", code="invalid_body") from None


def too_large() -> ProblemError:
    return ProblemError(413, f"a request body may not exceed {MAX_BODY_BYTES:,} bytes", code="body_too_large")


def parse(data: Any) -> list[Payload]:
    """`{"payloads": [...]}` as Payload messages: 422 naming the first bad field."""
    if not isinstance(data, dict) or not isinstance(data.get("payloads"), list):
        raise bad("payloads", 'expected {"payloads": [...]}')
    items = data["payloads"]
    if len(items) > MAX_PAYLOADS:
        raise ProblemError(422, f"at most {MAX_PAYLOADS} payloads a request, not {len(items)}",
                           code="too_many_payloads")
    return [payload(item, f"payloads[{i}]") for i, item in enumerate(items)]


def payload(item: Any, where: str) -> Payload:
    if not isinstance(item, dict):
        raise bad(where, "expected an object with metadata and data")
    metadata = item.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise bad(f"{where}.metadata", "expected an object of base64 values")
    return Payload(metadata={str(k): unbase64(v, f"{where}.metadata.{k}") for k, v in metadata.items()},
                   data=unbase64(item.get("data") or "", f"{where}.data"))


def unbase64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise bad(where, "expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad(where, "not valid base64") from None


def bad(where: str, message: str) -> ProblemError:
    return ProblemError(422, f"{where}: {message}", code="invalid_payloads",
                        errors=[FieldProblem(field=where, message=message)])


def noted(p: Payload, note: str) -> Payload:
    """The payload as it came, with why it stays encoded."""
    out = Payload()
    out.CopyFrom(p)
    out.metadata[NOTE] = note.encode()
    return out


def as_json(p: Payload) -> dict[str, Any]:
    return {"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
            "data": base64.b64encode(p.data).decode()}


class CodecServer(Gateway):
    """One uvicorn server on `host:port` (port 0: a free one), started and stopped as the gateway's; HTTPS with the
    gateway's certificate when set (the UI passes its access token to an HTTPS endpoint only)."""

    def __init__(self, root: Root, host: str, port: int, cors_origins: list[str]) -> None:
        tls = tls_options(root.settings)
        self.scheme = "https" if tls else "http"
        config = uvicorn.Config(create_codec_app(root, cors_origins), host=host, port=port, log_level="warning",
                                lifespan="off", access_log=False, server_header=False, **tls)
        self.server = _Server(config)
        self._task: asyncio.Task[None] | None = None
