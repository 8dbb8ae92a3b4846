"""Replay time of one aggregate with 10,000 events: from its snapshot, and from the events alone.

    .venv/bin/python -m benchmarks.replay [--events 10000] [--tries 3] [--store FILE | --postgres SCHEMA] [--profile]

An entente in signature for decades with a daily reminder accumulates one event a
day; the store then holds a snapshot every 100 events. A fresh process-level
`Record` (no cache) loads it cold each way, `--tries` times; the events-only load is what an
auditor's replay does, and since issue 9 what every use case does (`Record.repository`:
snapshots are not hash-chained, so nothing that decides reads them). Beside it, in the same run, the
same load read the library's way: its `JSONTranscoder` (the standard `json` module with an `object_hook`), its
`Mapper.to_domain_event` (through the record's `PersonalDataMapper`, with the record's topic checks around it)
and its `project_aggregate` — what the record did before issue 12; the ratio is the gain. Then where the time
of one events-only load goes: the rows read, decoded (`RecordMapper`), projected (`project_events`), each
timed alone, and with `--profile` the functions that cost most (cProfile, which slows everything ~3x).
Goal (issue 12): < 100 ms from the events alone. `--store FILE` keeps the built store in FILE (built if absent),
so that a second run measures at once; `--postgres SCHEMA` does the same on the benchmarks' PostgreSQL server
(`benchmarks.common.PG`) in that schema (created and built if it holds no events; `DROP SCHEMA` it when done).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eventsourcing.application import Repository, project_aggregate
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, StoredEvent, UUIDAsHex

from adapters.record.environment import PostgresAddress, record_env
from adapters.record.record import TOPICS, DateAsISO, Record, project_events
from adapters.record.sealing import PersonalDataMapper
from benchmarks import summary
from benchmarks.common import PG
from domain.ententes import commands as c
from domain.ententes.aggregate import entente_id
from domain.ententes.state import EntentePolicy
from tests.factories import service_entente
from usecases.ententes import Ententes
from workers.bootstrap import open_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PERIOD = 730  # days: the longest signature period a policy allows
GOAL = 0.1  # seconds (issue 12)


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


class LibraryReading(PersonalDataMapper):
    """How the record read an event before issue 12: the library's `Mapper.to_domain_event` with its
    `JSONTranscoder`, through `PersonalDataMapper` (sealed parts opened), the record's topic checks around it."""

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        TOPICS.check(stored_event)
        domain_event = super().to_domain_event(stored_event)
        TOPICS.check_named(stored_event, domain_event)
        return domain_event


def library_transcoder() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    return transcoder


def load_library_way(record: Record) -> Any:
    record.events.mapper = LibraryReading(transcoder=library_transcoder(), keys=record.subject_keys)
    projector: Any = project_aggregate
    return Repository(event_store=record.events).get(entente_id("R"), projector_func=projector)


WAYS: dict[str, Callable[[Record], Any]] = {
    "snapshot": lambda record: record.from_snapshots.get(entente_id("R")),
    "library reading": load_library_way,
    "events only": lambda record: record.repository.get(entente_id("R")),
}


def timed(load: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = load(*args)
    return time.perf_counter() - start, result


def timed_cpu(load: Callable[..., Any], *args: Any) -> tuple[float, float, Any]:
    """Wall and CPU seconds of this process (the CPU figure moves less with the load of a shared machine)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = load(*args)
    return time.perf_counter() - start, time.process_time() - cpu, result


def loadavg() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


@contextmanager
def store(path: str | None, events: int, schema: str | None = None) -> Iterator[tuple[dict[str, str], float | None]]:
    """The record holding the entente: `path` if given (built there if absent), the PostgreSQL `schema` if given
    (built there if it holds no events), else a temporary SQLite file."""
    with tempfile.TemporaryDirectory() as tmp:
        if schema is not None:
            env = record_env(postgres=PostgresAddress(**PG, schema=schema))
            empty = _schema_empty(schema)
        else:
            file = Path(path) if path else Path(tmp) / "record.sqlite"
            env = record_env(sqlite=file)
            empty = not file.exists()
        built = None
        if empty:
            start = time.perf_counter()
            build(env, events)
            built = time.perf_counter() - start
        yield env, built


def _schema_empty(schema: str) -> bool:
    """Whether `schema` holds no record yet (created if missing)."""
    import psycopg

    with psycopg.connect(autocommit=True, connect_timeout=5, **PG) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}".arrimage_events',)).fetchone()
        if row is None or not row[0]:
            return True
        counted = conn.execute(f'SELECT count(*) FROM "{schema}".arrimage_events').fetchone()
        return counted is None or counted[0] == 0


def decode_all(record: Record, rows: list[StoredEvent]) -> list[Any]:
    return [*map(record.mapper.to_domain_event, rows)]


def parts(env: dict[str, str], tries: int) -> dict[str, float]:
    """One events-only load in its three steps, each timed alone (best of `tries`, a fresh `Record` each)."""
    best: dict[str, float] = {}
    for _ in range(tries):
        record = open_record(env=env)
        seconds, rows = timed(record.recorder.select_events, entente_id("R"))
        best["rows read"] = min(best.get("rows read", seconds), seconds)
        seconds, events = timed(decode_all, record, rows)
        best["decoded"] = min(best.get("decoded", seconds), seconds)
        seconds, _ = timed(project_events, None, events)
        best["projected"] = min(best.get("projected", seconds), seconds)
        record.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--store", default=None, help="SQLite file holding the entente (built there if absent)")
    parser.add_argument("--postgres", default=None, metavar="SCHEMA",
                        help="PostgreSQL schema holding the entente (benchmarks.common.PG; built there if empty)")
    parser.add_argument("--profile", action="store_true", help="profile one events-only load (cProfile)")
    summary.option(parser)
    args = parser.parse_args()
    with store(args.store, args.events, args.postgres) as (env, built):
        before = loadavg()
        rows = []
        for attempt in range(1, args.tries + 1):
            for way, load in WAYS.items():
                record = open_record(env=env)
                seconds, cpu, aggregate = timed_cpu(load, record)
                rows.append((way, attempt, aggregate.version, seconds, cpu))
                record.close()
        steps = parts(env, args.tries)
        after = loadavg()
        profile = None
        if args.profile:
            record = open_record(env=env)
            profile = cProfile.Profile()
            profile.runcall(record.repository.get, entente_id("R"))
            record.close()
    where = "SQLite" if args.postgres is None else f"PostgreSQL, schema {args.postgres}"
    how = f"built in {built:.1f} s" if built is not None else f"store {args.postgres or args.store}"
    print(f"\n== benchmarks.replay — one entente, {args.events:,} events ({where}; {how}) ==")
    print(f"  load average {before} before, {after} after (1, 5, 15 min)")
    print(f"  {'load':<15} | try | events | seconds | CPU s | goal < {GOAL} s (events only)")
    for way, attempt, version, seconds, cpu in rows:
        verdict = ("met" if seconds < GOAL else "NOT met") if way == "events only" else ""
        print(f"  {way:<15} | {attempt:>3} | {version:>6,} | {seconds:7.3f} | {cpu:5.3f} | {verdict}")
    best = {way: min(r[3] for r in rows if r[0] == way) for way in WAYS}
    cpu_best = {way: min(r[4] for r in rows if r[0] == way) for way in WAYS}
    now, library, snap = best["events only"], best["library reading"], best["snapshot"]
    print(f"  best of {args.tries}: events only {now:.3f} s, the library's reading {library:.3f} s: "
          f"{library / now:.2f}x faster; events-only / snapshot {now / snap:,.0f}x")
    print(f"  best CPU s: events only {cpu_best['events only']:.3f}, the library's reading "
          f"{cpu_best['library reading']:.3f} ({cpu_best['library reading'] / cpu_best['events only']:.2f}x)")
    print("  one events-only load, step by step (best of each): "
          + ", ".join(f"{step} {seconds * 1000:.1f} ms" for step, seconds in steps.items())
          + f" = {sum(steps.values()) * 1000:.1f} ms")
    on = "" if args.postgres is None else " (PostgreSQL)"
    summary.add(summary.Row("replay", f"one entente of {args.events:,} events from its chained events{on}", now, "s",
                            library, "the library's reading (its transcoder, mapper, projector)", "baseline/value",
                            "library ÷ now", "value", "<", GOAL, note=f"load {before}"))
    if profile is not None:
        print("\n  cProfile of one events-only load (slowed by the profiler):")
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
