"""The CLI's gateway client (`adapters.gateway_client`, issue 10) against a real HTTP server on loopback that
answers as a gateway under strain would: a write is retried with the same Idempotency-Key (503, 504, 429, 409
`idempotency_key_in_progress`, no answer at all), each new write has a key of its own, a read the server received
is never sent twice, and a problem document is the gateway's refusal, not retried. The waits between attempts are
recorded instead of slept."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from adapters.gateway_client import GatewayProblem, GatewayUnreachable, ProblemField
from adapters.gateway_client.client import RETRIES, GatewayClient
from tests.e2e.harness import free_port

PROBLEM = "application/problem+json"


@dataclass
class Scripted:
    """The answers to give, in order (status, body, headers), and every request received."""

    answers: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[tuple[str, Scripted]]:
    script = Scripted()

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            size = int(self.headers.get("content-length") or 0)
            script.received.append({"method": self.command, "path": self.path,
                                    "key": self.headers.get("idempotency-key"),
                                    "auth": self.headers.get("authorization"),
                                    "body": json.loads(self.rfile.read(size)) if size else None})
            status, body, headers = script.answers.pop(0)
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", PROBLEM if status >= 400 else "application/json")
            self.send_header("content-length", str(len(raw)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = answer

        def log_message(self, *_: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


def client(url: str, waits: list[float]) -> GatewayClient:
    return GatewayClient(url, "ark_k1_secret", sleep=waits.append)


def test_a_write_is_retried_with_the_same_key_and_answered_once(server: tuple[str, Scripted]) -> None:
    url, script = server
    script.answers = [(503, {"status": 503}, {"Retry-After": "2"}),
                      (409, {"status": 409, "code": "idempotency_key_in_progress"}, {"Retry-After": "1"}),
                      (429, {"status": 429, "code": "rate_limited"}, {"Retry-After": "30"}),
                      (201, {"case_code": "C-ABCDEFGH23"}, {})]
    waits: list[float] = []
    done = client(url, waits).post("/v1/cases", {"territory": "laval"})
    assert done == {"case_code": "C-ABCDEFGH23"}
    assert [(r["method"], r["path"], r["body"], r["auth"]) for r in script.received] == [
        ("POST", "/v1/cases", {"territory": "laval"}, "Bearer ark_k1_secret")] * 4
    keys = {r["key"] for r in script.received}
    assert len(keys) == 1 and next(iter(keys)).startswith("cli-")
    assert waits == [2.0, 1.0, 5.0]  # Retry-After, capped at 5 s


def test_each_write_has_its_own_key(server: tuple[str, Scripted]) -> None:
    url, script = server
    script.answers = [(200, {}, {}), (200, {}, {})]
    gateway = client(url, [])
    gateway.post("/v1/cases/C-ABCDEFGH23/commands", {"type": "arrive"})
    gateway.post("/v1/cases/C-ABCDEFGH23/commands", {"type": "arrive"})
    assert len({r["key"] for r in script.received}) == 2


def test_a_refusal_is_not_retried(server: tuple[str, Scripted]) -> None:
    url, script = server
    script.answers = [(422, {"type": "urn:arrimage:problem:invalid-input", "title": "invalid input", "status": 422,
                             "detail": "1 invalid field",
                             "errors": [{"field": "territory", "message": "not in the expected form"}]}, {}),
                      (409, {"type": "urn:arrimage:problem:out-of-turn", "title": "conflict", "status": 409,
                             "detail": "not now", "code": "out_of_turn"}, {})]
    gateway = client(url, [])
    with pytest.raises(GatewayProblem) as invalid:
        gateway.post("/v1/cases", {"territory": "Laval!"})
    assert (invalid.value.status, invalid.value.code, invalid.value.errors) == (
        422, None, (ProblemField("territory", "not in the expected form"),))
    with pytest.raises(GatewayProblem) as late:
        gateway.post("/v1/cases/C-ABCDEFGH23/commands", {"type": "arrive"})
    assert (late.value.status, late.value.code, late.value.detail) == (409, "out_of_turn", "not now")
    assert len(script.received) == 2


def test_a_read_received_is_not_sent_again(server: tuple[str, Scripted]) -> None:
    url, script = server
    script.answers = [(503, {"status": 503, "detail": "the engine does not answer"}, {"Retry-After": "5"})]
    with pytest.raises(GatewayUnreachable, match="the engine does not answer"):
        client(url, []).get("/v1/cases/C-ABCDEFGH23")
    assert len(script.received) == 1  # a read is an access, registered: never twice for one command


def test_a_gateway_that_does_not_answer_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    waits: list[float] = []
    with pytest.raises(GatewayUnreachable) as write:
        client(url, waits).post("/v1/cases", {})
    assert write.value.why == "connection refused or no route"
    assert waits == [1.0, 2.0, 4.0][:RETRIES - 1]
    with pytest.raises(GatewayUnreachable):
        client(url, []).get("/v1/me")
