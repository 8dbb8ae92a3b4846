"""The chaining PostgreSQL recorder's own `select_events` (binary rows, statements composed once per shape) reads
a store whose originator ids are text (``ORIGINATOR_ID_TYPE=text``) exactly as the library's recorder does, for
every shape of the query; and what it chained verifies. The library's conformance suite asks by UUID only."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from eventsourcing import postgres as pg_library
from eventsourcing.persistence import StoredEvent

from adapters.record.postgres import ChainingPostgresRecorder
from domain.audit.verify import verify_rows
from tests.conftest import PG, require_postgres

pytestmark = pytest.mark.postgres

IDS = ("case-C-2026-0001", "entente-E-1")


@pytest.fixture
def datastore() -> Iterator[pg_library.PostgresDatastore]:
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(autocommit=True, **PG) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    store = pg_library.PostgresDatastore(**PG, schema=schema, pool_size=2, originator_id_type="text")
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(autocommit=True, **PG) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_text_ids_are_read_as_the_library_reads_them(datastore: pg_library.PostgresDatastore) -> None:
    ours = ChainingPostgresRecorder(datastore, events_table_name="stored_events")
    ours.create_table()
    for version in range(1, 6):
        ours.insert_events([StoredEvent(originator_id=oid, originator_version=version, topic=f"t:{oid}",
                                        state=f'{{"v": {version}}}'.encode()) for oid in IDS])
    library = pg_library.PostgresApplicationRecorder(datastore, events_table_name="stored_events")

    shapes = list(itertools.product([None, 2], [None, 4], [False, True], [None, 2]))
    for oid, (gt, lte, desc, limit) in itertools.product(IDS, shapes):
        got = ours.select_events(oid, gt=gt, lte=lte, desc=desc, limit=limit)
        expected = library.select_events(oid, gt=gt, lte=lte, desc=desc, limit=limit)
        assert got == expected, (oid, gt, lte, desc, limit)
        assert all(type(e.originator_id) is str and e.originator_id == oid for e in got)
    assert [e.originator_version for e in ours.select_events(IDS[0], gt=1, lte=4, desc=True, limit=2)] == [4, 3]

    with ours.dialect.snapshot(100) as snap:
        report = verify_rows(snap.events(), snap.chain(), snap)
    assert report.ok and report.events_checked == 10, report.to_dict()
