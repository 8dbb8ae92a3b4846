"""The rows the verifier reads: a bundle's `record.jsonl`, or the two tables of a SQLite database copy.

One `Row` per chain position, streamed (a file line or a page of a cursor at a time), so memory does not grow with
the record. A database copy gives two streams (stored events, chain rows) merged on the notification id: an event
the chain never recorded comes out with no chain fields, a chain row whose event is gone with no state; the checks
(`verifier.check`) name both. Nothing here hashes or judges: it reads and says what is malformed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from domain.audit.hashing import originator_from_key

_loads: Callable[[str | bytes], Any] = json.loads
try:  # a faster reader when installed (the engine has it); the standard library's otherwise
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover
    pass

RECORD = "record.jsonl"
EVENTS_TABLE = "stored_events"  # the record's events on SQLite (eventsourcing's application recorder)
CHAIN_TABLE = "audit_chain"
HEX_HASH = 64


class BadInput(ValueError):
    """The input cannot be read at all (a missing file, a database without the record's tables): exit 2."""


class Malformed(ValueError):
    """One row that cannot be read as the format says: named by its line, it is reported as a failure there."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


class Row(NamedTuple):
    """One position of the record: the stored event and the chain row recorded for it.

    `seq`, `prev_nid` and the three hashes are None for an event the chain never recorded; `state` is None for a
    chain row whose event is no longer stored (database copies only: a bundle's row has both)."""

    line: int  # where it was read: the line of record.jsonl, or the row's rank in the database's merge
    seq: int | None
    notification_id: int
    okey: bytes  # the originator id's hashing key (16 bytes of a UUID, or a text id's UTF-8)
    version: int
    topic: str
    state: bytes | None
    prev_nid: int | None
    event_hash: bytes | None
    aggregate_hash: bytes | None
    chain_hash: bytes | None
    chained: tuple[bytes, int] | None = None
    """(originator key, version) the chain recorded at this notification, when the stored event there is another
    (database copies: events swapped between notification ids)."""

    @property
    def aggregate(self) -> str:
        return originator_from_key(self.okey)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _int(obj: dict[str, Any], name: str, line: int, *, low: int = 0) -> int:
    value = obj.get(name)
    if type(value) is not int or value < low:
        raise Malformed(line, f"{name} is not a whole number of at least {low}")
    return value


def _hash(obj: dict[str, Any], name: str, line: int) -> bytes:
    value = obj.get(name)
    try:
        raw = bytes.fromhex(value) if type(value) is str and len(value) == HEX_HASH else b""
    except ValueError:
        raw = b""
    if len(raw) != HEX_HASH // 2:
        raise Malformed(line, f"{name} is not 64 hex digits")
    return raw


def _okey(obj: dict[str, Any], line: int) -> bytes:
    oid = obj.get("originator_id")
    if type(oid) is not str or not oid:
        raise Malformed(line, "originator_id is not text")
    text_id = obj.get("text_id", False)
    if text_id is True:
        return oid.encode()
    if text_id is not False:
        raise Malformed(line, "text_id is not true or false")
    if not _UUID.fullmatch(oid):
        raise Malformed(line, f"originator_id {oid!r} is not a UUID in canonical lowercase form (a text id is "
                              "marked text_id: true)")
    return bytes.fromhex(oid.replace("-", ""))


def parse_line(text: str | bytes, line: int) -> Row:
    """One line of record.jsonl as a `Row`; `Malformed` says which field is wrong."""
    try:
        obj = _loads(text)
    except ValueError as e:
        raise Malformed(line, f"not JSON ({e})") from None
    if type(obj) is not dict:
        raise Malformed(line, "not a JSON object")
    okey = _okey(obj, line)
    topic = obj.get("topic")
    if type(topic) is not str:
        raise Malformed(line, "topic is not text")
    state = obj.get("state")
    if state is None:  # a chain row whose event is no longer stored
        raw = None
    elif type(state) is not str:
        raise Malformed(line, "state is not base64 text")
    else:
        try:
            raw = base64.b64decode(state, validate=True)
        except (binascii.Error, ValueError):
            raise Malformed(line, "state is not base64") from None
    nid, version = _int(obj, "notification_id", line, low=1), _int(obj, "originator_version", line)
    if obj.get("seq") is None:  # a stored event the chain never recorded
        return Row(line, None, nid, okey, version, topic, raw, None, None, None, None)
    return Row(line, _int(obj, "seq", line, low=1), nid, okey, version, topic, raw,
               _int(obj, "aggregate_prev_nid", line), _hash(obj, "event_hash", line),
               _hash(obj, "aggregate_hash", line), _hash(obj, "chain_hash", line))


def bundle_rows(directory: Path) -> Iterator[Row]:
    """The rows of `directory/record.jsonl`, one line at a time (blank lines are refused: a row was cut)."""
    path = directory / RECORD
    try:
        handle = path.open("rb")
    except OSError as e:
        raise BadInput(f"{path}: cannot be read ({e.strerror or e})") from None
    with handle:
        for n, text in enumerate(handle, 1):
            if not text.endswith(b"\n"):
                raise Malformed(n, "the last line does not end with a newline (the file was cut)")
            yield parse_line(text, n)


def open_copy(path: Path) -> sqlite3.Connection:
    """A SQLite copy of the record opened read-only; `BadInput` when it is not one."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as e:
        raise BadInput(f"{path}: not a SQLite database ({e})") from None
    missing = [t for t in (EVENTS_TABLE, CHAIN_TABLE) if t not in tables]
    if missing:
        conn.close()
        raise BadInput(f"{path}: no table {' or '.join(missing)} (not a copy of an arrimage record)")
    return conn


def database_rows(path: Path, *, text_ids: bool = False, page: int = 10_000) -> Iterator[Row]:
    """The rows of a SQLite copy of the record (tables `stored_events` and `audit_chain`), read-only, both in
    notification order and merged. Originator ids are stored as the UUID's 32 hex digits, or as the text itself
    in a store made with ORIGINATOR_ID_TYPE=text (`text_ids`)."""
    conn = open_copy(path)

    def okey(stored: str) -> bytes:
        return stored.encode() if text_ids else bytes.fromhex(stored)

    def stream(sql: str) -> Iterator[tuple[Any, ...]]:
        cursor = conn.execute(sql)
        while rows := cursor.fetchmany(page):
            yield from rows

    # eventsourcing's SQLite table has no notification id column: the rowid is the notification id
    events = stream(f"{EVENTS_SQL} ORDER BY rowid")
    chain = stream(f"{CHAIN_SQL} ORDER BY notification_id")
    try:
        ev, ch = next(events, None), next(chain, None)
        n = 0
        while ev is not None or ch is not None:
            n += 1
            yield merged_row(n, ev, ch, okey)
            ev, ch = step(ev, ch, events, chain)
    except ValueError as e:  # an originator id that is not hex: a text-id store read without --text-ids
        raise not_hex(path, e) from None
    finally:
        conn.close()


EVENTS_SQL = f"SELECT rowid, originator_id, originator_version, topic, state FROM {EVENTS_TABLE}"
CHAIN_SQL = (f"SELECT notification_id, originator_id, originator_version, topic, seq, aggregate_prev_nid, "
             f"event_hash, aggregate_hash, chain_hash FROM {CHAIN_TABLE}")


def not_hex(path: Path, e: ValueError) -> BadInput:
    return BadInput(f"{path}: an originator id is not a UUID's hex ({e}); a store made with "
                    "ORIGINATOR_ID_TYPE=text is read with text ids")


def step(ev: Any, ch: Any, events: Iterator[Any], chain: Iterator[Any]) -> tuple[Any, Any]:
    """The next pair of the two streams merged by notification id (a row's first column): the lower side moves on,
    both when they name the same id."""
    if ch is None or (ev is not None and ev[0] < ch[0]):
        return next(events, None), ch
    if ev is None or ch[0] < ev[0]:
        return ev, next(chain, None)
    return next(events, None), next(chain, None)


def merged_row(n: int, ev: tuple[Any, ...] | None, ch: tuple[Any, ...] | None,
               okey: Callable[[str], bytes]) -> Row:
    """The `Row` at the head of the two streams (a stored events row, a chain row, in the columns of EVENTS_SQL
    and CHAIN_SQL): both when their notification ids are equal, else the lower one alone."""
    if ch is None or (ev is not None and ev[0] < ch[0]):  # an event the chain never recorded
        assert ev is not None
        return Row(n, None, ev[0], okey(ev[1]), ev[2], ev[3], bytes(ev[4]), None, None, None, None)
    if ev is None or ch[0] < ev[0]:  # a chain row whose event is gone: hashed as the chain recorded it
        return Row(n, ch[4], ch[0], okey(ch[1]), ch[2], ch[3], None, ch[5], bytes(ch[6]), bytes(ch[7]),
                   bytes(ch[8]))
    other = (okey(ch[1]), ch[2]) if (ev[1], ev[2]) != (ch[1], ch[2]) else None
    return Row(n, ch[4], ev[0], okey(ev[1]), ev[2], ev[3], bytes(ev[4]), ch[5], bytes(ch[6]), bytes(ch[7]),
               bytes(ch[8]), other)
