"""Which store failures an activity retries (issue 7): a lock, a busy file or an I/O failure may pass;
a missing table or column, or a file that is not a database, fails the same way on every attempt and
is a bug (`internal_error`, attempted once), even though SQLite calls some of them "operational".

The errors are real: raised by sqlite3 on real files, and wrapped the way eventsourcing wraps them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from eventsourcing.persistence import OperationalError
from temporalio.exceptions import ApplicationError, CancelledError

from activities.errors import INTERNAL_ERROR, classify, is_transient
from adapters.record.record import Record
from usecases.ententes import Ententes


def raised(run: Callable[[], object]) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as info:
        run()
    return info.value


def wrapped(err: sqlite3.Error) -> OperationalError:
    """As eventsourcing's SQLite datastore re-raises a driver error: `raise OperationalError(e) from e`."""
    try:
        raise OperationalError(err) from err
    except OperationalError as outer:
        return outer


def no_such_table(tmp_path: Path) -> sqlite3.Error:
    return raised(lambda: sqlite3.connect(tmp_path / "a.db").execute("SELECT * FROM stored_events"))


def no_such_column(tmp_path: Path) -> sqlite3.Error:
    conn = sqlite3.connect(tmp_path / "b.db")
    conn.execute("CREATE TABLE stored_events (originator_id TEXT)")
    return raised(lambda: conn.execute("SELECT topic FROM stored_events"))


def not_a_database(tmp_path: Path) -> sqlite3.Error:
    (tmp_path / "c.db").write_bytes(b"not sqlite " * 400)
    return raised(lambda: sqlite3.connect(tmp_path / "c.db").execute("SELECT 1 FROM stored_events"))


def locked(tmp_path: Path) -> sqlite3.Error:
    path = tmp_path / "d.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    return raised(lambda: sqlite3.connect(path, timeout=0).execute("SELECT * FROM t"))


@pytest.mark.parametrize("make", [no_such_table, no_such_column, not_a_database])
def test_a_wrong_schema_or_file_is_a_bug_attempted_once(make: Callable[[Path], sqlite3.Error],
                                                        tmp_path: Path) -> None:
    err = make(tmp_path)
    for raised_as in (err, wrapped(err)):
        assert not is_transient(raised_as)
        final = classify(raised_as)
        assert isinstance(final, ApplicationError)
        assert (final.type, final.non_retryable) == (INTERNAL_ERROR, True)
        assert final.message == (f"{type(raised_as).__name__}: nothing was recorded by this attempt; "
                                 "see the worker log (workflow None)")


def test_a_locked_store_is_retried(tmp_path: Path) -> None:
    err = locked(tmp_path)
    assert (type(err), str(err)) == (sqlite3.OperationalError, "database is locked")
    for raised_as in (err, wrapped(err)):
        assert is_transient(raised_as) and classify(raised_as) is raised_as


def test_busy_locked_and_io_codes_are_transient_and_nothing_else() -> None:
    """By SQLite's primary result code (the low byte of an extended code such as SQLITE_IOERR_SHORT_READ)."""
    def coded(code: int) -> sqlite3.OperationalError:
        err = sqlite3.OperationalError("from the driver")
        err.sqlite_errorcode = code
        return err

    transient = {"SQLITE_BUSY": 5, "SQLITE_LOCKED": 6, "SQLITE_IOERR_SHORT_READ": 10 | (2 << 8),
                 "SQLITE_FULL": 13, "SQLITE_BUSY_SNAPSHOT": 5 | (2 << 8)}
    permanent = {"SQLITE_ERROR": 1, "SQLITE_READONLY": 8, "SQLITE_CORRUPT": 11, "SQLITE_CANTOPEN": 14,
                 "SQLITE_NOTADB": 26}
    assert {n for n, code in {**transient, **permanent}.items() if is_transient(coded(code))} == set(transient)


def test_an_error_eventsourcing_raises_itself_is_not_transient() -> None:
    assert not is_transient(OperationalError("Can't do multi-row tracking with single-row tracking table"))


def test_a_record_whose_events_table_is_gone_fails_as_a_bug(tmp_path: Path) -> None:
    """A real case through a use case: the record's table dropped under it ("no such table" from the
    real recorder) — retrying cannot bring it back."""
    path = tmp_path / "record.sqlite"
    record = Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})
    try:
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TABLE stored_events")
        with pytest.raises(OperationalError, match=r"^no such table: stored_events$") as info:
            Ententes(record).view("ENT-LAV-2026-01")
        assert not is_transient(info.value)
        final = classify(info.value)
        assert isinstance(final, ApplicationError) and final.type == INTERNAL_ERROR
    finally:
        record.close()


def test_a_cancellation_is_passed_on_as_a_cancellation_not_a_bug() -> None:
    """A delivery still retrying when its workflow ends is cancelled by Temporal: it used to be logged and
    reported as `internal_error` (issue 10 notes)."""
    cancelled = CancelledError("Cancelled")
    assert classify(cancelled) is cancelled
    bug = classify(RuntimeError("x"))
    assert isinstance(bug, ApplicationError) and bug.type == INTERNAL_ERROR
