"""The hashes of the audit chain: one canonical byte form, three SHA-256 links.

The chain and the Merkle tree do two jobs. Verification streams the whole store
once in notification order anyway, and the linear chain is the cheapest structure
that names *the first event altered*, inserted, removed or reordered; an aggregate's
own chain serves one aggregate. The Merkle tree (``domain.audit.merkle``, RFC 6962,
kept beside the chain by ``adapters.record.tree``) has ``event_hash`` as its leaves'
entries and gives third parties O(log n) proofs against a signed checkpoint: that
one event is in the record (inclusion), and that a later record extends an earlier
one (consistency), without replaying or seeing any other event.

- ``event_hash``  = H("E" ‖ lengths ‖ originator id bytes ‖ version ‖ topic ‖ stored state).
  It covers the *stored* bytes, i.e. personal content as ciphertext, so
  destroying a subject's key (crypto-shredding) changes no hash.
- ``aggregate_hash`` = H("A" ‖ previous aggregate hash of the same originator ‖ event_hash)
  (32 zero bytes before the first event of an aggregate).
- ``chain_hash``  = H("C" ‖ previous chain hash ‖ seq ‖ notification id ‖
  previous notification id of the same aggregate ‖ event_hash ‖ aggregate_hash),
  over the whole store in notification order; ``seq`` is the 1-based position
  in the chain (no gaps, unlike PostgreSQL sequences), so a removed pair of
  rows shows as a jump. Every column of a chain row is under this hash, so the
  chain table cannot be edited in part without breaking it; the aggregate
  back-pointer (0 for an aggregate's first event) lets verification find the
  previous aggregate hash without keeping every aggregate in memory.

Lengths are fixed-width big-endian in a header so no two field tuples share a
byte form. Everything here is pure and works on ``bytes``: no pydantic, no UUID
objects in the hot loop (the readers hand over originator ids as 16 raw bytes).
"""

from __future__ import annotations

from hashlib import sha256
from struct import Struct
from uuid import UUID

ZERO = bytes(32)
"""The 'previous hash' before the first event (of the store or of an aggregate)."""

EVENT_HEADER = Struct(">cHIQq")  # tag, len(originator), len(topic), len(state), version
CHAIN_TAIL = Struct(">qqq")  # seq, notification id, previous notification id of the aggregate


def originator_key(originator_id: UUID | str) -> bytes:
    """The bytes an originator id is hashed as: 16 raw bytes for a UUID, UTF-8 otherwise."""
    return originator_id.bytes if isinstance(originator_id, UUID) else originator_id.encode()


def originator_from_key(key: bytes) -> str:
    """Readable form of an originator key, for reports."""
    return str(UUID(bytes=key)) if len(key) == 16 else key.decode(errors="replace")


def event_hash(originator: bytes, version: int, topic: str, state: bytes) -> bytes:
    t = topic.encode()
    return sha256(
        EVENT_HEADER.pack(b"E", len(originator), len(t), len(state), version) + originator + t + state
    ).digest()


def aggregate_hash(previous: bytes, ev_hash: bytes) -> bytes:
    return sha256(b"A" + previous + ev_hash).digest()


def chain_hash(
    previous: bytes, seq: int, notification_id: int, prev_nid: int, ev_hash: bytes, agg_hash: bytes
) -> bytes:
    return sha256(b"C" + previous + CHAIN_TAIL.pack(seq, notification_id, prev_nid) + ev_hash + agg_hash).digest()


LinkedRow = tuple[int, bytes, int, str, int, int, bytes, bytes, bytes]
"""(notification id, originator key, version, topic, seq, aggregate's previous notification id,
event hash, aggregate hash, chain hash): the columns of the chain table, in order."""


def link_batch(
    inserted: list[tuple[int, bytes, int, str, bytes]],
    head: tuple[int, bytes] | None,
    aggregate_head: dict[bytes, tuple[int, bytes]],
) -> list[LinkedRow]:
    """Chain rows for events just inserted, given the chain head (seq, hash) before them.

    ``aggregate_head`` maps each originator of the batch to the notification id
    and aggregate hash of its last chained event (absent: first event of that
    aggregate); it is updated.
    """
    seq, prev = head if head is not None else (0, ZERO)
    out: list[LinkedRow] = []
    for nid, okey, version, topic, state in sorted(inserted, key=lambda r: r[0]):
        eh = event_hash(okey, version, topic, state)
        prev_nid, prev_agg = aggregate_head.get(okey, (0, ZERO))
        agg = aggregate_hash(prev_agg, eh)
        aggregate_head[okey] = (nid, agg)
        seq += 1
        prev = chain_hash(prev, seq, nid, prev_nid, eh, agg)
        out.append((nid, okey, version, topic, seq, prev_nid, eh, agg, prev))
    return out
