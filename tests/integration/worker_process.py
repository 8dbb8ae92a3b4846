"""`arrimage worker` run as its own process, for the tests that kill it (test_worker_crash, test_update_retry)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ARRIMAGE = Path(sys.executable).parent / "arrimage"


class WorkerProcess:
    """`arrimage worker` in its own process, its output in a log file."""

    def __init__(self, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.env, self.cwd, self.log = env, cwd, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n----- start {self.starts}\n".encode())
            out.flush()
            self.proc = subprocess.Popen([str(ARRIMAGE), "worker"], env=self.env, cwd=self.cwd,
                                         stdout=out, stderr=subprocess.STDOUT)

    def sigkill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        assert self.proc.wait(timeout=10) == -9

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@contextmanager
def running_worker(address: str, task_queue: str, record_path: Path, tmp_path: Path) -> Iterator[WorkerProcess]:
    """`arrimage worker` on `task_queue` of the Temporal server at `address`, over the SQLite record at
    `record_path`, configured by environment only (none of this process's ARRIMAGE_ settings); its data
    directory and log under `tmp_path`. Not started yet; stopped at the end."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")},
        "ARRIMAGE_TEMPORAL_ADDRESS": address,
        "ARRIMAGE_TASK_QUEUE": task_queue,
        "ARRIMAGE_SQLITE_PATH": str(record_path),
        "ARRIMAGE_DATA_DIR": str(tmp_path / "data"),
        "ARRIMAGE_LOG_FORMAT": "console",
        "ARRIMAGE_MODE": "development",  # the tests' public development keys (tests/conftest.py)
    }
    proc = WorkerProcess(env, tmp_path, tmp_path / "worker.log")
    try:
        yield proc
    finally:
        proc.stop()
