"""Verification speed of the audit chain, one pass beside ranges in parallel processes, and memory as the store grows.

    python -m benchmarks.verify                 # 1,000,000 events, verify at 100k, 500k, 1M
    python -m benchmarks.verify --events 200000 --at 50000,200000 --jobs 2

The store is built on SQLite through the same code path every save takes (the
chaining recorder's ``insert_events``: events inserted and chained in one
transaction), in batches of 1,000 events: 1,000 aggregates open at a time,
ten events each, so aggregates interleave in the notification order as real
cases do. Event state is ~200 bytes of JSON.

Each verification runs in a fresh process (``--verify-only``), so its peak RSS
is the verifier's own, not the builder's: flat figures across sizes show that
memory does not grow with the store. At each size the one pass (``jobs=1``, the
baseline) and the pass in ranges (``--jobs N``, default this machine's cores:
``usecases.audit.trail.verify(jobs=N)``, ranges checked by forked processes)
run one after the other on the same file: wall seconds, events/s, their ratio,
CPU seconds of all processes of each pass (steadier than wall time when other
work shares the cores), peak RSS of the verifier and of its range processes,
and the load average just before. ``--before`` also times the loop as it was
before issue 12's speed work (``benchmarks.verify_before``, frozen). Last, the
incremental verify: a checkpoint signed at the head, ``--since-events`` more
appended, ``verify(since=checkpoint)`` timed beside a full pass, with the rows
each read.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from adapters.record.environment import record_env
from adapters.record.record import Record
from benchmarks import summary
from benchmarks.verify_before import verify_rows as verify_rows_before
from domain.audit.checkpoint import Checkpoint
from usecases.audit.trail import checkpoint, verify
from workers.bootstrap import open_record

TOPIC = "benchmarks.verify:Case.Noted"
BATCH = 1_000
VERSIONS = 10


def env(path: Path) -> dict[str, str]:
    return record_env(sqlite=path)


def build(record: Record, start: int, stop: int) -> float:
    """Append events number start..stop-1; returns seconds."""
    t0 = time.perf_counter()
    n = start
    filler = "x" * 120
    while n < stop:
        round_ = (n // BATCH) % VERSIONS
        if round_ == 0 or n == start:
            ids = [uuid4() for _ in range(BATCH)]
        size = min(BATCH, stop - n)
        batch = [
            StoredEvent(
                originator_id=ids[i],
                originator_version=round_ + 1,
                topic=TOPIC,
                state=json.dumps({"n": n + i, "timestamp": "2025-01-01T00:00:00+00:00", "note": filler}).encode(),
            )
            for i in range(size)
        ]
        record.recorder.insert_events(batch)
        n += size
    return time.perf_counter() - t0


def verify_only(path: Path, mode: str, since: Path | None = None, jobs: int = 1) -> dict[str, float]:
    record = open_record(env=env(path))
    mine, theirs = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    if mode == "before":
        started = time.perf_counter()
        with record.audit_store().snapshot() as snap:
            report = verify_rows_before(snap.events(), snap.chain(), snap)
        seconds, rows = time.perf_counter() - started, 2 * report.events_checked
    else:
        cp = Checkpoint.from_json(since.read_text()) if since is not None else None
        report = verify(record, since=cp, jobs=jobs)
        seconds, rows = report.seconds, report.rows_read
    mine2, theirs2 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_self = mine2.ru_utime + mine2.ru_stime - mine.ru_utime - mine.ru_stime
    cpu_ranges = theirs2.ru_utime + theirs2.ru_stime - theirs.ru_utime - theirs.ru_stime
    record.close()
    if not report.ok:
        raise SystemExit(f"verification failed: {report.problem}")
    return {
        "cpu": cpu_self + cpu_ranges,
        "cpu_self": cpu_self,
        "cpu_ranges": cpu_ranges,
        "events": report.events_checked,
        "rows": rows,
        "seconds": seconds,
        "events_per_s": report.events_checked / seconds if seconds else 0.0,
        "peak_rss_mb": mine2.ru_maxrss / 1024,
        "children_peak_rss_mb": theirs2.ru_maxrss / 1024,
    }


def run_verify(path: Path, mode: str, since: Path | None = None, jobs: int = 1) -> dict[str, float]:
    extra = ["--since", str(since)] if since is not None else []
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.verify", "--verify-only", str(path), "--mode", mode, "--jobs", str(jobs),
         *extra],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def free_cores(r: dict[str, float], jobs: int) -> float:
    """Events/s the pass would make with a free core per process: events over the CPU seconds of its busiest
    process (this one, or the range processes' mean). Linux groups a session's processes for CPU fairness
    (autogroup): on cores that other sessions keep busy, N processes of one verify get no more CPU than one,
    so the wall figures there cannot show the parallel gain, and this one does."""
    busiest = max(r["cpu_self"], r["cpu_ranges"] / max(jobs - 1, 1))
    return r["events"] / busiest if busiest else 0.0


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--at", default="100000,500000,1000000", help="sizes at which to verify")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the SQLite file (default: a temp dir)")
    parser.add_argument("--since-events", type=int, default=10_000, help="events appended after the checkpoint")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes of the pass in ranges")
    parser.add_argument("--before", action="store_true", help="also time the loop as it was before issue 12")
    parser.add_argument("--verify-only", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="now", help=argparse.SUPPRESS)
    parser.add_argument("--since", type=Path, default=None, help=argparse.SUPPRESS)
    summary.option(parser)
    args = parser.parse_args(argv)
    if args.verify_only:
        print(json.dumps(verify_only(args.verify_only, args.mode, args.since, args.jobs)))
        return 0

    sizes = sorted({min(int(s), args.events) for s in args.at.split(",")} | {args.events})
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="arrimage-verify-"))
    path = workdir / "record.sqlite"
    if path.exists():
        raise SystemExit(f"{path} exists; give an empty --dir")
    record = open_record(env=env(path))
    n = args.jobs
    print(f"store: {path}; {os.cpu_count()} cores; pass in ranges: jobs={n}")
    print(f"{'events':>10} {'build ev/s':>10} {'load 1/5/15':>14} {'jobs=1 s':>9} {'ev/s':>9} {f'jobs={n} s':>9} "
          f"{'ev/s':>9} {'ratio':>6} {'CPU s 1/' + str(n):>12} {'free cores ev/s':>15} "
          f"{'RSS MB 1/' + str(n) + '+ranges':>20}"
          + (f" {'before s':>9} {'before ev/s':>11}" if args.before else ""))
    built = 0
    rss0: float | None = None
    for size in sizes:
        seconds = build(record, built, size)
        build_rate = (size - built) / seconds if seconds else 0.0
        built = size
        before = load()
        one = run_verify(path, "now", jobs=1)
        par = run_verify(path, "now", jobs=n)
        extra = ""
        if args.before:
            b = run_verify(path, "before")
            extra = f" {b['seconds']:>9.2f} {b['events_per_s']:>11,.0f}"
        print(
            f"{int(par['events']):>10,} {build_rate:>10,.0f} {before:>14} {one['seconds']:>9.2f} "
            f"{one['events_per_s']:>9,.0f} {par['seconds']:>9.2f} {par['events_per_s']:>9,.0f} "
            f"{one['seconds'] / par['seconds']:>5.2f}x {one['cpu']:>5.2f}/{par['cpu']:<6.2f} "
            f"{free_cores(par, n):>15,.0f} "
            f"{one['peak_rss_mb']:>6.1f}/{par['peak_rss_mb']:.1f}+{par['children_peak_rss_mb']:.1f}"
            + extra,
            flush=True,
        )
        events = int(par["events"])
        rss = max(par["peak_rss_mb"], par["children_peak_rss_mb"])
        rss0 = rss0 or rss
        summary.add(summary.Row("verify", f"audit verify, {events:,} events (SQLite, jobs={n})", par["events_per_s"],
                                "events/s", one["events_per_s"], "one pass (jobs=1)", "value/baseline",
                                f"jobs={n} ÷ jobs=1", "value", ">=", 300_000.0, note=f"load {before}"))
        if size == sizes[-1]:
            summary.add(summary.Row("verify", f"audit verify, {events:,} events: per CPU second (jobs={n})",
                                    par["events"] / par["cpu"], "events/CPU s", one["events"] / one["cpu"],
                                    "one pass (jobs=1)", "value/baseline", f"jobs={n} ÷ jobs=1",
                                    note="all processes' CPU; steadier than wall time on a shared machine"))
            summary.add(summary.Row("verify", f"audit verify, {events:,} events, a free core per process (jobs={n})",
                                    free_cores(par, n), "events/s", free_cores(one, 1), "one pass (jobs=1)",
                                    "value/baseline", f"jobs={n} ÷ jobs=1", "value", ">=", 300_000.0,
                                    note="events over the busiest process's CPU seconds (`free_cores`)"))
        if size != sizes[0]:
            summary.add(summary.Row("verify", f"peak RSS of verify at {events:,} events (any process)", rss,
                                    "MB", rss0, f"at {sizes[0]:,}", "value/baseline", "flat", "ratio", "<=", 1.1))
    cp_file = workdir / "checkpoint.json"
    cp_file.write_text(checkpoint(record, now=datetime.now(UTC)).to_json())
    build(record, built, built + args.since_events)
    inc = run_verify(path, "now", since=cp_file, jobs=n)
    full = run_verify(path, "now", jobs=n)
    print(f"incremental from a checkpoint at {built:,} events, {args.since_events:,} appended since: "
          f"{int(inc['events']):,} events, {int(inc['rows']):,} rows read, {inc['seconds']:.3f} s; "
          f"full pass (jobs={n}) {int(full['events']):,} events, {int(full['rows']):,} rows, {full['seconds']:.2f} s "
          f"({full['seconds'] / inc['seconds']:,.0f}x); load {load()}", flush=True)
    summary.add(summary.Row("verify", f"incremental verify, {args.since_events:,} new events: rows read", inc["rows"],
                            "rows", goal_text=f"≤ {2 * args.since_events:,} (2 per new event)", goal_on="value",
                            goal_op="<=", goal_target=2.0 * args.since_events))
    summary.add(summary.Row("verify", f"incremental verify, {args.since_events:,} new events", inc["seconds"], "s",
                            full["seconds"], f"full pass, {int(full['events']):,} events", "baseline/value",
                            "full ÷ incremental"))
    record.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
