"""Replay time of one aggregate with 10,000 events: from its snapshot, and from the events alone.

    .venv/bin/python -m benchmarks.replay [--events 10000]

An entente in signature for decades with a daily reminder accumulates one event a
day; the store then holds a snapshot every 100 events. A fresh process-level
`Record` (no cache) loads it cold, twice each way; the events-only load is what an
auditor's replay does, and since issue 9 what every use case does (`Record.repository`:
snapshots are not hash-chained, so nothing that decides reads them). Beside it, in the same run, the
same load with the library's own projector (`eventsourcing.application.project_aggregate`, whose
`runtime_checkable` Protocol assert per event the record's `project_events` drops): the ratio is the gain.
Goal (issue 12): < 100 ms from the events alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eventsourcing.application import project_aggregate

from adapters.record.environment import record_env
from benchmarks import summary
from domain.ententes import commands as c
from domain.ententes.aggregate import entente_id
from domain.ententes.state import EntentePolicy
from tests.factories import service_entente
from usecases.ententes import Ententes
from workers.bootstrap import open_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PERIOD = 730  # days: the longest signature period a policy allows


def build(env: dict[str, str], events: int) -> None:
    record = open_record(env=env)
    policy = EntentePolicy(reminder_interval_days=1, max_signature_period_days=PERIOD)
    ententes = Ententes(record, policy)
    ententes.draft(c.DraftEntente(by="bench", code="R", content=service_entente(effective=None),
                                    command_id="d"), T0)
    # A signature deadline lies at most `PERIOD` days ahead: the entente goes back to drafting when it
    # passes, and is submitted again. Within a period, one advance every `PERIOD` days at most, as a workflow
    # waking late would: many events per save.
    day, version, rounds = 0, 1, 0
    while version < events:
        at = T0 + timedelta(days=day)
        deadline = at + timedelta(days=PERIOD)
        ententes.execute("R", c.SubmitForSignature(by="bench", command_id=f"s{rounds}", signature_deadline=deadline),
                         at)
        # A reminder a day until the day before the deadline, then the deadline missed.
        ententes.advance("R", at + timedelta(days=min(PERIOD - 1, events - version - 2), hours=1))
        version = ententes.get("R").version
        if version < events:
            day += PERIOD + 1
            ententes.advance("R", T0 + timedelta(days=day))
            version = ententes.get("R").version
        rounds += 1
    record.close()


def timed(load: object) -> float:
    start = time.perf_counter()
    load()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    summary.option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = record_env(sqlite=Path(tmp) / "record.sqlite")
        start = time.perf_counter()
        build(env, args.events)
        built = time.perf_counter() - start
        rows = []
        for attempt in (1, 2, 3):
            for way in ("snapshot", "library projector", "events only"):
                record = open_record(env=env)
                repo = record.from_snapshots if way == "snapshot" else record.repository
                if way == "library projector":
                    seconds = timed(lambda repo=repo: repo.get(entente_id("R"), projector_func=project_aggregate))
                else:
                    seconds = timed(lambda repo=repo: repo.get(entente_id("R")))
                version: int = repo.get(entente_id("R")).version
                rows.append((way, attempt, version, seconds))
                record.close()
    print(f"\n== benchmarks.replay — one entente, {args.events:,} events (SQLite; built in {built:.1f} s) ==")
    print(f"  {'load':<17} | try | events | seconds | goal < 0.1 s (events only)")
    for way, attempt, version, seconds in rows:
        verdict = ("met" if seconds < 0.1 else "NOT met") if way == "events only" else ""
        print(f"  {way:<17} | {attempt:>3} | {version:>6,} | {seconds:7.3f} | {verdict}")
    snap = min(s for w, _, _, s in rows if w == "snapshot")
    lib = min(s for w, _, _, s in rows if w == "library projector")
    full = min(s for w, _, _, s in rows if w == "events only")
    print(f"  best of 3: events only {full:.3f} s, library projector {lib:.3f} s: {lib / full:.2f}x faster; "
          f"events-only / snapshot {full / snap:,.0f}x")
    summary.add(summary.Row("replay", f"one entente of {args.events:,} events from its chained events, best of 3",
                            1e3 * full, "ms", 1e3 * lib, "library projector", "baseline/value", "library ÷ record",
                            "value" if args.events >= 10_000 else None, "<", 100.0))


if __name__ == "__main__":
    main()
