"""Replay time of one aggregate with 10,000 events: from its snapshot, and from the events alone.

    .venv/bin/python -m benchmarks.replay [--events 10000]

An entente in signature for decades with a daily reminder accumulates one event a
day; the store then holds a snapshot every 100 events. A fresh process-level
`Record` (no cache) loads it cold, twice each way; the events-only load is what an
auditor's replay does, and since issue 9 what every use case does (`Record.repository`:
snapshots are not hash-chained, so nothing that decides reads them). Target: < 1 s.
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
                repo = record.from_snapshots if way == "snapshot" else record.repository
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
