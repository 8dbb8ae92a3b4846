"""What every request passes before a use case: its key or token (401; 429 for an address that failed too
often), its rate (429), its body (413, 422), and for a write its Idempotency-Key (the first answer again, or a
refusal when the key came with another request)."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from adapters.oidc.provider import ProviderUnavailable
from adapters.temporal import updates
from domain.principals.model import Principal, Unauthenticated
from domain.values import MAX_COMMAND_BYTES
from gateway.problems import MEDIA_TYPE, FieldProblem, ProblemError, translate
from gateway.tls import client_fingerprint

if TYPE_CHECKING:
    from workers.bootstrap import Root

MAX_BODY_BYTES = MAX_COMMAND_BYTES  # a body larger than a whole command cannot hold one: 413 before it is read
KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Buckets:
    """A token bucket per principal, in this process's memory: `rate` requests a second sustained, `burst` at
    once. One gateway process holds its own buckets; several processes behind a balancer would each allow the
    rate (a shared store would be needed to hold them to it together)."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _levels: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, who: str) -> float:
        """0 when a request may go now; otherwise the seconds until one may."""
        with self._lock:
            t = self.clock()
            level, last = self._levels.get(who, (float(self.burst), t))
            level = min(float(self.burst), level + (t - last) * self.rate)
            if level >= 1:
                self._levels[who] = (level - 1, t)
                return 0.0
            self._levels[who] = (level, t)
            return (1 - level) / self.rate

    def wait(self, who: str) -> float:
        """The seconds until `who` may take one (0: now), taking nothing."""
        with self._lock:
            t = self.clock()
            level, last = self._levels.get(who, (float(self.burst), t))
            level = min(float(self.burst), level + (t - last) * self.rate)
            return 0.0 if level >= 1 else (1 - level) / self.rate


class Guard:
    def __init__(self, root: Root) -> None:
        self.root = root
        self.buckets = Buckets(root.settings.gateway_rate, root.settings.gateway_burst)
        # failed authentications per client address: a guesser waits before its next key costs a scrypt run
        self.failures = Buckets(root.settings.gateway_auth_failure_rate, root.settings.gateway_auth_failure_burst)

    async def principal(self, request: Request) -> Principal:
        """The caller, from `Authorization: Bearer <key or token>`, read from the record now (a revocation holds
        at once), over this connection's client certificate (mutual TLS); then its rate. An address whose
        authentications failed past its bucket waits (429) before anything is checked."""
        address = request.client.host if request.client else "?"
        blocked = self.failures.wait(address)
        if blocked > 0:
            raise ProblemError(429, f"too many failed authentications from {address}: wait before trying again",
                               code="rate_limited", headers={"Retry-After": str(max(1, round(blocked + 0.5)))})
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("no bearer token")
            who: Principal = await run_in_threadpool(
                functools.partial(self.root.principals.authenticate_bearer, token.strip(), now(),
                                  client_cert=client_fingerprint(request.scope)))
        except Unauthenticated:
            self.failures.take(address)
            raise
        except ProviderUnavailable:
            raise ProblemError(503, "the identity provider's keys cannot be read now: retry later",
                               code="identity_provider_unavailable", headers={"Retry-After": "5"}) from None
        wait = self.buckets.take(f"{who.kind.value}:{who.principal_id}")
        if wait > 0:
            raise ProblemError(429, f"more than {self.buckets.rate:g} requests a second (burst "
                               f"{self.buckets.burst}) for {who.principal_id}", code="rate_limited",
                               headers={"Retry-After": str(max(1, round(wait + 0.5)))})
        return who


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object: 413 past MAX_BODY_BYTES (counted as it arrives, whatever Content-Length
    says), 422 when it is not JSON or not an object."""
    raw = await bounded_body(request, MAX_BODY_BYTES, too_large)
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f" line {err.lineno} column {err.colno}: {err.msg}" if isinstance(err, json.JSONDecodeError) else ""
        raise ProblemError(422, "the body is not valid JSON", errors=[
            FieldProblem(field="(body)", message=f"not valid JSON{':' if where else ''}{where}")]) from None
    if not isinstance(data, dict):
        raise ProblemError(422, "the body must be a JSON object", errors=[
            FieldProblem(field="(body)", message="expected an object")])
    return data


async def bounded_body(request: Request, limit: int, too_large: Callable[[], ProblemError]) -> bytes:
    """The body's bytes: `too_large()` raised past `limit` bytes (Content-Length first, then counted as it
    arrives, whatever Content-Length says)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large()
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise too_large()
    return bytes(raw)


def too_large() -> ProblemError:
    return ProblemError(413, f"a request body may not exceed {MAX_BODY_BYTES:,} bytes ({MAX_BODY_BYTES // 1024} KiB)",
                        code="body_too_large")


async def once(root: Root, request: Request, principal: Principal, body: dict[str, Any], key: str | None,
               run: Callable[[], Awaitable[tuple[int, Any]]]) -> JSONResponse:
    """Run a write once per Idempotency-Key: the same key with the same request returns the first answer and
    runs nothing; with another request it is refused (422); while the first runs, 409."""
    if not key:
        raise ProblemError(400, "a write needs an Idempotency-Key header", code="idempotency_key_required")
    if not KEY_RE.match(key):
        raise ProblemError(400, "Idempotency-Key: 1 to 200 letters, digits, '.', '_', ':' or '-'",
                           code="invalid_idempotency_key")
    fingerprint = hashlib.sha256(json.dumps([request.method, request.url.path, body], sort_keys=True,
                                            ensure_ascii=False).encode()).hexdigest()
    owner = f"{principal.kind.value}:{principal.principal_id}"
    store = root.idempotency
    kept = await run_in_threadpool(store.reserve, owner, key, fingerprint)
    if kept.request_id is None:  # the key's first request answered, or still running
        if kept.fingerprint != fingerprint:
            raise ProblemError(422, "this Idempotency-Key was used with another request", code="idempotency_key_reused")
        if kept.status is None:
            raise ProblemError(409, "the first request with this Idempotency-Key is still running",
                               code="idempotency_key_in_progress", headers={"Retry-After": "1"})
        return JSONResponse(kept.answer, status_code=kept.status, headers={"Idempotent-Replayed": "true"},
                            media_type=MEDIA_TYPE if kept.status >= 400 else None)
    try:
        with updates.sent_as(f"idem-{kept.request_id}"):  # the same ids when a taker runs it again
            status, answer = await run()  # run again after its gateway died: the same update ids, recorded once
    except ProblemError as err:
        await _settle(store, owner, key, err)
        raise
    except Exception as err:
        await _settle(store, owner, key, translate(err))
        raise
    await run_in_threadpool(store.keep, owner, key, status, answer)
    return JSONResponse(answer, status_code=status)


async def _settle(store: Any, owner: str, key: str, err: ProblemError | None) -> None:
    """A final refusal is kept as the key's answer; anything else (the engine did not answer) leaves the key to
    the same request's retry, which sends the same updates (`IdempotencyStore.release`)."""
    if err is not None and err.final:
        await run_in_threadpool(store.keep, owner, key, err.status, err.problem().model_dump(mode="json",
                                                                                          exclude_none=True))
    else:
        await run_in_threadpool(store.release, owner, key)
