"""`arrimage up` (the README's first command): the embedded stack starts, says where everything is,
stops cleanly on Ctrl-C, and when started again every running entente resumes where it was (issue 2)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from pathlib import Path

from tests.e2e.harness import ARRIMAGE
from tests.factories import service_agreement


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    def __init__(self, data: Path) -> None:
        port, ui = free_port(), free_port()
        self.env = {
            **os.environ, "ARRIMAGE_DATA_DIR": str(data), "ARRIMAGE_TEMPORAL_ADDRESS": f"localhost:{port}",
            "ARRIMAGE_TEMPORAL_UI_PORT": str(ui), "ARRIMAGE_TASK_QUEUE": "arrimage-up-test",
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
            os.killpg(self.proc.pid, signal.SIGINT)

    async def cli(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            ARRIMAGE, "ententes", *args, env=self.env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        return proc.returncode or 0, out.decode(), err.decode()


async def test_up_stops_on_ctrl_c_and_resumes_every_entente_when_started_again(tmp_path: Path) -> None:
    """Draft and submit under a first `up`; Ctrl-C; a second `up` takes the signatures and the entente,
    with no effective date, comes into force on the last one: nothing lost, nothing doubled."""
    content = tmp_path / "entente.json"
    content.write_text(service_agreement(effective=None).model_dump_json())
    stack = Stack(tmp_path / "var")
    try:
        await run_lifecycle(stack, content, tmp_path)
    finally:
        stack.kill()


async def run_lifecycle(stack: Stack, content: Path, tmp_path: Path) -> None:
    await stack.start()
    for needle in ("Temporal (gRPC)", "Temporal Web UI", "record.sqlite", "temporal.sqlite"):
        assert needle in stack.banner, needle
    assert (await stack.cli("draft", "ENT-UP", "--file", str(content), "--by", "sup"))[0] == 0
    assert (await stack.cli("submit", "ENT-UP", "--by", "sup"))[0] == 0
    assert await stack.stop() == 0
    assert "arrimage stopped." in stack.banner
    assert (tmp_path / "var" / "temporal.sqlite").exists()

    await stack.start()
    for party in ("cisss-laval", "cc-laval"):
        code, _, err = await stack.cli("sign", "ENT-UP", "--party", party, "--version", "1",
                                       "--signatory", "Direction générale", "--by", party)
        assert code == 0, err
    async with asyncio.timeout(30):
        while True:
            code, out, _ = await stack.cli("show", "ENT-UP", "--json")
            if code == 0 and json.loads(out)["view"]["status"] == "en_vigueur":
                break
            await asyncio.sleep(0.5)
    code, out, _ = await stack.cli("history", "ENT-UP", "--json")
    events = [e["event"] for e in json.loads(out)]
    assert events == ["Drafted", "SubmittedForSignature", "Signed", "Signed", "Activated"]
    assert await stack.stop() == 0
