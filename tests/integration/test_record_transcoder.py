"""The record reads what is stored exactly as the library would (issue 12: one aggregate at full speed).

`adapters.record.transcoder.RecordTranscoder` reads JSON with orjson and converts the library's typed values in
one pass; `RecordMapper.to_domain_event` is the library's `Mapper.to_domain_event` and the record's checks in one
frame. Both are there for speed only: every stored byte must read into the same values, or fail the same way, as
through the library's `JSONTranscoder` and `Mapper` with the record's checks around them (what the record did
before). Checked on edge cases where the two JSON parsers differ, on any value the library can encode
(Hypothesis), and on every row of the legacy store of 2026-11 (ententes, crisis cases with sealed and shredded
personal content, consents, registers).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    MapperDeserialisationError,
    StoredEvent,
    UUIDAsHex,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.record.environment import record_env
from adapters.record.record import TOPICS, DateAsISO, ForeignTopic, Record, RecordMapper
from adapters.record.sealing import PersonalDataMapper
from adapters.record.transcoder import RecordTranscoder
from tests.conftest import PG, PostgresSchema, require_postgres

LEGACY = Path(__file__).resolve().parent.parent / "fixtures" / "legacy_2026_11" / "record.sqlite"


def _library() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    return transcoder


def _ours() -> RecordTranscoder:
    transcoder = RecordTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    return transcoder


LIBRARY, OURS = _library(), _ours()


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 == 1.0 == True in Python; not here). NaN is itself."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    if isinstance(a, datetime):
        return a == b and a.utcoffset() == b.utcoffset()
    return bool(a == b)


def outcome(transcoder: JSONTranscoder, data: bytes) -> tuple[str, Any]:
    try:
        return "value", transcoder.decode(data)
    except Exception as e:  # the library's error: its type and message, the same through ours
        return "error", (type(e), str(e))


def assert_reads_alike(data: bytes) -> None:
    ours, library = outcome(OURS, data), outcome(LIBRARY, data)
    assert ours[0] == library[0], (data, ours, library)
    if ours[0] == "value":
        assert same(ours[1], library[1]), (data, ours, library)
    else:
        assert ours[1] == library[1], (data, ours, library)


EDGES = [
    # typed values, nested and shaped in every way the library's object_hook sees them
    b'{"at":{"_type_":"datetime_iso","_data_":"2026-01-02T00:00:00+00:00"},"n":1}',
    b'{"_type_":"uuid_hex","_data_":"6b1f3a528d0e4c519a372f0c8e4d1a10"}',
    b'[{"_type_":"date_iso","_data_":"2026-01-02"},[{"_type_":"decimal_str","_data_":"1.10"}]]',
    b'{"a":{"b":{"_type_":"date_iso","_data_":"2026-01-02"}},"c":[[],{}]}',
    b'{"_type_":"date_iso","_data_":"2026-01-02","x":1}',  # three keys: a plain object
    b'{"_type_":"date_iso"}',  # one key: a plain object
    b'{"_type_":"nope","_data_":"x"}',  # not registered: the library's error
    b'{"_type_":1,"_data_":"x"}',
    b'{"_type_":["date_iso"],"_data_":"x"}',  # unhashable name: the library's TypeError
    b'{"_type_":"date_iso","_data_":null}',
    b'{"_type_":"date_iso","_data_":"not a date"}',
    b'{"_type_":"datetime_iso","_data_":{"_type_":"date_iso","_data_":"2026-01-02"}}',  # children first
    b'{"\\u005ftype_":"date_iso","_data_":"2026-01-02"}',  # an escaped key is the same key
    b'{"_type_":"date_iso","_data_":"2026-01-02","_data_":"2026-01-03"}',  # duplicate keys: the last one
    b'{"a":1,"a":2,"b":3}',
    # numbers: orjson reads integers beyond 64 bits as floats, the standard module as ints
    b"[18446744073709551615, 18446744073709551616, -9223372036854775808, -9223372036854775809]",
    b'{"n":123456789012345678901234567890}',
    b"[1.5, -0.0, 0.1, 1e308, 5e-324, 1E2, 2.5e-3]",
    b"[1e400, -1e400, 1e-400]",
    b"[-0, 0, 10, 007]",
    b"[NaN]",
    b"[Infinity, -Infinity]",
    # strings
    b'["\\ud800"]',  # a lone surrogate: the standard module reads it, orjson refuses
    b'["\\ud83d\\ude00", "\\u00e9", "caf\xc3\xa9", "\\"quoted\\"", "tab\\t"]',
    b'["raw\ttab"]',  # a raw control character: refused by both
    b'["\xff"]',  # not UTF-8
    b'["\xed\xa0\x80"]',  # a surrogate encoded in UTF-8
    # the document itself
    b"",
    b" ",
    b"\xef\xbb\xbf{}",  # a byte order mark
    b"{} x",
    b'{"a":1,}',
    b"[1,]",
    b"{'a':1}",
    b" \n\t\r{}\n ",
    b"null",
    b"true",
    b'"text"',
    b"3",
    b"[" * 2000 + b"]" * 2000,  # deeper than either parser goes
    b"[" * 300 + b"]" * 300,
]


@pytest.mark.parametrize("data", EDGES, ids=[repr(e[:40]) for e in EDGES])
def test_edge_cases_read_as_the_library_reads(data: bytes) -> None:
    assert_reads_alike(data)


keys = st.one_of(st.text(max_size=8), st.sampled_from(["_type_", "_data_", "timestamp", "at"]))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**62, max_value=2**80),
    st.floats(allow_nan=False),
    st.text(),
    st.uuids(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))])),
    st.datetimes(),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=12
)


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(values)
def test_anything_the_library_encodes_reads_back_the_same(value: Any) -> None:
    assert_reads_alike(LIBRARY.encode(value))


def test_typed_values_come_back_typed() -> None:
    value = {
        "at": datetime(2026, 1, 2, tzinfo=UTC),
        "on": date(2026, 1, 2),
        "id": UUID(int=7),
        "d": Decimal("1.1"),
        "nested": [{"x": [datetime(2026, 1, 2)]}],
        "n": 2**70,
    }
    assert same(OURS.decode(LIBRARY.encode(value)), value)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def legacy(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Record]:
    """The legacy store as it is (SQLite), or its rows and wrapped keys put as they are into a PostgreSQL store:
    the same bytes, read back through PostgreSQL's columns (uuid ids, bytea states)."""
    copy = tmp_path / "record.sqlite"
    shutil.copyfile(LEGACY, copy)
    if request.param == "sqlite":
        yield Record(env=record_env(sqlite=copy))
        return
    require_postgres()
    schema = PostgresSchema()
    try:
        record = Record(env=schema.env())
        record.recorder.insert_events(rows(Record(env=record_env(sqlite=copy))))
        with sqlite3.connect(copy) as lite:
            keys = lite.execute(
                "SELECT subject_id, key_id, kek_id, wrapped_key, created_at, shredded_at FROM audit_subject_keys"
            ).fetchall()
        with psycopg.connect(autocommit=True, **PG) as conn:
            conn.cursor().executemany(
                f'INSERT INTO "{schema.name}".audit_subject_keys '
                "(subject_id, key_id, kek_id, wrapped_key, created_at, shredded_at) VALUES (%s, %s, %s, %s, %s, %s)",
                keys,
            )
        yield record
    finally:
        schema.drop()


def rows(record: Record) -> list[StoredEvent]:
    found = []
    start = 1
    while batch := record.recorder.select_notifications(start=start, limit=100):
        found += [
            StoredEvent(
                originator_id=n.originator_id, originator_version=n.originator_version, topic=n.topic, state=n.state
            )
            for n in batch
        ]
        start = batch[-1].id + 1
    return found


def the_former_reading(record: Record) -> Any:
    """How the record read an event before: the library's transcoder and `Mapper.to_domain_event` (through
    `PersonalDataMapper`, which opens the sealed parts), with the record's checks before and after."""
    assert isinstance(record.mapper, RecordMapper)
    former = PersonalDataMapper(transcoder=_library(), keys=record.subject_keys)

    def read(stored: StoredEvent) -> Any:
        TOPICS.check(stored)
        event = former.to_domain_event(stored)
        TOPICS.check_named(stored, event)
        return event

    return read


def test_every_row_of_the_legacy_store_reads_as_before(legacy: Record) -> None:
    stored = rows(legacy)
    assert len(stored) == 59
    read_before = the_former_reading(legacy)
    opened = shredded = 0
    for row in stored:
        assert same(OURS.decode(row.state), LIBRARY.decode(row.state))
        now, before = legacy.mapper.to_domain_event(row), read_before(row)
        assert type(now) is type(before)
        assert same(now.__dict__, before.__dict__), row
        personal = now.__dict__.get("personal")
        if isinstance(personal, dict):
            shredded += personal == {"shredded": True}
            opened += personal != {"shredded": True}
    assert opened and shredded  # the store holds content still readable and content of a shredded person


def test_a_row_that_does_not_read_fails_as_before(legacy: Record) -> None:
    row = rows(legacy)[0]
    read_before = the_former_reading(legacy)
    for state in (b"{not json", b'{"timestamp":{"_type_":"nope","_data_":"x"}}', b"[NaN"):
        broken = StoredEvent(
            originator_id=row.originator_id, originator_version=row.originator_version, topic=row.topic, state=state
        )
        with pytest.raises(MapperDeserialisationError) as now:
            legacy.mapper.to_domain_event(broken)
        with pytest.raises(MapperDeserialisationError) as before:
            read_before(broken)
        assert str(now.value) == str(before.value)
    foreign = StoredEvent(
        originator_id=row.originator_id, originator_version=row.originator_version, topic="os:system", state=row.state
    )
    with pytest.raises(ForeignTopic):
        legacy.mapper.to_domain_event(foreign)
