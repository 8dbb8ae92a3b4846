"""What a witness keeps: per log origin, the latest checkpoint it cosigned, in a SQLite file of its own.

The spec requires checking the old size against the latest checkpoint and keeping the new one atomically (else
two requests can roll the witness back); `WitnessState.add` runs the decision inside ``BEGIN IMMEDIATE``, so two
processes on one file (a server and an offline `cosign`) cannot interleave. Refusals of correctly signed
checkpoints (a stale size excepted) are kept as evidence: the spec lets a witness log them, a fork's proof.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from adapters.record.environment import private_file
from domain.audit.note import Note, parse_note
from domain.audit.witnessing import AddCheckpoint, Cosigned, WitnessRefusal, origin_of

DDL = (
    "CREATE TABLE IF NOT EXISTS latest (origin TEXT PRIMARY KEY, size TEXT NOT NULL, note TEXT NOT NULL, "
    "at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS evidence (id INTEGER PRIMARY KEY, at TEXT NOT NULL, origin TEXT NOT NULL, "
    "status INTEGER NOT NULL, reason TEXT NOT NULL, body BLOB NOT NULL)",
)
Decide = Callable[[AddCheckpoint, Note | None], Cosigned]


class WitnessState:
    """The witness's SQLite file (made 0600 if absent)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.exists() and not path.is_file():
            raise ValueError(f"witness state {path}: not a file")
        private_file(path)
        with self._connection() as conn:
            for statement in DDL:
                conn.execute(statement)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    def latest(self, origin: str) -> Note | None:
        with self._connection() as conn:
            row = conn.execute("SELECT note FROM latest WHERE origin = ?", (origin,)).fetchone()
        return parse_note(row[0]) if row else None

    def evidence(self) -> list[tuple[str, int, str]]:
        """(origin, status, reason) of the refusals kept, oldest first."""
        with self._connection() as conn:
            return [tuple(r) for r in conn.execute("SELECT origin, status, reason FROM evidence ORDER BY id")]

    def add(self, request: AddCheckpoint, decide: Decide, body: bytes) -> Cosigned:
        """`decide` on the request against the latest checkpoint of its origin, and keep what it cosigned, in one
        exclusive transaction; a refusal (other than a stale size or an unknown log) is kept with the body."""
        origin = origin_of(request)
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT note FROM latest WHERE origin = ?", (origin,)).fetchone()
                try:
                    cosigned = decide(request, parse_note(row[0]) if row else None)
                except WitnessRefusal as refusal:
                    if refusal.status in (409, 422) and refusal.known_size is None:
                        conn.execute(
                            "INSERT INTO evidence (at, origin, status, reason, body) VALUES (?, ?, ?, ?, ?)",
                            (_now(), origin, refusal.status, refusal.message, body),
                        )
                    conn.execute("COMMIT")
                    raise
                conn.execute(
                    "INSERT INTO latest (origin, size, note, at) VALUES (?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE "
                    "SET size = excluded.size, note = excluded.note, at = excluded.at",
                    (origin, str(cosigned.head.size), str(cosigned.note), _now()),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return cosigned


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
