"""Observability (issue 12): one trace follows a case from the gateway's request through the Temporal client, the
workflow and its activity to the record's append; the engine's metrics move with the case's commands; the JSON
logs carry the trace ids and never the person's content. Spans through the real OpenTelemetry SDK (an in-memory
exporter on the process's tracer provider), metrics through the SDK's in-memory reader, the real gateway and
worker on the dev server with the case search attributes."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from adapters.telemetry import metrics
from adapters.telemetry.runtime import TemporalMirror, prometheus_runtime
from tests.crisis_builders import crisis_worker
from tests.factories import service_entente
from tests.gateway.api import PARTNER, Api, gateway, intake
from tests.integration.lifecycle import start
from workers import logs
from workers.bootstrap import data_converter
from workers.settings import Settings
from workers.worker import build_worker

TEAM = {"team_id": "crise-laval-1", "org_id": "cisss-laval"}
SUBJECT = intake()["subject_id"]
PERSONAL = intake()["personal"]["reason"]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The process's tracer provider (the SDK's, installed here if no test did before) with an in-memory exporter
    for this test; shut at the end, so later tests keep nothing."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    found = InMemoryMetricReader()
    previous = metrics.install(MeterProvider(metric_readers=[found]))
    yield found
    metrics.restore(previous)


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The process's logs as the worker and the gateway write them (`workers.logs`, JSON, DEBUG), into a buffer;
    the logging configuration put back afterwards."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    out = io.StringIO()
    logs.configure("DEBUG", "json")
    root.handlers[0].setStream(out)  # type: ignore[attr-defined]
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


@pytest.fixture
async def api(visible_env: WorkflowEnvironment, task_queue: str, record: Record, store_env: dict[str, str],
              tmp_path: Path, spans: InMemorySpanExporter) -> AsyncIterator[Api]:
    """The gateway and the production worker on a client traced as `adapters.temporal.client.connect` makes it."""
    traced = await Client.connect(visible_env.client.service_client.config.target_host,
                                  data_converter=data_converter(), interceptors=[TracingInterceptor()])
    async with crisis_worker(traced, task_queue, record, tmp_path), \
            gateway(traced, task_queue, store_env, tmp_path) as opened:
        yield opened


def _chain(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    """The span's name and its ancestors' names, up to the trace's root."""
    names = [span.name]
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


def _values(span: ReadableSpan) -> list[str]:
    values: list[str] = [span.name]
    for value in (span.attributes or {}).values():
        values.extend(str(v) for v in value) if isinstance(value, tuple | list) else values.append(str(value))
    for ev in span.events:
        values.extend(str(v) for v in (ev.attributes or {}).values())
    return values


def _points(reader: InMemoryMetricReader) -> dict[str, dict[tuple[tuple[str, Any], ...], Any]]:
    data = reader.get_metrics_data()
    found: dict[str, dict[tuple[tuple[str, Any], ...], Any]] = {}
    for rm in data.resource_metrics if data is not None else []:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    value = getattr(p, "value", None)
                    found.setdefault(m.name, {})[tuple(sorted((p.attributes or {}).items()))] = (
                        value if value is not None else getattr(p, "count", None))
    return found


async def test_one_trace_from_the_request_to_the_append(
    api: Api, spans: InMemorySpanExporter, reader: InMemoryMetricReader, json_logs: io.StringIO,
) -> None:
    opened = await api.post("/v1/cases", PARTNER, intake())
    assert opened.status_code == 201, opened.text
    code = opened.json()["case_code"]
    acted = await api.post(f"/v1/cases/{code}/commands", PARTNER, {"type": "request_mobile", "csss_teams": [TEAM]})
    assert acted.status_code == 200, acted.text

    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}

    def one(name: str) -> ReadableSpan:
        found = [s for s in finished if s.name == name]
        assert len(found) == 1, (name, sorted({s.name for s in finished}))
        return found[0]

    # The opening: the record's append of `Opened`, inside the activity, inside the workflow's call of it, inside
    # the client's update-with-start, inside the HTTP request: one trace, each span the child of the one around it.
    def append_of(activity: str) -> ReadableSpan:
        found = [s for s in finished if s.name == "record.append" and _chain(s, by_id)[1:2] == [activity]]
        assert len(found) == 1, [_chain(s, by_id) for s in finished if s.name == "record.append"]
        return found[0]

    http_open = one("HTTP POST /v1/cases")
    case_trace = http_open.context.trace_id
    append_open = append_of("RunActivity:case.open")
    assert _chain(append_open, by_id) == [
        "record.append", "RunActivity:case.open", "StartActivity:case.open", "StartUpdateWithStartWorkflow:CrisisCase",
        "HTTP POST /v1/cases"]
    assert dict(append_open.attributes or {})["arrimage.aggregates"] == ("CrisisCase",)
    assert {one(n).context.trace_id for n in ("RunWorkflow:CrisisCase", "HandleUpdate:open")} == {case_trace}
    # A command on the running case: the client's update is the HTTP request's child; Temporal's interceptor keeps
    # the workflow's side in the case's trace, its update handler linked to that call, and the command's append is
    # inside the activity the workflow started for it.
    http = one("HTTP POST /v1/cases/{code}/commands")
    update = one("StartWorkflowUpdate:act")
    assert update.parent is not None and update.parent.span_id == http.context.span_id
    assert update.context.trace_id == http.context.trace_id
    handler = one("HandleUpdate:act")
    assert handler.context.trace_id == case_trace
    assert [link.context.span_id for link in handler.links] == [update.context.span_id]
    append_act = append_of("RunActivity:case.step")  # one activity per command (workflows.crisis.ONE_STEP)
    assert _chain(append_act, by_id)[:3] == ["record.append", "RunActivity:case.step", "StartActivity:case.step"]
    assert append_act.context.trace_id == case_trace

    # no span of the whole run names the person or says what the intake says (code, not the subject id)
    for s in finished:
        for value in _values(s):
            assert SUBJECT not in value and PERSONAL not in value, (s.name, value)

    # the engine's metrics moved: events appended by aggregate kind, the case opened and in transfert
    found = _points(reader)
    assert found["arrimage.events.appended"][(("aggregate", "CrisisCase"),)] >= 2, found
    assert found["arrimage.cases.opened"][()] == 1
    assert found["arrimage.cases.stage_entered"][(("stage", "transfert"),)] == 1
    for name, points in found.items():
        for attributes in points:
            assert all(SUBJECT not in str(v) and code not in str(v) for _, v in attributes), (name, attributes)

    # every JSON log line of the run is JSON, none names the person or her text; a line written inside a span
    # carries that span's trace id
    logs.get("arrimage.test").info("outside any span")
    with trace.get_tracer("arrimage.test").start_as_current_span("inside") as inside:
        logs.get("arrimage.test").info("inside a span")
        logging.getLogger("arrimage.test.stdlib").warning("inside a span, from the standard library",
                                                          extra={"workflow_id": "case-C-TEST"})
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.strip()]
    assert len(lines) > 3, len(lines)  # the run wrote its own (Temporal's worker at DEBUG), besides the three here
    for line in lines:
        text = json.dumps(line, ensure_ascii=False)
        assert SUBJECT not in text and PERSONAL not in text, text
    marked = [line for line in lines if line["event"].startswith("inside a span")]
    assert len(marked) == 2
    assert {line["trace_id"] for line in marked} == {format(inside.get_span_context().trace_id, "032x")}
    assert "trace_id" not in next(line for line in lines if line["event"] == "outside any span")
    # a standard logger's ids (`extra`, as the workflows and activities log them) are fields of the line
    assert next(line for line in marked if "standard library" in line["event"])["workflow_id"] == "case-C-TEST"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_prometheus_endpoint_serves_the_sdk_and_the_engine_metrics(
    time_env: WorkflowEnvironment, task_queue: str, record: Record, tmp_path: Path,
) -> None:
    """ARRIMAGE_METRICS=prometheus: the Temporal runtime serves its metrics at /metrics, the engine's beside them
    (`adapters.telemetry.runtime`); scraped with httpx after one entente drafted through the production worker."""
    address = f"127.0.0.1:{_free_port()}"
    runtime = prometheus_runtime(address)
    previous = metrics.install(mirror=TemporalMirror(runtime.metric_meter))
    try:
        client = await Client.connect(time_env.client.service_client.config.target_host,
                                      data_converter=data_converter(), runtime=runtime)
        settings = Settings(task_queue=task_queue, data_dir=tmp_path)
        with ThreadPoolExecutor(2) as executor:
            async with build_worker(client, settings, record, executor=executor):
                await start(client, f"PROM-{task_queue}", service_entente(effective=None, notice_days=0), task_queue)
        async with httpx.AsyncClient() as http:
            scraped = (await http.get(f"http://{address}/metrics")).text
    finally:
        metrics.restore(previous)
    names = {line.split("{")[0].split(" ")[0] for line in scraped.splitlines() if line and not line.startswith("#")}
    # the SDK's own: requests to the server, the worker's slots, the activity that ran
    assert {"temporal_request", "temporal_worker_task_slots_available", "temporal_activity_task_received",
            "temporal_activity_execution_latency_count"} <= names, sorted(names)
    assert 'arrimage_events_appended{aggregate="Entente"' in scraped, scraped
