"""Metrics export, chosen by ARRIMAGE_METRICS: the Temporal SDK's (its runtime, made the process's default before
any client connects) and the engine's own (`adapters.telemetry.metrics`).

- `otlp`: the SDK's metrics pushed by Temporal's core to the collector at ARRIMAGE_OTEL_ENDPOINT, the engine's
  through the OpenTelemetry SDK (a periodic reader, off the hot path) to the same collector;
- `prometheus`: one endpoint, `http://<ARRIMAGE_PROMETHEUS_ADDRESS>/metrics`, served by Temporal's core, with
  the engine's figures mirrored on the runtime's meter (`arrimage_events_appended` …);
- `none` (the default): nothing exported, nothing kept.
"""

from __future__ import annotations

from temporalio.common import MetricCounter, MetricHistogramFloat, MetricMeter
from temporalio.runtime import OpenTelemetryConfig, PrometheusConfig, Runtime, TelemetryConfig

from adapters.telemetry import metrics
from adapters.telemetry.metrics import COUNTERS, HISTOGRAMS, Attributes

METRIC_INTERVAL_MS = 10_000
# Handoff latency in seconds: a team has minutes to answer (seed 001's standards), not milliseconds.
HANDOFF_BUCKETS = {"arrimage_handoff_latency": [30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0]}


class TemporalMirror:
    """The engine's figures on the Temporal runtime's meter (names with `_` for `.`, as Prometheus writes)."""

    def __init__(self, meter: MetricMeter) -> None:
        self._counters: dict[str, MetricCounter] = {
            name: meter.create_counter(name.replace(".", "_"), description) for name, description in COUNTERS.items()}
        self._histograms: dict[str, MetricHistogramFloat] = {
            name: meter.create_histogram_float(name.replace(".", "_"), description, unit)
            for name, (unit, description) in HISTOGRAMS.items()}

    def add(self, name: str, value: int, attributes: Attributes) -> None:
        self._counters[name].add(value, dict(attributes))

    def record(self, name: str, value: float, attributes: Attributes) -> None:
        self._histograms[name].record(value, dict(attributes))


def prometheus_runtime(address: str) -> Runtime:
    """A runtime serving its metrics at `http://<address>/metrics` (Temporal's core binds it at once)."""
    return Runtime(telemetry=TelemetryConfig(
        metrics=PrometheusConfig(bind_address=address, histogram_bucket_overrides=HANDOFF_BUCKETS),
        global_tags={"service_name": "arrimage"}))


def configure(mode: str, *, otlp_endpoint: str, prometheus_address: str, development: bool = False,
              service: str = "arrimage") -> Runtime | None:
    """Install the exporters `mode` names (once, at a process's start); the Temporal runtime made default, or
    None for `none`."""
    if mode == "none":
        return None
    if mode == "prometheus":
        runtime = prometheus_runtime(prometheus_address)
        metrics.install(mirror=TemporalMirror(runtime.metric_meter))
    elif mode == "otlp":
        from opentelemetry import metrics as otel_metrics
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource

        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=otlp_endpoint, insecure=development),
                                               export_interval_millis=METRIC_INTERVAL_MS)
        provider = MeterProvider(resource=Resource.create({"service.name": service}), metric_readers=[reader])
        otel_metrics.set_meter_provider(provider)
        metrics.install(provider)
        runtime = Runtime(telemetry=TelemetryConfig(metrics=OpenTelemetryConfig(url=otlp_endpoint),
                                                    global_tags={"service_name": service}))
    else:
        raise ValueError(f"ARRIMAGE_METRICS: {mode!r} is not one of otlp, prometheus, none")
    Runtime.set_default(runtime, error_if_already_set=False)
    return runtime
