"""The audit trail's persistence: chaining recorders, subject keys, snapshot readers.

Chaining happens **in the same transaction as the insert of the events**, by
subclassing eventsourcing's application recorders (``Record.construct_recorder``
picks them): the events are inserted, their notification ids come back, the
chain head is read, the chain rows are computed (``hashing.link_batch``) and
inserted, then the transaction commits. There is no window in which an event
is stored unchained, and no catch-up job that could launder a forged row.

Concurrency:
- PostgreSQL: the recorder takes eventsourcing's ``LOCK TABLE … IN EXCLUSIVE
  MODE`` on the events table first (as the library does), so inserting
  transactions are serialised; the chain head read after the insert is the
  true head, and notification ids commit in order. (Our recorder always uses
  this explicit transaction, even when ``POSTGRES_ENABLE_DB_FUNCTIONS`` is set.)
- SQLite: one writer at a time by construction; the events insert takes the
  write lock before the head is read, so the read sees the latest commit.

Tables, beside the events table in the same database/schema: ``audit_chain``
(one row per event, keyed by notification id, unique on the event identity and
on ``seq``), ``audit_subject_keys`` (wrapped per-person keys, tombstoned on
shredding) and ``audit_checkpoints`` (copies of signed heads; the copies that
count are the ones kept elsewhere).

Readers open **one snapshot** (SQLite read transaction; PostgreSQL REPEATABLE
READ READ ONLY with server-side cursors) and stream both tables in notification
order, so verification runs beside live writers and its memory stays flat.

Not chained: snapshots (``IS_SNAPSHOTTING_ENABLED``; they are a cache, and must
stay off for aggregates with personal content, whose snapshot state would not
be sealed), tracking tables, and the in-memory POPO store used by unit tests.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore, SQLiteFactory
from eventsourcing.utils import retry
from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from domain.audit.checkpoint import Checkpoint
from domain.audit.hashing import LinkedRow, link_batch, originator_key
from domain.audit.keys import KeyRing
from domain.audit.personal import MemorySubjectKeys, SubjectErased, SubjectKeyStore, new_data_key, unwrap_key, wrap_key
from domain.audit.verify import ChainRow, EventRow

CHAIN = "audit_chain"
KEYS = "audit_subject_keys"
CHECKPOINTS = "audit_checkpoints"


class AuditUnsupported(RuntimeError):
    """The configured event store has no audit chain (the in-memory POPO store)."""


# --------------------------------------------------------------------------- SQLite


def _sqlite_oid(okey: bytes, text_ids: bool) -> str:
    return okey.decode() if text_ids else okey.hex()


SQLITE_DDL = [
    f"CREATE TABLE IF NOT EXISTS {CHAIN} ("
    "notification_id INTEGER PRIMARY KEY, originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, "
    "topic TEXT NOT NULL, seq INTEGER NOT NULL UNIQUE, aggregate_prev_nid INTEGER NOT NULL, "
    "event_hash BLOB NOT NULL, aggregate_hash BLOB NOT NULL, "
    "chain_hash BLOB NOT NULL, UNIQUE (originator_id, originator_version))",
    f"CREATE TABLE IF NOT EXISTS {KEYS} ("
    "subject_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, kek_id TEXT NOT NULL, wrapped_key BLOB, "
    "created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, shredded_at TEXT)",
    f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} ("
    "id INTEGER PRIMARY KEY, notification_id INTEGER NOT NULL, body TEXT NOT NULL)",
]


class ChainingSQLiteRecorder(SQLiteApplicationRecorder):
    """SQLite application recorder that chains every inserted event in the insert's transaction."""

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *SQLITE_DDL]

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        ids = super()._insert_events(c, stored_events, **kwargs) or []
        text_ids = self.datastore.originator_id_type == "text"
        inserted = [
            (nid, originator_key(s.originator_id), s.originator_version, s.topic, s.state)
            for nid, s in zip(ids, stored_events, strict=True)
        ]
        c.execute(f"SELECT seq, chain_hash FROM {CHAIN} ORDER BY notification_id DESC LIMIT 1")
        row = c.fetchone()
        head = (int(row[0]), bytes(row[1])) if row is not None else None
        agg_heads: dict[bytes, tuple[int, bytes]] = {}
        okeys = list({r[1] for r in inserted})
        for i in range(0, len(okeys), 500):
            chunk = [_sqlite_oid(k, text_ids) for k in okeys[i : i + 500]]
            # SQLite returns the bare columns of the row holding max(): each originator's last chained event.
            c.execute(
                f"SELECT originator_id, max(originator_version), notification_id, aggregate_hash FROM {CHAIN} "
                f"WHERE originator_id IN ({','.join('?' * len(chunk))}) GROUP BY originator_id",
                chunk,
            )
            for oid, _, nid, agg in c.fetchall():
                agg_heads[oid.encode() if text_ids else bytes.fromhex(oid)] = (int(nid), bytes(agg))
        linked = link_batch(inserted, head, agg_heads)
        c.executemany(
            f"INSERT INTO {CHAIN} VALUES (?,?,?,?,?,?,?,?,?)",
            [(r[0], _sqlite_oid(r[1], text_ids), *r[2:]) for r in linked],
        )
        return ids


class SQLiteSubjectKeys:
    def __init__(self, datastore: SQLiteDatastore, kek: KeyRing) -> None:
        self.datastore = datastore
        self.kek = kek
        with datastore.transaction(commit=True) as c:
            for statement in SQLITE_DDL:
                c.execute(statement)

    def key_for_writing(self, subject_id: str) -> tuple[str, bytes]:
        found = self._row(subject_id)
        if found is None:
            key_id = UUID(bytes=new_data_key()[:16]).hex[:12]
            kek_id, wrapped = wrap_key(self.kek, subject_id, key_id, new_data_key())
            with self.datastore.transaction(commit=True) as c:
                c.execute(
                    f"INSERT OR IGNORE INTO {KEYS} (subject_id, key_id, kek_id, wrapped_key) VALUES (?,?,?,?)",
                    (subject_id, key_id, kek_id, wrapped),
                )
            found = self._row(subject_id)
        return _usable(self.kek, subject_id, found)

    def current_key_id(self, subject_id: str) -> str | None:
        found = self._row(subject_id)
        return found[0] if found is not None and found[2] is not None else None

    def key(self, subject_id: str, key_id: str) -> bytes | None:
        found = self._row(subject_id)
        if found is None or found[0] != key_id or found[2] is None:
            return None
        return unwrap_key(self.kek, found[1], subject_id, key_id, bytes(found[2]))

    def destroy(self, subject_id: str, at: str) -> str | None:
        with self.datastore.transaction(commit=True) as c:
            # Overwrite freed pages, so the wrapped key does not linger in the file.
            c.execute("PRAGMA secure_delete = ON")
            c.execute(f"SELECT key_id FROM {KEYS} WHERE subject_id=? AND wrapped_key IS NOT NULL", (subject_id,))
            row = c.fetchone()
            c.execute(
                f"INSERT INTO {KEYS} (subject_id, key_id, kek_id, wrapped_key, shredded_at) "
                "VALUES (?, '-', '-', NULL, ?) "
                "ON CONFLICT (subject_id) DO UPDATE SET wrapped_key = NULL, shredded_at = excluded.shredded_at",
                (subject_id, at),
            )
        with self.datastore.transaction(commit=False) as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return str(row[0]) if row is not None else None

    def _row(self, subject_id: str) -> tuple[str, str, bytes | None] | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT key_id, kek_id, wrapped_key FROM {KEYS} WHERE subject_id=?", (subject_id,))
            row = c.fetchone()
        return (row[0], row[1], row[2]) if row is not None else None


def _usable(kek: KeyRing, subject_id: str, found: tuple[str, str, bytes | None] | None) -> tuple[str, bytes]:
    if found is None or found[2] is None:
        raise SubjectErased(
            f"subject {subject_id}'s key was destroyed (erasure); no new personal content may be recorded",
        )
    return found[0], unwrap_key(kek, found[1], subject_id, found[0], bytes(found[2]))


class SQLiteSnapshot:
    """One read transaction over the SQLite store: both streams and the point look-ups."""

    def __init__(self, datastore: SQLiteDatastore, page: int) -> None:
        self.conn = sqlite3.connect(datastore.pool.db_name, uri=True, isolation_level=None, check_same_thread=False)
        self.text_ids = datastore.originator_id_type == "text"
        self.page = page
        self.conn.execute("PRAGMA cache_size = -16384")  # 16 MiB page cache, whatever the store's size
        self.conn.execute("BEGIN")
        # The first read fixes the snapshot: both maxima in one statement.
        self.conn.execute(f"SELECT (SELECT max(rowid) FROM stored_events), (SELECT max(notification_id) FROM {CHAIN})")

    def close(self) -> None:
        self.conn.rollback()
        self.conn.close()

    def _key(self, oid: str) -> bytes:
        return oid.encode() if self.text_ids else bytes.fromhex(oid)

    def events(self) -> Iterator[EventRow]:
        cur = self.conn.execute(
            "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events ORDER BY rowid"
        )
        fromhex = bytes.fromhex
        while rows := cur.fetchmany(self.page):
            if self.text_ids:
                for nid, oid, version, topic, state in rows:
                    yield nid, oid.encode(), version, topic, state
            else:
                for nid, oid, version, topic, state in rows:
                    yield nid, fromhex(oid), version, topic, state

    def chain(self) -> Iterator[ChainRow]:
        cur = self.conn.execute(
            "SELECT notification_id, originator_id, originator_version, topic, seq, aggregate_prev_nid, "
            "event_hash, "
            "aggregate_hash, "
            f"chain_hash FROM {CHAIN} ORDER BY notification_id"
        )
        key = self._key
        while rows := cur.fetchmany(self.page):
            for nid, oid, version, topic, seq, prev_nid, eh, agg, ch in rows:
                yield nid, key(oid), version, topic, seq, prev_nid, eh, agg, ch

    def chain_row_for(self, originator: bytes, version: int) -> ChainRow | None:
        row = self.conn.execute(
            "SELECT notification_id, originator_id, originator_version, topic, seq, aggregate_prev_nid, "
            "event_hash, "
            "aggregate_hash, "
            f"chain_hash FROM {CHAIN} WHERE originator_id=? AND originator_version=?",
            (_sqlite_oid(originator, self.text_ids), version),
        ).fetchone()
        return (row[0], originator, *row[2:]) if row is not None else None

    def event_nid_for(self, originator: bytes, version: int) -> int | None:
        row = self.conn.execute(
            "SELECT rowid FROM stored_events WHERE originator_id=? AND originator_version=?",
            (_sqlite_oid(originator, self.text_ids), version),
        ).fetchone()
        return int(row[0]) if row is not None else None

    def aggregate_hash_at(self, notification_id: int) -> bytes | None:
        row = self.conn.execute(
            f"SELECT aggregate_hash FROM {CHAIN} WHERE notification_id=?", (notification_id,)
        ).fetchone()
        return bytes(row[0]) if row is not None else None


# ----------------------------------------------------------------------- PostgreSQL


def _pg_ddl(schema: str, id_type: str) -> list[Any]:
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS {s}.{t} (notification_id bigint PRIMARY KEY, originator_id {i} NOT NULL, "
            "originator_version bigint NOT NULL, topic text NOT NULL, seq bigint NOT NULL UNIQUE, "
            "aggregate_prev_nid bigint NOT NULL, "
            "event_hash bytea NOT NULL, aggregate_hash bytea NOT NULL, chain_hash bytea NOT NULL, "
            "UNIQUE (originator_id, originator_version))"
        ).format(s=Identifier(schema), t=Identifier(CHAIN), i=Identifier(id_type)),
        SQL(
            "CREATE TABLE IF NOT EXISTS {s}.{t} (subject_id text PRIMARY KEY, key_id text NOT NULL, "
            "kek_id text NOT NULL, wrapped_key bytea, created_at timestamptz NOT NULL DEFAULT now(), "
            "shredded_at text)"
        ).format(s=Identifier(schema), t=Identifier(KEYS)),
        SQL(
            "CREATE TABLE IF NOT EXISTS {s}.{t} (id bigserial PRIMARY KEY, notification_id bigint NOT NULL, "
            "body text NOT NULL)"
        ).format(s=Identifier(schema), t=Identifier(CHECKPOINTS)),
    ]


def _pg_oid(okey: bytes, text_ids: bool) -> UUID | str:
    return okey.decode() if text_ids else UUID(bytes=okey)


class ChainingPostgresRecorder(PostgresApplicationRecorder):
    """PostgreSQL application recorder that chains every inserted event in the insert's transaction."""

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as curs:
            for statement in _pg_ddl(self.datastore.schema, self.datastore.originator_id_type):
                curs.execute(statement)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        text_ids = self.datastore.originator_id_type == "text"
        table = Identifier(self.datastore.schema), Identifier(CHAIN)
        pg_events = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._lock_table(curs)
            self._notify_channel(curs)
            curs.execute(self.insert_events_statement, (pg_events,))
            ids = [int(r["notification_id"]) for r in curs.fetchall()]
            inserted = [
                (nid, originator_key(s.originator_id), s.originator_version, s.topic, s.state)
                for nid, s in zip(ids, stored_events, strict=True)
            ]
            curs.execute(SQL("SELECT seq, chain_hash FROM {}.{} ORDER BY notification_id DESC LIMIT 1").format(*table))
            row = curs.fetchone()
            head = (int(row["seq"]), bytes(row["chain_hash"])) if row is not None else None
            agg_heads: dict[bytes, tuple[int, bytes]] = {}
            curs.execute(
                SQL(
                    "SELECT DISTINCT ON (originator_id) originator_id, notification_id, aggregate_hash FROM {}.{} "
                    "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version DESC"
                ).format(*table),
                ([_pg_oid(k, text_ids) for k in {r[1] for r in inserted}],),
            )
            for found in curs.fetchall():
                agg_heads[originator_key(found["originator_id"])] = (
                    int(found["notification_id"]),
                    bytes(found["aggregate_hash"]),
                )
            linked = link_batch(inserted, head, agg_heads)
            curs.executemany(
                SQL("INSERT INTO {}.{} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)").format(*table),
                [(r[0], _pg_oid(r[1], text_ids), *r[2:]) for r in linked],
            )
        return ids


class PostgresSubjectKeys:
    def __init__(self, datastore: PostgresDatastore, kek: KeyRing) -> None:
        self.datastore = datastore
        self.kek = kek
        self.table = Identifier(datastore.schema), Identifier(KEYS)
        with datastore.transaction(commit=True) as curs:
            for statement in _pg_ddl(datastore.schema, datastore.originator_id_type):
                curs.execute(statement)

    def key_for_writing(self, subject_id: str) -> tuple[str, bytes]:
        found = self._row(subject_id)
        if found is None:
            key_id = UUID(bytes=new_data_key()[:16]).hex[:12]
            kek_id, wrapped = wrap_key(self.kek, subject_id, key_id, new_data_key())
            with self.datastore.transaction(commit=True) as curs:
                curs.execute(
                    SQL(
                        "INSERT INTO {}.{} (subject_id, key_id, kek_id, wrapped_key) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (subject_id) DO NOTHING"
                    ).format(*self.table),
                    (subject_id, key_id, kek_id, wrapped),
                )
            found = self._row(subject_id)
        return _usable(self.kek, subject_id, found)

    def current_key_id(self, subject_id: str) -> str | None:
        found = self._row(subject_id)
        return found[0] if found is not None and found[2] is not None else None

    def key(self, subject_id: str, key_id: str) -> bytes | None:
        found = self._row(subject_id)
        if found is None or found[0] != key_id or found[2] is None:
            return None
        return unwrap_key(self.kek, found[1], subject_id, key_id, found[2])

    def destroy(self, subject_id: str, at: str) -> str | None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL("SELECT key_id FROM {}.{} WHERE subject_id = %s AND wrapped_key IS NOT NULL FOR UPDATE").format(
                    *self.table
                ),
                (subject_id,),
            )
            row = curs.fetchone()
            curs.execute(
                SQL(
                    "INSERT INTO {}.{} (subject_id, key_id, kek_id, wrapped_key, shredded_at) "
                    "VALUES (%s, '-', '-', NULL, %s) "
                    "ON CONFLICT (subject_id) DO UPDATE SET wrapped_key = NULL, shredded_at = excluded.shredded_at"
                ).format(*self.table),
                (subject_id, at),
            )
        return str(row["key_id"]) if row is not None else None

    def _row(self, subject_id: str) -> tuple[str, str, bytes | None] | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL("SELECT key_id, kek_id, wrapped_key FROM {}.{} WHERE subject_id = %s").format(*self.table),
                (subject_id,),
            )
            row = curs.fetchone()
        if row is None:
            return None
        wrapped = row["wrapped_key"]
        return row["key_id"], row["kek_id"], bytes(wrapped) if wrapped is not None else None


class PostgresSnapshot:
    """One REPEATABLE READ, READ ONLY transaction with two server-side cursors."""

    def __init__(self, conn: Connection[Any], schema: str, events_table: str, text_ids: bool, page: int) -> None:
        self.conn = conn
        self.s = Identifier(schema)
        self.events_table = Identifier(events_table)
        self.chain_table = Identifier(CHAIN)
        self.text_ids = text_ids
        self.page = page
        self.lookups = conn.cursor(row_factory=tuple_row)

    def _key(self, oid: UUID | str) -> bytes:
        return oid.bytes if isinstance(oid, UUID) else oid.encode()

    def events(self) -> Iterator[EventRow]:
        with self.conn.cursor(name="audit_events", row_factory=tuple_row) as cur:
            cur.itersize = self.page
            cur.execute(
                SQL(
                    "SELECT notification_id, originator_id, originator_version, topic, state FROM {}.{} "
                    "ORDER BY notification_id"
                ).format(self.s, self.events_table)
            )
            for nid, oid, version, topic, state in cur:
                yield nid, oid.bytes if isinstance(oid, UUID) else oid.encode(), version, topic, bytes(state)

    def chain(self) -> Iterator[ChainRow]:
        with self.conn.cursor(name="audit_chain", row_factory=tuple_row) as cur:
            cur.itersize = self.page
            cur.execute(
                SQL(
                    "SELECT notification_id, originator_id, originator_version, topic, seq, aggregate_prev_nid, "
                    "event_hash, "
                    "aggregate_hash, chain_hash FROM {}.{} ORDER BY notification_id"
                ).format(self.s, self.chain_table)
            )
            for nid, oid, version, topic, seq, prev_nid, eh, agg, ch in cur:
                yield nid, self._key(oid), version, topic, seq, prev_nid, bytes(eh), bytes(agg), bytes(ch)

    def chain_row_for(self, originator: bytes, version: int) -> ChainRow | None:
        self.lookups.execute(
            SQL(
                "SELECT notification_id, originator_id, originator_version, topic, seq, aggregate_prev_nid, "
                "event_hash, "
                "aggregate_hash, "
                "chain_hash FROM {}.{} WHERE originator_id = %s AND originator_version = %s"
            ).format(self.s, self.chain_table),
            (_pg_oid(originator, self.text_ids), version),
        )
        row = self.lookups.fetchone()
        if row is None:
            return None
        return row[0], originator, row[2], row[3], row[4], row[5], bytes(row[6]), bytes(row[7]), bytes(row[8])

    def event_nid_for(self, originator: bytes, version: int) -> int | None:
        self.lookups.execute(
            SQL("SELECT notification_id FROM {}.{} WHERE originator_id = %s AND originator_version = %s").format(
                self.s, self.events_table
            ),
            (_pg_oid(originator, self.text_ids), version),
        )
        row = self.lookups.fetchone()
        return int(row[0]) if row is not None else None

    def aggregate_hash_at(self, notification_id: int) -> bytes | None:
        self.lookups.execute(
            SQL("SELECT aggregate_hash FROM {}.{} WHERE notification_id = %s").format(self.s, self.chain_table),
            (notification_id,),
        )
        row = self.lookups.fetchone()
        return bytes(row[0]) if row is not None else None


# ------------------------------------------------------------------ composition


def chaining_recorder(factory: InfrastructureFactory[Any]) -> ApplicationRecorder | None:
    """The chaining recorder for the factory's backend; None for the in-memory store."""
    recorder: ApplicationRecorder
    if isinstance(factory, SQLiteFactory):
        recorder = ChainingSQLiteRecorder(datastore=factory.datastore)
        if factory.env_create_table():
            recorder.create_table()
        return recorder
    if isinstance(factory, PostgresFactory):
        prefix = factory.env.name.lower() or "stored"
        recorder = ChainingPostgresRecorder(datastore=factory.datastore, events_table_name=prefix + "_events")
        if factory.env_create_table():
            recorder.create_table()
        return recorder
    return None


def subject_key_store(factory: InfrastructureFactory[Any], kek: KeyRing) -> SubjectKeyStore:
    if isinstance(factory, SQLiteFactory):
        return SQLiteSubjectKeys(factory.datastore, kek)
    if isinstance(factory, PostgresFactory):
        return PostgresSubjectKeys(factory.datastore, kek)
    return MemorySubjectKeys()


@dataclass
class AuditStore:
    """The audit side of one Record's database: snapshots for verify, checkpoint copies."""

    recorder: ApplicationRecorder
    page: int = 10_000

    @contextmanager
    def snapshot(self) -> Iterator[SQLiteSnapshot | PostgresSnapshot]:
        rec = self.recorder
        if isinstance(rec, ChainingSQLiteRecorder):
            snap = SQLiteSnapshot(rec.datastore, self.page)
            try:
                yield snap
            finally:
                snap.close()
            return
        if isinstance(rec, ChainingPostgresRecorder):
            ds = rec.datastore
            with ds.get_connection() as conn, conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield PostgresSnapshot(
                    cast(Connection[Any], conn),
                    ds.schema,
                    rec.events_table_name,
                    ds.originator_id_type == "text",
                    self.page,
                )
            return
        raise AuditUnsupported("this event store keeps no audit chain (use SQLite or PostgreSQL)")

    def head(self) -> tuple[int, int, bytes] | None:
        """(notification id, seq, chain hash) of the last chain row, as stored (not verified)."""
        rec = self.recorder
        if isinstance(rec, ChainingSQLiteRecorder):
            with rec.datastore.transaction(commit=False) as c:
                c.execute(f"SELECT notification_id, seq, chain_hash FROM {CHAIN} ORDER BY notification_id DESC LIMIT 1")
                row = c.fetchone()
            return (int(row[0]), int(row[1]), bytes(row[2])) if row is not None else None
        if isinstance(rec, ChainingPostgresRecorder):
            with rec.datastore.transaction(commit=False) as curs:
                curs.execute(
                    SQL(
                        "SELECT notification_id, seq, chain_hash FROM {}.{} ORDER BY notification_id DESC LIMIT 1"
                    ).format(Identifier(rec.datastore.schema), Identifier(CHAIN))
                )
                r = curs.fetchone()
            return (int(r["notification_id"]), int(r["seq"]), bytes(r["chain_hash"])) if r is not None else None
        raise AuditUnsupported("this event store keeps no audit chain (use SQLite or PostgreSQL)")

    def save_checkpoint(self, cp: Checkpoint) -> None:
        rec = self.recorder
        if isinstance(rec, ChainingSQLiteRecorder):
            with rec.datastore.transaction(commit=True) as c:
                c.execute(
                    f"INSERT INTO {CHECKPOINTS} (notification_id, body) VALUES (?, ?)",
                    (cp.notification_id, cp.to_json()),
                )
            return
        if isinstance(rec, ChainingPostgresRecorder):
            with rec.datastore.transaction(commit=True) as curs:
                curs.execute(
                    SQL("INSERT INTO {}.{} (notification_id, body) VALUES (%s, %s)").format(
                        Identifier(rec.datastore.schema), Identifier(CHECKPOINTS)
                    ),
                    (cp.notification_id, cp.to_json()),
                )
            return
        raise AuditUnsupported("this event store keeps no audit chain (use SQLite or PostgreSQL)")

    def stored_checkpoints(self) -> list[str]:
        """The JSON bodies of the checkpoint copies kept in the database, oldest first."""
        rec = self.recorder
        if isinstance(rec, ChainingSQLiteRecorder):
            with rec.datastore.transaction(commit=False) as c:
                c.execute(f"SELECT body FROM {CHECKPOINTS} ORDER BY id")
                return [str(r[0]) for r in c.fetchall()]
        if isinstance(rec, ChainingPostgresRecorder):
            with rec.datastore.transaction(commit=False) as curs:
                curs.execute(
                    SQL("SELECT body FROM {}.{} ORDER BY id").format(
                        Identifier(rec.datastore.schema), Identifier(CHECKPOINTS)
                    )
                )
                return [str(r["body"]) for r in curs.fetchall()]
        raise AuditUnsupported("this event store keeps no audit chain (use SQLite or PostgreSQL)")


__all__ = [
    "AuditStore",
    "AuditUnsupported",
    "ChainingPostgresRecorder",
    "ChainingSQLiteRecorder",
    "LinkedRow",
    "chaining_recorder",
    "subject_key_store",
]
