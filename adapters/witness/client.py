"""The log's HTTP client of witnesses: one POST of an add-checkpoint body; a transport failure is `Unreachable`."""

from __future__ import annotations

import httpx

from domain.audit.witnessing import Answer

TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class WitnessUnreachable(Exception):
    """No HTTP answer (refused connection, timeout, TLS): the message says which."""


def post_add_checkpoint(url: str, body: bytes, timeout: httpx.Timeout = TIMEOUT) -> Answer:
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            got = client.post(url, content=body, headers={"Content-Type": "text/plain; charset=utf-8"})
    except httpx.HTTPError as err:
        raise WitnessUnreachable(f"{type(err).__name__}: {err}") from None
    return Answer(got.status_code, got.headers.get("Content-Type", ""), got.content[:1 << 16])
