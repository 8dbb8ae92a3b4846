"""The audit trail's pure parts, without a database: hashes, the verifier over plain rows,
key rings, checkpoint signatures, and sealing of personal content (issue 4)."""

from __future__ import annotations

from uuid import UUID

import pytest

from adapters.record.keys import DEV_CHECKPOINT_KEYS, KeyConfigError, parse_key_ring
from adapters.record.popo import MemorySubjectKeys
from adapters.record.sealing import Place, open_sealed, seal
from adapters.record.signing import sign_checkpoint, signature_problem, trusted_public_keys
from domain.audit.hashing import ZERO, aggregate_hash, chain_hash, event_hash, link_batch, originator_key
from domain.audit.verify import ChainRow, ProblemKind, verify_rows

A = originator_key(UUID(int=1))
B = originator_key(UUID(int=2))


def rows() -> tuple[list[tuple[int, bytes, int, str, bytes]], list[ChainRow]]:
    events = [(1, A, 1, "t:Opened", b"a1"), (2, B, 1, "t:Opened", b"b1"), (3, A, 2, "t:Noted", b"a2")]
    return events, link_batch(list(events), None, {})


class NoIndex:
    def chain_row_for(self, originator: bytes, version: int) -> ChainRow | None:
        return None

    def event_nid_for(self, originator: bytes, version: int) -> int | None:
        return None

    def aggregate_hash_at(self, notification_id: int) -> bytes | None:
        return None


def test_link_batch_matches_the_published_formulas() -> None:
    events, chain = rows()
    e1, e2, e3 = (event_hash(o, v, t, s) for _, o, v, t, s in events)
    a1, a3 = aggregate_hash(ZERO, e1), aggregate_hash(aggregate_hash(ZERO, e1), e3)
    c1 = chain_hash(ZERO, 1, 1, 0, e1, a1)
    c2 = chain_hash(c1, 2, 2, 0, e2, aggregate_hash(ZERO, e2))
    assert chain[2] == (3, A, 2, "t:Noted", 3, 1, e3, a3, chain_hash(c2, 3, 3, 1, e3, a3))


def test_event_hash_separates_fields() -> None:
    """Lengths are in the header: moving a byte from topic to state changes the hash."""
    assert event_hash(A, 1, "ab", b"c") != event_hash(A, 1, "a", b"bc")
    assert event_hash(A, 1, "t", b"s") != event_hash(A, 2, "t", b"s")


def test_the_verifier_over_plain_rows() -> None:
    events, chain = rows()
    assert verify_rows(events, chain, NoIndex()).ok is True
    altered = [*events[:2], (3, A, 2, "t:Noted", b"A2")]
    problem = verify_rows(altered, chain, NoIndex()).problem
    assert problem is not None and (problem.kind, problem.notification_id) == (ProblemKind.ALTERED, 3)
    problem = verify_rows(events[:2], chain, NoIndex()).problem
    assert problem is not None and (problem.kind, problem.notification_id, problem.originator_version) == (
        ProblemKind.REMOVED,
        3,
        2,
    )


def test_the_aggregate_cache_can_be_tiny() -> None:
    """Memory is bounded: with a cache of one aggregate, look-ups fill in and verification agrees."""
    events, chain = rows()
    by_nid = {c[0]: c[7] for c in chain}

    class Index(NoIndex):
        def aggregate_hash_at(self, notification_id: int) -> bytes | None:
            return by_nid.get(notification_id)

    assert verify_rows(events, chain, Index(), cache_size=1).ok is True


def test_key_rings_parse_strictly() -> None:
    ring = parse_key_ring("k1:" + "A" * 43 + "=, k0:" + "B" * 43 + "=")
    assert (ring.active_id, ring.ids) == ("k1", ("k1", "k0"))
    with pytest.raises(KeyConfigError) as caught:
        parse_key_ring("k1:c2hvcnQ=")
    assert str(caught.value) == "key 'k1' must be 32 bytes, got 5"
    with pytest.raises(KeyConfigError) as caught:
        parse_key_ring("nokey")
    assert caught.value.code == "key_config"


def test_a_checkpoint_signature_covers_every_field() -> None:
    cp = sign_checkpoint(DEV_CHECKPOINT_KEYS, notification_id=9, count=9, chain_hash="ab" * 32, signed_at="2025-01-01",
                         store_id="store-1")
    trusted = trusted_public_keys(DEV_CHECKPOINT_KEYS)
    assert signature_problem(cp, trusted) is None
    from dataclasses import replace

    assert signature_problem(replace(cp, notification_id=8), trusted) == "signature does not verify"
    assert signature_problem(replace(cp, chain_hash="cd" * 32), trusted) == "signature does not verify"
    assert signature_problem(replace(cp, store_id="store-2"), trusted) == "signature does not verify"


def test_sealed_personal_content_is_bound_to_its_subject() -> None:
    keys = MemorySubjectKeys()
    kid, key = keys.key_for_writing("S-1")
    here = Place(UUID(int=1), 3, "personal")
    sealed = seal(kid, key, "S-1", b'{"name":"Marie"}', here)
    assert b"Marie" not in sealed["ct"].encode()
    assert open_sealed(key, "S-1", sealed, here) == b'{"name":"Marie"}'
    from cryptography.exceptions import InvalidTag

    with pytest.raises(InvalidTag):
        open_sealed(key, "S-2", sealed, here)
    # Bound to its place too (issue 9): another event of the same person, another version, another part.
    for elsewhere in (here._replace(originator_id=UUID(int=2)), here._replace(originator_version=4),
                      here._replace(part="characterisation")):
        with pytest.raises(InvalidTag):
            open_sealed(key, "S-1", sealed, elsewhere)
    assert keys.destroy("S-1", "now") == kid
    assert keys.key("S-1", kid) is None
