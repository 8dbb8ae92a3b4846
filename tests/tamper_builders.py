"""What the tamper-evidence tests share: a small aggregate of their own (`Dossier`), raw SQL access to
the store as someone with write access to the database has it (`Raw`), and the thorough attacker who
rewrites an event and recomputes the chain after it (`rewrite_history`). SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from adapters.record.record import TOPICS, Record
from domain.audit.hashing import link_batch, originator_key

# The moment the use cases are told it is (signature, key destruction): they read no clock.
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


class Dossier(Aggregate):
    """A stand-in for any aggregate of the record."""

    @event("Opened")
    def __init__(self, code: str) -> None:
        self.code = code
        self.notes: list[str] = []

    @event("Noted")
    def note(self, text: str) -> None:
        self.notes.append(text)


# A stand-in aggregate: rows naming its classes are read like the record's own (`TOPICS`).
TOPICS.allow(Dossier)


def interleaved_dossiers(record: Record, codes: str, notes: int) -> list[Dossier]:
    """One dossier per letter of `codes`, each opened then noted `notes` times, saved round by round so that
    their events interleave in the notification log (A1 B1 … A2 B2 …)."""
    ds = [Dossier(code=code) for code in codes]
    for d in ds:
        record.save(d)
    for round_ in range(notes):
        for d in ds:
            d.note(f"note {round_} of {d.code}")
            record.save(d)
    return ds


OPENED = f"{__name__}:Dossier.Opened"
NOTED = f"{__name__}:Dossier.Noted"


class Raw:
    """Direct SQL on the record's tables, bypassing the application (the attacker's view)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.pg = env["PERSISTENCE_MODULE"] == "adapters.record.postgres"
        if self.pg:
            import psycopg

            self.conn: Any = psycopg.connect(
                host=env["POSTGRES_HOST"],
                port=env["POSTGRES_PORT"],
                dbname=env["POSTGRES_DBNAME"],
                user=env["POSTGRES_USER"],
                password=env["POSTGRES_PASSWORD"],
                autocommit=True,
            )
            s = env["POSTGRES_SCHEMA"]
            self.events, self.chain, self.cps, self.nid = (
                f'"{s}".arrimage_events',
                f'"{s}".audit_chain',
                (f'"{s}".audit_checkpoints'),
                "notification_id",
            )
        else:
            self.conn = sqlite3.connect(env["SQLITE_DBNAME"], isolation_level=None)
            self.events, self.chain, self.cps, self.nid = "stored_events", "audit_chain", "audit_checkpoints", "rowid"

    def x(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        sql = sql.format(events=self.events, chain=self.chain, cps=self.cps, nid=self.nid)
        if self.pg:
            sql = sql.replace("?", "%s")
        cur = self.conn.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []

    def oid(self, value: UUID) -> Any:
        return value if self.pg else value.hex

    def event_at(self, nid: int) -> tuple[str, int, str]:
        oid, version, topic = self.x(
            "SELECT originator_id, originator_version, topic FROM {events} WHERE {nid}=?", nid
        )[0]
        return str(UUID(str(oid))), version, topic

    def close(self) -> None:
        self.conn.close()


def rewrite_history(raw: Raw, record: Record, nid: int, state: bytes) -> None:
    """The thorough attacker: edit an event, then recompute every chain row from there on."""
    raw.x("UPDATE {events} SET state = ? WHERE {nid} = ?", state, nid)
    raw.x("DELETE FROM {chain} WHERE notification_id >= ?", nid)
    seq, head = raw.x("SELECT seq, chain_hash FROM {chain} WHERE notification_id = ?", nid - 1)[0]
    rows = raw.x("SELECT {nid}, originator_id, originator_version, topic, state FROM {events} WHERE {nid} >= ?", nid)
    heads: dict[bytes, tuple[int, bytes]] = {}
    for _, oid, *_rest in rows:
        key = originator_key(UUID(str(oid)))
        found = raw.x(
            "SELECT notification_id, aggregate_hash FROM {chain} WHERE originator_id = ? "
            "ORDER BY originator_version DESC LIMIT 1",
            oid,
        )
        if found and key not in heads:
            heads[key] = (found[0][0], bytes(found[0][1]))
    inserted = [(n, originator_key(UUID(str(o))), v, t, bytes(s)) for n, o, v, t, s in rows]
    for r in link_batch(inserted, (seq, bytes(head)), heads):
        raw.x("INSERT INTO {chain} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", r[0], raw.oid(UUID(bytes=r[1])), *r[2:])
