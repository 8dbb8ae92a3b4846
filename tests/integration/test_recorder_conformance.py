"""Issue 12, « The library's own conformance suite … runs in CI against the project's chaining recorders on both
stores; the audit tables are named per application ».

eventsourcing's `ApplicationRecorderTestCase`, `InfrastructureFactoryTestCase`, `ExampleApplicationTestCase` and
`ApplicationTestCase`, subclassed with our persistence modules (``adapters.record.sqlite``,
``adapters.record.postgres``): the chaining recorder must behave as the library's recorder does, and after each
recorder test the hash chain of everything the library's test inserted verifies (`domain.audit.verify.verify_rows`).
The library's tests that cannot run here would be skipped one by one, each with its reason: none is (the optional
subscription test runs on PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from typing import Any

import psycopg
import pytest
from eventsourcing import postgres as pg_library
from eventsourcing import sqlite as sqlite_library
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import ApplicationRecorder

# The modules, not their classes: pytest collects every TestCase class a test module holds, bases included.
from eventsourcing.tests import application as library_application
from eventsourcing.tests import persistence as library_persistence
from eventsourcing.utils import Environment

from adapters.record import postgres, sqlite
from adapters.record.environment import PostgresAddress, record_env
from adapters.record.record import Record
from adapters.record.sql import audit_tables
from domain.audit.verify import verify_rows
from tests.conftest import PG, require_postgres
from usecases.audit.trail import verify


def _chain_verifies(recorder: ApplicationRecorder) -> None:
    with recorder.dialect.snapshot(10_000) as snap:  # type: ignore[attr-defined]
        report = verify_rows(snap.events(), snap.chain(), snap)
    assert report.ok, report.to_dict()


class Schema:
    """A throw-away PostgreSQL schema (as `tests.conftest.PostgresSchema`, for unittest classes)."""

    def __init__(self) -> None:
        require_postgres()
        self.name = f"c_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(autocommit=True, **PG) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')

    def datastore(self) -> pg_library.PostgresDatastore:
        return pg_library.PostgresDatastore(**PG, schema=self.name, pool_size=5, max_overflow=10)

    def env(self) -> dict[str, str]:
        return record_env(postgres=PostgresAddress(**PG, schema=self.name))

    def drop(self) -> None:
        with psycopg.connect(autocommit=True, **PG) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


# ---------------------------------------------------------------- ApplicationRecorderTestCase


class TestChainingSQLiteRecorder(library_persistence.ApplicationRecorderTestCase[sqlite.ChainingSQLiteRecorder]):
    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp()
        self.recorders: list[sqlite.ChainingSQLiteRecorder] = []

    def tearDown(self) -> None:
        for recorder in self.recorders:
            _chain_verifies(recorder)
            recorder.datastore.close()
        shutil.rmtree(self.folder)

    def create_recorder(self) -> sqlite.ChainingSQLiteRecorder:
        datastore = sqlite_library.SQLiteDatastore(os.path.join(self.folder, f"{len(self.recorders)}.sqlite"))
        recorder = sqlite.ChainingSQLiteRecorder(datastore)
        recorder.create_table()
        self.recorders.append(recorder)
        return recorder


@pytest.mark.postgres
class TestChainingPostgresRecorder(library_persistence.ApplicationRecorderTestCase[postgres.ChainingPostgresRecorder]):
    def setUp(self) -> None:
        self.schema = Schema()
        self.recorders: list[postgres.ChainingPostgresRecorder] = []

    def tearDown(self) -> None:
        for recorder in self.recorders:
            _chain_verifies(recorder)
            recorder.datastore.close()
        self.schema.drop()

    def create_recorder(self) -> postgres.ChainingPostgresRecorder:
        recorder = postgres.ChainingPostgresRecorder(self.schema.datastore(), events_table_name="stored_events")
        recorder.create_table()
        self.recorders.append(recorder)
        return recorder

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


# ---------------------------------------------------------------- InfrastructureFactoryTestCase


class TrackingSubclass(sqlite_library.SQLiteTrackingRecorder):
    pass


class PgTrackingSubclass(pg_library.PostgresTrackingRecorder):
    pass


class TestSQLiteFactory(library_persistence.InfrastructureFactoryTestCase[sqlite.Factory]):
    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp()
        self.env = Environment("TestCase", {**record_env(sqlite=os.path.join(self.folder, "f.sqlite"))})
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        shutil.rmtree(self.folder)

    def expected_factory_class(self) -> type[sqlite.Factory]:
        return sqlite.Factory

    def expected_aggregate_recorder_class(self) -> type[Any]:
        return sqlite_library.SQLiteAggregateRecorder

    def expected_application_recorder_class(self) -> type[Any]:
        return sqlite.ChainingSQLiteRecorder

    def expected_tracking_recorder_class(self) -> type[Any]:
        return sqlite_library.SQLiteTrackingRecorder

    def tracking_recorder_subclass(self) -> type[Any]:
        return TrackingSubclass

    def expected_process_recorder_class(self) -> type[Any]:
        return sqlite_library.SQLiteProcessRecorder


@pytest.mark.postgres
class TestPostgresFactory(library_persistence.InfrastructureFactoryTestCase[postgres.Factory]):
    def setUp(self) -> None:
        self.schema = Schema()
        self.env = Environment("TestCase", self.schema.env())
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        self.schema.drop()

    def expected_factory_class(self) -> type[postgres.Factory]:
        return postgres.Factory

    def expected_aggregate_recorder_class(self) -> type[Any]:
        return pg_library.PostgresAggregateRecorder

    def expected_application_recorder_class(self) -> type[Any]:
        return postgres.ChainingPostgresRecorder

    def expected_tracking_recorder_class(self) -> type[Any]:
        return pg_library.PostgresTrackingRecorder

    def tracking_recorder_subclass(self) -> type[Any]:
        return PgTrackingSubclass

    def expected_process_recorder_class(self) -> type[Any]:
        return pg_library.PostgresProcessRecorder


# ---------------------------------------------------------------- ExampleApplicationTestCase


class _InEnviron:
    """The library's application tests read the store from `os.environ`: set for the test, then put back."""

    def use(self, env: dict[str, str]) -> None:
        self.saved = dict(os.environ)
        os.environ.update(env)

    def restore(self) -> None:
        os.environ.clear()
        os.environ.update(self.saved)


class TestExampleApplicationOnSQLite(library_application.ExampleApplicationTestCase):
    expected_factory_topic = "adapters.record.sqlite:Factory"

    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp()
        self.environ = _InEnviron()
        self.environ.use(record_env(sqlite=os.path.join(self.folder, "bank.sqlite")))

    def tearDown(self) -> None:
        self.environ.restore()
        shutil.rmtree(self.folder)


@pytest.mark.postgres
class TestExampleApplicationOnPostgres(library_application.ExampleApplicationTestCase):
    expected_factory_topic = "adapters.record.postgres:Factory"

    def setUp(self) -> None:
        self.schema = Schema()
        self.environ = _InEnviron()
        self.environ.use(self.schema.env())

    def tearDown(self) -> None:
        self.environ.restore()
        self.schema.drop()


class TestApplicationOnSQLite(library_application.ApplicationTestCase):
    """The library's application tests (cache, fast-forward, snapshots, the log) with our SQLite module."""

    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp()
        self.environ = _InEnviron()
        self.environ.use(record_env(sqlite=os.path.join(self.folder, "app.sqlite")))

    def tearDown(self) -> None:
        self.environ.restore()
        shutil.rmtree(self.folder)


@pytest.mark.postgres
class TestApplicationOnPostgres(library_application.ApplicationTestCase):
    """The same on PostgreSQL: several applications in one schema, each with its own chain."""

    def setUp(self) -> None:
        self.schema = Schema()
        self.environ = _InEnviron()
        self.environ.use(self.schema.env())

    def tearDown(self) -> None:
        self.environ.restore()
        self.schema.drop()


# ---------------------------------------------------------------- two applications in one schema


class Tally(Aggregate):
    @event("Counted")
    def __init__(self, n: int) -> None:
        self.n = n


class Tallies(Application[uuid.UUID]):
    """Another application beside the record, in the same database/schema."""


def test_the_audit_tables_are_named_per_application() -> None:
    """The record keeps the names its stores were made with; any other application's are its own."""
    assert audit_tables("arrimage_events", postgres.EVENTS) == {
        "chain": "audit_chain", "checkpoints": "audit_checkpoints", "store": "audit_store",
        "tree": "audit_tree", "tree_head": "audit_tree_head", "notes": "audit_notes",
        "witnesses": "audit_witnesses", "cosigned": "audit_cosigned"}
    assert audit_tables("stored_events", sqlite.EVENTS)["chain"] == "audit_chain"
    assert audit_tables("tallies_events", postgres.EVENTS) == {
        "chain": "tallies_audit_chain", "checkpoints": "tallies_audit_checkpoints", "store": "tallies_audit_store",
        "tree": "tallies_audit_tree", "tree_head": "tallies_audit_tree_head", "notes": "tallies_audit_notes",
        "witnesses": "tallies_audit_witnesses", "cosigned": "tallies_audit_cosigned"}


@pytest.mark.postgres
def test_two_applications_in_one_schema_each_chain_their_own_log() -> None:
    """Issue 12: with one fixed ``audit_chain`` the second application's first save collided with the first's
    chain. The record and another application now save in one schema, each chain verifies, and the record's chain
    is still ``audit_chain`` (existing stores open as they were)."""
    schema = Schema()
    record, tallies = Record(schema.env()), Tallies(env=schema.env())
    try:
        from domain.ententes import commands as c
        from domain.ententes.aggregate import Entente
        from tests.factories import service_entente
        from tests.integration.test_group_commit import AT

        for i in range(3):
            record.save(Entente.draft(c.DraftEntente(by="superviseur", code=f"TWO-{i}", content=service_entente()),
                                      AT))
            tallies.save(Tally(i))
        report = verify(record)
        assert report.ok and report.events_checked == 3, report.to_dict()
        _chain_verifies(tallies.recorder)
        with psycopg.connect(**PG) as conn:
            counts = {name: conn.execute(f'SELECT count(*) FROM "{schema.name}"."{name}"').fetchall()[0][0]
                      for name in ("audit_chain", "tallies_audit_chain")}
        assert counts == {"audit_chain": 3, "tallies_audit_chain": 3}
    finally:
        record.close()
        tallies.close()
        schema.drop()
