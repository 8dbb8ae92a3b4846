"""A load run: many long-lived workflows open on the embedded stack, a burst of crisis cases through the
gateway, memory and database sizes sampled throughout, then a mass wake-up of ententes falling due at once.

    .venv/bin/python -m benchmarks.load [--ententes 7000] [--cases 3000] [--burst 200] [--wake 3000]
        [--workers 1] [--postgres] [--concurrency 24] [--timeout 1200] [--json FILE]

Not a test: figures are printed (and written with --json), never asserted. Everything it starts (the
Temporal dev server, the test server, worker processes) runs in its own process group and is stopped
at the end, on --timeout, or by a watchdog 60 s later.

1. The embedded stack as `arrimage up` runs it: `temporal server start-dev` (workers.embedded.server_command,
   headless, its SQLite file in a temporary directory, loopback), the record on SQLite in the same directory
   (or, with --postgres, on PostgreSQL at localhost:5432 in a throw-away schema dropped afterwards), and
   `arrimage worker` as separate processes (--workers N), configured by environment only. The two ententes of
   `arrimage demo` are seeded in the record (routing reads them; the gateway checks the partner's).
2. Long-lived workflows opened through the composition root's clients, as the CLI does (`root.entente_client`,
   `root.case_client`), --concurrency at once: ententes drafted, submitted and signed by both parties (the
   workflow activates them itself, then waits a year for their annual review); crisis cases opened by
   Info-Social, handed to the CSSS team, intervention, outcome, then a post-crisis follow-up
   (`suivi_crise_courte_duree`: its first contact due a day later), where they wait.
3. A burst of --burst crisis cases at once through the gateway (uvicorn in this process, httpx, API keys,
   Idempotency-Key): partner opens and asks a mobile team, the CISSS accepts, arrives, records the outcome,
   closes. Throughput (cases/s, commands/s), latency of every command, and the handoff latency: from the
   partner's `request_mobile` sent to the team's `accept` answered (the team answers as soon as it is asked).
4. Resident memory (/proc VmRSS) of each worker process and of the dev server every second throughout;
   the record's size and the dev server's database size, per open workflow.
5. Mass wake-up: an entente's annual review falls due at the start of the day 12 months (its
   `review_interval_months`, at least 1) after its activation, and it is activated at its last signature,
   never earlier (a past effective date takes effect at that signature, `domain.ententes.model.Duration`):
   on a real-time server no review can fall due within a run. This phase therefore runs on the time-skipping
   test server (`temporal-test-server`, as tests/conftest.py `time_env`), with the same `arrimage worker`
   processes and a fresh record: --wake ententes opened and activated the same day, then the server's clock
   skipped past their review day's wake-ups (one `UnlockTimeSkippingWithSleep`), most workflows evicted from
   the workers' cache (500 each by default). All fall due at one instant, the start of that day; since the
   patch `review-wakeup-spread` each wakes at an offset from its code within the day's first
   `REVIEW_WAKEUP_SPREAD` (6 h, `domain.ententes.wakeup`), and the test server fires those timers one
   instant after another as the workers settle (it skips no time while a workflow task is outstanding), where
   a real clock would spread them over the 6 hours. Measured: from the skip to the first and to the last
   `ReviewDue` event in the record, and peak RSS of workers and test server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from google.protobuf.empty_pb2 import Empty
from temporalio.api.testservice.v1 import SleepRequest

from adapters.gateway_client.client import AGAIN
from benchmarks.cases import act_commands, open_command, pct, seed_ententes
from benchmarks.common import PG, machine_lines, print_header, print_table, service_entente
from benchmarks.gateway import CSSS, PARTNER, intake, steps
from benchmarks.load_stack import (
    MIB,
    Processes,
    Sample,
    Sampler,
    count_events,
    cpu_share,
    file_size,
    peak,
    record_size,
    start_workers,
    test_server_command,
    wait_workers_started,
    watchdog,
)
from domain.clock import start_of
from domain.crisis import commands as cc
from domain.crisis.model import new_case_code
from domain.ententes import commands as ec
from domain.ententes.model import EntenteContent
from domain.ententes.wakeup import REVIEW_WAKEUP_SPREAD
from gateway.server import Gateway
from workers.bootstrap import Root, bootstrap, connect
from workers.embedded import server_command
from workers.settings import Settings

# The workers' cache as this run gives it them (ARRIMAGE_WORKFLOW_CACHE_SIZE passed through, else the setting's default)
CACHE = int(os.environ.get("ARRIMAGE_WORKFLOW_CACHE_SIZE") or Settings.model_fields["workflow_cache_size"].default)
RSS_GOAL_MIB = 1024
CALL_TIMEOUT = 120.0
BURST_ATTEMPTS = 6  # a burst command's attempts at most: its first and five retries (the CLI's client makes 4)
PLAN = "suivi_crise_courte_duree"
CONTENT = service_entente()
BENCH = "bench (client + gateway)"


@dataclass
class Figure:
    name: str
    figure: float
    unit: str
    goal: str = ""


@dataclass
class Run:
    args: argparse.Namespace
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, figure: float, unit: str, goal: str = "") -> None:
        self.figures.append(Figure(name, round(figure, 3), unit, goal))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def say(line: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {line}", flush=True)


def mib(n: float) -> float:
    return n / MIB


# ---------------------------------------------------------------------- settings, record, servers
@contextlib.contextmanager
def throwaway_schema(enabled: bool) -> Any:
    if not enabled:
        yield ""
        return
    import psycopg

    name = f"bench_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(autocommit=True, connect_timeout=5, **PG) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(autocommit=True, connect_timeout=5, **PG) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def make_settings(data_dir: Path, address: str, schema: str) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    store: dict[str, Any] = {"store": "sqlite", "sqlite_path": data_dir / "record.sqlite"}
    if schema:
        store = {
            "store": "postgres",
            "postgres_host": PG["host"],
            "postgres_port": int(PG["port"]),
            "postgres_dbname": PG["dbname"],
            "postgres_user": PG["user"],
            "postgres_password": PG["password"],
            "postgres_schema": schema,
        }
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        mode="development",
        temporal_address=address,
        temporal_ui_port=free_port(),
        task_queue=f"bench-load-{uuid.uuid4().hex[:6]}",
        log_format="console",
        log_level="WARNING",
        otel_exporter="none",
        gateway_rate=1e6,
        gateway_burst=1_000_000,
        **store,
    )


async def connected(settings: Settings, procs: Processes, name: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        proc = procs.started[name]
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}; see its log in {settings.data_dir}")
        try:
            return await connect(settings)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


@contextlib.asynccontextmanager
async def stack(
    settings: Settings, procs: Processes, sampler: Sampler, workers: int, server: str, tag: str
) -> AsyncIterator[Root]:
    """The server (`dev`: `temporal server start-dev`; `test`: the time-skipping test server), the root of this
    process on it (the CLI's and the gateway's clients), the record seeded, `workers` worker processes."""
    logs = settings.data_dir
    if server == "dev":
        procs.spawn(f"server-{tag}", [*server_command(settings), "--headless"], logs / "temporal-server.log")
    else:
        port = int(settings.temporal_address.rsplit(":", 1)[1])
        procs.spawn(f"server-{tag}", test_server_command(port), logs / "temporal-test-server.log")
    sampler.watched["server"] = procs.started[f"server-{tag}"].pid
    client = await connected(settings, procs, f"server-{tag}")
    root = bootstrap(settings, create=True, client=client, check_keys=False)
    names: list[str] = []
    try:
        seed_ententes(root.record)
        names = start_workers(procs, settings, workers, logs, tag)
        for n in names:
            sampler.watched[n] = procs.started[n].pid
        await wait_workers_started(procs, names, logs)
        yield root
    finally:
        for n in names:
            sampler.watched.pop(n, None)
        sampler.watched.pop("server", None)
        root.close()
        procs.stop([*names, f"server-{tag}"])


# ---------------------------------------------------------------------- opening many workflows
def _stopping() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def spread_content(i: int, territories: int) -> EntenteContent:
    """Entente `i` of a region with `territories` territories (`--territories`): the same entente, its offers in
    laval for one in `territories` and in `rls-{i % territories}` for the others, so that a case of laval can
    be routed by a few of them only (1: every one in laval, the run's shape before the option)."""
    if i % territories == 0:
        return CONTENT
    where = [f"rls-{i % territories}"]
    return CONTENT.model_copy(update={"services": [o.model_copy(update={"territories": where})
                                                   for o in CONTENT.services]})


async def open_entente(root: Root, code: str, content: EntenteContent = CONTENT) -> None:
    client = root.entente_client
    await client.draft(ec.DraftEntente(by="bench", code=code, content=content), CALL_TIMEOUT)
    await client.command(code, ec.SubmitForSignature(by="bench"), CALL_TIMEOUT)
    for i, party in enumerate(content.party_ids):
        await client.command(
            code, ec.SignEntente(by="bench", party_id=party, version=1, signatory=f"Signataire {i}"), CALL_TIMEOUT
        )


async def open_case_to_follow_up(root: Root, code: str) -> None:
    client = root.case_client
    await client.open(open_command(code), CALL_TIMEOUT)
    for cmd in act_commands(code)[:4]:  # request_mobile, accept, arrive, outcome
        await client.act(code, cmd, CALL_TIMEOUT)
    await client.act(code, cc.StartFollowUp(by="bench-equipe", actor_org=CSSS, plan=PLAN), CALL_TIMEOUT)


async def open_many(
    kind: str, n: int, concurrency: int, one: Callable[[int], Awaitable[None]], sampler: Sampler, base: int
) -> tuple[float, list[str]]:
    """`n` workflows opened by `concurrency` tasks; progress every 10 s; (seconds, failures)."""
    done = 0
    failures: list[str] = []
    nxt = 0
    t0 = time.perf_counter()

    async def lane() -> None:
        nonlocal done, nxt
        while nxt < n:
            i, nxt = nxt, nxt + 1
            try:
                await one(i)
                done += 1
                sampler.open_workflows = base + done
            except Exception as err:  # counted and shown: one failure must not hide the figures
                if _stopping():  # the SDK turns a cancelled update into an exception: stop, do not go on
                    raise asyncio.CancelledError from err
                failures.append(f"{type(err).__name__}: {str(err)[:300]}")

    async def progress() -> None:
        last_t, last_done = t0, 0
        while True:
            await asyncio.sleep(10)
            now = time.perf_counter()
            s = sampler.latest()
            mem = (
                f"workers {mib(s.rss.get('workers', 0)):.0f} MiB, server {mib(s.rss.get('server', 0)):.0f} MiB"
                if s
                else ""
            )
            recent = (done - last_done) / (now - last_t)
            window = [x for x in sampler.samples[-11:] if x.phase == sampler.phase]
            busy = cpu_share(window, ("workers", "server", BENCH))
            mem += " | cores busy: " + ", ".join(f"{k.split(' ')[0]} {v:.2f}" for k, v in busy.items())
            say(
                f"{kind}: {done}/{n} open, {done / (now - t0):.1f}/s (last 10 s {recent:.1f}/s), "
                f"{len(failures)} failed; {mem}; load {os.getloadavg()[0]:.2f}"
            )
            last_t, last_done = now, done

    ticker = asyncio.create_task(progress())
    try:
        await asyncio.gather(*(lane() for _ in range(min(concurrency, n))))
    finally:
        ticker.cancel()
    return time.perf_counter() - t0, failures


async def wait_events(settings: Settings, name: str, want: int, timeout: float, poll: float = 1.0) -> tuple[int, float]:
    """Until the record holds `want` events `name` (or `timeout`): (count, seconds waited)."""
    t0 = time.perf_counter()
    while True:
        got = (await asyncio.to_thread(count_events, settings, (name,)))[name]
        if got >= want or time.perf_counter() - t0 > timeout:
            return got, time.perf_counter() - t0
        await asyncio.sleep(poll)


# ---------------------------------------------------------------------- the burst through the gateway
async def burst(root: Root, n: int, run: Run) -> None:
    now = datetime.now(UTC)
    keys = {org: root.principals.add_partner(org, org, by="bench", at=now).key for org in (PARTNER, CSSS)}
    server = Gateway(root, host="127.0.0.1", port=0)
    base = await server.start()
    commands: list[float] = []
    handoffs: list[float] = []
    failures: list[str] = []
    retries: list[int] = []  # the status of each attempt answered "again" (0: a transport error)
    try:
        async with httpx.AsyncClient(
            base_url=base, timeout=CALL_TIMEOUT, limits=httpx.Limits(max_connections=max(n, 10))
        ) as http:

            async def send(who: str, path: str, body: dict[str, Any]) -> float:
                """One command as a partner system sends it (the API's contract, as adapters.gateway_client
                does): one Idempotency-Key for every attempt, sent again on a transport error, on 503/504/429 and
                on 409 idempotency_key_in_progress, after the Retry-After given (else 1, 2, 4 … s), up to
                `BURST_ATTEMPTS`; its latency counts from the first attempt to the answer."""
                t = time.perf_counter()
                headers = {"Authorization": f"Bearer {keys[who]}", "Idempotency-Key": uuid.uuid4().hex}
                for attempt in range(BURST_ATTEMPTS):
                    try:
                        r = await http.post(path, json=body, headers=headers)
                    except httpx.TransportError:  # e.g. a kept-alive connection the server closed as it was sent
                        if attempt == BURST_ATTEMPTS - 1:
                            raise
                        retries.append(0)
                        await asyncio.sleep(2.0 ** attempt)
                        continue
                    again = r.status_code in AGAIN or (
                        r.status_code == 409 and "idempotency_key_in_progress" in r.text)
                    if not again or attempt == BURST_ATTEMPTS - 1:
                        break
                    retries.append(r.status_code)
                    given = r.headers.get("retry-after", "")
                    await asyncio.sleep(min(float(given) if given.isdigit() else 2.0 ** attempt, 30.0))
                if r.status_code >= 300:
                    raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
                commands.append(time.perf_counter() - t)
                return t

            async def one_case() -> None:
                code = new_case_code()
                try:
                    await send(PARTNER, "/v1/cases", intake(code))
                    asked = 0.0
                    for who, body in steps(code):
                        sent = await send(who, f"/v1/cases/{code}/commands", body)
                        if body["type"] == "request_mobile":
                            asked = sent
                        elif body["type"] == "accept":
                            handoffs.append(time.perf_counter() - asked)
                except Exception as err:  # counted and shown
                    failures.append(f"{type(err).__name__}: {str(err)[:300]}")

            await asyncio.gather(*(one_case() for _ in range(4)))  # warm-up, not counted
            commands.clear()
            handoffs.clear()
            retries.clear()
            t0 = time.perf_counter()
            await asyncio.gather(*(one_case() for _ in range(n)))
            seconds = time.perf_counter() - t0
    finally:
        await server.stop()
    ok = n - len(failures)
    say(f"burst: {ok}/{n} cases carried through the gateway in {seconds:.1f} s ({len(failures)} failed, "
        f"{len(retries)} attempts retried)")
    run.add("burst cases/s (gateway, 6 commands each)", ok / seconds, "cases/s")
    run.add("burst commands/s (gateway)", len(commands) / seconds, "commands/s")
    for p in (50, 95, 99):
        run.add(
            f"burst handoff latency p{p} (request_mobile sent → accept answered)",
            1e3 * pct(handoffs, p) if handoffs else float("nan"),
            "ms",
        )
    for p in (50, 95, 99):
        run.add(f"burst command latency p{p}", 1e3 * pct(commands, p) if commands else float("nan"), "ms")
    run.add("burst failures", len(failures), "cases", "0")
    run.add("burst attempts retried (503/504/429/409 in progress, transport error)", len(retries), "attempts")
    run.notes += [f"burst failure: {f}" for f in failures[:3]]


# ---------------------------------------------------------------------- memory, flat or not
def flatness(samples: list[Sample], name: str, full_at: int) -> tuple[float, float, str]:
    """(RSS when `full_at` workflows were first open, max RSS after, verdict) in MiB."""
    after = [s for s in samples if s.open_workflows >= full_at]
    if not after:
        return float("nan"), float("nan"), f"cache never full (fewer than {full_at} open)"
    first, top = mib(after[0].rss.get(name, 0)), mib(max(s.rss.get(name, 0) for s in after))
    opened = after[-1].open_workflows - after[0].open_workflows
    growth = top - first
    per_k = growth / opened * 1000 if opened else 0.0
    verdict = "flat" if growth <= 0.10 * first else "grows"
    return first, top, f"{verdict}: +{growth:.0f} MiB over the next {opened:,} workflows ({per_k:.0f} MiB per 1,000)"


# ---------------------------------------------------------------------- phases
async def dev_phases(args: argparse.Namespace, tmp: Path, procs: Processes, sampler: Sampler, run: Run) -> None:
    with throwaway_schema(args.postgres) as schema:
        settings = make_settings(tmp / "dev", f"127.0.0.1:{free_port()}", schema)
        async with stack(settings, procs, sampler, args.workers, "dev", "dev") as root:
            sampler.phase = "idle"
            await asyncio.sleep(3)
            base = sampler.take()
            temporal_db = settings.data_dir / "temporal.sqlite"
            db0, rec0 = file_size(temporal_db), record_size(settings)
            say(
                f"stack up: {args.workers} worker process(es), server RSS {mib(base.rss['server']):.0f} MiB, "
                f"workers {mib(base.rss['workers']):.0f} MiB; record {settings.describe_store()}"
            )
            tag = uuid.uuid4().hex[:6].upper()

            def sizes() -> None:
                """The record and the dev server's database per open workflow, and the server's RSS growth."""
                at_rest = sampler.take()
                db1, rec1 = file_size(temporal_db), record_size(settings)
                open_total = sampler.open_workflows
                per = max(open_total, 1)
                run.add("open long-lived workflows", open_total, "workflows", "10,000")
                run.add("record size per open workflow", (rec1 - rec0) / per / 1024, "KiB")
                run.add("record size", mib(rec1), "MiB")
                run.add("dev server database per open workflow", (db1 - db0) / per / 1024, "KiB")
                run.add("dev server database", mib(db1), "MiB")
                grown = at_rest.rss["server"] - base.rss["server"]
                run.add("dev server RSS growth per open workflow", grown / per / 1024, "KiB")

            sized = False
            try:
                sampler.phase = "ententes"
                secs, fails = await open_many(
                    "ententes",
                    args.ententes,
                    args.concurrency,
                    lambda i: open_entente(root, f"LOAD-{tag}-{i}", spread_content(i, args.territories)),
                    sampler,
                    0,
                )
                opened_ententes = args.ententes - len(fails)
                run.add(
                    "ententes opened (drafted, submitted, signed x2) per second", opened_ententes / secs, "ententes/s"
                )
                run.add("ententes opened", opened_ententes, "workflows")
                run.notes += [f"entente failure: {f}" for f in fails[:3]]
                demo = 2  # the demo ententes seeded for routing
                got, waited = await wait_events(settings, "Activated", opened_ententes + demo, 300)
                say(
                    f"ententes: {opened_ententes} signed in {secs:.0f} s; {got - demo} activated by their workflows "
                    f"({waited:.0f} s after the last signature)"
                )

                sampler.phase = "cases"
                secs, fails = await open_many(
                    "cases",
                    args.cases,
                    args.concurrency,
                    lambda i: open_case_to_follow_up(root, new_case_code()),
                    sampler,
                    opened_ententes,
                )
                opened_cases = args.cases - len(fails)
                if args.cases:
                    run.add(
                        "cases opened to post-crisis follow-up per second (6 commands each)",
                        opened_cases / secs,
                        "cases/s",
                    )
                run.add("cases opened to follow-up", opened_cases, "workflows")
                run.notes += [f"case failure: {f}" for f in fails[:3]]

                sampler.phase = "open"
                await asyncio.sleep(5)
                sizes()
                sized = True
                sampler.phase = "burst"
                if args.burst:
                    await burst(root, args.burst, run)
                sampler.phase = "after"
                await asyncio.sleep(3)

            finally:  # stopped by --timeout or a signal too: what was measured is reported
                if not sized:
                    sizes()
                samples = [
                    s for s in sampler.of() if s.phase in {"idle", "ententes", "cases", "open", "burst", "after"}
                ]
                full_at = CACHE * args.workers
                first, top, verdict = flatness(samples, "workers", full_at)
                each = max(peak(samples, n) for n in sampler.watched if n.startswith("worker-"))
                run.add(
                    f"worker RSS max ({args.workers} process(es), summed)",
                    mib(peak(samples, "workers")),
                    "MiB",
                    f"< {RSS_GOAL_MIB} per worker",
                )
                run.add("worker RSS max, largest single worker", mib(each), "MiB", f"< {RSS_GOAL_MIB}")
                run.add(f"worker RSS when the cache first held {full_at:,} workflows", first, "MiB")
                run.add("worker RSS max after the cache was full", top, "MiB", "flat")
                run.add("dev server RSS max", mib(peak(samples, "server")), "MiB")
                run.notes.append(f"worker memory once the cache was full: {verdict}")
                for phase in ("ententes", "cases", "burst"):
                    busy = cpu_share(sampler.of(phase), ("workers", "server", BENCH))
                    if busy:
                        run.notes.append(
                            f"cores busy while {phase}: "
                            + ", ".join(f"{k} {v:.2f}" for k, v in busy.items())
                            + f" (2 cores; load average {os.getloadavg()[0]:.1f} at the end)"
                        )
                say(f"worker memory once the cache was full: {verdict}")


async def wake_phase(args: argparse.Namespace, tmp: Path, procs: Processes, sampler: Sampler, run: Run) -> None:
    """The mass wake-up, on the time-skipping test server (see the module's docstring)."""
    with throwaway_schema(args.postgres) as schema:
        settings = make_settings(tmp / "wake", f"127.0.0.1:{free_port()}", schema)
        async with stack(settings, procs, sampler, args.workers, "test", "wake") as root:
            sampler.phase = "wake-open"
            sampler.open_workflows = 0
            tag = uuid.uuid4().hex[:6].upper()
            codes = [f"WAKE-{tag}-{i}" for i in range(args.wake)]
            secs, fails = await open_many(
                "wake-up ententes", args.wake, args.concurrency, lambda i: open_entente(root, codes[i]), sampler, 0
            )
            opened = args.wake - len(fails)
            run.notes += [f"wake-up entente failure: {f}" for f in fails[:3]]
            got, _ = await wait_events(settings, "Activated", opened + 2, 300)
            say(f"wake-up: {opened} ententes signed in {secs:.0f} s, {got - 2} activated")
            dues = Counter(
                await asyncio.to_thread(lambda: [root.ententes.view(code).next_review_due for code in codes[:opened]])
            )
            say(f"wake-up: reviews due on {dict(sorted((str(k), v) for k, v in dues.items()))}")
            due = max(d for d in dues if d is not None)
            # Past every wake-up of that day (spread over its first hours); the review is still due at its start.
            target = start_of(due) + REVIEW_WAKEUP_SPREAD + timedelta(seconds=1)
            client = await root.temporal.client()
            now = (await client.test_service.get_current_time(Empty())).time.ToDatetime(tzinfo=UTC)
            req = SleepRequest()
            req.duration.FromTimedelta(target - now)
            before = sampler.take()
            sampler.phase = "wake-up"
            want = (await asyncio.to_thread(count_events, settings, ("ReviewDue",)))["ReviewDue"] + sum(
                v for k, v in dues.items() if k == due
            )
            say(
                f"wake-up: skipping the server's clock {target - now} to {target:%Y-%m-%d %H:%M:%S} UTC; "
                f"{want} ReviewDue expected; server RSS {mib(before.rss['server']):.0f} MiB, workers "
                f"{mib(before.rss['workers']):.0f} MiB"
            )
            t0 = time.perf_counter()
            skip = asyncio.create_task(client.test_service.unlock_time_skipping_with_sleep(req))
            first: float | None = None
            count = 0
            last_say = t0
            try:
                while time.perf_counter() - t0 < args.wake_timeout:
                    count = (await asyncio.to_thread(count_events, settings, ("ReviewDue",)))["ReviewDue"]
                    now_s = time.perf_counter() - t0
                    if count and first is None:
                        first = now_s
                    if count >= want:
                        break
                    if time.perf_counter() - last_say > 10:
                        last_say = time.perf_counter()
                        s = sampler.latest() or before
                        say(
                            f"wake-up: {count}/{want} ReviewDue after {now_s:.0f} s; workers "
                            f"{mib(s.rss['workers']):.0f} MiB, server {mib(s.rss['server']):.0f} MiB"
                        )
                    await asyncio.sleep(0.25)
            finally:  # stopped by --timeout or a signal too: what was measured is reported
                skip.add_done_callback(lambda t: t.cancelled() or t.exception())  # an RPC cut at the stop: no noise
                total = time.perf_counter() - t0
                samples = sampler.of("wake-up")
                busy = cpu_share(sampler.of("wake-up"), ("workers", "server", BENCH))
                run.notes.append("cores busy during the wake-up: " + ", ".join(f"{k} {v:.2f}" for k, v in busy.items()))
                say(
                    f"wake-up: {count}/{want} ReviewDue recorded {total:.1f} s after the skip (first at "
                    f"{first if first is not None else float('nan'):.1f} s)"
                )
                run.add("wake-up: ententes falling due at one instant (the start of their due day)", want, "workflows")
                run.add("wake-up: their wake-ups spread over the due day's first", REVIEW_WAKEUP_SPREAD / timedelta(
                    hours=1), "h (server time)")
                run.add(
                    "wake-up: evicted from the worker cache at the skip (at least)",
                    max(0, opened - CACHE * args.workers),
                    "workflows",
                )
                run.add("wake-up: skip → first ReviewDue recorded", first if first is not None else float("nan"), "s")
                run.add("wake-up: skip → every ReviewDue recorded", total if count >= want else float("nan"), "s")
                run.add("wake-up: ReviewDue recorded per second", count / total if total else 0.0, "events/s")
                run.add("wake-up: ReviewDue recorded", count, "events", f"= {want}")
                run.add("wake-up: worker RSS peak (summed)", mib(peak(samples, "workers")), "MiB", f"< {RSS_GOAL_MIB}")
                run.add("wake-up: worker RSS before the skip", mib(before.rss["workers"]), "MiB")
                run.add("wake-up: test server RSS peak", mib(peak(samples, "server")), "MiB")
                run.add("wake-up: test server RSS before the skip", mib(before.rss["server"]), "MiB")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(skip, 30)


async def bench(args: argparse.Namespace, run: Run) -> None:
    procs = Processes()
    sampler = Sampler().start()
    sampler.watched[BENCH] = os.getpid()
    sampler.alone.add(BENCH)
    with tempfile.TemporaryDirectory(prefix="arrimage-bench-load-") as name, watchdog(args.timeout, procs):
        tmp = Path(name)
        t0 = time.monotonic()
        try:

            async def phases() -> None:
                if not args.skip_dev:
                    await dev_phases(args, tmp, procs, sampler, run)
                if args.wake:
                    await wake_phase(args, tmp, procs, sampler, run)

            work = asyncio.create_task(asyncio.wait_for(phases(), args.timeout))
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):  # stop in order, report what was measured
                loop.add_signal_handler(sig, work.cancel)
            await work
        except TimeoutError:
            run.notes.append(f"STOPPED by --timeout {args.timeout:.0f} s: figures so far")
            say(f"timed out after {time.monotonic() - t0:.0f} s: stopping everything")
        except asyncio.CancelledError:
            run.notes.append("STOPPED by a signal: figures so far")
            say(f"stopped by a signal after {time.monotonic() - t0:.0f} s: stopping everything")
        finally:
            sampler.stop()
            procs.stop(grace=10)
        run.add("run wall time", time.monotonic() - t0, "s")


def report(run: Run, header: list[str]) -> None:
    print()
    print_table(["figure", "value", "unit", "goal"], [(f.name, f.figure, f.unit, f.goal) for f in run.figures])
    for note in run.notes:
        print(f"  {note}")
    if run.args.json:
        load = os.getloadavg()
        Path(run.args.json).write_text(
            json.dumps(
                {
                    "benchmark": "benchmarks.load",
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "load_average": [round(x, 2) for x in load],
                    "machine": header,
                    "parameters": {k: v for k, v in vars(run.args).items() if k != "json"},
                    "figures": [asdict(f) for f in run.figures],
                    "notes": run.notes,
                },
                indent=2,
                default=str,
            )
            + "\n",
            encoding="utf-8",
        )
        print(f"  figures written to {run.args.json}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.load", description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--ententes", type=int, default=7000, help="ententes opened and left waiting for their review")
    ap.add_argument("--cases", type=int, default=3000, help="crisis cases opened and left in post-crisis follow-up")
    ap.add_argument("--burst", type=int, default=200, help="crisis cases sent at once through the gateway")
    ap.add_argument("--wake", type=int, default=3000, help="ententes of the mass wake-up (0: skip that phase)")
    ap.add_argument("--wake-timeout", type=float, default=600, help="seconds allowed for every ReviewDue")
    ap.add_argument("--workers", type=int, default=1, help="`arrimage worker` processes")
    ap.add_argument("--territories", type=int, default=1,
                    help="territories the ententes' offers are spread over (1: all in laval, as the cases)")
    ap.add_argument("--concurrency", type=int, default=24, help="workflows being opened at once")
    ap.add_argument(
        "--postgres", action="store_true", help="the record on PostgreSQL (localhost:5432), a throw-away schema"
    )
    ap.add_argument("--skip-dev", action="store_true", help="only the mass wake-up")
    ap.add_argument("--timeout", type=float, default=1200, help="seconds for the whole run (default 20 min)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON (name, figure, unit, goal)")
    args = ap.parse_args(argv)
    if args.territories < 1:
        ap.error(f"invalid value for --territories: {args.territories} (expected at least 1)")
    header = machine_lines()
    print_header(
        "benchmarks.load — long-lived workflows, a gateway burst, memory, a mass wake-up",
        [
            f"load        {args.ententes:,} ententes + {args.cases:,} cases in follow-up ({args.concurrency} at once), "
            f"burst of {args.burst} cases through the gateway, mass wake-up of {args.wake:,} ententes; ententes over "
            f"{args.territories} territor{'y' if args.territories == 1 else 'ies'}",
            f"            {args.workers} `arrimage worker` process(es); record: "
            f"{'PostgreSQL (throw-away schema)' if args.postgres else 'SQLite'}; dev server: temporal server "
            "start-dev (SQLite); wake-up: temporal-test-server (time skipping)",
            "            containers: none (no container runtime on this machine: the compose stack is not run)",
        ],
    )
    run = Run(args)
    asyncio.run(bench(args, run))
    report(run, header)
    return 0


if __name__ == "__main__":
    sys.exit(main())
