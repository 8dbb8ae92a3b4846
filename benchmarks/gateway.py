"""Partner commands per second through the gateway, beside the same commands sent straight through the
Temporal case client in the same run; and the latency from a request to its event stored in the record.

    ARRIMAGE_MODE=development .venv/bin/python -m benchmarks.gateway [--cases 40] [--rounds 2]
        [--latency-cases 30] [--timeout 300]

The embedded stack, as `arrimage up` runs it: the dev server with the case search attributes (SQLite,
headless, `benchmarks.workflows.embedded_server`), the production worker (`build_worker`, 8 activity
threads) over a SQLite record holding the two ententes of `arrimage demo`, and the gateway (uvicorn on
loopback, `gateway.server.Gateway`) in the same process, reached by an httpx client with API keys.

One case = 6 commands, in order: the partner `cps-laval` opens it (intake `partenaire`, under its entente:
the gateway checks that entente in force on every later command it gives) and asks for a mobile team; the
CISSS's system (a partner principal of `cisss-laval`) accepts, records the arrival, the outcome, closes.
- gateway: `POST /v1/cases`, then 5 × `POST /v1/cases/{code}/commands`, each with its Idempotency-Key;
- direct: the same command objects through `root.case_client.open|act` (what the gateway calls).
N cases of a kind at once (each case's commands in order); throughput = commands / wall time; ratio =
direct ÷ gateway (medians over rounds); goal ≤ 1.2.

Latency (after the rounds, one command at a time, nothing else running): from the request sent to its
new events readable by a fresh read of the record on another connection (polled every 2 ms in a thread),
as `arrimage cases show` reads them; p50, p95, p99; goal p95 < 100 ms. Figures printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks import summary
from benchmarks.cases import _wait_visible, pct, seed_ententes
from benchmarks.common import print_header, print_table
from benchmarks.workflows import embedded_server
from domain.crisis import commands as c
from domain.crisis.model import IntakeService, InterventionOutcome, UrgencyLevel, new_case_code
from gateway.bodies import CASE_COMMAND_REAL
from gateway.server import Gateway
from usecases.crisis import CrisisCases
from workers.bootstrap import Root, bootstrap, open_record
from workers.worker import build_worker

TARGET_RATIO = 1.2
TARGET_P95_MS = 100.0
CSSS = "cisss-laval"
PARTNER = "cps-laval"
TEAM = {"team_id": "crise-laval-1", "org_id": CSSS}
TIMEOUT = 60.0


def subject(code: str) -> str:
    return f"bench-{code[2:].lower()}"


def intake(code: str) -> dict[str, Any]:
    return {"case_code": code, "responsible_org": CSSS, "territory": "laval", "subject_id": subject(code),
            "intake": {"service": IntakeService.PARTNER.value, "urgency": UrgencyLevel.HIGH.value,
                       "face_to_face_needed": True}}


def steps(code: str) -> list[tuple[str, dict[str, Any]]]:
    """(who, body) of the 5 commands after the opening."""
    return [
        (PARTNER, {"type": "request_mobile", "csss_teams": [TEAM]}),
        (CSSS, {"type": "accept", "team_id": TEAM["team_id"]}),
        (CSSS, {"type": "arrive"}),
        (CSSS, {"type": "outcome", "outcome": InterventionOutcome.CRISIS_RESOLVED.value, "subject_id": subject(code)}),
        (CSSS, {"type": "close", "reason": "crise désamorcée"}),
    ]


@dataclass
class Lane:
    """One way of sending a command: through the gateway, or straight through the case client."""

    name: str
    open: Callable[[str], Awaitable[int]]
    act: Callable[[str, str, dict[str, Any]], Awaitable[int]]


def gateway_lane(http: httpx.AsyncClient, keys: dict[str, str]) -> Lane:
    async def send(who: str, path: str, body: dict[str, Any]) -> int:
        r = await http.post(path, json=body, headers={"Authorization": f"Bearer {keys[who]}",
                                                      "Idempotency-Key": uuid.uuid4().hex})
        if r.status_code >= 300:
            raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
        return int(r.json()["event_count"])

    return Lane("gateway", lambda code: send(PARTNER, "/v1/cases", intake(code)),
                lambda code, who, body: send(who, f"/v1/cases/{code}/commands", body))


def direct_lane(root: Root) -> Lane:
    async def open_(code: str) -> int:
        cmd = c.OpenCase.model_validate({**intake(code), "by": PARTNER, "actor_org": PARTNER})
        return (await root.case_client.open(cmd, TIMEOUT)).event_count

    async def act(code: str, who: str, body: dict[str, Any]) -> int:
        cmd = CASE_COMMAND_REAL.validate_python({**body, "by": who, "actor_org": who})  # as the gateway builds it
        return (await root.case_client.act(code, cmd, TIMEOUT)).event_count

    return Lane("direct", open_, act)


async def one_case(lane: Lane) -> None:
    code = new_case_code()
    await lane.open(code)
    for who, body in steps(code):
        await lane.act(code, who, body)


async def throughput(lane: Lane, n: int, timeout: float) -> float:
    """Commands per second with `n` cases carried at once."""
    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(one_case(lane) for _ in range(n))), timeout)
    return 6 * n / (time.perf_counter() - t0)


async def latency(lane: Lane, reader: CrisisCases, cases: int) -> list[float]:
    out: list[float] = []
    for _ in range(cases):
        code = new_case_code()
        count = await lane.open(code)
        for who, body in steps(code):
            stop = threading.Event()
            t0 = time.perf_counter()
            seen = asyncio.create_task(asyncio.to_thread(_wait_visible, reader, code, count, stop))
            count = await lane.act(code, who, body)
            try:
                moment = await asyncio.wait_for(seen, 30)
            finally:
                stop.set()
            assert moment is not None
            out.append(moment - t0)
    return out


async def bench(n: int, rounds: int, latency_cases: int, timeout: float, threads: int) -> int:
    with tempfile.TemporaryDirectory(prefix="arrimage-bench-gateway-") as tmp:
        async with embedded_server(Path(tmp), []) as (settings, client, _server):
            settings = settings.model_copy(update={"task_queue": f"bench-gw-{uuid.uuid4().hex[:6]}",
                                                   "gateway_rate": 1e6, "gateway_burst": 1_000_000})
            root = bootstrap(settings, create=True, client=client, check_keys=False)
            seed_ententes(root.record)
            now = datetime.now(UTC)
            keys = {org: root.principals.add_partner(org, org, by="bench", at=now).key for org in (PARTNER, CSSS)}
            reader = CrisisCases(open_record(settings), settings.standards())
            server = Gateway(root, host="127.0.0.1", port=0)
            results: dict[str, list[float]] = {"gateway": [], "direct": []}
            try:
                base = await server.start()
                with ThreadPoolExecutor(threads, thread_name_prefix="activity") as ex:
                    async with build_worker(client, settings, root.record, executor=ex), \
                            httpx.AsyncClient(base_url=base, timeout=TIMEOUT,
                                              limits=httpx.Limits(max_connections=n)) as http:
                        lanes = [direct_lane(root), gateway_lane(http, keys)]
                        for lane in lanes:  # warm-up, not counted
                            await throughput(lane, 4, timeout)
                        for r in range(rounds):
                            for lane in lanes:
                                results[lane.name].append(await throughput(lane, n, timeout))
                                print(f"  round {r + 1}: {lane.name:7} {6 * n} commands "
                                      f"= {results[lane.name][-1]:6.1f} commands/s", flush=True)
                        stored = {lane.name: await latency(lane, reader, latency_cases) for lane in lanes}
            finally:
                await server.stop()
                reader.record.close()
                root.close()
    report(results, stored, n)
    return 0


def report(results: dict[str, list[float]], stored: dict[str, list[float]], n: int) -> None:
    med = {k: statistics.median(v) for k, v in results.items()}
    ratio = med["direct"] / med["gateway"]
    print()
    print(f"  {n} concurrent cases per run, 6 commands each; ratio = direct ÷ gateway (medians); goal ≤ {TARGET_RATIO}")
    print_table(["direct cmd/s", "gateway cmd/s", "ratio", "goal", "verdict"],
                [(f"{med['direct']:.1f}", f"{med['gateway']:.1f}", f"{ratio:.2f}", f"≤ {TARGET_RATIO}",
                  "met" if ratio <= TARGET_RATIO else "NOT met")])
    rows = []
    for name, values in stored.items():
        ms = [1e3 * v for v in values]
        rows.append((name, len(ms), f"{pct(ms, 50):.0f}", f"{pct(ms, 95):.0f}", f"{pct(ms, 99):.0f}",
                     f"{max(ms):.0f}"))
    print("  latency, request sent → its events readable in the record (ms; one at a time; nearest rank):")
    print_table(["sent", "commands", "p50", "p95", "p99", "max"], rows)
    p95 = pct([1e3 * v for v in stored["gateway"]], 95)
    print(f"  goal p95 < {TARGET_P95_MS:.0f} ms through the gateway: {'met' if p95 < TARGET_P95_MS else 'NOT met'}")
    summary.add(summary.Row("gateway", f"partner commands/s through the gateway, {n} cases at once", med["gateway"],
                            "cmd/s", med["direct"], "case client direct", "baseline/value", "direct ÷ gateway",
                            "ratio", "<=", TARGET_RATIO))
    summary.add(summary.Row("gateway", "request → events readable in the record, p95", p95, "ms",
                            pct([1e3 * v for v in stored["direct"]], 95), "case client direct", "value/baseline",
                            "gateway ÷ direct", "value", "<", TARGET_P95_MS))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gateway", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=40, help="concurrent cases per run; default 40")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of (direct, gateway); default 2")
    ap.add_argument("--latency-cases", type=int, default=30, help="cases for the latency (5 commands each)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds allowed per run before giving up")
    ap.add_argument("--threads", type=int, default=8, help="activity threads of the worker (run_worker uses 8)")
    summary.option(ap)
    args = ap.parse_args(argv)
    print_header(
        "benchmarks.gateway — partner commands per second through the gateway vs the case client, latency",
        [f"load        {args.cases} concurrent cases per run, {args.rounds} round(s) of (direct, gateway)",
         "            case: open, request_mobile (cps-laval, under its entente), accept, arrive, outcome, close "
         "(cisss-laval)",
         "            gateway: uvicorn on loopback in this process, httpx, API keys, Idempotency-Key",
         f"            latency: {args.latency_cases} cases x 5 commands, one at a time, each way"],
    )
    return asyncio.run(bench(args.cases, args.rounds, args.latency_cases, args.timeout, args.threads))


if __name__ == "__main__":
    sys.exit(main())
