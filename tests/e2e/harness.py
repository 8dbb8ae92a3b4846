"""What the end-to-end tests share: the installed `arrimage` run as a subprocess, its result, the
environment that points it at a test's Temporal server, task queue and record, and `arrimage up`
(Stack) on free ports."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.postgres import PostgresParams

ARRIMAGE = str(Path(sys.executable).parent / "arrimage")
FORK_SERVER = str(Path(__file__).with_name("cli_forks.py"))


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


# ---------------------------------------------------------------------- the CLI, imported once
# Each test process keeps one `arrimage` that has done its imports (tests/e2e/cli_forks.py says why and what a fork
# keeps of a shell user's process); every command of run_cli / arun_cli runs in a fork of it.
def _startup_keys(env: dict[str, str]) -> dict[str, str]:
    """What the interpreter reads when it starts, which a fork inherits and cannot change."""
    return {k: v for k, v in env.items() if k.startswith(("PYTHON", "LC_")) or k == "LANG"}


class _Forks:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="arrimage-cli-")
        self.socket = os.path.join(self.dir, "forks.sock")
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("ARRIMAGE_") and k not in ("COLUMNS", "LINES")}
        self.proc = subprocess.Popen([sys.executable, FORK_SERVER, self.socket], env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self.count = 0
        atexit.register(self.close)
        deadline = time.monotonic() + 120
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the CLI fork server did not start (exit {self.proc.returncode})")
            time.sleep(0.02)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        with contextlib.suppress(OSError):
            for name in os.listdir(self.dir):
                os.unlink(os.path.join(self.dir, name))
            os.rmdir(self.dir)

    def request(self, args: tuple[str, ...], env: dict[str, str], cwd: Path | str | None) -> tuple[bytes, str, str]:
        self.count += 1
        out, err = (os.path.join(self.dir, f"{self.count}.{name}") for name in ("out", "err"))  # the dir is ours
        line = json.dumps({"argv": [ARRIMAGE, *args], "env": env, "cwd": str(cwd or os.getcwd()),
                           "out": out, "err": err}).encode() + b"\n"
        return line, out, err

    @staticmethod
    def collect(out: str, err: str) -> tuple[bytes, bytes]:
        try:
            return Path(out).read_bytes(), Path(err).read_bytes()
        finally:
            for path in (out, err):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)


_forks: _Forks | None = None


def _fork_server(env: dict[str, str]) -> _Forks | None:
    """The process's fork server, or None when this command must start as the console script."""
    global _forks
    if os.environ.get("ARRIMAGE_TEST_CLI") == "spawn":
        return None
    if _forks is None or _forks.proc.poll() is not None:
        _forks = _Forks()
    if _startup_keys(env) != _startup_keys(_forks.env):
        return None
    return _forks


def _text(data: bytes) -> str:
    """As subprocess's text mode decodes (universal newlines)."""
    return data.decode().replace("\r\n", "\n").replace("\r", "\n")


def run_cli(*args: str, env: dict[str, str], cwd: Path | str | None = None, timeout: float = 120) -> Result:
    """`arrimage ARGS` with `env` (the whole environment) from `cwd`, as subprocess.run(capture_output=True,
    text=True) would run the console script."""
    forks = _fork_server(env)
    if forks is None:
        proc = subprocess.run([ARRIMAGE, *args], env=env, cwd=cwd, capture_output=True, timeout=timeout)
        return Result(proc.returncode, _text(proc.stdout), _text(proc.stderr))
    line, out, err = forks.request(args, env, cwd)
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(timeout)
        conn.connect(forks.socket)
        conn.sendall(line)
        answers = conn.makefile("rb")
        pid = int(answers.readline())
        try:
            code = int(answers.readline())
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            raise subprocess.TimeoutExpired([ARRIMAGE, *args], timeout) from None
    stdout, stderr = forks.collect(out, err)
    return Result(code, _text(stdout), _text(stderr))


def run_completed(*args: str, env: dict[str, str], cwd: Path | str | None = None,
                  timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """run_cli, answered as subprocess.run(capture_output=True, text=True) answers (for tests written against it)."""
    ran = run_cli(*args, env=env, cwd=cwd, timeout=timeout)
    return subprocess.CompletedProcess([ARRIMAGE, *args], ran.code, ran.out, ran.err)


async def arun_cli(*args: str, env: dict[str, str], cwd: Path | str | None = None, timeout: float = 90) -> Result:
    """run_cli for a coroutine (the output decoded as is, as `communicate()`'s bytes were)."""
    forks = _fork_server(env)
    if forks is None:
        proc = await asyncio.create_subprocess_exec(
            ARRIMAGE, *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
        assert proc.returncode is not None
        return Result(proc.returncode, stdout.decode(), stderr.decode())
    line, out, err = forks.request(args, env, cwd)
    reader, writer = await asyncio.open_unix_connection(forks.socket)
    try:
        writer.write(line)
        pid = int(await reader.readline())
        try:
            code = int(await asyncio.wait_for(reader.readline(), timeout))
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            raise
    finally:
        writer.close()
    stdout, stderr = forks.collect(out, err)
    return Result(code, stdout.decode(), stderr.decode())


def cli_env(*, record_path: Path, data_dir: Path, columns: int, target: str | None = None,
            task_queue: str | None = None, **extra: str) -> dict[str, str]:
    """The machine's environment without any ARRIMAGE_* of its own, plus the test's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")}
    env.update({
        "ARRIMAGE_SQLITE_PATH": str(record_path), "ARRIMAGE_DATA_DIR": str(data_dir),
        "ARRIMAGE_LOG_FORMAT": "console", "ARRIMAGE_LOG_LEVEL": "WARNING", "COLUMNS": str(columns),
        "ARRIMAGE_MODE": "development",  # the tests' public development keys (tests/conftest.py)
        "ARRIMAGE_ROLE": "superviseur",  # every read of the record is made in a declared role (issue 9)
    })
    if target is not None:
        env["ARRIMAGE_TEMPORAL_ADDRESS"] = target
    if task_queue is not None:
        env["ARRIMAGE_TASK_QUEUE"] = task_queue
    env.update(extra)
    return env


@dataclass
class Engine:
    """The CLI as a shell user runs it, from `workdir`; `prefix` is the command group (e.g. `ententes`)."""

    env: dict[str, str]
    workdir: Path
    prefix: tuple[str, ...] = ()

    async def run(self, *args: str, **env: str) -> Result:
        return await self.run_in({**self.env, **env}, *args)

    async def run_without(self, unset: tuple[str, ...], *args: str) -> Result:
        """Run with some of the test's variables removed (e.g. to see the defaults)."""
        return await self.run_in({k: v for k, v in self.env.items() if k not in unset}, *args)

    async def run_in(self, full: dict[str, str], *args: str) -> Result:
        return await arun_cli(*self.prefix, *args, env=full, cwd=self.workdir)

    async def ok(self, *args: str) -> Result:
        result = await self.run(*args)
        assert result.code == 0, result
        return result

    def write(self, name: str, data: dict[str, Any]) -> str:
        path = self.workdir / name
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        return str(path)


def store_cli_env(store_env: dict[str, str]) -> dict[str, str]:
    """The variables that point `arrimage` at the record of `store_env` (conftest's `store_env`: a SQLite file or a
    PostgreSQL schema)."""
    if store_env["PERSISTENCE_MODULE"] != "adapters.record.postgres":
        return {"ARRIMAGE_SQLITE_PATH": store_env["SQLITE_DBNAME"]}
    return {"ARRIMAGE_STORE": "postgres", **{f"ARRIMAGE_POSTGRES_{key}": store_env[f"POSTGRES_{key}"]
                                             for key in ("HOST", "PORT", "DBNAME", "USER", "PASSWORD", "SCHEMA")}}


def no_record(store_env: dict[str, str]) -> bool:
    """No record at all in `store_env`: no SQLite file, or not one table in the PostgreSQL schema (read with plain
    SQL: opening a `Record` would create its tables). What a refusal before any store is opened leaves."""
    if store_env["PERSISTENCE_MODULE"] != "adapters.record.postgres":
        return not Path(store_env["SQLITE_DBNAME"]).exists()
    from tests.tamper_builders import Raw  # the harness imports nothing of the project's at the top

    raw = Raw(store_env)
    try:
        return bool(raw.x("SELECT count(*) FROM information_schema.tables WHERE table_schema = ?",
                          store_env["POSTGRES_SCHEMA"]) == [(0,)])
    finally:
        raw.close()


# ---------------------------------------------------------------------- the embedded stack
def postgres_auditor_env(pg: PostgresParams, schema: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of an auditor's `arrimage` over a PostgreSQL schema of the test server (development mode,
    the machine's own ARRIMAGE_* left out), plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")},
            "ARRIMAGE_STORE": "postgres", "ARRIMAGE_POSTGRES_HOST": pg["host"], "ARRIMAGE_POSTGRES_PORT": pg["port"],
            "ARRIMAGE_POSTGRES_DBNAME": pg["dbname"], "ARRIMAGE_POSTGRES_USER": pg["user"],
            "ARRIMAGE_POSTGRES_PASSWORD": pg["password"], "ARRIMAGE_POSTGRES_SCHEMA": schema,
            "ARRIMAGE_DATA_DIR": str(data_dir), "ARRIMAGE_MODE": "development", "ARRIMAGE_USER": "auditrice",
            "ARRIMAGE_ROLE": "auditeur", "ARRIMAGE_LOG_LEVEL": "WARNING", "ARRIMAGE_LOG_FORMAT": "console", **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    """`arrimage up` on `data` with free ports, as the README's first command runs it."""

    def __init__(self, data: Path) -> None:
        port, ui = free_port(), free_port()
        # As on a fresh clone: no ARRIMAGE_MODE (`up` sets development mode itself); its CLI calls set it.
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "ARRIMAGE_MODE"},
            "ARRIMAGE_DATA_DIR": str(data), "ARRIMAGE_TEMPORAL_ADDRESS": f"localhost:{port}",
            "ARRIMAGE_TEMPORAL_UI_PORT": str(ui), "ARRIMAGE_TASK_QUEUE": "arrimage-up-test",
            "ARRIMAGE_GATEWAY_PORT": str(free_port()),  # `up` starts the partner gateway beside the worker
        }
        self.proc: asyncio.subprocess.Process | None = None
        self.banner = ""

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            ARRIMAGE, "up", env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        lines: list[str] = []
        async with asyncio.timeout(90):
            while "Ctrl-C to stop" not in "".join(lines):
                line = await self.proc.stdout.readline()
                assert line, "arrimage up exited before it was ready: " + "".join(lines)
                lines.append(line.decode())
        self.banner = "".join(lines)

    async def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            rest = await self.proc.stdout.read() if self.proc.stdout else b""
            code = await self.proc.wait()
        self.banner += rest.decode()
        return code

    def kill(self) -> None:
        """After a failed test: the stack and its Temporal server, whatever state they are in."""
        if self.proc is not None and self.proc.returncode is None:
            # Its group may be gone already (a test that killed it, not yet reaped): the test's own failure, if
            # any, is what must be reported, not this cleanup's.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGINT)

    async def cli(self, *args: str) -> tuple[int, str, str]:
        ran = await arun_cli("ententes", *args, env={**self.env, "ARRIMAGE_MODE": "development"})
        return ran.code, ran.out, ran.err
