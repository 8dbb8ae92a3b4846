"""The record on PostgreSQL: ``PERSISTENCE_MODULE=adapters.record.postgres`` (eventsourcing's ``POSTGRES_*`` variables).

eventsourcing's own layering: one module per backend, holding its recorder and
a ``Factory`` the library finds by ``PERSISTENCE_MODULE``. Ours adds to the
library's factory what the record needs of a store: the chaining recorder, the
subject-key store and the audit reader (`adapters.record.sql`).

Concurrency: the recorder takes eventsourcing's ``LOCK TABLE … IN EXCLUSIVE
MODE`` on the events table first (as the library does), so inserting
transactions are serialised; the chain head read after the insert is the true
head, and notification ids commit in order. (Our recorder always uses this
explicit transaction, even when ``POSTGRES_ENABLE_DB_FUNCTIONS`` is set.)
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from typing import Any, cast
from uuid import UUID

# The module, not its classes: the library picks the one factory class this module holds.
from eventsourcing import postgres as library
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.utils import Environment, EnvType
from psycopg import Connection, connect
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal

from adapters.record.keys import KeyRing
from adapters.record.record import NoRecord, new_stored_event
from adapters.record.sql import (
    CASE_SUBJECTS,
    IDEMPOTENCY,
    KEYS,
    SIGNED_DDL,
    AuditStore,
    CaseSubjects,
    Dialect,
    Retrying,
    Snapshot,
    SubjectKeys,
    audit_tables,
    chain_inserted,
)
from domain.audit.hashing import event_hash

EVENTS = "arrimage_events"  # the record's events table (`Record.name`): its audit tables keep their first names


def _okey(oid: UUID | str) -> bytes:
    return oid.bytes if isinstance(oid, UUID) else oid.encode()


class PostgresDialect(Dialect):
    """Tables qualified by the schema; originator ids are ``uuid`` (or ``text`` with ``ORIGINATOR_ID_TYPE=text``)."""

    row_lock = " FOR UPDATE"

    def __init__(self, datastore: library.PostgresDatastore, events_table: str) -> None:
        self.datastore = datastore
        self.text_ids = datastore.originator_id_type == "text"
        self.okey = _okey
        # A pooled connection the server closed (pg_terminate_backend, failover, restart), or none to be had
        # while it comes back: the library raises these two for every psycopg error of that kind.
        self.retrying = Retrying((InterfaceError, OperationalError), recover=datastore.pool.check)
        schema = datastore.schema
        self.tables: dict[str, Identifier] = {
            "events": Identifier(schema, events_table),
            "nid": Identifier("notification_id"),
            **{what: Identifier(schema, name) for what, name in audit_tables(events_table, EVENTS).items()},
            "keys": Identifier(schema, KEYS),
            "idempotency": Identifier(schema, IDEMPOTENCY),
            "case_subjects": Identifier(schema, CASE_SUBJECTS),
        }

    def sql(self, template: str) -> Composed:
        return SQL(template.replace("?", "%s")).format(**self.tables)

    def transaction(self, *, commit: bool) -> AbstractContextManager[Any]:
        return self.datastore.transaction(commit=commit)

    def stored_id(self, okey: bytes) -> UUID | str:
        return okey.decode() if self.text_ids else UUID(bytes=okey)

    def create_tables(self, cursor: Any) -> None:
        id_type = Identifier(self.datastore.originator_id_type)
        for statement in (
            "CREATE TABLE IF NOT EXISTS {chain} (notification_id bigint PRIMARY KEY, originator_id {id_type} NOT NULL, "
            "originator_version bigint NOT NULL, topic text NOT NULL, seq bigint NOT NULL UNIQUE, "
            "aggregate_prev_nid bigint NOT NULL, "
            "event_hash bytea NOT NULL, aggregate_hash bytea NOT NULL, chain_hash bytea NOT NULL, "
            "UNIQUE (originator_id, originator_version))",
            "CREATE TABLE IF NOT EXISTS {keys} (subject_id text PRIMARY KEY, key_id text NOT NULL, "
            "kek_id text NOT NULL, wrapped_key bytea, created_at timestamptz NOT NULL DEFAULT now(), "
            "shredded_at text)",
            "CREATE TABLE IF NOT EXISTS {checkpoints} (id bigserial PRIMARY KEY, notification_id bigint NOT NULL, "
            "body text NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {case_subjects} (case_code text PRIMARY KEY, subject_id text NOT NULL, "
            "bound_at text NOT NULL)",
            # The Merkle tree over the chain (adapters.record.tree): written by its follower, never by the append.
            "CREATE TABLE IF NOT EXISTS {tree} (level smallint NOT NULL, start bigint NOT NULL, hash bytea NOT NULL, "
            "PRIMARY KEY (level, start))",
            "CREATE TABLE IF NOT EXISTS {tree_head} (id integer PRIMARY KEY CHECK (id = 1), size bigint NOT NULL, "
            "root bytea NOT NULL)",
        ):
            cursor.execute(SQL(statement).format(id_type=id_type, **self.tables))
        for statement in SIGNED_DDL:
            cursor.execute(self.sql(statement))

    @contextmanager
    def schema_transaction(self, tables: Sequence[str] | None = None) -> Iterator[Any]:
        """The store's transaction (whatever `tables` it makes), holding first an advisory lock named after the
        schema: openings that make
        tables take turns, and each sees the tables the one before committed."""
        with self.datastore.transaction(commit=True) as cursor:
            self.lock_schema(cursor)
            yield cursor

    def lock_schema(self, cursor: Any) -> None:
        """Wait for the schema's table makers before this one (until this transaction ends)."""
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.datastore.schema} arrimage tables",))

    @contextmanager
    def library_tables_alone(self) -> Iterator[None]:
        """While the library makes a recorder's types, tables and functions (several transactions of its own, not
        to be entered): a session lock of the schema, on a connection of its own (never one of the pool's, which
        the library's transactions may all need). Two openings of a new schema at once otherwise both create its
        types (unique violation on ``pg_type``), or replace its functions under each other ("tuple concurrently
        updated"). Another lock than `lock_schema`'s, always taken before it: no two openings wait on each other."""
        given = self.datastore.pool.kwargs or {}
        kwargs = {k: v for k, v in (given() if callable(given) else given).items() if k != "row_factory"}
        with connect(autocommit=True, **kwargs) as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"{self.datastore.schema} library tables",))
            yield  # the lock ends with the connection

    def before_destroy(self, cursor: Any) -> None:
        """Nothing beyond the row lock (`row_lock`); freed space is left to VACUUM."""

    def erase_traces(self, wrapped: bytes | None, patience: float, again: str) -> tuple[str, ...]:
        """The destroyed key's row version stays in the table's heap (a dead tuple) until VACUUM removes it, and
        VACUUM cannot while a transaction that began before the destruction is open (it may still see that
        version, or its own id holds the horizon back): VACUUM the key table (outside any transaction: the
        pool's connections are in autocommit) once none is left, waiting `patience` seconds for them, then said,
        naming them."""
        deadline = time.monotonic() + patience
        with self.datastore.get_connection() as conn:
            row = conn.execute("SELECT clock_timestamp() AS now").fetchone()
            assert row is not None
            since = row["now"]  # after the destruction
            while True:
                # Only a VACUUM begun with no such transaction left is known to have removed the row: one that
                # ends while VACUUM runs may still have held it back.
                holders = _older_transactions(conn, since)
                if not holders or time.monotonic() >= deadline:
                    conn.execute(self.sql("VACUUM {keys}"))  # with holders: what it can, the rest said below
                    if not holders:
                        return ()
                    return (
                        f"VACUUM could not remove the destroyed key's old row version: {', '.join(holders)} "
                        f"began before it was destroyed and may still see it; {again}",
                    )
                time.sleep(0.1)

    def aggregate_heads(self, cursor: Any, okeys: Sequence[bytes]) -> dict[bytes, tuple[int, bytes]]:
        cursor.execute(
            self.sql(
                "SELECT DISTINCT ON (originator_id) originator_id, notification_id, aggregate_hash FROM {chain} "
                "WHERE originator_id = ANY(?) ORDER BY originator_id, originator_version DESC"
            ),
            ([self.stored_id(k) for k in okeys],),
        )
        return {_okey(r["originator_id"]): (int(r["notification_id"]), bytes(r["aggregate_hash"])) for r in cursor}

    @contextmanager
    def snapshot(self, page: int) -> Iterator[Snapshot]:
        with self.datastore.get_connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield PostgresSnapshot(self, cast(Connection[Any], conn), page)

    @contextmanager
    def range_snapshot(self, page: int, exported: str | None) -> Iterator[Snapshot]:
        """On a connection of its own (never one of the pool's: this runs in a forked process, where the
        parent's connections are not to be touched), in the snapshot `exported` by the parent's transaction."""
        given = self.datastore.pool.kwargs or {}
        kwargs = {k: v for k, v in (given() if callable(given) else given).items() if k != "row_factory"}
        with connect(autocommit=True, **kwargs) as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if exported is not None:
                conn.execute(SQL("SET TRANSACTION SNAPSHOT {}").format(Literal(exported)))
            yield PostgresSnapshot(self, cast(Connection[Any], conn), page)


def _older_transactions(conn: Any, since: Any) -> list[str]:
    """What holds row versions older than `since` visible in this database: open transactions begun before it
    with a snapshot or an id of their own (one idle between statements has no snapshot, but its id alone keeps
    VACUUM's horizon before it), prepared transactions, replication slots holding back the horizon."""
    rows = conn.execute(
        "SELECT 'transaction of pid ' || pid AS what FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL) AND xact_start <= %s "
        "UNION ALL SELECT 'prepared transaction ' || gid FROM pg_prepared_xacts "
        "WHERE database = current_database() AND prepared <= %s "
        "UNION ALL SELECT 'replication slot ' || slot_name FROM pg_replication_slots "
        "WHERE xmin IS NOT NULL OR catalog_xmin IS NOT NULL",
        (since, since),
    ).fetchall()
    return [str(r["what"]) for r in rows]


# The insert of `ChainingPostgresRecorder._insert_chained`, in the database: what the recorder's transaction of
# several statements does (`_insert_once`), in one call. The same table lock first (so the chain head read is
# the true head, and notification ids commit in order), the library's notification, then for each event in
# order: its row, its aggregate's last chain row (the unique (originator_id, originator_version) index), and
# its chain row, with `domain.audit.hashing`'s formulas: aggregate hash = sha256("A" ‖ previous aggregate hash
# ‖ event hash), chain hash = sha256("C" ‖ previous chain hash ‖ seq ‖ notification id ‖ previous notification
# id of the aggregate ‖ event hash ‖ aggregate hash), the integers as 8 bytes big-endian (`int8send`), 32 zero
# bytes before the first. The event hashes come computed by the caller. Tables are named in full and the
# search path is pinned, so nothing else is called by the same names.
CHAINED_INSERT = """
CREATE FUNCTION {schema}.{function}(events {schema}.{event_type}[], hashes bytea[])
RETURNS SETOF bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
    zero CONSTANT bytea := decode(repeat('00', 32), 'hex');
    e {schema}.{event_type};
    i integer;
    nid bigint;
    head_seq bigint;
    head bytea;
    prev_nid bigint;
    prev_agg bytea;
    agg bytea;
BEGIN
    SET LOCAL lock_timeout = {lock_timeout};
    LOCK TABLE {events} IN EXCLUSIVE MODE;
    NOTIFY {channel};
    SELECT c.seq, c.chain_hash INTO head_seq, head FROM {chain} c ORDER BY c.notification_id DESC LIMIT 1;
    IF NOT FOUND THEN
        head_seq := 0;
        head := zero;
    END IF;
    FOR i IN 1 .. coalesce(array_length(events, 1), 0) LOOP
        e := events[i];
        INSERT INTO {events} (originator_id, originator_version, topic, state)
            VALUES (e.originator_id, e.originator_version, e.topic, e.state)
            RETURNING notification_id INTO nid;
        SELECT c.notification_id, c.aggregate_hash INTO prev_nid, prev_agg FROM {chain} c
            WHERE c.originator_id = e.originator_id ORDER BY c.originator_version DESC LIMIT 1;
        IF NOT FOUND THEN
            prev_nid := 0;
            prev_agg := zero;
        END IF;
        agg := sha256('\\x41'::bytea || prev_agg || hashes[i]);
        head_seq := head_seq + 1;
        head := sha256('\\x43'::bytea || head || int8send(head_seq) || int8send(nid) || int8send(prev_nid)
                       || hashes[i] || agg);
        INSERT INTO {chain} (notification_id, originator_id, originator_version, topic, seq, aggregate_prev_nid,
                             event_hash, aggregate_hash, chain_hash)
            VALUES (nid, e.originator_id, e.originator_version, e.topic, head_seq, prev_nid, hashes[i], agg, head);
        RETURN NEXT nid;
    END LOOP;
END;
$body$
"""


class ChainingPostgresRecorder(library.PostgresApplicationRecorder):
    """PostgreSQL application recorder that chains every inserted event in the insert's transaction."""

    landed_unacknowledged = 0
    """Inserts found stored by an attempt whose commit was not acknowledged (`insert_events`): a figure."""

    def create_table(self) -> None:
        super().create_table()
        with self.dialect.schema_transaction() as cursor:
            self.dialect.create_tables(cursor)
        with self.datastore.transaction(commit=True) as cursor:
            self._create_chained_insert(cursor)
        self._chained_insert = True

    # The insert and its chain rows in one statement, one round trip: see `_insert_chained`. Its name says its
    # version: a later body gets a new name, so that a process running this code never calls another body.
    _chained_insert: bool | None = None

    @cached_property
    def chained_insert_name(self) -> str:
        return f"{self.events_table_name}_insert_chained_v1"

    def _chained_insert_signature(self) -> str:
        schema, event_type = self.datastore.schema, self.stored_event_type_name
        return f'"{schema}"."{self.chained_insert_name}"("{schema}"."{event_type}"[], bytea[])'

    def _create_chained_insert(self, cursor: Any) -> None:
        """Create the function once (an advisory lock, then only if missing: two openings at once never replace
        it under each other)."""
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._chained_insert_signature(),))
        cursor.execute("SELECT to_regprocedure(%s) IS NOT NULL AS found", (self._chained_insert_signature(),))
        row = cursor.fetchone()
        if row is not None and row["found"]:
            return
        cursor.execute(
            SQL(CHAINED_INSERT).format(
                schema=Identifier(self.datastore.schema),
                function=Identifier(self.chained_insert_name),
                event_type=Identifier(self.stored_event_type_name),
                events=self.dialect.tables["events"],
                chain=self.dialect.tables["chain"],
                channel=Identifier(self.channel_name),
                lock_timeout=Literal(f"{self.datastore.lock_timeout}s"),
            )
        )

    def _has_chained_insert(self) -> bool:
        """Whether the store has the function (a store made before it, opened by a process that does not create
        tables, has not: the insert then chains from here, in a transaction of several statements)."""
        if self._chained_insert is None:

            def look() -> bool:
                with self.datastore.transaction(commit=False) as cursor:
                    cursor.execute("SELECT to_regprocedure(%s) IS NOT NULL AS found",
                                   (self._chained_insert_signature(),))
                    row = cursor.fetchone()
                return bool(row is not None and row["found"])

            self._chained_insert = self.dialect.retrying(look)
        return self._chained_insert

    @cached_property
    def dialect(self) -> PostgresDialect:
        return PostgresDialect(self.datastore, self.events_table_name)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Insert and chain, in one transaction; after a dropped connection, again with the dialect's back-off
        (`Retrying`: seconds, so a failover is waited out) instead of the library's 10 attempts 0.2 s apart.

        A connection can drop after the server committed but before it said so: every attempt after the
        first looks for the events first, and when all of them are stored as given (same topic, same
        state: the state holds a fresh nonce for sealed content and the event's timestamp, so another
        writer's event is never mistaken for this one) it returns their notification ids instead of
        inserting them twice (which would fail on the unique version as a conflict the caller did not make)."""
        if not stored_events:
            return []
        attempts = 0

        def once() -> Sequence[int]:
            nonlocal attempts
            attempts += 1
            if attempts > 1:
                landed = self._already_stored(stored_events)
                if landed is not None:
                    self.landed_unacknowledged += 1
                    return landed
            return self._insert_once(stored_events)

        return self.dialect.retrying(once)

    def _insert_once(self, stored_events: Sequence[StoredEvent]) -> Sequence[int]:
        if self._has_chained_insert():
            return self._insert_chained(stored_events)
        pg_events = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as cursor:
            self._lock_table(cursor)
            self._notify_channel(cursor)
            cursor.execute(self.insert_events_statement, (pg_events,))
            ids = [int(r["notification_id"]) for r in cursor.fetchall()]
            chain_inserted(cursor, self.dialect, ids, stored_events)
        return ids

    def _insert_chained(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        """One statement, so one round trip and one transaction (the pool's connections are in autocommit: the
        answer comes once the commit is durable, `synchronous_commit` as the server has it): the function
        (`CHAINED_INSERT`) takes the same table lock, inserts the events and their chain rows. The event hashes
        are computed here (`domain.audit.hashing.event_hash`, over the bytes sent); the function links them
        (aggregate and chain hashes, `link_batch`'s two formulas), and `audit verify` recomputes every one."""
        pg_events = []
        hashes = []
        for e in stored_events:
            pg_events.append(self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state))
            hashes.append(event_hash(_okey(e.originator_id), e.originator_version, e.topic, e.state))
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(self._rendered("insert", self._chained_insert_statement, conn), (pg_events, hashes),
                           prepare=True)
            return [int(r[0]) for r in cursor.fetchall()]

    @cached_property
    def _chained_insert_statement(self) -> Composed:
        """Both arguments sent in binary (``%b``): the events' array of composites and the hashes' array of bytea
        as their bytes, where the text format (``%s``) wrote each state as hex, then quoted it in the composite,
        then again in the array (a batch of 3 events of 2.9 kB: 90 µs of CPU to dump, 23 µs in binary). The same
        values reach the function."""
        return SQL("SELECT * FROM {}.{}(%b, %b)").format(
            Identifier(self.datastore.schema), Identifier(self.chained_insert_name)
        )

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The library's (eventsourcing 9.5.6: the same rows, conditions, order and prepared statement), reading
        plain tuples in binary instead of dicts in text and making each `StoredEvent` without its frozen dataclass
        `__init__` (`adapters.record.record.new_stored_event`: the same object). Asked by a `UUID` (what the record's
        repositories ask), the rows' id column is not fetched: ``WHERE originator_id = %s`` on a ``uuid`` column
        holds exactly for that id, so every row's id is the one asked, given as that same object (the library
        built a new `UUID` per row from the column's 16 bytes). Asked by text, the column is read as the library
        reads it."""
        by_uuid = isinstance(originator_id, UUID)
        params: list[Any] = [originator_id]
        if gt is not None:
            params.append(gt)
        if lte is not None:
            params.append(lte)
        if limit is not None:
            params.append(limit)
        shape = (by_uuid, gt is not None, lte is not None, desc is False, limit is not None)
        try:
            statement = self._select_events_shapes[shape]
        except KeyError:
            statement = self._select_events_shapes[shape] = self._select_events_statement(*shape)
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            # Binary results: the same values and types (bigint, text, bytea as bytes), without the text
            # format's hex of every state to decode (the fetch's CPU halved, `benchmarks.replay --postgres`).
            curs.execute(self._rendered(shape, statement, conn), params, prepare=True, binary=True)
            rows = curs.fetchall()
        events: list[StoredEvent] = []
        append = events.append
        if by_uuid:
            for version, topic, state in rows:
                event = new_stored_event(StoredEvent)
                event.__dict__.update(
                    originator_id=originator_id, originator_version=version, topic=topic, state=bytes(state)
                )
                append(event)
            return events
        for stored_id, version, topic, state in rows:
            event = new_stored_event(StoredEvent)
            event.__dict__.update(
                originator_id=stored_id, originator_version=version, topic=topic, state=bytes(state)
            )
            append(event)
        return events

    def _select_events_statement(self, by_uuid: bool, gt: bool, lte: bool, asc: bool, limit: bool) -> Composed:
        """The statement of one shape of `select_events` (the library's, composed once per shape: ~10 µs a load)."""
        statement = self._select_events_statements[by_uuid]
        if gt:
            statement += SQL(" AND originator_version > %s")
        if lte:
            statement += SQL(" AND originator_version <= %s")
        statement += SQL(" ORDER BY originator_version")
        statement += SQL(" ASC") if asc else SQL(" DESC")
        if limit:
            statement += SQL(" LIMIT %s")
        return statement

    def _rendered(self, key: Hashable, statement: Composed, conn: Connection[Any]) -> bytes:
        """The bytes psycopg sends for `statement` (one of this recorder's hot ones, named by `key`) on a connection
        of this client encoding, composed once: given a `Composed`, psycopg composes it again at every execute
        (its identifiers escaped, its parts joined: ~6 µs)."""
        encoding = conn.info.encoding
        try:
            return self._rendered_statements[key, encoding]
        except KeyError:
            rendered = self._rendered_statements[key, encoding] = statement.as_bytes(conn)
            return rendered

    @cached_property
    def _rendered_statements(self) -> dict[tuple[Hashable, str], bytes]:
        return {}

    @cached_property
    def _select_events_shapes(self) -> dict[tuple[bool, bool, bool, bool, bool], Composed]:
        return {}

    @cached_property
    def _select_events_statements(self) -> dict[bool, Composed]:
        """The library's `select_events_statement` naming its columns: without the id (asked by a UUID) or with."""
        where = SQL(" FROM {}.{} WHERE originator_id = %s").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        return {
            True: SQL("SELECT originator_version, topic, state") + where,
            False: SQL("SELECT originator_id, originator_version, topic, state") + where,
        }

    def _already_stored(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The notification ids of these events when every one of them is stored exactly as given (an earlier
        attempt committed), else None (none of them is: one transaction inserts them all or nothing)."""
        dialect = self.dialect
        keys = [(dialect.stored_id(_okey(e.originator_id)), e.originator_version) for e in stored_events]
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                dialect.sql(
                    "SELECT notification_id, originator_id, originator_version, topic, state FROM {events} "
                    "WHERE originator_id = ANY(?) AND originator_version = ANY(?)"
                ),
                ([k[0] for k in keys], [k[1] for k in keys]),
            )
            found = {(r["originator_id"], int(r["originator_version"])): r for r in cursor.fetchall()}
        ids: list[int] = []
        for key, event in zip(keys, stored_events, strict=True):
            row = found.get(key)
            if row is None or row["topic"] != event.topic or bytes(row["state"]) != bytes(event.state):
                return None
            ids.append(int(row["notification_id"]))
        return ids


class PostgresSnapshot(Snapshot):
    """One REPEATABLE READ, READ ONLY transaction: server-side cursors for the streams, one for look-ups."""

    def __init__(self, dialect: PostgresDialect, conn: Connection[Any], page: int) -> None:
        super().__init__(dialect, page)
        self.conn = conn
        self.lookups = conn.cursor(row_factory=tuple_row)

    def _pages(
        self, name: str, statement: Composed, params: tuple[Any, ...] = ()
    ) -> Iterator[Sequence[tuple[Any, ...]]]:
        with self.conn.cursor(name=name, row_factory=tuple_row) as cursor:
            cursor.execute(statement, params)
            while rows := cursor.fetchmany(self.page):
                yield rows

    def _one(self, statement: Composed, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        self.lookups.execute(statement, params)
        return self.lookups.fetchone()

    def exported(self) -> str | None:
        row = self._one(SQL("SELECT pg_export_snapshot()").format(), ())
        return str(row[0]) if row is not None else None


class Factory(library.PostgresFactory):
    """eventsourcing's PostgreSQL factory, giving the record its chaining recorder, subject keys and audit reader."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        sslmode = self.env.get("POSTGRES_SSLMODE")
        if sslmode:  # the library's datastore takes no sslmode: its pool's connection arguments (not yet opened) do
            self.datastore.pool.kwargs = {**(self.datastore.pool.kwargs or {}), "sslmode": sslmode}  # type: ignore[dict-item]
        if not self.env_create_table():
            self._require_events_table()

    @property
    def events_table(self) -> str:
        return (self.env.name.lower() or "stored") + "_events"

    def _require_events_table(self) -> None:
        """A read: the events table must be there (checked before anything else connects, since the subject key
        store creates its own table)."""
        with self.datastore.get_connection() as conn:
            row = conn.execute(
                "SELECT 1 AS found FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                (self.datastore.schema, self.events_table),
            ).fetchone()
        if row is None:
            self.datastore.close()
            where = f"PostgreSQL database {self.env.get(self.POSTGRES_DBNAME, '?')}, schema {self.datastore.schema}"
            raise NoRecord(where, NoRecord.POSTGRES_HINT)

    def application_recorder(self) -> ApplicationRecorder:
        recorder = ChainingPostgresRecorder(datastore=self.datastore, events_table_name=self.events_table)
        if self.env_create_table():
            with recorder.dialect.library_tables_alone():
                recorder.create_table()
        return recorder

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        """The library's (the snapshots' store), its tables made by one opening at a time."""
        if not self.env_create_table():
            return super().aggregate_recorder(purpose)
        with PostgresDialect(self.datastore, self.events_table).library_tables_alone():
            return super().aggregate_recorder(purpose)

    def subject_key_store(self, kek: KeyRing) -> SubjectKeys:
        return SubjectKeys(PostgresDialect(self.datastore, self.events_table), kek)

    def audit_store(self, page: int = 10_000) -> AuditStore:
        return AuditStore(PostgresDialect(self.datastore, self.events_table), page)

    def case_subjects(self) -> CaseSubjects:
        # One per record, as its key store: the payload codec reaches it for every payload of a case.
        made: CaseSubjects | None = getattr(self, "_case_subjects", None)
        if made is None:
            made = self._case_subjects = CaseSubjects(PostgresDialect(self.datastore, self.events_table))
        return made
