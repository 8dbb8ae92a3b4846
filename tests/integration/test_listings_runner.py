"""The listings view kept caught up by the long-running processes (issue 12, `adapters.record.listings_runner`): a
thread running the read-time catch-up every few milliseconds follows events another application instance records,
without any read; beside a read-time catch-up in the same process and another process catching up at the same
moment, each event is counted once (the sum of what each processed is the number of events, the view equals the
scan); stopping it ends its thread; a locked SQLite file or a terminated PostgreSQL connection is logged and
survived. The waits are bounded polls of the view's tracked position (nothing is timed). SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from adapters.record import listings as lv
from adapters.record.environment import record_env
from adapters.record.listings_runner import ListingsRunner
from adapters.record.record import Record
from tests.conftest import PG, PostgresSchema, require_postgres
from tests.integration.test_listings_view import _populate, _same_as_the_scan
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes
from workers.bootstrap import bootstrap
from workers.settings import Settings

EVERY = 0.02  # seconds between two rounds of the runners under test
BOUND = 120.0  # seconds a poll waits at most before the test fails (a stuck runner), never a measure


def _events(start: int, count: int) -> int:
    """The listed events `_populate(start, count)` records: ententes drafted, cases opened, every odd one closed,
    épisodes opened, every third closed."""
    numbers = range(start, start + count)
    return 3 * count + sum(n % 2 for n in numbers) + sum(n % 3 == 0 for n in numbers)


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, f"not within {BOUND} s: {what}"
        time.sleep(0.01)


def _tracked(record: Record) -> int:
    projection = lv.listings(record)
    assert projection is not None
    return projection.view.max_tracking_id(record.name) or 0


def _head(record: Record) -> int:
    return record.recorder.max_notification_id() or 0


def test_the_runner_follows_another_writer_without_any_read(store_env: dict[str, str]) -> None:
    """Events recorded by another application instance (another process) reach the view's tracked position with no
    read of a list in the runner's process: the rows are there when read straight from the view."""
    follower, writer = Record(store_env), Record(store_env)
    try:
        projection = lv.caught_up(follower)  # the view made and at the head (empty record)
        assert projection is not None
        with ListingsRunner(follower, EVERY) as runner:
            assert runner.running
            _populate(writer, 1, 5)
            head = _head(writer)
            _until(lambda: _tracked(follower) == head, "the runner at the writer's head")
            # Read from the view's tables, not through a list (which would catch up first): the runner wrote them.
            assert projection.view.entente_codes() == Ententes(writer).codes()
            assert projection.view.cases(open_only=True) == CrisisCases(writer).still_open()
        assert not runner.running  # stopped: its last round counted
        assert runner.processed == _events(1, 5) and runner.errors == 0
        assert lv.catch_up(follower, projection) == 0
    finally:
        follower.close()
        writer.close()


def test_the_runner_and_reads_catching_up_at_once_count_each_event_once(store_env: dict[str, str]) -> None:
    """While a writer records, the runner (pages of 3), a read-time catch-up in the runner's process (same record:
    the same lock) and another process's catch-ups (another record: the tracking record decides) all catch up the
    same view: the events each processed add up to the events recorded, and every list equals the scan."""
    process, other, writer = Record(store_env), Record(store_env), Record(store_env)
    try:
        mine, theirs = lv.listings(process), lv.listings(other)
        assert mine is not None and theirs is not None
        done = threading.Event()
        counted: dict[str, int] = {"reads": 0, "other": 0}
        failures: list[BaseException] = []

        def reads_here() -> None:  # what `caught_up` does before a list, counted
            try:
                while not done.is_set():
                    with lv._OPEN[process][1]:
                        counted["reads"] += lv.catch_up(process, mine, page=3)
            except BaseException as err:
                failures.append(err)

        def another_process() -> None:
            try:
                while not done.is_set():
                    counted["other"] += lv.catch_up(other, theirs, page=3)
            except BaseException as err:
                failures.append(err)

        threads = [threading.Thread(target=reads_here), threading.Thread(target=another_process)]
        with ListingsRunner(process, EVERY, page=3) as runner:
            for t in threads:
                t.start()
            for first in range(1, 25, 4):
                _populate(writer, first, 4)
            head = _head(writer)
            _until(lambda: _tracked(process) == head, "the view at the writer's head")
            done.set()
            for t in threads:
                t.join()
        assert failures == [] and runner.errors == 0
        print(f"\nrunner {runner.processed} events in {runner.rounds} rounds, reads here {counted['reads']}, "
              f"another process {counted['other']}")
        assert runner.processed + counted["reads"] + counted["other"] == _events(1, 24)
        _same_as_the_scan(process)
        codes = mine.view.entente_codes()
        assert len(codes) == len(set(codes)) == 24
        assert len(mine.view.cases(open_only=False)) == 24
    finally:
        for record in (process, other, writer):
            record.close()


def test_stopping_the_runner_ends_its_thread(store_env: dict[str, str], tmp_path: Path) -> None:
    """Stopped, its thread has ended; with an interval of 0, or a store without a view, none is started. The
    composition root's runner (the worker's and the gateway's) is stopped when the root closes."""
    record = Record(store_env)
    try:
        runner = ListingsRunner(record, EVERY).start()
        thread = runner.thread
        assert thread is not None and thread.is_alive() and thread.daemon
        _until(lambda: runner.rounds >= 1, "a first round")
        runner.stop()
        assert not thread.is_alive() and not runner.running and thread not in threading.enumerate()
        runner.start()  # started again after a stop
        assert runner.running
        runner.stop()
        assert not runner.running
        off = ListingsRunner(record, 0).start()
        assert off.thread is None and not off.running
    finally:
        record.close()
    in_memory = Record({"PERSISTENCE_MODULE": "adapters.record.popo"})
    try:
        assert ListingsRunner(in_memory, EVERY).start().thread is None
    finally:
        in_memory.close()

    settings = Settings(mode="development", store="sqlite", sqlite_path=tmp_path / "root.sqlite",
                        data_dir=tmp_path, view_catchup_seconds=EVERY)
    with bootstrap(settings, create=True) as root:
        runner = root.listings_runner.start()
        assert runner.running and root.listings_runner is runner
        thread = runner.thread
    assert thread is not None and not thread.is_alive()


def test_a_locked_sqlite_file_is_survived(tmp_path: Path) -> None:
    """Another connection holds the SQLite file's write lock past the view's lock timeout: each round fails
    ('database is locked'), is logged and counted, the thread goes on; the lock released, the view catches up."""
    path = tmp_path / "record.sqlite"
    env = {**record_env(sqlite=path), "SQLITE_LOCK_TIMEOUT": "1"}
    writer, follower = Record(env), Record(env)
    try:
        assert lv.caught_up(follower) is not None
        _populate(writer, 1, 4)
        head = _head(writer)
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            with ListingsRunner(follower, EVERY) as runner:
                _until(lambda: runner.errors >= 1, "a round failing on the lock")
                assert runner.running and _tracked(follower) < head
                blocker.execute("ROLLBACK")
                _until(lambda: _tracked(follower) == head, "the view caught up once the lock is released")
                assert runner.running
            assert runner.processed == _events(1, 4)  # stopped: its last round counted
        finally:
            blocker.close()
        _same_as_the_scan(follower)
    finally:
        follower.close()
        writer.close()


@pytest.mark.postgres
def test_a_locked_view_and_terminated_connections_are_survived_on_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another transaction holds the view's tracking table (ACCESS EXCLUSIVE) past the runner's lock timeout: its
    rounds fail, are logged and counted, and it catches up once the lock is released. Then every connection of its
    pool is terminated by the server (pg_terminate_backend, limited to this test's connections by their
    application_name): it goes on with new connections up to the head."""
    require_postgres()
    schema = PostgresSchema()
    app = f"arrimage-runner-{uuid.uuid4().hex[:8]}"
    writer, observer = Record(schema.env()), Record(schema.env())  # the observer polls on connections of its own
    try:
        assert lv.caught_up(observer) is not None  # the view made before the runner writes to it
        # libpq names the follower's connections, and gives them a lock timeout of 0.5 s
        monkeypatch.setenv("PGAPPNAME", app)
        monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=500")
        follower = Record(schema.env())
        try:
            assert lv.caught_up(follower) is not None
            follower.factory.datastore.pool.wait(timeout=30)  # type: ignore[attr-defined]
            monkeypatch.delenv("PGAPPNAME")
            monkeypatch.delenv("PGOPTIONS")
            _populate(writer, 1, 2)
            with psycopg.connect(**PG) as blocker, ListingsRunner(follower, EVERY) as runner:
                blocker.execute(f'LOCK TABLE "{schema.name}".arrimage_listings_tracking IN ACCESS EXCLUSIVE MODE')
                _until(lambda: runner.errors >= 1, "a round failing on the lock")
                assert runner.running
                blocker.rollback()
                _until(lambda: _tracked(observer) == _head(writer), "the runner at the head once the lock released")
                locked = runner.errors

                with psycopg.connect(autocommit=True, **PG) as conn:
                    terminated = conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid() AND application_name = %s", (app,)).fetchall()
                assert terminated
                _populate(writer, 3, 3)
                head = _head(writer)
                _until(lambda: _tracked(observer) == head, "the view caught up on new connections")
                assert runner.running  # (`processed` leaves out the pages of a round that failed after them)
                print(f"\nlocked: {locked} rounds failed; {len(terminated)} connections terminated: "
                      f"{runner.errors - locked} more rounds failed; {runner.rounds} rounds succeeded")
            _same_as_the_scan(observer)
        finally:
            follower.close()
    finally:
        writer.close()
        observer.close()
        schema.drop()


def test_a_view_another_process_caught_up_further_is_not_rebuilt(store_env: dict[str, str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A catch-up that read the record's head just before another process recorded more and caught the view up to
    them finds the view past the head it read: the record is further on too (its head read again), so the view is
    not taken for one ahead of its record (restored from an older backup) and rebuilt from nothing."""
    mine, theirs = Record(store_env), Record(store_env)
    try:
        _populate(mine, 1, 2)
        projection = lv.caught_up(mine)
        assert projection is not None
        stale = _head(mine)  # the head this process read, just before the other one recorded and caught up
        _populate(theirs, 3, 2)
        assert lv.caught_up(theirs) is not None and _tracked(theirs) > stale
        heads = iter([stale])
        read = mine.recorder.max_notification_id
        monkeypatch.setattr(mine.recorder, "max_notification_id", lambda: next(heads, None) or read())
        assert lv.catch_up(mine, projection) == 0  # nothing rebuilt, nothing processed again
        _same_as_the_scan(mine)
    finally:
        mine.close()
        theirs.close()


@pytest.mark.postgres
def test_opening_a_view_of_this_shape_does_not_wait_for_a_page_being_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process opening the view (the CLI starting, a restart) while another process's page is being written (the
    worker's runner: rows inserted, not yet committed) does not wait for it: the view already at this shape is not
    made again (each `CREATE INDEX IF NOT EXISTS` takes its table's SHARE lock, which waited for the page, and
    deadlocked with it). The opening process has a lock timeout of 0.5 s: waiting would fail it."""
    require_postgres()
    schema = PostgresSchema()
    maker = Record(schema.env())
    try:
        assert lv.caught_up(maker) is not None
        with psycopg.connect(**PG) as page:  # a page's transaction: the lock its inserts hold, until it ends
            for table in ("entente_states", "cases", "reads"):
                page.execute(f'LOCK TABLE "{schema.name}".arrimage_listings_{table} IN ROW EXCLUSIVE MODE')
            monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=500")
            opener = Record(schema.env())
            monkeypatch.delenv("PGOPTIONS")
            try:
                projection = lv.listings(opener)
                assert projection is not None and projection.view.max_tracking_id(lv.VERSION_KEY) == lv.VERSION
            finally:
                opener.close()
    finally:
        maker.close()
        schema.drop()
