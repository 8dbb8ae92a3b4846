"""What the end-to-end tests share: the installed `arrimage` run as a subprocess, its result, and
the environment that points it at a test's Temporal server, task queue and record."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARRIMAGE = str(Path(sys.executable).parent / "arrimage")


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def cli_env(*, record_path: Path, data_dir: Path, columns: int, target: str | None = None,
            task_queue: str | None = None, **extra: str) -> dict[str, str]:
    """The machine's environment without any ARRIMAGE_* of its own, plus the test's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")}
    env.update({
        "ARRIMAGE_SQLITE_PATH": str(record_path), "ARRIMAGE_DATA_DIR": str(data_dir),
        "ARRIMAGE_LOG_FORMAT": "console", "ARRIMAGE_LOG_LEVEL": "WARNING", "COLUMNS": str(columns),
    })
    if target is not None:
        env["ARRIMAGE_TEMPORAL_ADDRESS"] = target
    if task_queue is not None:
        env["ARRIMAGE_TASK_QUEUE"] = task_queue
    env.update(extra)
    return env


@dataclass
class Engine:
    """The CLI as a shell user runs it, from `workdir`; `prefix` is the command group (e.g. `agreements`)."""

    env: dict[str, str]
    workdir: Path
    prefix: tuple[str, ...] = ()

    async def run(self, *args: str, **env: str) -> Result:
        return await self.run_in({**self.env, **env}, *args)

    async def run_without(self, unset: tuple[str, ...], *args: str) -> Result:
        """Run with some of the test's variables removed (e.g. to see the defaults)."""
        return await self.run_in({k: v for k, v in self.env.items() if k not in unset}, *args)

    async def run_in(self, full: dict[str, str], *args: str) -> Result:
        proc = await asyncio.create_subprocess_exec(
            ARRIMAGE, *self.prefix, *args, cwd=self.workdir, env=full,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode is not None
        return Result(proc.returncode, out.decode(), err.decode())

    async def ok(self, *args: str) -> Result:
        result = await self.run(*args)
        assert result.code == 0, result
        return result

    def write(self, name: str, data: dict[str, Any]) -> str:
        path = self.workdir / name
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        return str(path)
