"""The gateway's answers to writes, by `Idempotency-Key`, kept in the record's database beside its tables.

Not events of the record: an answer is not a fact about a case or an entente, and a retried request must
record nothing new. One row per (principal, key): the fingerprint of the request (method, path, body), and,
once given, the answer (status and JSON body). A request first *reserves* its key (an insert that only one
request can make, whatever the number of gateway processes on the store); the answer is then kept, or the
reservation released when no answer is final (503/504: the engine did not answer, and the command may still run;
the caller retries with the same key). A reservation holds a random request id (in the answer's column until the
answer replaces it); the gateway names the updates it sends from it (`gateway.guard.once`). A released reservation,
or one left without an answer for `lease` seconds (its gateway process killed mid-request: nothing released it), is
taken over by the next request with the same key and request, with the same request id: it sends the same updates,
Temporal answers the first run's outcome (or attaches to it, still running), and the command is recorded once.
Released, the key stays the request's: another request with it is refused, as the first may still be carried out.
Rows live as long as the database: keys are the caller's, scoped to its principal.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.record.popo import AuditUnsupported
from adapters.record.record import Record
from adapters.record.sql import IDEMPOTENCY, Dialect

DDL = (
    "CREATE TABLE IF NOT EXISTS {idempotency} (principal text NOT NULL, idem_key text NOT NULL, "
    "fingerprint text NOT NULL, status integer, answer text, created_at text NOT NULL, "
    "PRIMARY KEY (principal, idem_key))"
)


@dataclass(frozen=True)
class Kept:
    """What a key already holds: the request it was first given with, and its answer (None: in progress)."""

    fingerprint: str
    status: int | None
    answer: Any
    request_id: str | None = None  # set: the key is this request's now (reserved, or taken over from a dead one)


LEASE = 120.0  # seconds: beyond any request's run (a command waits 30 s for a worker at most)
RELEASED = datetime(1970, 1, 1, tzinfo=UTC).isoformat()  # a released reservation's start: its lease long run out


class IdempotencyStore:
    def __init__(self, dialect: Dialect | None, lease: float = LEASE) -> None:
        self.dialect = dialect  # None: in memory (the unit tests' record)
        self.lease = lease
        self._memory: dict[tuple[str, str], Kept] = {}
        self._ids: dict[tuple[str, str], str] = {}  # in memory: each reservation's request id
        self._released: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._made = False

    @classmethod
    def of(cls, record: Record, lease: float = LEASE) -> IdempotencyStore:
        try:
            return cls(record.audit_store().dialect, lease)
        except AuditUnsupported:
            return cls(None, lease)

    def _table(self, dialect: Dialect) -> Dialect:
        """The table, made on first use (a record older than the gateway has none), in a transaction of its own
        that waits for any other process making tables (`Dialect.schema_transaction`: several gateway processes
        writing first at once otherwise collide, on PostgreSQL a unique violation on ``pg_type``)."""
        if not self._made:
            with dialect.schema_transaction([IDEMPOTENCY]) as cursor:
                cursor.execute(dialect.sql(DDL))
            self._made = True
        return dialect

    def reserve(self, principal: str, key: str, fingerprint: str) -> Kept:
        """With a `request_id`: the key is this request's now, the updates it sends named from that id. Otherwise
        what the key already holds (its answer None while the first request runs)."""
        fresh = f"{uuid.uuid4().hex}"
        if self.dialect is None:
            with self._lock:
                kept = self._memory.get((principal, key))
                if kept is None:
                    self._memory[(principal, key)] = Kept(fingerprint, None, None)
                    self._ids[(principal, key)] = fresh
                    return Kept(fingerprint, None, None, fresh)
                if (principal, key) in self._released and kept.fingerprint == fingerprint:
                    self._released.discard((principal, key))
                    return Kept(fingerprint, None, None, self._ids[(principal, key)])
                return kept
        dialect = self._table(self.dialect)
        now = datetime.now(UTC)
        with dialect.transaction(commit=True) as cursor:
            cursor.execute(dialect.sql(
                "INSERT INTO {idempotency} (principal, idem_key, fingerprint, answer, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (principal, idem_key) DO NOTHING RETURNING fingerprint"),
                (principal, key, fingerprint, json.dumps({"request_id": fresh}), now.isoformat()))
            if cursor.fetchone() is not None:
                return Kept(fingerprint, None, None, fresh)  # inserted: the key is this request's
            cursor.execute(dialect.sql(
                "SELECT fingerprint, status, answer, created_at FROM {idempotency} "
                "WHERE principal = ? AND idem_key = ?"), (principal, key))
            row = cursor.fetchone()
            answer = json.loads(row["answer"]) if row["answer"] else None
            if row["status"] is None:
                since = str(row["created_at"])
                if row["fingerprint"] == fingerprint and datetime.fromisoformat(since) < now - timedelta(
                        seconds=self.lease):
                    # left by a request whose process died: taken over (compare-and-set, so by one request only)
                    cursor.execute(dialect.sql(
                        "UPDATE {idempotency} SET created_at = ? WHERE principal = ? AND idem_key = ? "
                        "AND status IS NULL AND created_at = ? RETURNING created_at"),
                        (now.isoformat(), principal, key, since))
                    if cursor.fetchone() is not None:
                        return Kept(fingerprint, None, None, str((answer or {}).get("request_id") or fresh))
                answer = None  # in progress: its request id is not an answer
        return Kept(str(row["fingerprint"]), row["status"], answer)

    def keep(self, principal: str, key: str, status: int, answer: Any) -> None:
        if self.dialect is None:
            with self._lock:
                old = self._memory[(principal, key)]
                self._memory[(principal, key)] = Kept(old.fingerprint, status, answer)
            return
        dialect = self._table(self.dialect)
        with dialect.transaction(commit=True) as cursor:
            cursor.execute(dialect.sql(
                "UPDATE {idempotency} SET status = ?, answer = ? WHERE principal = ? AND idem_key = ?"),
                (status, json.dumps(answer, ensure_ascii=False), principal, key))

    def release(self, principal: str, key: str) -> None:
        """No final answer (the engine did not answer): the next request with this key and request takes the
        reservation over at once, with its request id, so the command it resends is the same command. Before,
        the row was deleted and the retry ran under a new id: a case's opening retried after a 504 was refused
        as a duplicate of itself, and any other command could be carried out twice."""
        if self.dialect is None:
            with self._lock:
                if (principal, key) in self._memory:
                    self._released.add((principal, key))
            return
        dialect = self._table(self.dialect)
        with dialect.transaction(commit=True) as cursor:
            cursor.execute(dialect.sql(
                "UPDATE {idempotency} SET created_at = ? WHERE principal = ? AND idem_key = ? AND status IS NULL"),
                (RELEASED, principal, key))
