"""The audit tables of the two SQL stores, written once over a small dialect.

Chaining happens **in the same transaction as the insert of the events**: each
backend's recorder (``adapters.record.sqlite``, ``adapters.record.postgres``)
subclasses eventsourcing's application recorder, inserts the events, gets their
notification ids back, then calls `chain_inserted` with the same cursor: the
chain head is read, the chain rows are computed (``domain.audit.hashing``) and
inserted, and only then does the transaction commit. There is no window in
which an event is stored unchained, and no catch-up job that could launder a
forged row.

Tables, beside the events table in the same database/schema (the first three named per application:
`audit_tables`): ``audit_chain``
(one row per event, keyed by notification id, unique on the event identity and
on ``seq``), ``audit_subject_keys`` (wrapped per-person keys, tombstoned on
shredding), ``audit_checkpoints`` (copies of signed heads; the copies that
count are the ones kept elsewhere) and ``audit_store`` (one row: the store's id,
made once with the record, or on the first opening of a store older than it;
every checkpoint names it) and ``case_subjects`` (which person each crisis case is about, written once by
the case client before the case's workflow starts: the Temporal payload codec seals that workflow's
payloads with the person's key, ``adapters.temporal.codec``). Their names and formats are the record's: they never
change.

Readers open **one snapshot** (a `Snapshot`: SQLite read transaction;
PostgreSQL REPEATABLE READ READ ONLY with server-side cursors) and stream both
tables in notification order, so verification runs beside live writers and its
memory stays flat.

What differs between the stores (how a table is named, the placeholder, how an
originator id is kept, the few statements that only one of them can say) is a
`Dialect`; everything else is here once.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.persistence import StoredEvent

from adapters.record.keys import KeyRing
from adapters.record.sealing import new_data_key, unwrap_key, wrap_key
from domain.audit.checkpoint import Checkpoint
from domain.audit.erasure import SubjectErased
from domain.audit.hashing import link_batch, originator_key
from domain.audit.verify import ChainRow, EventRow
from domain.errors import DomainError

CHAIN = "audit_chain"
KEYS = "audit_subject_keys"
CHECKPOINTS = "audit_checkpoints"
STORE = "audit_store"
TREE = "audit_tree"  # the Merkle tree's perfect subtrees of level >= 1 (adapters.record.tree)
TREE_HEAD = "audit_tree_head"  # its size and root, one row
NOTES = "audit_notes"  # the tree checkpoints the engine signed (adapters.record.notes)
WITNESSES = "audit_witnesses"  # what each witness last cosigned (adapters.record.witnessed)
COSIGNED = "audit_cosigned"  # the cosigned checkpoint notes collected from witnesses (adapters.record.witnessed)
IDEMPOTENCY = "gateway_idempotency"  # the gateway's answers to writes (adapters.record.idempotency)
CASE_SUBJECTS = "case_subjects"


def audit_tables(events_table: str, record_events_table: str) -> dict[str, str]:
    """The chain, checkpoint and store-id tables of the application whose events are in `events_table`.

    One chain per notification log: two applications in one PostgreSQL schema (``<name>_events`` each) have
    two logs, so each has its own ``<name>_audit_chain``, ``<name>_audit_checkpoints`` and ``<name>_audit_store``
    (with one fixed name the second application's first save collided on the first's chain). The record's own
    events table (`record_events_table`: ``arrimage_events`` on PostgreSQL, the library's ``stored_events`` on
    SQLite, where every application of a file shares that one log) keeps the names its stores were made with,
    so every existing store opens and verifies as before. The per-person keys (`KEYS`), the cases' persons
    (`CASE_SUBJECTS`) and the gateway's answers (`IDEMPOTENCY`) are about people and requests, not about a log:
    one table each per schema."""
    prefix = "" if events_table == record_events_table else events_table.removesuffix("_events") + "_"
    return {"chain": prefix + CHAIN, "checkpoints": prefix + CHECKPOINTS, "store": prefix + STORE,
            "tree": prefix + TREE, "tree_head": prefix + TREE_HEAD, "notes": prefix + NOTES,
            "witnesses": prefix + WITNESSES, "cosigned": prefix + COSIGNED}

# Statement templates: tables are `{events}`, `{chain}`, `{keys}`, `{checkpoints}`; the events
# table's notification id column is `{nid}`; `?` is the placeholder (see `Dialect.sql`).
CHAIN_COLUMNS = (
    "notification_id, originator_id, originator_version, topic, seq, aggregate_prev_nid, "
    "event_hash, aggregate_hash, chain_hash"
)
CHAIN_HEAD = "SELECT notification_id, seq, chain_hash FROM {chain} ORDER BY notification_id DESC LIMIT 1"
# The store's identity: one row, the same statements on both stores.
STORE_DDL = (
    "CREATE TABLE IF NOT EXISTS {store} (id integer PRIMARY KEY CHECK (id = 1), store_id text NOT NULL, "
    "created_at text NOT NULL)"
)
STORE_INSERT = "INSERT INTO {store} (id, store_id, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING"
# The signed checkpoints kept (`NOTES`) and the witnesses' records (`WITNESSES`, `COSIGNED`): the same statements on
# both stores, made with the rest of the audit tables (`Dialect.create_tables`), not on first use.
SIGNED_DDL = (
    "CREATE TABLE IF NOT EXISTS {notes} (size bigint PRIMARY KEY, note text NOT NULL, at text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {witnesses} (witness text PRIMARY KEY, size text NOT NULL, at text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {cosigned} (size text NOT NULL, note text NOT NULL, at text NOT NULL, "
    "witnesses integer NOT NULL)",
)

T = TypeVar("T")


class Retrying:
    """Runs a unit of work again after a transient error of the store, backing off, for `patience` seconds.

    Transient means the connection, not the statement: a pooled connection the server closed (a terminated
    backend, a failover, a restart) or no connection to be had while the server comes back. Only the store's
    dialect names those errors (`Dialect.retrying`; none on SQLite); a constraint violation or a programming
    error is never among them, and goes straight to the caller. Each unit retried must be safe to run again
    whole (a read, an `ON CONFLICT` insert, an update conditioned on what it read, or an insert that first
    looks for what an attempt whose commit was not acknowledged already stored).

    Before each attempt again `recover` runs (PostgreSQL: the pool tests its idle connections and replaces the
    dead ones, which a terminated backend or a restart leaves behind, all at once; otherwise each attempt
    would draw one of them and fail again, one pause after another). The back-off doubles from `first` up to
    `cap`, with jitter, so a failover of a few seconds is waited out (the library's own retry is 10 attempts
    0.2 s apart); `patience` stays under an activity's
    start-to-close timeout (``workflows.common.ACTIVITY_TIMEOUT``, 10 s), so Temporal's retry takes over
    beyond it. `retries` counts the attempts made again (for the figures of the fault tests)."""

    def __init__(
        self, transient: tuple[type[BaseException], ...], *, recover: Callable[[], None] | None = None,
        patience: float = 8.0, first: float = 0.05, cap: float = 1.0,
    ) -> None:
        self.transient = transient
        self.recover = recover
        self.patience = patience
        self.first = first
        self.cap = cap
        self.retries = 0
        self._lock = threading.Lock()

    def __call__(self, unit: Callable[[], T]) -> T:
        if not self.transient:
            return unit()
        deadline = time.monotonic() + self.patience
        delay = self.first
        while True:
            try:
                return unit()
            except self.transient:
                pause = delay * (0.5 + random.random() / 2)  # jitter, not a secret
                if time.monotonic() + pause > deadline:
                    raise
                with self._lock:
                    self.retries += 1
                time.sleep(pause)
                if self.recover is not None:
                    with contextlib.suppress(Exception):  # the next attempt says what is wrong
                        self.recover()
                delay = min(delay * 2, self.cap)


class Dialect(ABC):
    """How one SQL store says what the shared code asks."""

    text_ids: bool
    okey: Callable[[Any], bytes]
    """The hashing key (``domain.audit.hashing.originator_key``) of an originator id as the store returns it."""
    row_lock: str = ""
    """Appended to the select of a key about to be destroyed."""
    retrying: Retrying = Retrying(())
    """Runs a unit of work again after the store's transient errors (`Retrying`); none by default."""

    @abstractmethod
    def sql(self, template: str) -> Any:
        """The statement for a template (see the module's templates)."""

    @abstractmethod
    def transaction(self, *, commit: bool) -> AbstractContextManager[Any]:
        """A cursor in a transaction of the store's pool; its rows are read by column name."""

    @abstractmethod
    def stored_id(self, okey: bytes) -> Any:
        """The originator id as the store keeps it."""

    @abstractmethod
    def create_tables(self, cursor: Any) -> None:
        """Create the audit tables if they are not there (in a `schema_transaction`)."""

    def schema_transaction(self, tables: Sequence[str] | None = None) -> AbstractContextManager[Any]:
        """A transaction that makes tables (`tables`: those its statements make, default the audit tables), one at
        a time across every process of the store: several processes
        opening a store without some audit table (a new store, or one made before the table) all make it at once,
        and ``CREATE TABLE IF NOT EXISTS`` alone does not stand that (PostgreSQL: the second, blocked on the
        first's uncommitted catalogue row, fails on a unique violation; SQLite: a transaction that read the schema
        cannot take the write lock after another's commit, ``database is locked`` at once)."""
        return self.transaction(commit=True)

    @abstractmethod
    def aggregate_heads(self, cursor: Any, okeys: Sequence[bytes]) -> dict[bytes, tuple[int, bytes]]:
        """(notification id, aggregate hash) of the last chained event of each of these aggregates."""

    @abstractmethod
    def snapshot(self, page: int) -> AbstractContextManager[Snapshot]:
        """One consistent read of the store, closed on exit."""

    def parallel_reads(self) -> bool:
        """Whether another process can read this store (`range_snapshot`): not an in-memory database."""
        return True

    def range_snapshot(self, page: int, exported: str | None) -> AbstractContextManager[Snapshot]:
        """A read on a connection of its own, for another process (a forked verify range): the snapshot
        `exported` when the store can share one (`Snapshot.exported`), else a fresh one."""
        return self.snapshot(page)

    @abstractmethod
    def before_destroy(self, cursor: Any) -> None:
        """Called in the transaction that destroys a key, before anything else."""

    @abstractmethod
    def erase_traces(self, wrapped: bytes | None, patience: float, again: str) -> tuple[str, ...]:
        """Once the destroying transaction has committed: make the store drop every copy it keeps of the
        destroyed row (SQLite: checkpoint and truncate the write-ahead log; PostgreSQL: VACUUM the key table),
        waiting up to `patience` seconds for readers that hold an older version. Returns what could not be
        done, one sentence each (empty: no copy left anywhere the engine controls), each ending with `again`
        (what to run to finish). `wrapped`, when known, is the destroyed wrapped key, which the store may look
        for in its files."""


def _upto(column: str, after: int, until: int | None) -> tuple[str, tuple[int, ...]]:
    return ("", (after,)) if until is None else (f" AND {column} <= ?", (after, until))


def chain_inserted(
    cursor: Any, dialect: Dialect, ids: Sequence[int], stored_events: Sequence[StoredEvent]
) -> None:
    """Chain the events just inserted at `ids`, in the insert's own transaction (`cursor`)."""
    inserted = [
        (nid, originator_key(s.originator_id), s.originator_version, s.topic, s.state)
        for nid, s in zip(ids, stored_events, strict=True)
    ]
    cursor.execute(dialect.sql("SELECT seq, chain_hash FROM {chain} ORDER BY notification_id DESC LIMIT 1"))
    row = cursor.fetchone()
    head = (int(row["seq"]), bytes(row["chain_hash"])) if row is not None else None
    agg_heads = dialect.aggregate_heads(cursor, list({r[1] for r in inserted}))
    linked = link_batch(inserted, head, agg_heads)
    cursor.executemany(
        dialect.sql("INSERT INTO {chain} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        [(r[0], dialect.stored_id(r[1]), *r[2:]) for r in linked],
    )


def create_store_id(cursor: Any, dialect: Dialect) -> None:
    """Give the store its id, once: the first opening (`up`, `worker`, or a store older than ids) makes it.
    Later openings only read it (no write, so a reader takes no write lock)."""
    cursor.execute(dialect.sql(STORE_DDL))
    cursor.execute(dialect.sql("SELECT store_id FROM {store} WHERE id = 1"))
    if cursor.fetchone() is None:
        cursor.execute(dialect.sql(STORE_INSERT), (uuid4().hex, datetime.now(UTC).isoformat()))


# How long a process keeps a person's live key row (wrapped) after reading it from the store. The record's seals and
# the Temporal payload codec ask for a person's key for each event and each payload (~50 times per crisis case),
# each time a transaction; within this horizon they are answered from memory. A row past it is never used and is
# dropped within another horizon (at the next look-up, or by a timer when none comes). `destroy` waits it out after
# its commit, so that once a shred returns no process of the engine can use the key any more: a row read before the
# commit has expired by then, and one read after finds it destroyed.
KEY_ROW_SECONDS = 1.0


class SubjectKeys:
    """Per-person data keys, wrapped by the key-encryption ring, one row per person (`SubjectKeyStore`).

    `clock` and `sleep` (monotonic seconds) time the rows kept for `KEY_ROW_SECONDS`."""

    def __init__(self, dialect: Dialect, kek: KeyRing, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.dialect = dialect
        self.kek = kek
        self._destroyed: dict[str, bytes] = {}  # wrapped keys destroyed by this process, to look for in files
        self._clock = clock
        self._sleep = sleep
        # Live rows and when each was read, oldest first; `_lock` guards it and `_sweeper`.
        self._recent: dict[str, tuple[float, tuple[str, str, bytes | None]]] = {}
        self._lock = threading.Lock()
        self._sweeper: threading.Timer | None = None

        def create() -> None:  # every statement is "if not there": safe to run again
            with dialect.schema_transaction() as cursor:
                dialect.create_tables(cursor)
                create_store_id(cursor, dialect)

        dialect.retrying(create)

    def key_for_writing(self, subject_id: str) -> tuple[str, bytes]:
        found = self._row(subject_id)
        if found is None:
            key_id = UUID(bytes=new_data_key()[:16]).hex[:12]
            kek_id, wrapped = wrap_key(self.kek, subject_id, key_id, new_data_key())

            def insert() -> None:  # again after a dropped connection: the row made by the first is kept
                with self.dialect.transaction(commit=True) as cursor:
                    cursor.execute(
                        self.dialect.sql(
                            "INSERT INTO {keys} (subject_id, key_id, kek_id, wrapped_key) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT (subject_id) DO NOTHING"
                        ),
                        (subject_id, key_id, kek_id, wrapped),
                    )

            self.dialect.retrying(insert)
            found = self._row(subject_id)
        if found is None or found[2] is None:
            raise SubjectErased(
                f"subject {subject_id}'s key was destroyed (erasure); no new personal content may be recorded",
            )
        return found[0], unwrap_key(self.kek, found[1], subject_id, found[0], found[2])

    def current_key_id(self, subject_id: str) -> str | None:
        found = self._row(subject_id)
        return found[0] if found is not None and found[2] is not None else None

    def key(self, subject_id: str, key_id: str) -> bytes | None:
        found = self._row(subject_id)
        if found is None or found[0] != key_id or found[2] is None:
            return None
        return unwrap_key(self.kek, found[1], subject_id, key_id, found[2])

    def kept(self, subject_id: str) -> tuple[str, bytes] | None:
        row = self._kept_row(subject_id, self._clock())
        if row is None:
            return None
        key_id, kek_id, wrapped = row
        assert wrapped is not None  # only live rows are kept
        return key_id, unwrap_key(self.kek, kek_id, subject_id, key_id, wrapped)

    def destroy(self, subject_id: str, at: str) -> str | None:
        sql, dialect = self.dialect.sql, self.dialect
        seen: list[str] = []  # the live key read by an attempt whose commit may have landed unacknowledged

        def once() -> None:
            with dialect.transaction(commit=True) as cursor:
                dialect.before_destroy(cursor)
                cursor.execute(
                    sql("SELECT key_id, wrapped_key FROM {keys} WHERE subject_id = ? AND wrapped_key IS NOT NULL"
                        + dialect.row_lock),
                    (subject_id,),
                )
                row = cursor.fetchone()
                if row is not None:
                    self._destroyed[subject_id] = bytes(row["wrapped_key"])
                    seen.append(str(row["key_id"]))
                cursor.execute(
                    sql(
                        "INSERT INTO {keys} (subject_id, key_id, kek_id, wrapped_key, shredded_at) "
                        "VALUES (?, '-', '-', NULL, ?) "
                        "ON CONFLICT (subject_id) DO UPDATE SET wrapped_key = NULL, shredded_at = excluded.shredded_at"
                    ),
                    (subject_id, at),
                )

        dialect.retrying(once)
        self._forget(subject_id)
        # Every other process may hold a row read before the commit (`KEY_ROW_SECONDS`): not past this wait.
        self._sleep(KEY_ROW_SECONDS)
        return seen[0] if seen else None

    def erase_traces(self, subject_id: str, *, patience: float = 5.0) -> tuple[str, ...]:
        """After `destroy` (or again, later, to finish): no copy of the destroyed key left in the store's files
        (`Dialect.erase_traces`); what is left, one sentence each."""
        return self.dialect.erase_traces(self._destroyed.get(subject_id), patience,
                                         "run `arrimage audit shred` again for this person once they are done")

    def rewrap(self, *, patience: float = 5.0) -> tuple[int, tuple[str, ...]]:
        """Wrap every live key that another key-encryption key wraps with the ring's active one (KEK rotation),
        then drop the old wrappings' copies from the store's files as a shred does. (number re-wrapped, what is
        left). Raises KeyError, naming the KEK, if a key is wrapped by one the ring no longer holds: nothing of
        that key is changed, the keys re-wrapped before it stay re-wrapped, and running again resumes."""
        active = self.kek.active_id

        def stale() -> list[tuple[str, str, str, bytes]]:
            with self.dialect.transaction(commit=False) as cursor:
                cursor.execute(
                    self.dialect.sql(
                        "SELECT subject_id, key_id, kek_id, wrapped_key FROM {keys} "
                        "WHERE wrapped_key IS NOT NULL AND kek_id <> ?"
                    ),
                    (active,),
                )
                return [(str(r["subject_id"]), str(r["key_id"]), str(r["kek_id"]), bytes(r["wrapped_key"]))
                        for r in cursor.fetchall()]

        rows = self.dialect.retrying(stale)
        done = 0
        for subject_id, key_id, kek_id, wrapped in rows:
            key = unwrap_key(self.kek, kek_id, subject_id, key_id, wrapped)
            new_kek, new_wrapped = wrap_key(self.kek, subject_id, key_id, key)

            def update(params: tuple[str, bytes, str, str, bytes] = (new_kek, new_wrapped, subject_id, kek_id,
                                                                      wrapped)) -> None:
                with self.dialect.transaction(commit=True) as cursor:
                    # Only the row as read: a key destroyed meanwhile stays destroyed (and a second run of an
                    # update that landed changes nothing).
                    cursor.execute(
                        self.dialect.sql(
                            "UPDATE {keys} SET kek_id = ?, wrapped_key = ? "
                            "WHERE subject_id = ? AND kek_id = ? AND wrapped_key = ?"
                        ),
                        params,
                    )

            self.dialect.retrying(update)
            self._forget(subject_id)
            done += 1
        # Erased even when nothing was left to re-wrap: a run after one that reported a residue finishes it.
        return done, self.dialect.erase_traces(None, patience, "run `arrimage audit rewrap` again once they are done")

    def _row(self, subject_id: str) -> tuple[str, str, bytes | None] | None:
        now = self._clock()  # a row's age counts from before the store answered
        kept = self._kept_row(subject_id, now)
        if kept is not None:
            return kept
        found = self._read(subject_id)
        with self._lock:
            self._recent.pop(subject_id, None)
            if found is not None and found[2] is not None:  # a live key only: missing or destroyed, read again
                self._recent[subject_id] = (now, found)
                self._sweep_later()
        return found

    def rows_in_memory(self) -> int:
        """How many persons' key rows this process holds now (read within `KEY_ROW_SECONDS`, or just past it)."""
        with self._lock:
            return len(self._recent)

    # ------------------------------------------------------------------ rows kept (`KEY_ROW_SECONDS`)
    def _kept_row(self, subject_id: str, now: float) -> tuple[str, str, bytes | None] | None:
        with self._lock:
            self._drop_expired(now)
            kept = self._recent.get(subject_id)
        # Its own age too: two look-ups racing may have put a row read earlier behind one read later.
        return kept[1] if kept is not None and now - kept[0] < KEY_ROW_SECONDS else None

    def _forget(self, subject_id: str) -> None:
        with self._lock:
            self._recent.pop(subject_id, None)

    def _drop_expired(self, now: float) -> None:
        """Under `_lock`: the rows read a horizon ago or more, from the oldest (in the order read, but for two
        look-ups racing: such a row is dropped a little later, never used)."""
        while self._recent:
            subject_id, (read_at, _) = next(iter(self._recent.items()))
            if now - read_at < KEY_ROW_SECONDS:
                return
            del self._recent[subject_id]

    def _sweep_later(self) -> None:
        """Under `_lock`: drop expired rows within a horizon even if no look-up comes (an idle process)."""
        if self._sweeper is None:
            self._sweeper = threading.Timer(KEY_ROW_SECONDS, self._sweep)
            self._sweeper.daemon = True
            self._sweeper.start()

    def _sweep(self) -> None:
        with self._lock:
            self._sweeper = None
            self._drop_expired(self._clock())
            if self._recent:
                self._sweep_later()

    def _read(self, subject_id: str) -> tuple[str, str, bytes | None] | None:
        def read() -> tuple[str, str, bytes | None] | None:
            with self.dialect.transaction(commit=False) as cursor:
                cursor.execute(
                    self.dialect.sql("SELECT key_id, kek_id, wrapped_key FROM {keys} WHERE subject_id = ?"),
                    (subject_id,),
                )
                row = cursor.fetchone()
            if row is None:
                return None
            wrapped = row["wrapped_key"]
            return str(row["key_id"]), str(row["kek_id"]), bytes(wrapped) if wrapped is not None else None

        return self.dialect.retrying(read)


class CaseBoundElsewhere(DomainError):
    """A case code already bound to another person: a case is about one person for ever."""

    code = "case_of_another_person"


class CaseSubjects:
    """Which person each crisis case is about (``case_subjects``), for the Temporal payload codec."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect  # the table is made with the record's others (`Dialect.create_tables`)

    def bind(self, case_code: str, subject_id: str) -> None:
        """Bind the case to its person, once (again with the same person: nothing); `CaseBoundElsewhere` when
        the code is another person's."""
        bound_at = datetime.now(UTC).isoformat()

        def insert() -> None:
            with self.dialect.transaction(commit=True) as cursor:
                cursor.execute(
                    self.dialect.sql("INSERT INTO {case_subjects} (case_code, subject_id, bound_at) VALUES (?, ?, ?) "
                                     "ON CONFLICT (case_code) DO NOTHING"),
                    (case_code, subject_id, bound_at),
                )

        self.dialect.retrying(insert)
        bound = self.subject_of(case_code)
        if bound != subject_id:
            raise CaseBoundElsewhere(f"case {case_code} is about another person")

    def subject_of(self, case_code: str) -> str | None:
        def read() -> str | None:
            with self.dialect.transaction(commit=False) as cursor:
                cursor.execute(self.dialect.sql("SELECT subject_id FROM {case_subjects} WHERE case_code = ?"),
                               (case_code,))
                row = cursor.fetchone()
            return str(row["subject_id"]) if row is not None else None

        return self.dialect.retrying(read)


class Snapshot(ABC):
    """One consistent read: both streams in notification order, and the point look-ups of a `ChainIndex`."""

    def __init__(self, dialect: Dialect, page: int) -> None:
        self.dialect = dialect
        self.page = page
        self.rows_read = 0
        """Rows of `event_rows` and `chain_rows` fetched so far (by page: a pass that stops early has read the
        page it stopped in)."""

    def _counted(self, pages: Iterator[Sequence[tuple[Any, ...]]]) -> Iterator[Sequence[tuple[Any, ...]]]:
        for rows in pages:
            self.rows_read += len(rows)
            yield rows

    @abstractmethod
    def _pages(self, name: str, statement: Any, params: tuple[Any, ...] = ()) -> Iterator[Sequence[tuple[Any, ...]]]:
        """The rows of a select, `page` at a time (a streaming cursor named `name` where the store has them).
        Both drivers return blobs (``BLOB``, ``bytea``) as `bytes`: the hot loops below do not convert them."""

    @abstractmethod
    def _one(self, statement: Any, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The first row of a select, or None."""

    def event_rows(self, after: int = 0, until: int | None = None) -> Iterator[tuple[Any, ...]]:
        """The stored events after notification `after` (0: all) and up to `until` (None: the last), in
        notification order, their originator ids as the store returns them (`Dialect.okey` gives the hashing
        key): the verify's hot stream, flattened from pages in C, with no per-row conversion."""
        upto, params = _upto("{nid}", after, until)
        return itertools.chain.from_iterable(self._counted(self._pages(
            "audit_events",
            self.dialect.sql(
                "SELECT {nid}, originator_id, originator_version, topic, state FROM {events} WHERE {nid} > ?"
                f"{upto} ORDER BY {{nid}}"
            ),
            params,
        )))

    def chain_rows(self, after: int = 0, until: int | None = None) -> Iterator[tuple[Any, ...]]:
        """The chain rows after notification `after` (0: all) and up to `until`, in notification order, ids as
        stored."""
        upto, params = _upto("notification_id", after, until)
        return itertools.chain.from_iterable(self._counted(self._pages(
            "audit_chain",
            self.dialect.sql(
                f"SELECT {CHAIN_COLUMNS} FROM {{chain}} WHERE notification_id > ?{upto} ORDER BY notification_id"
            ),
            params,
        )))

    def joined_rows(self, after: int = 0, until: int | None = None) -> Iterator[tuple[Any, ...]]:
        """Each stored event after notification `after` and up to `until` with the chain row at its notification id
        (`verify.JoinedRow`: whether that row names the same originator, version and topic is compared by the
        store; NULL columns where there is none), in notification order: the verify's hot stream. A chain row with
        no event is not in it (`chain_count`). Counted in `rows_read` as two rows each, an event and a chain row."""
        upto, params = _upto("e.{nid}", after, until)
        pages = self._pages(
            "audit_joined",
            self.dialect.sql(
                "SELECT e.{nid}, e.originator_id, e.originator_version, e.topic, e.state, "
                "c.originator_id IS NOT DISTINCT FROM e.originator_id "
                "AND c.originator_version IS NOT DISTINCT FROM e.originator_version "
                "AND c.topic IS NOT DISTINCT FROM e.topic, "
                "c.seq, c.aggregate_prev_nid, c.event_hash, c.aggregate_hash, c.chain_hash "
                "FROM {events} e LEFT JOIN {chain} c ON c.notification_id = e.{nid} "
                f"WHERE e.{{nid}} > ?{upto} ORDER BY e.{{nid}}"
            ),
            params,
        )

        def counted() -> Iterator[Sequence[tuple[Any, ...]]]:
            for rows in pages:
                self.rows_read += 2 * len(rows)
                yield rows

        return itertools.chain.from_iterable(counted())

    def chain_count(self, after: int = 0, until: int | None = None) -> int:
        """The chain rows after notification `after` and up to `until` (None: the last)."""
        upto, params = _upto("notification_id", after, until)
        row = self._one(self.dialect.sql(f"SELECT count(*) FROM {{chain}} WHERE notification_id > ?{upto}"), params)
        return int(row[0]) if row is not None else 0

    def last_nid(self) -> int:
        """The last notification id of either table in this snapshot (0: both empty): where the last range of a
        parallel verify ends, so that its own snapshot reads what this one does while others only append."""
        row = self._one(
            self.dialect.sql("SELECT (SELECT max({nid}) FROM {events}), (SELECT max(notification_id) FROM {chain})"),
            (),
        )
        return max((int(v) for v in row or () if v is not None), default=0)

    def chain_row_at_or_before(self, notification_id: int) -> tuple[int, int, bytes] | None:
        """(notification id, seq, chain hash) of the last chain row at or before this notification id, as stored:
        where a range of a parallel verify may start."""
        row = self._one(
            self.dialect.sql(
                "SELECT notification_id, seq, chain_hash FROM {chain} WHERE notification_id <= ? "
                "ORDER BY notification_id DESC LIMIT 1"
            ),
            (notification_id,),
        )
        return (int(row[0]), int(row[1]), bytes(row[2])) if row is not None else None

    def nid_at_seq(self, seq: int) -> int | None:
        """The notification id of the chain row stored at this position."""
        row = self._one(self.dialect.sql("SELECT notification_id FROM {chain} WHERE seq = ?"), (seq,))
        return int(row[0]) if row is not None else None

    def exported(self) -> str | None:
        """An id other connections can open this very snapshot with (PostgreSQL), or None (SQLite: each range's
        reader opens its own read transaction, bounded by `last_nid`)."""
        return None

    def events(self, after: int = 0) -> Iterator[EventRow]:
        """`event_rows` with the hashing key of each originator id."""
        okey = self.dialect.okey
        for nid, oid, version, topic, state in self.event_rows(after):
            yield nid, okey(oid), version, topic, state

    def chain(self, after: int = 0) -> Iterator[ChainRow]:
        """`chain_rows` with the hashing key of each originator id."""
        okey = self.dialect.okey
        for nid, oid, version, topic, seq, prev_nid, eh, agg, ch in self.chain_rows(after):
            yield nid, okey(oid), version, topic, seq, prev_nid, eh, agg, ch

    def chain_head_at(self, notification_id: int) -> tuple[int, bytes] | None:
        """(seq, chain hash) stored in the chain row at this notification id, if there is one."""
        row = self._one(
            self.dialect.sql("SELECT seq, chain_hash FROM {chain} WHERE notification_id = ?"), (notification_id,)
        )
        return (int(row[0]), bytes(row[1])) if row is not None else None

    def chain_row_for(self, originator: bytes, version: int) -> ChainRow | None:
        row = self._one(
            self.dialect.sql(
                f"SELECT {CHAIN_COLUMNS} FROM {{chain}} WHERE originator_id = ? AND originator_version = ?"
            ),
            (self.dialect.stored_id(originator), version),
        )
        if row is None:
            return None
        return row[0], originator, row[2], row[3], row[4], row[5], bytes(row[6]), bytes(row[7]), bytes(row[8])

    def event_nid_for(self, originator: bytes, version: int) -> int | None:
        row = self._one(
            self.dialect.sql("SELECT {nid} FROM {events} WHERE originator_id = ? AND originator_version = ?"),
            (self.dialect.stored_id(originator), version),
        )
        return int(row[0]) if row is not None else None

    def aggregate_hash_at(self, notification_id: int) -> bytes | None:
        row = self._one(
            self.dialect.sql("SELECT aggregate_hash FROM {chain} WHERE notification_id = ?"), (notification_id,)
        )
        return bytes(row[0]) if row is not None else None


class AuditStore:
    """The audit side of one record's database: snapshots for verify, the stored head, checkpoint copies."""

    def __init__(self, dialect: Dialect, page: int = 10_000) -> None:
        self.dialect = dialect
        self.page = page

    def snapshot(self) -> AbstractContextManager[Snapshot]:
        return self.dialect.snapshot(self.page)

    def head(self) -> tuple[int, int, bytes] | None:
        """(notification id, seq, chain hash) of the last chain row, as stored (not verified)."""
        with self.dialect.transaction(commit=False) as cursor:
            cursor.execute(self.dialect.sql(CHAIN_HEAD))
            row = cursor.fetchone()
        return (int(row["notification_id"]), int(row["seq"]), bytes(row["chain_hash"])) if row is not None else None

    def store_id(self) -> str | None:
        """The store's id (None only if its row was deleted: every opening creates it)."""
        with self.dialect.transaction(commit=False) as cursor:
            cursor.execute(self.dialect.sql("SELECT store_id FROM {store} WHERE id = 1"))
            row = cursor.fetchone()
        return str(row["store_id"]) if row is not None else None

    def save_checkpoint(self, cp: Checkpoint) -> None:
        with self.dialect.transaction(commit=True) as cursor:
            cursor.execute(
                self.dialect.sql("INSERT INTO {checkpoints} (notification_id, body) VALUES (?, ?)"),
                (cp.notification_id, cp.to_json()),
            )

    def stored_checkpoints(self) -> list[str]:
        """The JSON bodies of the checkpoint copies kept in the database, oldest first."""
        with self.dialect.transaction(commit=False) as cursor:
            cursor.execute(self.dialect.sql("SELECT body FROM {checkpoints} ORDER BY id"))
            return [str(row["body"]) for row in cursor.fetchall()]
