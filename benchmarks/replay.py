"""Replay time of one aggregate with 10,000 events: from its snapshot, and from the events alone.

    .venv/bin/python -m benchmarks.replay [--events 10000]

An entente in signature for decades with a daily reminder accumulates one event a
day; the store then holds a snapshot every 100 events. A fresh process-level
`Record` (no cache) loads it cold, twice each way; the events-only load is what an
auditor's replay does (snapshots are not hash-chained). Target: < 1 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.record.environment import record_env
from domain.ententes import commands as c
from domain.ententes.aggregate import entente_id
from domain.ententes.state import EntentePolicy
from tests.factories import service_entente
from usecases.ententes import Ententes
from workers.bootstrap import open_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def build(env: dict[str, str], events: int) -> None:
    record = open_record(env=env)
    ententes = Ententes(record, EntentePolicy(reminder_interval_days=1))
    ententes.draft(c.DraftEntente(by="bench", code="R", content=service_entente(effective=None),
                                    command_id="d"), T0)
    deadline = T0 + timedelta(days=events + 500)
    ententes.execute("R", c.SubmitForSignature(by="bench", command_id="s", signature_deadline=deadline), T0)
    # One advance per 1,000 days, as a workflow waking late would: many events per save.
    day = 0
    while record.repository.get(entente_id("R")).version < events:
        day = min(day + 1000, events - 2)
        ententes.advance("R", T0 + timedelta(days=day, hours=1))
    record.close()


def timed(load: object) -> float:
    start = time.perf_counter()
    load()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = record_env(sqlite=Path(tmp) / "record.sqlite")
        start = time.perf_counter()
        build(env, args.events)
        built = time.perf_counter() - start
        rows = []
        for way in ("snapshot", "events only"):
            for attempt in (1, 2):
                record = open_record(env=env)
                repo = record.repository if way == "snapshot" else record.events_only
                seconds = timed(lambda repo=repo: repo.get(entente_id("R")))
                version: int = repo.get(entente_id("R")).version
                rows.append((way, attempt, version, seconds))
                record.close()
    print(f"\n== benchmarks.replay — one entente, {args.events:,} events (SQLite; built in {built:.1f} s) ==")
    print(f"  {'load':<12} | try | events | seconds | target < 1 s")
    for way, attempt, version, seconds in rows:
        print(f"  {way:<12} | {attempt:>3} | {version:>6,} | {seconds:7.3f} | {'met' if seconds < 1 else 'NOT met'}")
    snap = min(s for w, _, _, s in rows if w == "snapshot")
    full = min(s for w, _, _, s in rows if w == "events only")
    print(f"  ratio events-only / snapshot: {full / snap:,.0f}x")


if __name__ == "__main__":
    main()
