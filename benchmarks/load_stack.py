"""What `benchmarks.load` starts and watches: worker processes, the time-skipping test server, memory samples
(from /proc, every second, in a thread), the record's and Temporal's database sizes, events counted by name.

Everything started here runs in its own process group and is stopped (SIGTERM, then SIGKILL) by `Processes.stop`;
on Linux each child also gets SIGTERM if this process dies first (a parent-death signal).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import PG
from workers.settings import Settings

ARRIMAGE = Path(sys.executable).parent / "arrimage"
MIB = 1024 * 1024
PR_SET_PDEATHSIG = 1


# ---------------------------------------------------------------------- processes
def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return preexec


@dataclass
class Processes:
    """The processes one run started, by name; each in its own process group."""

    started: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(
        self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        self.started[name] = proc
        return proc

    def adopt(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        self.started[name] = proc

    def pids(self, prefix: str = "") -> dict[str, int]:
        return {n: p.pid for n, p in self.started.items() if n.startswith(prefix) and p.poll() is None}

    def stop(self, names: list[str] | None = None, grace: float = 15) -> None:
        chosen = [n for n in (names or list(self.started)) if n in self.started]
        for n in chosen:
            _group(self.started[n], signal.SIGTERM)
        deadline = time.monotonic() + grace
        for n in chosen:
            proc = self.started.pop(n)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            _group(proc, signal.SIGKILL)  # anything left in its group
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)


def _group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


# The worker's tuning, taken from this run's own environment (every other ARRIMAGE_* of it is dropped)
PASSED_THROUGH = ("ARRIMAGE_WORKFLOW_TASK_SLOTS", "ARRIMAGE_WORKFLOW_CACHE_SIZE")


def worker_env(settings: Settings) -> dict[str, str]:
    """`arrimage worker` configured by environment only, as an operator runs it, on this run's server, queue and
    record (development mode: the public development keys, as the benchmark's own client uses)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")}
    env.update(
        {
            "ARRIMAGE_MODE": "development",
            "ARRIMAGE_TEMPORAL_ADDRESS": settings.temporal_address,
            "ARRIMAGE_TASK_QUEUE": settings.task_queue,
            "ARRIMAGE_DATA_DIR": str(settings.data_dir),
            "ARRIMAGE_LOG_FORMAT": "console",
            "ARRIMAGE_LOG_LEVEL": "WARNING",
            "ARRIMAGE_STORE": settings.store,
        }
    )
    for tuning in PASSED_THROUGH:  # the worker's tuning, as this run was given it (benchmarks/README.md)
        if tuning in os.environ:
            env[tuning] = os.environ[tuning]
    if settings.sqlite_path is not None:
        env["ARRIMAGE_SQLITE_PATH"] = str(settings.sqlite_path)
    if settings.store == "postgres":
        env.update(
            {
                "ARRIMAGE_POSTGRES_HOST": settings.postgres_host,
                "ARRIMAGE_POSTGRES_PORT": str(settings.postgres_port),
                "ARRIMAGE_POSTGRES_DBNAME": settings.postgres_dbname,
                "ARRIMAGE_POSTGRES_USER": settings.postgres_user,
                "ARRIMAGE_POSTGRES_PASSWORD": settings.postgres_password.get_secret_value(),
                "ARRIMAGE_POSTGRES_SCHEMA": settings.postgres_schema,
            }
        )
    return env


def start_workers(procs: Processes, settings: Settings, count: int, logs: Path, tag: str) -> list[str]:
    names = []
    for i in range(count):
        name = f"worker-{tag}-{i + 1}"
        procs.spawn(
            name, [str(ARRIMAGE), "worker"], logs / f"{name}.log", env=worker_env(settings), cwd=settings.data_dir
        )
        names.append(name)
    return names


async def wait_workers_started(procs: Processes, names: list[str], logs: Path, timeout: float = 90) -> None:
    """Until each worker has said `worker on task queue …` (connected, about to poll), or one died."""
    deadline = time.monotonic() + timeout
    waiting = list(names)
    while waiting:
        for n in list(waiting):
            proc = procs.started[n]
            if proc.poll() is not None:
                raise RuntimeError(f"{n} exited with {proc.returncode} (see {logs / (n + '.log')})")
            log = logs / f"{n}.log"
            if log.exists() and "worker on task queue" in log.read_text(errors="replace"):
                waiting.remove(n)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{', '.join(waiting)} not started after {timeout:.0f} s")
        await asyncio.sleep(0.3)
    await asyncio.sleep(2)  # its pollers reach the server


def test_server_command(port: int) -> list[str]:
    from workers.binaries import temporal_test_server

    return [temporal_test_server(), str(port)]


# ---------------------------------------------------------------------- memory
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def rss_bytes(pid: int, kids: dict[int, list[int]] | None = None) -> int:
    """Resident set of `pid` and its descendants (0 when gone)."""
    total = 0
    for p in _tree(pid, kids):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total


def cpu_seconds(pid: int, kids: dict[int, list[int]] | None = None) -> float:
    """CPU time (user + system) of `pid` and its living descendants."""
    ticks = 0
    for p in _tree(pid, kids):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def _tree(pid: int, kids: dict[int, list[int]] | None) -> list[int]:
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend((kids or {}).get(p, []))
    return out


@dataclass
class Sample:
    t: float
    phase: str
    open_workflows: int
    rss: dict[str, int]  # name → bytes (workers summed under "workers", each also by name)
    cpu: dict[str, float] = field(default_factory=dict)  # name → CPU seconds so far (workers summed too)


class Sampler:
    """Every `interval` seconds, in a thread: the RSS of every watched process, the run's phase and how many
    workflows are open."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.samples: list[Sample] = []
        self.watched: dict[str, int] = {}  # name → pid; names starting with "worker" are summed as workers
        self.alone: set[str] = set()  # measured without their descendants (this process: its children are watched)
        self.phase = "start"
        self.open_workflows = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.t0 = time.monotonic()

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def take(self) -> Sample:
        kids = _children()
        rss = {name: rss_bytes(pid, None if name in self.alone else kids) for name, pid in list(self.watched.items())}
        rss["workers"] = sum(v for k, v in rss.items() if k.startswith("worker-"))
        cpu = {name: cpu_seconds(pid, None if name in self.alone else kids) for name, pid in list(self.watched.items())}
        cpu["workers"] = sum(v for k, v in cpu.items() if k.startswith("worker-"))
        s = Sample(time.monotonic() - self.t0, self.phase, self.open_workflows, rss, cpu)
        self.samples.append(s)
        return s

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.take()

    def of(self, phase: str | None = None) -> list[Sample]:
        return [s for s in self.samples if phase is None or s.phase == phase]

    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None


def cpu_share(samples: list[Sample], names: tuple[str, ...]) -> dict[str, float]:
    """Cores used by each process over the samples (CPU seconds ÷ wall seconds, first to last sample)."""
    if len(samples) < 2:
        return {}
    wall = samples[-1].t - samples[0].t
    return {n: (samples[-1].cpu.get(n, 0.0) - samples[0].cpu.get(n, 0.0)) / wall for n in names} if wall else {}


def peak(samples: list[Sample], name: str) -> int:
    return max((s.rss.get(name, 0) for s in samples), default=0)


# ---------------------------------------------------------------------- sizes and counts
def file_size(path: Path) -> int:
    """A SQLite database with its write-ahead log."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def record_size(settings: Settings) -> int:
    if settings.store == "postgres":
        import psycopg

        with psycopg.connect(autocommit=True, connect_timeout=5, **PG) as conn:
            row = conn.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
                (settings.postgres_schema,),
            ).fetchone()
        return int(row[0]) if row else 0
    assert settings.sqlite_path is not None
    return file_size(settings.sqlite_path)


def _events_table(name: str) -> bool:
    """The library's events table (`stored_events`, or `<app>_events`): not the audit chain, which copies topics."""
    return name.endswith("events") and not name.startswith("audit")


def count_events(settings: Settings, names: tuple[str, ...]) -> dict[str, int]:
    """Events of the record whose topic ends with `.<name>`, per name (read on a connection of its own)."""
    out = dict.fromkeys(names, 0)
    if settings.store == "postgres":
        import psycopg

        with psycopg.connect(autocommit=True, connect_timeout=5, **PG) as conn:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.columns WHERE table_schema = %s "
                    "AND column_name = 'topic'",
                    (settings.postgres_schema,),
                )
                if _events_table(r[0])
            ]
            for table in tables:
                for name in names:
                    row = conn.execute(
                        f'SELECT count(*) FROM "{settings.postgres_schema}"."{table}" WHERE topic LIKE %s',
                        (f"%.{name}",),
                    ).fetchone()
                    out[name] += int(row[0]) if row else 0
        return out
    assert settings.sqlite_path is not None
    with contextlib.closing(sqlite3.connect(f"file:{settings.sqlite_path}?mode=ro", uri=True, timeout=30)) as db:
        tables = [
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'") if _events_table(r[0])
        ]
        for table in tables:
            for name in names:
                out[name] += db.execute(
                    f'SELECT count(*) FROM "{table}" WHERE topic LIKE ?', (f"%.{name}",)
                ).fetchone()[0]
    return out


@contextlib.contextmanager
def watchdog(seconds: float, procs: Processes) -> Iterator[None]:
    """A last resort beside the asyncio timeout: past `seconds` + 60, stop every process started and leave."""

    def fire() -> None:
        print(f"\n  watchdog: {seconds:.0f} s + 60 s passed; stopping everything started", flush=True)
        procs.stop(grace=5)
        os._exit(3)

    timer = threading.Timer(seconds + 60, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
