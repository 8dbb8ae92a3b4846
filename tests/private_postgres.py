"""A PostgreSQL server of a test's own, to stop and start at will (issue 12's « PostgreSQL restarted »).

The shared server on localhost:5432 (tests/conftest.py `require_postgres`) must never be restarted: other tests run
against it at the same time. `private_postgres()` makes a throw-away cluster instead (`initdb` in a fresh
directory, trust authentication, listening on 127.0.0.1 on a free port, fsync on as in production), started with
`pg_ctl`; `PrivatePostgres.restart(outage)` stops it (fast shutdown: every connection is cut, its data kept),
waits `outage` seconds, and starts it again on the same port and data. Everything is removed at the end, the
server stopped (immediate) even when the test failed.

PostgreSQL refuses to run as root: as root, its commands run as the `postgres` system user (`runuser`), in a
directory made theirs. The binaries are Debian's (`/usr/lib/postgresql/<version>/bin`, the newest, or
`ARRIMAGE_TEST_PG_BIN`); without them the test is skipped with the reason, except under CI=true, where it fails
(CI machines have PostgreSQL installed: .ci/run starts its cluster).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from adapters.record.environment import PostgresAddress
from tests.e2e.harness import free_port
from tests.postgres import PostgresParams, postgres_available

DBNAME = "arrimage"


def postgres_binaries() -> Path | None:
    """The directory holding initdb and pg_ctl: `ARRIMAGE_TEST_PG_BIN`, else Debian's newest version's."""
    given = os.environ.get("ARRIMAGE_TEST_PG_BIN")
    candidates = (
        [Path(given)]
        if given
        else sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
    )
    return next((d for d in candidates if (d / "initdb").is_file() and (d / "pg_ctl").is_file()), None)


def require_private_postgres() -> Path:
    """The binaries' directory; skipped (failed under CI) when they, or the `postgres` user root needs, are missing."""
    missing = ""
    binaries = postgres_binaries()
    if binaries is None:
        missing = "no PostgreSQL binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or ARRIMAGE_TEST_PG_BIN"
    elif os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing = "running as root and no `postgres` system user to run a private PostgreSQL server as"
    if not missing:
        assert binaries is not None
        return binaries
    if os.environ.get("CI"):
        pytest.fail(f"a private PostgreSQL server is required in CI: {missing}")
    pytest.skip(missing)


class PrivatePostgres:
    """One cluster in its own directory, on its own port; `params`/`address` say how to reach it."""

    def __init__(self, binaries: Path, root: Path) -> None:
        self.binaries = binaries
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self.starts = 0
        self.as_postgres = os.geteuid() == 0

    @property
    def params(self) -> PostgresParams:
        return {"host": "127.0.0.1", "port": str(self.port), "dbname": DBNAME, "user": "postgres", "password": ""}

    @property
    def admin_params(self) -> PostgresParams:
        """The server's own database (`postgres`), there before `arrimage` is made."""
        params = self.params
        params["dbname"] = "postgres"
        return params

    def address(self, schema: str = "") -> PostgresAddress:
        return PostgresAddress(host="127.0.0.1", port=self.port, dbname=DBNAME, user="postgres", schema=schema)

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        cmd = [str(self.binaries / tool), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root)
        assert done.returncode == 0, f"{tool} failed ({done.returncode}): {done.stdout}{done.stderr}"

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"
        )  # the cluster's files are synced by nobody: a test's, thrown away
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                "fsync = on\nmax_connections = 60\nshared_buffers = 32MB\n"
            )
        self.start()
        import psycopg

        with psycopg.connect(autocommit=True, **self.admin_params) as conn:
            conn.execute(f"CREATE DATABASE {DBNAME}")

    def start(self) -> None:
        self.starts += 1
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60")
        assert postgres_available(self.admin_params), "the private PostgreSQL server does not answer"

    def stop(self, mode: str = "fast") -> None:
        """`fast`: every session is cut (its transaction rolled back), the data kept, a clean shutdown."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def restart(self, outage: float) -> float:
        """Stop (fast), stay down `outage` seconds, start again on the same port and data; returns how long the
        server was away, from the stop asked to the server answering again."""
        begun = time.monotonic()
        self.stop()
        time.sleep(outage)
        self.start()
        return time.monotonic() - begun

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh private PostgreSQL server, running, with an empty database `arrimage`; stopped and removed after."""
    binaries = require_private_postgres()
    root = Path(tempfile.mkdtemp(prefix="arrimage-pg-"))  # under /tmp: reachable by the postgres user
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(root, entry.pw_uid, entry.pw_gid)
    server = PrivatePostgres(binaries, root)
    try:
        server.init()
        yield server
    finally:
        if server.running():
            try:
                server.stop("immediate")
            except (AssertionError, subprocess.TimeoutExpired):
                _kill_postmaster(server.data)
        shutil.rmtree(root, ignore_errors=True)


def _kill_postmaster(data: Path) -> None:
    """The last resort: SIGKILL the server's postmaster (its pid is the first line of postmaster.pid)."""
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        return
