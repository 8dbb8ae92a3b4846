"""The witness over HTTP (stdlib ``http.server``, one thread per connection, keep-alive): ``POST
<prefix>/add-checkpoint``; anything else is 404 or 405. The state file serialises the decisions."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from adapters.witness.service import Reply, Witness
from domain.audit.witnessing import ADD_CHECKPOINT, MAX_BODY_BYTES


def witness_server(witness: Witness, host: str, port: int, prefix: str = "") -> ThreadingHTTPServer:
    """A server bound to host:port (port 0: a free one, `server_address` says which); `serve_forever` runs it."""
    path = prefix.rstrip("/") + ADD_CHECKPOINT

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "arrimage-witness"

        def _reply(self, reply: Reply) -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def do_POST(self) -> None:
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
            self._reply(Reply(405 if self.path == path else 404, "text/plain; charset=utf-8", b"POST only\n"))

        def log_message(self, format: str, *args: object) -> None:  # the stdlib names it so
            pass  # the CLI prints what it serves; no per-request noise on stderr

    return ThreadingHTTPServer((host, port), Handler)
