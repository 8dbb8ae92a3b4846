"""The record on SQLite: ``PERSISTENCE_MODULE=adapters.record.sqlite`` (eventsourcing's ``SQLITE_*`` variables).

eventsourcing's own layering: one module per backend, holding its recorder and
a ``Factory`` the library finds by ``PERSISTENCE_MODULE``. Ours adds to the
library's factory what the record needs of a store: the chaining recorder, the
subject-key store and the audit reader (`adapters.record.sql`).

Concurrency: one writer at a time by construction; the events insert takes the
write lock before the chain head is read, so the read sees the latest commit.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any
from uuid import UUID

# The module, not its classes: the library picks the one factory class this module holds.
from eventsourcing import sqlite as library
from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.utils import Environment, EnvType, strtobool

from adapters.record.keys import KeyRing
from adapters.record.record import NoRecord, new_stored_event
from adapters.record.sql import (
    CASE_SUBJECTS,
    CHAIN,
    CHECKPOINTS,
    IDEMPOTENCY,
    KEYS,
    SIGNED_DDL,
    TREE,
    TREE_HEAD,
    AuditStore,
    CaseSubjects,
    Dialect,
    Snapshot,
    SubjectKeys,
    audit_tables,
    chain_inserted,
)

EVENTS = "stored_events"  # the library's table name for an application recorder
# What `select_events` reads of `SELECT *`, by position: not the id, the one asked (see there).
_EVENT_COLUMNS = "originator_version, topic, state"



def ddl(chain: str = CHAIN, checkpoints: str = CHECKPOINTS, tree: str = TREE, tree_head: str = TREE_HEAD) -> list[str]:
    """The audit tables of one events table (`audit_tables`: the record's keep their first names)."""
    return [
        f"CREATE TABLE IF NOT EXISTS {chain} ("
        "notification_id INTEGER PRIMARY KEY, originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, "
        "topic TEXT NOT NULL, seq INTEGER NOT NULL UNIQUE, aggregate_prev_nid INTEGER NOT NULL, "
        "event_hash BLOB NOT NULL, aggregate_hash BLOB NOT NULL, "
        "chain_hash BLOB NOT NULL, UNIQUE (originator_id, originator_version))",
        f"CREATE TABLE IF NOT EXISTS {KEYS} ("
        "subject_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, kek_id TEXT NOT NULL, wrapped_key BLOB, "
        "created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, shredded_at TEXT)",
        f"CREATE TABLE IF NOT EXISTS {checkpoints} ("
        "id INTEGER PRIMARY KEY, notification_id INTEGER NOT NULL, body TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {CASE_SUBJECTS} ("
        "case_code TEXT PRIMARY KEY, subject_id TEXT NOT NULL, bound_at TEXT NOT NULL)",
        # The Merkle tree over the chain (adapters.record.tree): written by its follower, never by the append.
        f"CREATE TABLE IF NOT EXISTS {tree} ("
        "level INTEGER NOT NULL, start INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, start)) WITHOUT ROWID",
        f"CREATE TABLE IF NOT EXISTS {tree_head} ("
        "id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, root BLOB NOT NULL)",
    ]


DDL = ddl()


class SQLiteDialect(Dialect):
    """Originator ids are kept as text: the UUID's hex, or the id itself with ``ORIGINATOR_ID_TYPE=text``."""

    def __init__(self, datastore: library.SQLiteDatastore, events_table: str = EVENTS) -> None:
        self.datastore = datastore
        self.text_ids = datastore.originator_id_type == "text"
        self.okey = str.encode if self.text_ids else bytes.fromhex
        self.tables = {"events": events_table, "nid": "rowid", **audit_tables(events_table, EVENTS), "keys": KEYS,
                       "case_subjects": CASE_SUBJECTS, "idempotency": IDEMPOTENCY}
        self.ddl = ddl(self.tables["chain"], self.tables["checkpoints"], self.tables["tree"], self.tables["tree_head"])
        self.ddl += [self.sql(statement) for statement in SIGNED_DDL]
        self.made_tables = tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\S+) \(", " ".join(self.ddl)))

    @staticmethod
    def _all_there(cursor: Any, names: Sequence[str]) -> bool:
        marks = ",".join("?" * len(names))
        cursor.execute(f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({marks})", tuple(names))
        return bool(names) and int(cursor.fetchone()[0]) == len(set(names))

    def sql(self, template: str) -> str:
        return template.format(**self.tables)

    def transaction(self, *, commit: bool) -> AbstractContextManager[Any]:
        return self.datastore.transaction(commit=commit)

    def stored_id(self, okey: bytes) -> str:
        return okey.decode() if self.text_ids else okey.hex()

    def create_tables(self, cursor: Any) -> None:
        for statement in self.ddl:
            cursor.execute(statement)

    @contextmanager
    def schema_transaction(self, tables: Sequence[str] | None = None) -> Iterator[Any]:
        """``BEGIN IMMEDIATE``: the write lock from the start, waited for (the busy timeout), where the library's
        deferred ``BEGIN`` reads the schema first and then cannot write once another process has made a table.
        Only when one of `tables` (default: the audit tables) is missing: where all are there every statement is
        an "if not there" no-op, and taking the write lock would make each opening of the record (a client's
        codec, a CLI read) wait for, and fail behind, a long write of another process."""
        names = self.made_tables if tables is None else tuple(tables)
        with self.datastore.get_connection(commit=True) as conn:
            cursor = conn.cursor()
            cursor.execute("BEGIN" if self._all_there(cursor, names) else "BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def aggregate_heads(self, cursor: Any, okeys: Sequence[bytes]) -> dict[bytes, tuple[int, bytes]]:
        heads: dict[bytes, tuple[int, bytes]] = {}
        for i in range(0, len(okeys), 500):
            chunk = [self.stored_id(k) for k in okeys[i : i + 500]]
            # SQLite returns the bare columns of the row holding max(): each originator's last chained event.
            cursor.execute(
                f"SELECT originator_id, max(originator_version), notification_id, aggregate_hash "
                f"FROM {self.tables['chain']} "
                f"WHERE originator_id IN ({','.join('?' * len(chunk))}) GROUP BY originator_id",
                chunk,
            )
            for oid, _, nid, agg in cursor.fetchall():
                heads[self.okey(oid)] = (int(nid), bytes(agg))
        return heads

    @contextmanager
    def snapshot(self, page: int) -> Iterator[Snapshot]:
        snap = SQLiteSnapshot(self, page)
        try:
            yield snap
        finally:
            snap.close()

    def parallel_reads(self) -> bool:
        return _file_of(self.datastore.pool.db_name) is not None  # an in-memory database is this process's own

    def before_destroy(self, cursor: Any) -> None:
        # Overwrite freed pages, so the wrapped key does not linger in the file.
        cursor.execute("PRAGMA secure_delete = ON")

    def erase_traces(self, wrapped: bytes | None, patience: float, again: str) -> tuple[str, ...]:
        # ... nor in the write-ahead log: its frames keep every version of the key's page until a checkpoint
        # has copied the last one into the file and the log is truncated, which a reader open on an older
        # version prevents (`busy`): retried for `patience` seconds, then said.
        path = _file_of(self.datastore.pool.db_name)
        if path is None:
            return ()  # in memory: no file, no log
        deadline = time.monotonic() + patience
        vacuumed = False
        while True:
            busy = _checkpoint(path, min(1.0, max(patience, 0.05)))
            if not busy and wrapped is not None and _holds(path, wrapped):
                if vacuumed:
                    return (f"the destroyed key's bytes are still in {path} after VACUUM",)
                # A copy outside the row's page (a page rewritten when rows moved, before secure_delete was on):
                # VACUUM rebuilds the file from the live rows only, then the log is checkpointed again.
                _vacuum(path)
                vacuumed = True
                continue
            if not busy:
                return ()
            if time.monotonic() >= deadline:
                return (
                    f"the write-ahead log {path}-wal could not be checkpointed (a reader holds an older version): "
                    f"the destroyed key's bytes may remain in it and in the file until then; {again}",
                )
            time.sleep(0.1)


def _file_of(db_name: str) -> Path | None:
    """The database file, or None in memory."""
    if not db_name or ":memory:" in db_name or "mode=memory" in db_name:
        return None
    name = db_name.removeprefix("file:").split("?", 1)[0]
    path = Path(name)
    return path if path.is_file() else None


WAL_PATIENCE = 10.0  # seconds: the library's default lock timeout for SQLite is 5 s; a new file's switch is rare


def _write_ahead_log(path: Path) -> None:
    """The file in WAL mode before the library connects. The library switches each new connection's file to WAL
    (``PRAGMA journal_mode=WAL``) when it is not yet; that switch needs the file to itself and answers ``database is
    locked`` at once, without the busy timeout, when another process or thread holds it: a new file opened by several
    processes at once failed so (test_audit_schema_race, 12 threads: 1-2 rounds of 40). Done here, retried for
    `WAL_PATIENCE`; once the file is in WAL mode (a persistent setting) the library only reads the mode."""
    deadline = time.monotonic() + WAL_PATIENCE
    while True:
        conn = sqlite3.connect(path, timeout=WAL_PATIENCE, isolation_level=None)
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                return  # anything else (a read-only file, …) or out of patience: the library's switch says it
        finally:
            conn.close()
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)


def _checkpoint(path: Path, timeout: float) -> bool:
    """`wal_checkpoint(TRUNCATE)` on a connection of its own; True when it was busy (its result is checked:
    the pragma itself never fails when readers hold the log, it says so in its first column)."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            return False
        busy, log, done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return bool(busy) or (log not in (0, -1) and done != log)
    except sqlite3.OperationalError:  # locked beyond the timeout
        return True
    finally:
        conn.close()


def _vacuum(path: Path) -> None:
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    try:
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("VACUUM")
    finally:
        conn.close()


def _holds(path: Path, needle: bytes) -> bool:
    """Whether the file or its write-ahead log holds these bytes (read in chunks: the file may be large)."""
    for candidate in (path, path.with_name(path.name + "-wal")):
        if not candidate.exists():
            continue
        with candidate.open("rb") as f:
            tail = b""
            while chunk := f.read(1 << 20):
                if needle in tail + chunk:
                    return True
                tail = chunk[-len(needle):]
    return False


class ChainingSQLiteRecorder(library.SQLiteApplicationRecorder):
    """SQLite application recorder that chains every inserted event in the insert's transaction."""

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self.dialect.ddl]

    def _insert_events(
        self, c: library.SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int]:
        ids = super()._insert_events(c, stored_events, **kwargs) or []
        chain_inserted(c, self.dialect, ids, stored_events)
        return ids

    @cached_property
    def dialect(self) -> SQLiteDialect:
        return SQLiteDialect(self.datastore, self.events_table_name)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The library's (eventsourcing 9.5.6: the same statement, parameters and order), reading plain tuples
        instead of `sqlite3.Row`s looked up by name, and making each `StoredEvent` as its frozen dataclass
        `__init__` does, its four fields in the instance's dict, without that `__init__`'s four
        `object.__setattr__` (`new_stored_event`): 10,000 rows of one aggregate in under half the time
        (`benchmarks.replay`). The same objects, the same values. The id column is not read: ``WHERE
        originator_id = ?`` on a ``TEXT`` column (binary collation, the library's table) holds exactly for the rows
        whose stored text is the one asked, so each row's id is that text converted by `convert_originator_id`,
        as the library converts it, once (only when there are rows: the library converts none otherwise)."""
        statement = self.select_events_statement
        params: list[Any] = [originator_id.hex if isinstance(originator_id, UUID) else originator_id]
        if gt is not None:
            statement += "AND originator_version>? "
            params.append(gt)
        if lte is not None:
            statement += "AND originator_version<=? "
            params.append(lte)
        statement += "ORDER BY originator_version "
        statement += "ASC " if desc is False else "DESC "
        if limit is not None:
            statement += "LIMIT ? "
            params.append(limit)
        statement = statement.replace("SELECT * ", f"SELECT {_EVENT_COLUMNS} ", 1)
        with self.datastore.transaction(commit=False) as c:
            cursor: sqlite3.Cursor = c.sqlite_cursor
            cursor.row_factory = None  # tuples, this cursor only (closed at the end of the transaction)
            cursor.execute(statement, params)
            rows = cursor.fetchall()
        if not rows:
            return []
        converted = self.convert_originator_id(params[0])
        events: list[StoredEvent] = []
        append = events.append
        for version, topic, state in rows:
            event = new_stored_event(StoredEvent)
            event.__dict__.update(originator_id=converted, originator_version=version, topic=topic, state=state)
            append(event)
        return events

    _last_id: tuple[str, UUID | str] | None = None

    def convert_originator_id(self, originator_id: str) -> UUID | str:
        """The library's, remembering the last id converted: the rows of one aggregate's load all carry its id,
        and a UUID is immutable, so one object serves them all (10,000 `UUID()` fewer for an entente of
        10,000 events). The stored text is compared every time."""
        last = self._last_id
        if last is not None and last[0] == originator_id:
            return last[1]
        converted = super().convert_originator_id(originator_id)
        self._last_id = (originator_id, converted)
        return converted


class SQLiteSnapshot(Snapshot):
    """One read transaction over the SQLite file, on its own connection."""

    def __init__(self, dialect: SQLiteDialect, page: int) -> None:
        super().__init__(dialect, page)
        self.conn = sqlite3.connect(
            dialect.datastore.pool.db_name, uri=True, isolation_level=None, check_same_thread=False
        )
        self.conn.execute("PRAGMA cache_size = -16384")  # 16 MiB page cache, whatever the store's size
        self.conn.execute("BEGIN")
        # The first read fixes the snapshot: both maxima in one statement.
        self.conn.execute(
            dialect.sql("SELECT (SELECT max(rowid) FROM {events}), (SELECT max(notification_id) FROM {chain})")
        )

    def close(self) -> None:
        self.conn.rollback()
        self.conn.close()

    def _pages(self, name: str, statement: str, params: tuple[Any, ...] = ()) -> Iterator[Sequence[tuple[Any, ...]]]:
        cursor = self.conn.execute(statement, params)
        while rows := cursor.fetchmany(self.page):
            yield rows

    def _one(self, statement: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.conn.execute(statement, params).fetchone()
        return row


class Factory(library.SQLiteFactory):
    """eventsourcing's SQLite factory, giving the record its chaining recorder, subject keys and audit reader."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        environment = env if isinstance(env, Environment) else Environment(env=env)
        path = _file(environment)
        # Checked before connecting: opening a SQLite file that is not there creates it.
        if path is not None and not path.is_file() and not _creates(environment):
            raise NoRecord(str(path.absolute()))
        if path is not None:
            _write_ahead_log(path)
        super().__init__(environment)

    def application_recorder(self) -> ApplicationRecorder:
        recorder = ChainingSQLiteRecorder(datastore=self.datastore)
        if self.env_create_table():
            recorder.create_table()
        return recorder

    def subject_key_store(self, kek: KeyRing) -> SubjectKeys:
        return SubjectKeys(SQLiteDialect(self.datastore), kek)

    def audit_store(self, page: int = 10_000) -> AuditStore:
        return AuditStore(SQLiteDialect(self.datastore), page)

    def case_subjects(self) -> CaseSubjects:
        # One per record, as its key store: the payload codec reaches it for every payload of a case.
        made: CaseSubjects | None = getattr(self, "_case_subjects", None)
        if made is None:
            made = self._case_subjects = CaseSubjects(SQLiteDialect(self.datastore))
        return made


def _creates(env: Environment) -> bool:
    """`CREATE_TABLE=n` (what every read of the record sets) means: open an existing record only."""
    value = env.get(library.SQLiteFactory.CREATE_TABLE)
    return value is None or strtobool(value)


def _file(env: Environment) -> Path | None:
    """The file a connection would open, or None (in memory, a URI)."""
    name = env.get(library.SQLiteFactory.SQLITE_DBNAME) or ""
    return None if not name or name.startswith("file:") or ":memory:" in name else Path(name)
