"""The gateway's `/v1` API as `arrimage` calls it with a person's token (`Authorization: Bearer …`).

Every write carries an `Idempotency-Key`, made once per command and sent again on each retry: a command the
gateway received but whose answer was lost is answered again, never recorded twice. A write is retried when
nothing answered (connection refused or dropped, timeout), on 503/504 (the engine did not answer), on 409
`idempotency_key_in_progress` and on 429, after the `Retry-After` the gateway gives (capped). A read is
retried only when it could not be sent: a read the gateway received is itself an access, registered once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from adapters.gateway_client.errors import GatewayProblem, GatewayUnreachable

RETRIES = 4  # attempts of a write in all
MAX_WAIT = 5.0  # seconds between two attempts at most, whatever Retry-After says
AGAIN = frozenset({503, 504, 429})


class GatewayClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        # The gateway waits up to 30 s for a worker: a command may take that long before its answer.
        self._http = httpx.Client(base_url=self.base_url, transport=transport,
                                  timeout=httpx.Timeout(timeout + 15.0, connect=5.0),
                                  headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self._sleep = sleep

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ reads
    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """A read: its JSON answer, or `GatewayProblem` / `GatewayUnreachable`."""
        query = {k: [_param(x) for x in v] if isinstance(v, list) else _param(v)
                 for k, v in (params or {}).items() if v is not None and v is not False}
        try:
            response = self._http.get(path, params=query)
        except httpx.ConnectError:
            self._sleep(1.0)  # never sent: once more
            response = self._send(lambda: self._http.get(path, params=query))
        except httpx.TransportError as err:  # sent, perhaps received: a read is not sent twice
            raise GatewayUnreachable(self.base_url, _why(err)) from None
        return self._answer(response)

    # ------------------------------------------------------------------ writes
    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """A write, with one Idempotency-Key for every attempt: its JSON answer, or the gateway's problem."""
        headers = {"Idempotency-Key": f"cli-{uuid.uuid4().hex}"}
        last, wait = "no answer", 0.0
        for attempt in range(RETRIES):
            if attempt:
                self._sleep(wait)
            try:
                response = self._http.post(path, json=dict(body), headers=headers)
            except httpx.TransportError as err:  # sent or not, the same key makes a second attempt harmless
                last, wait = _why(err), min(2.0 ** attempt, MAX_WAIT)
                continue
            again = response.status_code in AGAIN or (
                response.status_code == 409 and _code(response) == "idempotency_key_in_progress")
            if not again or attempt == RETRIES - 1:
                return self._answer(response)
            last, wait = f"HTTP {response.status_code}", _retry_after(response, attempt)
        raise GatewayUnreachable(self.base_url, last)

    # ------------------------------------------------------------------ answers
    def _send(self, call: Callable[[], httpx.Response]) -> httpx.Response:
        try:
            return call()
        except httpx.TransportError as err:
            raise GatewayUnreachable(self.base_url, _why(err)) from None

    def _answer(self, response: httpx.Response) -> Any:
        if response.status_code < 400:
            return response.json()
        try:
            body = response.json()
        except ValueError:
            body = None
        problem = GatewayProblem.of(response.status_code, body, response.text)
        if response.status_code in (502, 503, 504):
            raise GatewayUnreachable(self.base_url, problem.detail)
        raise problem


def _param(value: Any) -> str:
    if value is True:
        return "true"
    iso = getattr(value, "isoformat", None)
    return str(iso() if callable(iso) else getattr(value, "value", value))


def _code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


def _retry_after(response: httpx.Response, attempt: int) -> float:
    given = response.headers.get("retry-after", "")
    return min(float(given), MAX_WAIT) if given.isdigit() else min(2.0 ** attempt, MAX_WAIT)


def _why(err: httpx.TransportError) -> str:
    if isinstance(err, httpx.TimeoutException):
        return "timed out"
    if isinstance(err, httpx.ConnectError):
        return "connection refused or no route"
    return type(err).__name__
