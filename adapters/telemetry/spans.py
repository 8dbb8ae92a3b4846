"""Spans of the engine's own (the gateway's requests, the record's appends) and the trace ids in the logs.

The Temporal client's `TracingInterceptor` (adapters.temporal.client) makes the spans of workflows and
activities, in the trace of whatever span is current where the client is called: a gateway request's here. An
activity's thread carries its span (the SDK copies the context into the executor), so the record's append opens
a span inside it. Spans go to the process's tracer provider (`workers.tracing`: a batch processor, exported off
the hot path). Attributes are methods, route templates, statuses, counts and kinds: never a path's values, a
body, a case code or a subject id.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

TRACER = "arrimage"
# Made once: the SDK's `get_tracer` costs more than the span. Made before the process's provider is installed, it
# is the API's proxy, which takes the provider's tracer on its first span after that.
_tracer = trace.get_tracer(TRACER)


def tracer() -> trace.Tracer:
    return _tracer


@contextmanager
def appending() -> Iterator[trace.Span]:
    """The span of one save to the record (`Record.save`), inside the trace that is current (an activity's, a
    request's); its caller sets how many events of which kinds. Outside any recorded trace (a CLI command, a
    benchmark, a test's setup) no span is made: a span costs tens of microseconds, a save without one nothing."""
    if not trace.get_current_span().is_recording():
        yield trace.INVALID_SPAN
        return
    with _tracer.start_as_current_span("record.append", kind=SpanKind.INTERNAL) as span:
        yield span


class RequestSpans:
    """ASGI middleware: one server span per HTTP request, named by the route's template once routed
    (`POST /v1/cases/{code}/commands`), so that no path value (a case code, a person's id) is written."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "")
        status: dict[str, int] = {}

        async def sending(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        with tracer().start_as_current_span(f"HTTP {method}", kind=SpanKind.SERVER,
                                            attributes={"http.request.method": method}) as span:
            try:
                await self.app(scope, receive, sending)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.update_name(f"HTTP {method} {route}")
                    span.set_attribute("http.route", route)
                if "code" in status:
                    span.set_attribute("http.response.status_code", status["code"])
                    if status["code"] >= 500:
                        span.set_status(Status(StatusCode.ERROR))


def add_trace_ids(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current span's trace_id and span_id (hex), when a span is current."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event_dict.setdefault("span_id", format(ctx.span_id, "016x"))
    return event_dict
