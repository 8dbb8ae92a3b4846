"""`arrimage up` never lies about what it runs (issue 7).

Before: a `kill -9` of `up` left its Temporal dev server running, holding the port; the next `up`
printed "arrimage is up", attached to that orphan, and its own server failed to bind. Two `up` on
one data directory both said they were up on the same record. Now: one `up` per data directory
(a `flock`ed `up.lock`), the server dies with `up`, and a port already listened on is refused
unless the user asked for an existing server (`--temporal existing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import ARRIMAGE, Result, Stack, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PR_SET_PDEATHSIG is Linux's"),
]


async def run_up(env: dict[str, str], *args: str, timeout: float = 60) -> Result:
    """An `up` expected to refuse (or to have been told to stop): its exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        ARRIMAGE, "up", *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    return Result(proc.returncode if proc.returncode is not None else -1, out.decode(), err.decode())


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for whoever adopted it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


async def test_kill_9_of_up_takes_its_temporal_server_with_it_and_the_next_up_starts_clean(tmp_path: Path) -> None:
    data = tmp_path / "var"
    first = Stack(data)
    server: int | None = None
    second = Stack(data)
    second.env = first.env  # same data directory, same ports: what a user restarting `up` does
    try:
        await first.start()
        assert first.proc is not None
        [server] = children(first.proc.pid)
        assert alive(server)
        port = int(first.env["ARRIMAGE_TEMPORAL_ADDRESS"].rsplit(":", 1)[1])

        os.kill(first.proc.pid, signal.SIGKILL)
        await asyncio.wait_for(first.proc.wait(), 10)
        async with asyncio.timeout(10):  # the dev server shuts down on its parent-death SIGTERM
            while alive(server) or not port_free(port):
                await asyncio.sleep(0.2)

        await second.start()  # the lock of the killed `up` is free; the port is its own server's
        assert second.proc is not None
        [own] = children(second.proc.pid)
        assert own != server
        assert await second.stop() == 0
        assert "arrimage stopped." in second.banner
        assert not alive(own)
    finally:
        first.kill()
        second.kill()
        if server is not None:
            kill_quietly(server)


async def test_a_second_up_on_the_same_data_directory_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    data = tmp_path / "var"
    first = Stack(data)
    try:
        await first.start()
        assert first.proc is not None
        # Other ports, so that only the data directory is shared: the lock alone refuses it.
        other = {**first.env, "ARRIMAGE_TEMPORAL_ADDRESS": f"localhost:{free_port()}",
                 "ARRIMAGE_TEMPORAL_UI_PORT": str(free_port())}
        second = await run_up(other)
        assert (second.code, second.err) == (
            2, f"another arrimage up (pid {first.proc.pid}) is running on {data.resolve()}\n"), second
        assert "arrimage is up" not in second.out
        assert (data / "up.lock").read_text() == f"{first.proc.pid}\n"
        assert await first.stop() == 0
    finally:
        first.kill()
    assert (data / "up.lock").read_text() == ""  # emptied on the way out; the lock itself died with the process


async def test_up_refuses_a_temporal_port_another_program_listens_on(tmp_path: Path) -> None:
    data = tmp_path / "var"
    env = Stack(data).env
    port = int(env["ARRIMAGE_TEMPORAL_ADDRESS"].rsplit(":", 1)[1])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        refused = await run_up(env)
    assert (refused.code, refused.err) == (2, (
        f"Temporal port {port} (localhost:{port}, ARRIMAGE_TEMPORAL_ADDRESS) is already in use: another Temporal "
        "server or program listens there; stop it, set a free port, or pass `--temporal existing` to run on that "
        "server\n")), refused
    assert "arrimage is up" not in refused.out
    assert not (data / "temporal-server.log").exists()  # no server was started


async def test_up_refuses_a_web_ui_port_already_in_use(tmp_path: Path) -> None:
    env = Stack(tmp_path / "var").env
    ui = int(env["ARRIMAGE_TEMPORAL_UI_PORT"])
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ui))
        squatter.listen()
        refused = await run_up(env)
    assert (refused.code, refused.err) == (2, (
        f"Temporal Web UI port {ui} (ARRIMAGE_TEMPORAL_UI_PORT) is already in use: stop what listens there or set "
        "a free port\n")), refused


async def test_up_on_an_existing_server_only_when_asked_and_says_so(tmp_path: Path) -> None:
    """`--temporal existing` runs the worker on a server `up` did not start, and its banner says so;
    the same setting by environment (ARRIMAGE_TEMPORAL_EXISTING=true) with no server answering: exit 4."""
    host = Stack(tmp_path / "host")
    guest = Stack(tmp_path / "guest")
    guest.env = {**host.env, "ARRIMAGE_DATA_DIR": str(tmp_path / "guest"), "ARRIMAGE_TASK_QUEUE": "guest-queue",
                 "COLUMNS": "200", "ARRIMAGE_GATEWAY_PORT": guest.env["ARRIMAGE_GATEWAY_PORT"]}
    try:
        await host.start()
        guest.proc = await asyncio.create_subprocess_exec(
            ARRIMAGE, "up", "--temporal", "existing", env=guest.env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
        )
        assert guest.proc.stdout is not None
        async with asyncio.timeout(60):
            while "Ctrl-C to stop" not in guest.banner:
                line = await guest.proc.stdout.readline()
                assert line, guest.banner
                guest.banner += line.decode()
        assert "(an existing server, not started by arrimage)" in guest.banner
        assert "Temporal server log" not in guest.banner
        assert children(guest.proc.pid) == []  # no server of its own
        assert await guest.stop() == 0
        assert await host.stop() == 0
    finally:
        guest.kill()
        host.kill()

    nobody = {**host.env, "ARRIMAGE_TEMPORAL_ADDRESS": f"localhost:{free_port()}", "ARRIMAGE_TEMPORAL_EXISTING": "true"}
    unreachable = await run_up(nobody)
    assert (unreachable.code, unreachable.err) == (4, (
        f"no Temporal server answers at {nobody['ARRIMAGE_TEMPORAL_ADDRESS']} (--temporal existing): start it, "
        "or run `arrimage up` without --temporal existing to start the embedded one\n")), unreachable
