"""A partner's system as the tests simulate it: a real HTTP server on loopback that checks every delivery with
the README's verification snippet (the block marked `webhook-verify`, run as written), answers as a partner
would (2xx taken or duplicate, 401 forged or late, or what the test makes it answer), and keeps what it got."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
STATUS = {"ok": 200, "duplicate": 200, "forged": 401, "late": 401}


def readme_verify() -> Callable[..., str]:
    """The README's ten lines, compiled from the README itself: what a partner copies is what is tested."""
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- webhook-verify", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(block, "README.md (Webhooks)", "exec"), namespace)
    verify: Callable[..., str] = namespace["verify"]
    return verify


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    verdict: str
    status: int

    @property
    def message(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


@dataclass
class Receiver:
    """`secret` is set once the endpoint is registered (registration needs the receiver's URL first). `answer`
    overrides the status by verdict (a partner down for a while answers 503). `hold` gives, by the POST's number
    (1, 2, …), the seconds the partner waits before answering: a slow partner, or one that hangs (longer than the
    sender waits); `holding` counts the POSTs held at this moment. A hold ends early when the receiver stops."""

    secret: str = ""
    answer: Callable[[str], int] = lambda verdict: STATUS[verdict]
    hold: Callable[[int], float] = lambda number: 0.0
    got: list[Delivery] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    port: int = 0
    holding: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/arrimage"

    def taken(self) -> list[Delivery]:
        return [d for d in self.got if d.verdict == "ok"]


@contextmanager
def receiving(receiver: Receiver | None = None) -> Iterator[Receiver]:
    """Serve `receiver` on a free loopback port for the duration of the block."""
    partner = receiver or Receiver()
    verify = readme_verify()
    lock = threading.Lock()
    stopping = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                try:
                    verdict = verify(partner.secret, self.headers, body, partner.seen)
                except (KeyError, ValueError):
                    verdict = "forged"
                status = partner.answer(verdict)
                partner.got.append(Delivery(dict(self.headers.items()), body, verdict, status))
                wait = partner.hold(len(partner.got))
                partner.holding += wait > 0
            if wait > 0:
                stopping.wait(wait)
                with lock:
                    partner.holding -= 1
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:  # the sender gave up waiting and closed the connection
                pass

        def log_message(self, *_: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    partner.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield partner
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()


def dead_url() -> str:
    """A loopback URL where nothing listens (a port taken then freed): every POST is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/arrimage"


async def arrived(receiver: Receiver, count: int, *, within: float = 30.0) -> list[Delivery]:
    """Wait (in real time, bounded) until the receiver got `count` deliveries in all (forged ones included)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(receiver.got) < count:
        if loop.time() > deadline:
            pytest.fail(f"{len(receiver.got)} deliveries arrived, {count} expected")
        await asyncio.sleep(0.05)
    return list(receiver.got)
