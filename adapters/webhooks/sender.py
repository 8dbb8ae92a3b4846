"""The HTTP side of a delivery: one POST, signed, and what came of it. Never raises for the partner's failures.

What to do next (retry, give up) is the domain's decision (`domain.delivery.model.outcome_of`) from the status
this returns; only the kind of a failure is kept (`ConnectError`, `ReadTimeout`), never a response body.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from adapters.webhooks import signing

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_RETRY_AFTER = 600.0  # seconds: a partner's Retry-After beyond this is capped


@dataclass(frozen=True)
class Sent:
    status: int | None  # None: nothing answered
    error: str | None
    duration_ms: int
    retry_after: float | None = None  # from a 429/503 answer, in seconds


def encode(body: dict[str, Any]) -> bytes:
    """The bytes signed and sent: compact, keys sorted, UTF-8 (the same message encodes the same way)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookSender:
    def __init__(self, timeout: httpx.Timeout = TIMEOUT) -> None:
        self.timeout = timeout

    def post(self, url: str, secrets: Sequence[str], event_id: str, body: dict[str, Any],
             content_type: str = "application/json") -> Sent:
        """POST `body` signed with each of `secrets` (the current one first; a rotated one during its overlap);
        `content_type` application/fhir+json for a FHIR subscription's notification, signed the same way."""
        raw = encode(body)
        headers = signing.headers(secrets[0], event_id, int(time.time()), raw, also=secrets[1:])
        headers["Content-Type"] = content_type
        started = time.monotonic()
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                answer = client.post(url, content=raw, headers=headers)
        except httpx.HTTPError as err:
            return Sent(None, type(err).__name__, _ms(started))
        return Sent(answer.status_code, None, _ms(started), _retry_after(answer.headers.get("Retry-After")))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _retry_after(value: str | None) -> float | None:
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER) if value else None
    except ValueError:
        return None  # an HTTP date: the policy's own back-off is good enough
