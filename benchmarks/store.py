"""Events appended per second to the record, on SQLite and on PostgreSQL.

    .venv/bin/python -m benchmarks.store [--ententes 300] [--batch 10] [--skip-postgres] [--profile]

Load: ententes of the realistic kind (two parties, 13-section content) going through the
lifecycle the entente workflow runs, 7 commands = 7 events each:

    draft, submit, sign (party 1), sign (party 2), advance (activation on the last signature),
    revocation notice (0 days' notice, effective today), advance (revoked)

Shapes (rows of the table):

- `activity`: exactly what the activities do, one command per call: `Ententes.draft/execute/advance`
  = load the aggregate from the store (replaying its events), decide, `Record.save` (one
  aggregate per save, one transaction), build the returned view.
- `activity` starts each load from the state the record kept after its last commit (`Record.committed`,
  `adapters.record.record.CommittedStates`); the what-if rows show it off (``RECORD_CACHE_BYTES=0``).
- `in-memory, 1/save`: the aggregate stays in memory between commands (no reload, no returned
  view); still one aggregate per save.
- `in-memory, K/save`: K ententes advance together; one `Record.save(*K aggregates)` per step.
- `trivial aggregate`: an aggregate with one field and one event, one per save: the ceiling of
  `eventsourcing` itself on this store, without the domain.
- `bare library` (the baseline of every ratio): the same use case (`Ententes`, the same 7 commands, the
  same returned views) over a bare `eventsourcing` `Application` on the library's own persistence module
  (`eventsourcing.sqlite` / `eventsourcing.postgres`, with the settings the record's environment gives
  it): load by replaying the events, decide, save one event; no hash chain, no per-person sealing, no
  cache, no group commit. Ratio = the row's events/s ÷ the bare library's single-thread events/s, same
  store, same run (with `--rounds`, medians of rounds that alternate the rows).

Every run writes to a fresh store: a SQLite file (WAL, as `eventsourcing` sets it) in a
temporary directory, or a throw-away PostgreSQL schema dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import JSONTranscoder

from adapters.record.environment import record_env
from adapters.record.record import TOPICS, DateAsISO, Record
from benchmarks import summary
from benchmarks.common import (
    postgres_available,
    postgres_schema,
    print_header,
    print_table,
    service_entente,
    today_local,
)
from domain.ententes import commands as c
from domain.ententes.aggregate import Entente
from domain.ententes.state import EntentePolicy, EntenteStatus
from usecases.ententes import Ententes
from workers.bootstrap import open_record

TARGETS = {"sqlite": 5_000.0, "postgres": 3_000.0}  # events/s, from the issue
COMMANDS_PER_ENTENTE = 7
BY = "bench"
POLICY = EntentePolicy()
CONTENT = service_entente()


def now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------- stores
class BareApplication(Application[UUID]):
    """The bare library: `eventsourcing`'s own application and persistence module, no chain, no sealing, no
    cache; the record's one transcoding (dates), without which an entente's events do not encode."""

    name = "bare"

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def deciding(self, aggregate_id: UUID, decide: Callable[[Any], Any], load: Callable[[], Any]) -> Any:
        """The library's way to carry out a command (the use cases call `Record.deciding`): load by replay
        (`load`), decide, save (`decide` saves)."""
        return decide(load())


# The library's persistence modules for the environment `record_env` gives the record's.
LIBRARY_MODULES = {
    "adapters.record.sqlite": "eventsourcing.sqlite",
    "adapters.record.postgres": "eventsourcing.postgres",
}


@contextlib.contextmanager
def open_store(kind: str, env_overrides: dict[str, str] | None = None, *, bare: bool = False) -> Iterator[Record]:
    """A fresh record (or, `bare`, a bare library application typed as one: `Ententes` uses only its
    repository and save) on a throw-away store."""

    def opened(env: dict[str, str]) -> Record:
        env = {**env, **(env_overrides or {})}
        if bare:
            env["PERSISTENCE_MODULE"] = LIBRARY_MODULES[env["PERSISTENCE_MODULE"]]
            return cast(Record, BareApplication(env=env))
        return open_record(env=env)

    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="arrimage-bench-") as tmp:
            record = opened(record_env(sqlite=Path(tmp) / "record.sqlite"))
            try:
                yield record
            finally:
                record.close()
        return
    with postgres_schema() as env:
        record = opened(env)
        try:
            yield record
        finally:
            record.close()


# ---------------------------------------------------------------------- the lifecycle
def lifecycle_commands(code: str) -> list[Callable[[Ententes], object]]:
    """The 7 commands, as the activities issue them (one use-case call each)."""
    parties = CONTENT.party_ids
    return [
        lambda e: e.draft(c.DraftEntente(by=BY, code=code, content=CONTENT, command_id=f"{code}/1"), now()),
        lambda e: e.execute(code, c.SubmitForSignature(by=BY, command_id=f"{code}/2"), now()),
        lambda e: e.execute(code, c.SignEntente(by=BY, party_id=parties[0], version=1, signatory="A. Tremblay",
                                                  command_id=f"{code}/3"), now()),
        lambda e: e.execute(code, c.SignEntente(by=BY, party_id=parties[1], version=1, signatory="B. Gagnon",
                                                  command_id=f"{code}/4"), now()),
        lambda e: e.advance(code, now()),
        lambda e: e.execute(code, c.GiveRevocationNotice(by=BY, party_id=parties[0], reason="fin du projet",
                                                         effective_date=today_local(), command_id=f"{code}/6"), now()),
        lambda e: e.advance(code, now()),
    ]


def in_memory_steps(code: str) -> list[Callable[[Entente | None], Entente]]:
    """The same 7 commands on an aggregate kept in memory (the aggregate's own methods)."""
    parties = CONTENT.party_ids

    def draft(_: Entente | None) -> Entente:
        return Entente.draft(c.DraftEntente(by=BY, code=code, content=CONTENT, command_id=f"{code}/1"), now())

    def step(fn: Callable[[Entente], object]) -> Callable[[Entente | None], Entente]:
        def run(e: Entente | None) -> Entente:
            assert e is not None
            fn(e)
            return e

        return run

    return [
        draft,
        step(lambda e: e.submit(c.SubmitForSignature(by=BY, command_id=f"{code}/2"), now(), POLICY)),
        step(lambda e: e.sign(c.SignEntente(by=BY, party_id=parties[0], version=1, signatory="A. Tremblay",
                                              command_id=f"{code}/3"), now())),
        step(lambda e: e.sign(c.SignEntente(by=BY, party_id=parties[1], version=1, signatory="B. Gagnon",
                                              command_id=f"{code}/4"), now())),
        step(lambda e: e.advance(now(), POLICY)),
        step(lambda e: e.give_revocation_notice(
            c.GiveRevocationNotice(by=BY, party_id=parties[0], reason="fin du projet", effective_date=today_local(),
                                   command_id=f"{code}/6"), now(), POLICY)),
        step(lambda e: e.advance(now(), POLICY)),
    ]


class Counter(Aggregate):
    """The trivial aggregate: the store's ceiling without the domain."""

    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.n = 0

    @event("Incremented")
    def increment(self, by: int) -> None:
        self.n += by


# Not one of the record's aggregates: its rows are read once it is allowed (`TOPICS`).
TOPICS.allow(Counter)


@dataclass
class Result:
    shape: str
    aggregates_per_save: int
    commands: int
    events: int
    seconds: float
    cpu: float = 0.0  # CPU seconds of this process over the run (every thread)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds

    @property
    def commands_per_s(self) -> float:
        return self.commands / self.seconds


def _count_events(record: Record) -> int:
    return cast(Any, record.recorder).max_notification_id() or 0


def run_activity_shape(record: Record, ententes: int, prefix: str) -> tuple[int, int]:
    uc = Ententes(record, POLICY)
    commands = 0
    for i in range(ententes):
        for cmd in lifecycle_commands(f"{prefix}-{i}"):
            cmd(uc)
            commands += 1
    last = uc.view(f"{prefix}-{ententes - 1}")
    assert last.status is EntenteStatus.REVOKED and last.event_count == COMMANDS_PER_ENTENTE, last.status
    return commands, commands


def run_in_memory_shape(record: Record, ententes: int, per_save: int, prefix: str) -> tuple[int, int]:
    commands = 0
    for start in range(0, ententes, per_save):
        group = [in_memory_steps(f"{prefix}-{i}") for i in range(start, min(start + per_save, ententes))]
        aggs: list[Entente | None] = [None] * len(group)
        for k in range(COMMANDS_PER_ENTENTE):
            aggs = [steps[k](a) for steps, a in zip(group, aggs, strict=True)]
            record.save(*aggs)
            commands += len(aggs)
    assert all(a is not None and a.status is EntenteStatus.REVOKED for a in aggs)
    return commands, commands


def run_trivial_shape(record: Record, ententes: int, prefix: str) -> tuple[int, int]:
    commands = 0
    for i in range(ententes):
        agg = Counter(name=f"{prefix}-{i}")
        record.save(agg)
        commands += 1
        for _ in range(COMMANDS_PER_ENTENTE - 1):
            agg.increment(by=1)
            record.save(agg)
            commands += 1
    return commands, commands


def run_threaded(record: Record, ententes: int, prefix: str, threads: int) -> tuple[int, int]:
    """The activity shape from `threads` threads at once, as the worker's activity executor runs it."""
    share = [ententes // threads + (1 if t < ententes % threads else 0) for t in range(threads)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        done = list(pool.map(lambda t: run_activity_shape(record, share[t], f"{prefix}-t{t}"), range(threads)))
    return sum(d[0] for d in done), sum(d[1] for d in done)


@contextlib.contextmanager
def sqlite_synchronous_normal() -> Iterator[None]:
    """What-if: `PRAGMA synchronous=NORMAL` on every SQLite connection (WAL: no fsync per commit;
    a power loss, not a crash, may lose the last commits). Patched here, in this process only."""
    from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool

    original = SQLiteConnectionPool._create_connection

    def create(self: SQLiteConnectionPool) -> SQLiteConnection:
        conn = original(self)
        conn._sqlite_conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    SQLiteConnectionPool._create_connection = create  # type: ignore[method-assign]
    try:
        yield
    finally:
        SQLiteConnectionPool._create_connection = original  # type: ignore[method-assign]


@dataclass
class Plan:
    shape: str
    per_save: int
    fn: Callable[[Record, int, str], tuple[int, int]]
    env: dict[str, str] | None = None
    patch: Callable[[], contextlib.AbstractContextManager[None]] | None = None
    bare: bool = False


def plans(kind: str, batch: int, threads: int) -> tuple[list[Plan], list[Plan]]:
    main = [
        Plan("bare library: activity shape (baseline)", 1, run_activity_shape, bare=True),
        Plan(f"bare library: activity, {threads} threads", 1, lambda r, n, p: run_threaded(r, n, p, threads),
             bare=True),
        Plan("activity (load+decide+save+view)", 1, run_activity_shape),
        Plan(f"activity, {threads} threads", 1, lambda r, n, p: run_threaded(r, n, p, threads)),
        Plan("in-memory aggregate", 1, lambda r, n, p: run_in_memory_shape(r, n, 1, p)),
        Plan(f"in-memory aggregates, {batch}/save", batch, lambda r, n, p: run_in_memory_shape(r, n, batch, p)),
        Plan("trivial aggregate (store ceiling)", 1, run_trivial_shape),
    ]
    no_cache = {"RECORD_CACHE_BYTES": "0"}  # every load replays from the store (`Record.committed` is None)
    what_if = [
        Plan("activity, no committed states (RECORD_CACHE_BYTES=0)", 1, run_activity_shape, env=no_cache),
        Plan(f"activity, {threads} threads, no committed states", 1, lambda r, n, p: run_threaded(r, n, p, threads),
             env=no_cache),
    ]
    if kind == "sqlite":
        what_if += [  # not product settings: a power loss may lose the last commits
            Plan("activity + synchronous=NORMAL", 1, run_activity_shape, patch=sqlite_synchronous_normal),
            Plan("trivial aggregate + synchronous=NORMAL", 1, run_trivial_shape, patch=sqlite_synchronous_normal),
        ]
    return main, what_if


def run_plan(kind: str, plan: Plan, ententes: int) -> Result:
    warm = max(10, ententes // 10)
    with plan.patch() if plan.patch else contextlib.nullcontext(), open_store(kind, plan.env, bare=plan.bare) as record:
        plan.fn(record, warm, "warmup")  # same store, not timed: imports, statement caches, pool
        before = _count_events(record)
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        commands, _ = plan.fn(record, ententes, "run")
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        events = _count_events(record) - before
    return Result(plan.shape, plan.per_save, commands, events, seconds, cpu)


# ---------------------------------------------------------------------- profile
# (label, file suffix, function name): cumulative time of that function (they overlap: save includes insert).
PROFILE_BUCKETS = [
    ("load: Repository.get (select + replay)", "eventsourcing/application.py", "get"),
    ("  of which isinstance(…, Protocol) checks", "typing.py", "__instancecheck__"),
    ("save: Application.save (total)", "eventsourcing/application.py", "save"),
    ("  store: SQL insert + commit", "eventsourcing/persistence.py", "put"),
    ("    commit (SQLite: fsync of the WAL)", "", "<method 'commit' of 'sqlite3.Connection' objects>"),
    ("  mapper: to_stored_event (JSON encode)", "eventsourcing/persistence.py", "to_stored_event"),
    ("Entente.view() (pydantic EntenteView)", "domain/ententes/aggregate.py", "view"),
    ("EntenteContent.fingerprint()", "domain/ententes/model.py", "fingerprint"),
    ("EntenteContent._coherent (validator)", "domain/ententes/model.py", "_coherent"),
]


def profile(kind: str, ententes: int) -> None:
    with open_store(kind) as record:
        run_activity_shape(record, 10, "warmup")
        prof = cProfile.Profile()
        prof.enable()
        run_activity_shape(record, ententes, "run")
        prof.disable()
    raw = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    total = max(v[3] for k, v in raw.items() if k[2] == "run_activity_shape")
    commands = ententes * COMMANDS_PER_ENTENTE
    rows = []
    for label, file_suffix, fn_name in PROFILE_BUCKETS:
        cum = max(
            (v[3] for (filename, _line, name), v in raw.items()
             if name == fn_name and filename.replace("\\", "/").endswith(file_suffix)),
            default=0.0,
        )
        rows.append((label, cum, f"{100 * cum / total:.0f}%", f"{1e3 * cum / commands:.3f}"))
    print(f"  cProfile of the `activity` shape on {kind}: {ententes} ententes, {commands} commands, "
          f"{total:.2f} s under the profiler ({1e3 * total / commands:.3f} ms/command)")
    print_table(["where (cumulative; rows overlap)", "s", "% of run", "ms/command"], rows)
    print("  top 12 functions by own time:")
    pstats.Stats(prof).sort_stats("tottime").print_stats(12)


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.store", description=__doc__.split("\n\n")[0])
    ap.add_argument("--ententes", type=int, default=300, help="ententes per shape (7 commands each); default 300")
    ap.add_argument("--batch", type=int, default=10, help="aggregates per save in the batched shape; default 10")
    ap.add_argument("--threads", type=int, default=8, help="threads of the threaded row (the worker uses 8)")
    ap.add_argument("--skip-postgres", action="store_true")
    ap.add_argument("--no-what-if", action="store_true", help="skip the what-if rows (proposed settings)")
    ap.add_argument("--profile", action="store_true", help="also print a cProfile breakdown of the activity shape")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of every row, alternating; medians; default 1")
    ap.add_argument("--core", action="store_true", help="only the bare library and activity rows (no what-if)")
    summary.option(ap)
    args = ap.parse_args(argv)

    kinds = ["sqlite"]
    if not args.skip_postgres:
        if postgres_available():
            kinds.append("postgres")
        else:
            print("  (PostgreSQL: no server answers on localhost:5432 db 'test': skipped)")
    print_header(
        "benchmarks.store — events appended per second",
        [f"load        {args.ententes} ententes x {COMMANDS_PER_ENTENTE} commands "
         f"(draft, submit, sign x2, advance→active, revoke, advance→revoked), 1 event each",
         "            one thread; fresh store per row (SQLite file in a temp dir, WAL / PostgreSQL throw-away schema)"],
    )
    verdicts: list[tuple[object, ...]] = []
    for kind in kinds:
        target = TARGETS[kind]
        main_plans, what_if = plans(kind, args.batch, args.threads)
        if args.core:
            main_plans = [p for p in main_plans if p.shape.startswith(("bare library", "activity"))]
        what_if_title = " — what-if (patched in this process only, not product code)"
        bare_single = 0.0
        for title, group in (("", main_plans), (what_if_title, what_if)):
            if title and (args.no_what_if or args.core):
                continue
            rounds: list[list[Result]] = [[] for _ in group]
            for _ in range(args.rounds):  # the rows alternate, round after round: drift hits them alike
                for i, p in enumerate(group):
                    rounds[i].append(run_plan(kind, p, args.ententes))
            medians = [statistics.median(r.events_per_s for r in rs) for rs in rounds]
            cpu_ms = [statistics.median(1e3 * r.cpu / r.events for r in rs) for rs in rounds]
            if not title:
                bare_single = medians[0]
            print(f"  {kind}{title}  (ratio: ÷ bare library single thread, {bare_single:,.0f} events/s; "
                  f"load avg now {os.getloadavg()[0]:.2f})")
            print_table(
                ["shape", "aggs/save", "events", "events/s", "ratio", "CPU ms/event", "vs target"],
                [(rs[-1].shape, rs[-1].aggregates_per_save, rs[-1].events, med, f"{med / bare_single:.2f}x",
                  f"{cpu:.3f}", f"{med / target:.2f}x")
                 for rs, med, cpu in zip(rounds, medians, cpu_ms, strict=True)],
            )
            if args.rounds > 1:
                print("  events/s per round: " + "; ".join(
                    f"{rs[0].shape.split(' (')[0]}: " + ", ".join(f"{r.events_per_s:,.0f}" for r in rs)
                    for rs in rounds))
                print()
            if not title:
                by_shape = {rs[0].shape: med for rs, med in zip(rounds, medians, strict=True)}
                act = by_shape["activity (load+decide+save+view)"]
                verdicts.append((kind, "activity, 1 thread ÷ bare, 1 thread", f"{act / bare_single:.2f}x", "≥ 1.0",
                                 "met" if act >= bare_single else "NOT met"))
                threaded = by_shape.get(f"activity, {args.threads} threads")
                if kind == "postgres" and threaded is not None:
                    verdicts.append((kind, f"activity, {args.threads} threads ÷ bare, 1 thread",
                                     f"{threaded / bare_single:.2f}x", "≥ 3.0",
                                     "met" if threaded >= 3 * bare_single else "NOT met"))
                summary.add(summary.Row(f"store ({kind})", "one command per transaction (activity shape), 1 thread",
                                        act, "events/s", bare_single, "bare library, 1 thread", "value/baseline",
                                        "record ÷ bare", "ratio", ">=", 1.0))
                if kind == "postgres" and threaded is not None:
                    summary.add(summary.Row(f"store ({kind})", f"activity shape, {args.threads} threads", threaded,
                                            "events/s", bare_single, "bare library, 1 thread", "value/baseline",
                                            "record ÷ bare", "ratio", ">=", 3.0))
        if args.profile:
            profile(kind, max(50, args.ententes // 3))
    print("  goals (issue 12), one command per transaction as the activities do, same run:")
    print_table(["store", "figure", "measured", "goal", "verdict"], verdicts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
