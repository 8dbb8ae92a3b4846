"""`arrimage up` (the README's first command): the embedded stack starts, says where everything is,
stops cleanly on Ctrl-C, and when started again every running entente resumes where it was (issue 2)."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

from tests.e2e.harness import Stack
from tests.factories import service_entente


async def test_up_stops_on_ctrl_c_and_resumes_every_entente_when_started_again(tmp_path: Path) -> None:
    """Draft and submit under a first `up`; Ctrl-C; a second `up` takes the signatures and the entente,
    with no effective date, comes into force on the last one: nothing lost, nothing doubled."""
    content = tmp_path / "entente.json"
    content.write_text(service_entente(effective=None).model_dump_json())
    stack = Stack(tmp_path / "var")
    try:
        await run_lifecycle(stack, content, tmp_path)
    finally:
        stack.kill()


async def run_lifecycle(stack: Stack, content: Path, tmp_path: Path) -> None:
    await stack.start()
    for needle in ("Temporal (gRPC)", "Temporal Web UI", "record.sqlite", "temporal.sqlite"):
        assert needle in stack.banner, needle
    # a fresh clone has no keys: `up` runs in development mode and says so (issue 9)
    assert "DEVELOPMENT" in stack.banner and "ARRIMAGE_SUBJECT_KEKS" in stack.banner
    data = tmp_path / "var"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("record.sqlite", "temporal.sqlite"):  # readable by their owner only
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
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
