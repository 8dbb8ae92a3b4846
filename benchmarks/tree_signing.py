"""Signing the record's tree checkpoint, full beside incremental (issue 13).

    python -m benchmarks.tree_signing --events 400000 --new 10000

A SQLite store of ``--events`` events is built as ``benchmarks.verify`` builds it (the chaining recorder's own
path, 1,000 aggregates interleaved), the tree's follower caught up (timed apart), and a first checkpoint signed
(full: nothing kept yet). Then ``--new`` events are appended and the tree checkpoint signed twice over the same
store: incremental (``proofs.sign_tree``: resumed from the note kept) and full (``full=True``: every event
verified, the tree's frontier folded in the same pass). Wall and CPU seconds (this process and its range
processes), rows read, and whether both notes carry the same root. The store's tree catch-up for the new events
happens in the first of the two and is in its figure (order: incremental first, the worse case for it). Then,
for the record, what a full signing cost before: the verify alone (no tree) and the second read of the chain
that folded the frontier apart.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from adapters.record.record import Record
from benchmarks.verify import build, env
from domain.audit import merkle
from domain.audit.note import parse_checkpoint
from usecases.audit import proofs, trail
from workers.bootstrap import open_record

T = TypeVar("T")
NOW = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)


def cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(label: str, work: Callable[[], T]) -> tuple[T, float, float]:
    w, c = time.perf_counter(), cpu()
    result = work()
    wall, used = time.perf_counter() - w, cpu() - c
    print(f"{label:<34} {wall:8.2f} s wall {used:8.2f} s CPU", flush=True)
    return result, wall, used


def second_read(record: Record) -> bytes:
    """What the signing did before the frontier was folded in the verify pass: read every chain row again."""
    compact = merkle.CompactRange()
    with record.audit_store().snapshot() as snap:
        for row in snap.chain_rows(0):
            compact.append_leaf_hash(merkle.leaf_hash(bytes(row[6])))
    return compact.root()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        record = open_record(env=env(Path(tmp) / "record.db"))
        try:
            print(f"load {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores; {args.events:,} events + {args.new:,}")
            timed(f"build {args.events:,}", lambda: build(record, 0, args.events))
            timed("tree catch-up", lambda: record.audit_tree().catch_up())
            first, _, _ = timed("first signing (full, none kept)", lambda: proofs.sign_tree(record, now=NOW))
            timed(f"append {args.new:,}", lambda: build(record, args.events, args.events + args.new))
            inc, iw, ic = timed("signing, incremental", lambda: proofs.sign_tree(record, now=NOW))
            full, fw, fc = timed("signing, full", lambda: proofs.sign_tree(record, now=NOW, full=True))
            timed("before: verify (no tree)", lambda: trail.verify(record))
            timed("before: second read of the chain", lambda: second_read(record))
            same = parse_checkpoint(inc.note.text).root_hash == parse_checkpoint(full.note.text).root_hash
            print(f"rows read: first {first.report.rows_read:,}, incremental {inc.report.rows_read:,} "
                  f"(events {inc.report.events_checked:,}), full {full.report.rows_read:,}; same root: {same}; "
                  f"full/incremental {fw / iw:.1f}x wall, {fc / ic:.1f}x CPU; load {os.getloadavg()[0]:.1f}")
        finally:
            record.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
