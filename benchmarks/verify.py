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
memory does not grow with the store.
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
from pathlib import Path
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from adapters.record.environment import record_env
from adapters.record.record import Record
from usecases.audit.trail import verify
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


def verify_only(path: Path) -> dict[str, float]:
    record = open_record(env=env(path))
    report = verify(record)
    record.close()
    if not report.ok:
        raise SystemExit(f"verification failed: {report.problem}")
    return {
        "events": report.events_checked,
        "seconds": report.seconds,
        "events_per_s": report.events_per_second,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--at", default="100000,500000,1000000", help="sizes at which to verify")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the SQLite file (default: a temp dir)")
    parser.add_argument("--verify-only", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.verify_only:
        print(json.dumps(verify_only(args.verify_only)))
        return 0

    sizes = sorted({min(int(s), args.events) for s in args.at.split(",")} | {args.events})
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="arrimage-verify-"))
    path = workdir / "record.sqlite"
    if path.exists():
        raise SystemExit(f"{path} exists; give an empty --dir")
    record = open_record(env=env(path))
    print(f"store: {path}")
    print(f"{'events':>10} {'build ev/s':>11} {'verify s':>9} {'verify ev/s':>12} {'peak RSS MB':>12} {'file MB':>8}")
    built = 0
    for size in sizes:
        seconds = build(record, built, size)
        build_rate = (size - built) / seconds if seconds else 0.0
        built = size
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.verify", "--verify-only", str(path)],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        file_mb = os.path.getsize(path) / 1e6
        print(
            f"{int(r['events']):>10,} {build_rate:>11,.0f} {r['seconds']:>9.2f} {r['events_per_s']:>12,.0f} "
            f"{r['peak_rss_mb']:>12.1f} {file_mb:>8.0f}",
            flush=True,
        )
    record.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
