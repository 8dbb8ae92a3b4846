"""Issue 13: two processes opening the same *new* SQLite record file at once, both making its schema.

tests/integration/test_audit_schema_race.py opens a store from several threads of one process (its own connections
each); here two processes (spawned: nothing shared but the file), released together past a barrier, each open a
record on a file that does not exist yet (so each makes the library's tables and the record's own: chain, tree,
notes, witnesses, under `BEGIN IMMEDIATE`), save one aggregate and follow the tree. Both must succeed, every round,
and the record must then verify: `arrimage audit verify`'s use case and the offline verifier over the file, two
events, one chain.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from adapters.record.environment import record_env
from adapters.record.record import Record
from tests.tamper_builders import Dossier
from usecases.audit.trail import verify
from verifier import verify_database

PROCESSES = 2
ROUNDS = 4


def _open_save_follow(path: str, n: int, barrier: Any, out: Any) -> None:
    try:
        barrier.wait(timeout=60)
        record = Record(record_env(sqlite=path))
        try:
            record.save(Dossier(f"opened by process {n}"))
            record.audit_tree().catch_up()
        finally:
            record.close()
        out.put((n, None))
    except BaseException as e:  # reported by the test, with its type
        out.put((n, f"{type(e).__name__}: {e}"))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_processes_making_a_new_sqlite_record_at_once_both_succeed(tmp_path: Path, round_: int) -> None:
    path = tmp_path / "record.sqlite"
    assert not path.exists()
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=_open_save_follow, args=(str(path), n, barrier, out)) for n in range(PROCESSES)]
    for p in procs:
        p.start()
    results = sorted(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert results == [(n, None) for n in range(PROCESSES)]
    assert [p.exitcode for p in procs] == [0] * PROCESSES

    record = Record(record_env(sqlite=path, create=False))
    try:
        report = verify(record)
        assert report.ok and report.events_checked == PROCESSES, report
        assert record.audit_tree().catch_up().size == PROCESSES
    finally:
        record.close()
    offline = verify_database(path, [], [], jobs=1)
    assert offline.ok and offline.events == PROCESSES, offline
