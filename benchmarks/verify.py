"""Verification speed of the audit chain, and its memory as the store grows.

    python -m benchmarks.verify                 # 1,000,000 events, verify at 100k, 500k, 1M
    python -m benchmarks.verify --events 200000 --at 50000,200000

The store is built on SQLite through the same code path every save takes (the
chaining recorder's ``insert_events``: events inserted and chained in one
transaction), in batches of 1,000 events: 1,000 aggregates open at a time,
ten events each, so aggregates interleave in the notification order as real
cases do. Event state is ~200 bytes of JSON.

Each verification runs in a fresh process (``--verify-only``), so its peak RSS
is the verifier's own, not the builder's: flat figures across sizes show that
memory does not grow with the store. At each size the loop as it was before
issue 12's speed work (``benchmarks.verify_before``, frozen) runs in the same
way just before, on the same file: the ratio is the gain, steadier than the
rates on a shared machine (the CPU seconds of each pass, read by the process itself, steadier still when
other work shares the cores). Last, the incremental verify: a checkpoint signed at
the head, ``--since-events`` more appended, ``verify(since=checkpoint)`` timed
beside a full pass, with the rows each read.
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


def verify_only(path: Path, mode: str, since: Path | None = None) -> dict[str, float]:
    record = open_record(env=env(path))
    cpu = time.process_time()
    if mode == "before":
        started = time.perf_counter()
        with record.audit_store().snapshot() as snap:
            report = verify_rows_before(snap.events(), snap.chain(), snap)
        seconds, rows = time.perf_counter() - started, 2 * report.events_checked
    else:
        cp = Checkpoint.from_json(since.read_text()) if since is not None else None
        report = verify(record, since=cp)
        seconds, rows = report.seconds, report.rows_read
    cpu = time.process_time() - cpu
    record.close()
    if not report.ok:
        raise SystemExit(f"verification failed: {report.problem}")
    return {
        "cpu": cpu,
        "events": report.events_checked,
        "rows": rows,
        "seconds": seconds,
        "events_per_s": report.events_checked / seconds if seconds else 0.0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_verify(path: Path, mode: str, since: Path | None = None) -> dict[str, float]:
    extra = ["--since", str(since)] if since is not None else []
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.verify", "--verify-only", str(path), "--mode", mode, *extra],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--at", default="100000,500000,1000000", help="sizes at which to verify")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the SQLite file (default: a temp dir)")
    parser.add_argument("--since-events", type=int, default=10_000, help="events appended after the checkpoint")
    parser.add_argument("--verify-only", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="now", help=argparse.SUPPRESS)
    parser.add_argument("--since", type=Path, default=None, help=argparse.SUPPRESS)
    summary.option(parser)
    args = parser.parse_args(argv)
    if args.verify_only:
        print(json.dumps(verify_only(args.verify_only, args.mode, args.since)))
        return 0

    sizes = sorted({min(int(s), args.events) for s in args.at.split(",")} | {args.events})
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="arrimage-verify-"))
    path = workdir / "record.sqlite"
    if path.exists():
        raise SystemExit(f"{path} exists; give an empty --dir")
    record = open_record(env=env(path))
    print(f"store: {path}")
    print(f"{'events':>10} {'build ev/s':>11} {'before s':>9} {'before ev/s':>12} {'verify s':>9} "
          f"{'verify ev/s':>12} {'ratio':>6} {'CPU s before/now':>17} {'CPU ratio':>9} {'peak RSS MB':>12} "
          f"{'file MB':>8}")
    built = 0
    rss0: float | None = None
    for size in sizes:
        seconds = build(record, built, size)
        build_rate = (size - built) / seconds if seconds else 0.0
        built = size
        b = run_verify(path, "before")
        r = run_verify(path, "now")
        file_mb = os.path.getsize(path) / 1e6
        print(
            f"{int(r['events']):>10,} {build_rate:>11,.0f} {b['seconds']:>9.2f} {b['events_per_s']:>12,.0f} "
            f"{r['seconds']:>9.2f} {r['events_per_s']:>12,.0f} {b['seconds'] / r['seconds']:>5.2f}x "
            f"{b['cpu']:>8.2f}/{r['cpu']:<8.2f} {b['cpu'] / r['cpu']:>8.2f}x {r['peak_rss_mb']:>12.1f} {file_mb:>8.0f}",
            flush=True,
        )
        rss0 = rss0 or r["peak_rss_mb"]
        summary.add(summary.Row("verify", f"audit verify, {int(r['events']):,} events (SQLite)", r["events_per_s"],
                                "events/s", b["events_per_s"], "loop before issue 12", "value/baseline",
                                "now ÷ before", "value", ">=", 300_000.0))
        if size == sizes[-1]:
            summary.add(summary.Row("verify", f"audit verify, {int(r['events']):,} events: per CPU second",
                                    r["events"] / r["cpu"], "events/CPU s", b["events"] / b["cpu"],
                                    "loop before issue 12", "value/baseline", "now ÷ before",
                                    note="steadier than wall time on a shared machine"))
        if size != sizes[0]:
            summary.add(summary.Row("verify", f"peak RSS of verify at {int(r['events']):,} events", r["peak_rss_mb"],
                                    "MB", rss0, f"at {sizes[0]:,}", "value/baseline", "flat", "ratio", "<=", 1.1))
    cp_file = workdir / "checkpoint.json"
    cp_file.write_text(checkpoint(record, now=datetime.now(UTC)).to_json())
    build(record, built, built + args.since_events)
    inc = run_verify(path, "now", since=cp_file)
    full = run_verify(path, "now")
    print(f"incremental from a checkpoint at {built:,} events, {args.since_events:,} appended since: "
          f"{int(inc['events']):,} events, {int(inc['rows']):,} rows read, {inc['seconds']:.3f} s; "
          f"full pass {int(full['events']):,} events, {int(full['rows']):,} rows, {full['seconds']:.2f} s "
          f"({full['seconds'] / inc['seconds']:,.0f}x)", flush=True)
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
