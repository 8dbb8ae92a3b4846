"""The witness over HTTP or HTTPS (stdlib ``http.server``, one thread per connection, keep-alive): ``POST
<prefix>/add-checkpoint``; anything else is 404 or 405. The state file serialises the decisions.

TLS (`tls_context`): the witness's certificate and key, and with a client CA, client certificates required (mTLS:
only the logs holding one the CA signed connect), as the gateway does (`gateway.tls.server_options`), TLS 1.2 at
least. The handshake runs in the connection's own thread (`finish_request`), never in the accepting loop, so a
client that stalls it holds only its thread, for `HANDSHAKE_TIMEOUT`.

A per-client request limit (`RequestLimit`, by the peer's IP address): beyond it a request is answered 429 with
``Retry-After`` before anything is read or decided. A log publishes a few times a day; the limit is there for a
client that hammers the witness, each request costing a signature check and a write of its state file.
"""

from __future__ import annotations

import math
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from adapters.witness.service import Reply, Witness
from domain.audit.witnessing import ADD_CHECKPOINT, MAX_BODY_BYTES

HANDSHAKE_TIMEOUT = 10.0
"""Seconds a TLS client has to finish its handshake."""
IDLE_TIMEOUT = 60.0
"""Seconds a kept-alive connection may stay silent (or a request take to arrive) before it is closed."""


class RequestLimit:
    """At most `requests` per `per` seconds from one client (a token bucket per IP address: a burst of `requests`,
    then one every `per / requests` seconds). Thread-safe; `clock` is the monotonic clock unless a test gives
    another. Buckets refilled to the full are forgotten once more than `MAX_CLIENTS` are held."""

    MAX_CLIENTS = 10_000

    def __init__(self, requests: int, per: float, clock: Callable[[], float] = time.monotonic) -> None:
        if requests < 1 or per <= 0:
            raise ValueError(f"a request limit allows at least 1 request in a positive time, not {requests}/{per}s")
        self.requests = requests
        self.per = per
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when this request of `client` is allowed (and counted), else the seconds until the next one is."""
        rate = self.requests / self.per
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(client, (float(self.requests), now))
            tokens = min(float(self.requests), tokens + (now - at) * rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                self._forget_idle(now, rate)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / rate

    def _forget_idle(self, now: float, rate: float) -> None:
        if len(self._buckets) <= self.MAX_CLIENTS:
            return
        full = [c for c, (tokens, at) in self._buckets.items() if tokens + (now - at) * rate >= self.requests]
        for client in full:
            del self._buckets[client]


def tls_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """The server's TLS: its certificate chain and key; with `client_ca`, a client certificate that CA signed is
    required. `OSError` or `ssl.SSLError` when a file is missing or not what it should be."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class WitnessServer(ThreadingHTTPServer):
    """`ThreadingHTTPServer`, with TLS wrapped around each accepted connection in its own thread."""

    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            request.settimeout(HANDSHAKE_TIMEOUT)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):  # no certificate, a wrong one, plain HTTP, a stalled handshake
                request.close()
                return
            request.settimeout(None)
        super().finish_request(request, client_address)


def witness_server(
    witness: Witness,
    host: str,
    port: int,
    prefix: str = "",
    *,
    tls: ssl.SSLContext | None = None,
    limit: RequestLimit | None = None,
) -> WitnessServer:
    """A server bound to host:port (port 0: a free one, `server_address` says which); `serve_forever` runs it.
    With `tls`, HTTPS only (`tls_context`); with `limit`, each client's requests beyond it answered 429."""
    path = prefix.rstrip("/") + ADD_CHECKPOINT

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "arrimage-witness"
        timeout = IDLE_TIMEOUT  # a connection silent this long is closed (its thread freed)

        def _reply(self, reply: Reply, headers: dict[str, str] | None = None) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def _limited(self) -> bool:
            """Answered 429 (the connection closed: its body, unread, is not to be taken for the next request)."""
            wait = limit.take(self.client_address[0]) if limit is not None else 0.0
            if wait <= 0:
                return False
            self.close_connection = True
            self._reply(
                Reply(429, "text/plain; charset=utf-8", b"too many requests from this address\n"),
                {"Retry-After": str(max(1, math.ceil(wait))), "Connection": "close"},
            )
            return True

        def do_POST(self) -> None:
            if self._limited():
                return
            if self.path != path:
                self._reply(Reply(404, "text/plain; charset=utf-8", b"not found\n"))
                return
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY_BYTES:
                self.close_connection = True
                self._reply(Reply(400, "text/plain; charset=utf-8", b"a Content-Length up to the limit\n"))
                return
            self._reply(witness.handle(self.rfile.read(length)))

        def do_GET(self) -> None:
            if self._limited():
                return
            self._reply(Reply(405 if self.path == path else 404, "text/plain; charset=utf-8", b"POST only\n"))

        def log_message(self, format: str, *args: object) -> None:  # the stdlib names it so
            pass  # the CLI prints what it serves; no per-request noise on stderr

    server = WitnessServer((host, port), Handler)
    server.tls = tls
    return server
