"""ARRIMAGE_METRICS=otlp (issue 12): the Temporal SDK's metrics (pushed by Temporal's core) and the engine's (the
OpenTelemetry SDK's periodic reader) reach an OTLP collector. The collector here is a gRPC server of this test,
the OTLP metrics service from `opentelemetry-proto`, recording the names it receives; the process under test is a
child (`adapters.telemetry.runtime.configure` installs process-wide providers), which connects to the dev server,
counts a case opened, and exits after its exporters have flushed. Bounded by its timeouts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as pb_grpc
from temporalio.testing import WorkflowEnvironment

pytestmark = pytest.mark.slow


class Collector(pb_grpc.MetricsServiceServicer):
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.lock = threading.Lock()

    def Export(self, request: Any, context: Any) -> Any:  # the service's method, named by its proto
        with self.lock:
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    self.names.update(m.name for m in sm.metrics)
        return pb.ExportMetricsServiceResponse()


@pytest.fixture
def collector() -> Iterator[tuple[Collector, str]]:
    found = Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_MetricsServiceServicer_to_server(found, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield found, f"http://127.0.0.1:{port}"
    server.stop(grace=None)


CHILD = textwrap.dedent("""
    import asyncio, sys, time
    from temporalio.client import Client
    from adapters.telemetry import metrics, runtime

    runtime.configure("otlp", otlp_endpoint=sys.argv[1], prometheus_address="127.0.0.1:0", development=True)

    async def main() -> None:
        client = await Client.connect(sys.argv[2])
        await client.service_client.check_health()
        metrics.engine().add("arrimage.cases.opened")
        time.sleep(2.5)  # Temporal's core pushes every second

    asyncio.run(main())
    from opentelemetry import metrics as otel_metrics
    otel_metrics.get_meter_provider().shutdown(timeout_millis=5000)  # the engine's: flushed on the way out
""")


def test_otlp_carries_the_sdk_and_the_engine_metrics(dev_env: WorkflowEnvironment,
                                                     collector: tuple[Collector, str]) -> None:
    found, endpoint = collector
    address = dev_env.client.service_client.config.target_host
    done = subprocess.run([sys.executable, "-c", CHILD, endpoint, address], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "arrimage.cases.opened" in found.names, sorted(found.names)
    assert {"temporal_request", "temporal_request_latency"} <= found.names, sorted(found.names)  # the SDK's
