"""Issue 13: the record's Merkle tree, kept notes and witness tables made by several processes at once.

A store made before issue 13 has none of the tables `audit_tree`, `audit_tree_head`, `audit_notes`,
`audit_witnesses`, `audit_cosigned`; the first processes that open it with this code (a worker, the gateway, a
scheduled `audit publish`, all started together after an upgrade) each make them. On PostgreSQL two concurrent
``CREATE TABLE IF NOT EXISTS`` of one table do not both succeed: the second, blocked on the first's uncommitted
catalogue row, then fails with a unique violation on ``pg_type``; on SQLite the later ones fail at once with
``database is locked`` (their deferred transaction read the schema before another wrote it). The tables are made
with the record's schema (`Dialect.create_tables`, at each opening) in a `Dialect.schema_transaction` (PostgreSQL:
one advisory lock per schema, also held while the library makes its own tables and functions, which otherwise fail
"tuple concurrently updated" when two openings replace them at once; SQLite: ``BEGIN IMMEDIATE``).

Several threads (each its own record, its own connections: on the server, as many sessions as processes would
be) open the old store at once, past a barrier, then use each table. Every round must succeed, on SQLite and
PostgreSQL; before the fix every round failed on both stores (3 runs of 4 rounds each).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.record.idempotency import IdempotencyStore
from adapters.record.notes import note_store
from adapters.record.record import Record
from adapters.record.witnessed import witnessed_store
from tests.tamper_builders import Dossier

OPENERS = 6
ROUNDS = 4
ISSUE_13_TABLES = ("audit_tree", "audit_tree_head", "audit_notes", "audit_witnesses", "audit_cosigned")


def _drop_issue_13_tables(env: dict[str, str]) -> None:
    """The store as a record made before issue 13 left it: the chain and its events, none of the later tables."""
    record = Record(env)
    try:
        dialect = record.audit_store().dialect
        with dialect.transaction(commit=True) as cursor:
            for name in ISSUE_13_TABLES:
                if "POSTGRES_SCHEMA" in env:
                    cursor.execute(f'DROP TABLE IF EXISTS "{env["POSTGRES_SCHEMA"]}"."{name}"')
                else:
                    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    finally:
        record.close()



def _at_once(opener: Callable[[threading.Barrier, list[BaseException], int], None]) -> list[str]:
    """`OPENERS` threads each running `opener` (its barrier, the shared failures, its number) at once: the failures."""
    barrier = threading.Barrier(OPENERS)
    failures: list[BaseException] = []
    threads = [threading.Thread(target=opener, args=(barrier, failures, n)) for n in range(OPENERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [f"{type(f).__name__}: {f}" for f in failures]

def _open_and_use(env: dict[str, str], barrier: threading.Barrier, failures: list[BaseException]) -> None:
    try:
        barrier.wait()
        record = Record(env)
        try:
            record.audit_tree().catch_up()
            note_store(record).latest()
            witnessed_store(record).notes()
        finally:
            record.close()
    except BaseException as e:  # reported by the test, with its type
        failures.append(e)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_openings_of_a_store_older_than_the_tree_make_its_tables_once(
    store_env: dict[str, str], tmp_path: Path, round_: int
) -> None:
    record = Record(store_env)
    try:
        record.save(Dossier("before the upgrade"))
    finally:
        record.close()
    _drop_issue_13_tables(store_env)

    assert _at_once(lambda barrier, failures, _n: _open_and_use(store_env, barrier, failures)) == []
    after = Record(store_env)
    try:
        assert after.audit_tree().catch_up().size == 1
        assert note_store(after).latest() is None
        assert witnessed_store(after).notes() == []
    finally:
        after.close()


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_openings_of_a_new_store_make_every_table_once(store_env: dict[str, str], round_: int) -> None:
    """The same from nothing: on PostgreSQL the library's own types and tables (events, snapshots) too, made by
    one opening at a time (`PostgresDialect.library_tables_alone`); before, 4 rounds of 5 failed (unique violation
    on ``pg_type`` for ``stored_event_uuid`` or ``arrimage_snapshots``)."""
    assert _at_once(lambda barrier, failures, _n: _open_and_use(store_env, barrier, failures)) == []
    after = Record(store_env)
    try:
        after.save(Dossier("after"))
        assert after.audit_tree().catch_up().size == 1
    finally:
        after.close()


def _first_idempotent_write(
    env: dict[str, str], n: int, barrier: threading.Barrier, failures: list[BaseException]
) -> None:
    try:
        record = Record(env)
        try:
            store = IdempotencyStore.of(record)
            barrier.wait()
            store.reserve("gateway-test", f"key-{n}", "POST /v1/x {}")
        finally:
            record.close()
    except BaseException as e:  # reported by the test, with its type
        failures.append(e)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_first_idempotent_writes_make_the_gateway_s_table_once(
    store_env: dict[str, str], round_: int
) -> None:
    """The gateway's answers table (`adapters.record.idempotency`) is made on its first use, by as many gateway
    processes as write first at once: in the same `Dialect.schema_transaction`."""
    Record(store_env).close()
    assert _at_once(lambda barrier, failures, n: _first_idempotent_write(store_env, n, barrier, failures)) == []
    after = Record(store_env)
    try:
        kept = IdempotencyStore.of(after).reserve("gateway-test", "key-0", "POST /v1/x {}")
        assert (kept.fingerprint, kept.request_id) == ("POST /v1/x {}", None)
    finally:
        after.close()
