"""OpenTelemetry tracing through client, workflows and activities.

The Temporal `TracingInterceptor` is registered on the client only; workers
built from that client inherit it (registering it twice duplicates spans).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

_configured = False


def otlp_exporter(endpoint: str, *, development: bool) -> SpanExporter:
    """The OTLP exporter: TLS (the system's roots), except in development mode, where a local collector
    without TLS is accepted."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint, insecure=development)


def configure(exporter: str, endpoint: str, service: str = "arrimage", *, development: bool = False) -> None:
    """Install a tracer provider once per process; `none` keeps spans in-process only."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    span_exporter: SpanExporter | None = None
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    elif exporter == "otlp":
        span_exporter = otlp_exporter(endpoint, development=development)
    if span_exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    _configured = True
