"""The log's HTTP client of witnesses: one POST of an add-checkpoint body; a transport failure is `Unreachable`.

A witness's certificate is checked against the public roots (certifi), or the CA file of ``SSL_CERT_FILE`` (httpx's
environment); a witness that requires client certificates (mTLS) is given the log's (`client_tls`)."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from domain.audit.witnessing import Answer

TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class WitnessUnreachable(Exception):
    """No HTTP answer (refused connection, timeout, TLS): the message says which."""


def client_tls(cert: Path, key: Path) -> ssl.SSLContext:
    """httpx's default verification (with ``SSL_CERT_FILE``), presenting this certificate chain and key.
    `OSError` or `ssl.SSLError` when a file is missing or not what it should be."""
    context = httpx.create_ssl_context()
    context.load_cert_chain(cert, key)
    return context


def post_add_checkpoint(
    url: str, body: bytes, timeout: httpx.Timeout = TIMEOUT, *, tls: ssl.SSLContext | None = None
) -> Answer:
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, verify=tls if tls is not None else True) as client:
            got = client.post(url, content=body, headers={"Content-Type": "text/plain; charset=utf-8"})
    except httpx.HTTPError as err:
        raise WitnessUnreachable(f"{type(err).__name__}: {err}") from None
    return Answer(got.status_code, got.headers.get("Content-Type", ""), got.content[: 1 << 16])
