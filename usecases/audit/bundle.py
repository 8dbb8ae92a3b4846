"""The rows of an export bundle's `record.jsonl`: the record as an auditor's own verifier reads it (issue 13).

One JSON object per line, in notification order, merging the stored events and the chain rows of one snapshot:
``seq``, ``notification_id``, ``originator_id`` (the UUID in its canonical form; a store made with text ids adds
``"text_id": true`` and gives the id itself), ``originator_version``, ``topic``, ``state`` (base64 of the stored
bytes: personal content stays ciphertext, so a shredded person's events verify and do not read),
``aggregate_prev_nid``, and ``event_hash``, ``aggregate_hash``, ``chain_hash`` (hex). The store is written as it
is, faults included, so that the verifier names them: an event the chain never recorded has ``seq`` and the three
hashes null, a chain row whose event is gone has ``state`` null. The format and every formula: verifier/README.md.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import orjson

from adapters.record.record import Record


def _line(nid: int, okey: bytes, text_ids: bool, version: int, topic: str, state: bytes | None,
          chain: tuple[Any, ...] | None) -> bytes:
    row: dict[str, Any] = {
        "seq": None, "notification_id": nid, "originator_id": okey.decode() if text_ids else str(UUID(bytes=okey)),
        "originator_version": version, "topic": topic,
        "state": None if state is None else base64.b64encode(state).decode(),
        "aggregate_prev_nid": None, "event_hash": None, "aggregate_hash": None, "chain_hash": None,
    }
    if text_ids:
        row["text_id"] = True
    if chain is not None:
        row.update(seq=chain[4], aggregate_prev_nid=chain[5], event_hash=bytes(chain[6]).hex(),
                   aggregate_hash=bytes(chain[7]).hex(), chain_hash=bytes(chain[8]).hex())
    return orjson.dumps(row) + b"\n"


def record_lines(record: Record, *, until: int | None = None, page: int = 10_000) -> Iterator[bytes]:
    """The lines of record.jsonl up to notification `until` (None: the last), from one snapshot, streamed: the
    snapshot stays open while the caller iterates (close the iterator to end it early)."""
    audit = record.audit_store(page=page)
    with audit.snapshot() as snap:
        okey, text_ids = snap.dialect.okey, snap.dialect.text_ids
        events = snap.event_rows(0, until)
        chain = snap.chain_rows(0, until)
        ev, ch = next(events, None), next(chain, None)
        while ev is not None or ch is not None:
            if ch is None or (ev is not None and ev[0] < ch[0]):  # stored, never chained
                assert ev is not None
                yield _line(ev[0], okey(ev[1]), text_ids, ev[2], ev[3], bytes(ev[4]), None)
                ev = next(events, None)
            elif ev is None or ch[0] < ev[0]:  # chained, no longer stored
                yield _line(ch[0], okey(ch[1]), text_ids, ch[2], ch[3], None, ch)
                ch = next(chain, None)
            else:
                yield _line(ev[0], okey(ev[1]), text_ids, ev[2], ev[3], bytes(ev[4]), ch)
                ev, ch = next(events, None), next(chain, None)


