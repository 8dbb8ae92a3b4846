"""The gateway's answers to writes, by `Idempotency-Key`, kept in the record's database beside its tables.

Not events of the record: an answer is not a fact about a case or an entente, and a retried request must
record nothing new. One row per (principal, key): the fingerprint of the request (method, path, body), and,
once given, the answer (status and JSON body). A request first *reserves* its key (an insert that only one
request can make, whatever the number of gateway processes on the store); the answer is then kept, or the
reservation released when no answer is final (the engine unreachable: the caller retries with the same key).
Rows live as long as the database: keys are the caller's, scoped to its principal.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.record.popo import AuditUnsupported
from adapters.record.record import Record
from adapters.record.sql import Dialect

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


class IdempotencyStore:
    def __init__(self, dialect: Dialect | None) -> None:
        self.dialect = dialect  # None: in memory (the unit tests' record)
        self._memory: dict[tuple[str, str], Kept] = {}
        self._lock = threading.Lock()
        self._made = False

    @classmethod
    def of(cls, record: Record) -> IdempotencyStore:
        try:
            return cls(record.audit_store().dialect)
        except AuditUnsupported:
            return cls(None)

    def _table(self, dialect: Dialect) -> Dialect:
        """The table, made on first use (a record older than the gateway has none), in its own transaction."""
        if not self._made:
            with dialect.transaction(commit=True) as cursor:
                cursor.execute(dialect.sql(DDL))
            self._made = True
        return dialect

    def reserve(self, principal: str, key: str, fingerprint: str) -> Kept | None:
        """None: the key is this request's now. Otherwise what the key already holds."""
        if self.dialect is None:
            with self._lock:
                kept = self._memory.get((principal, key))
                if kept is None:
                    self._memory[(principal, key)] = Kept(fingerprint, None, None)
                return kept
        dialect = self._table(self.dialect)
        with dialect.transaction(commit=True) as cursor:
            cursor.execute(dialect.sql(
                "INSERT INTO {idempotency} (principal, idem_key, fingerprint, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (principal, idem_key) DO NOTHING RETURNING fingerprint"),
                (principal, key, fingerprint, datetime.now(UTC).isoformat()))
            if cursor.fetchone() is not None:
                return None  # inserted: the key is this request's
            cursor.execute(dialect.sql(
                "SELECT fingerprint, status, answer FROM {idempotency} WHERE principal = ? AND idem_key = ?"),
                (principal, key))
            row = cursor.fetchone()
        return Kept(str(row["fingerprint"]), row["status"], json.loads(row["answer"]) if row["answer"] else None)

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
        if self.dialect is None:
            with self._lock:
                self._memory.pop((principal, key), None)
            return
        dialect = self._table(self.dialect)
        with dialect.transaction(commit=True) as cursor:
            cursor.execute(dialect.sql(
                "DELETE FROM {idempotency} WHERE principal = ? AND idem_key = ? AND status IS NULL"), (principal, key))
