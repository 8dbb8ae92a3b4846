"""Issue 13: inclusion and consistency proofs from the record's tree and its signed C2SP checkpoint
(`usecases.audit.proofs`), on SQLite and PostgreSQL (`store_env`): every index of small trees, random sizes,
every pair of small sizes, a shredded person's events still proven and unreadable, and a checkpoint signed
only over a store that verifies and a tree that agrees with it."""

from __future__ import annotations

import random

import pytest

from adapters.record.keys import DEV_CHECKPOINT_KEYS, parse_key_ring
from adapters.record.record import Record
from domain.audit import merkle
from domain.audit.checkpoint import CheckpointError
from domain.audit.note import NoteError, parse_checkpoint
from tests.integration.test_audit_shredding import SHREDDED, Suivi
from tests.tamper_builders import NOW, Raw, interleaved_dossiers
from usecases.audit import proofs, trail


def event_hashes(record: Record) -> list[bytes]:
    with record.audit_store().snapshot() as snap:
        return [bytes(r[6]) for r in snap.chain_rows()]


def test_every_index_of_every_small_tree_is_proven(record: Record) -> None:
    interleaved_dossiers(record, "ABCD", 2)  # 12 events, notifications 1-12
    hashes = event_hashes(record)
    for size in range(1, 13):
        root = merkle.merkle_tree_hash(hashes[:size])
        for nid in range(1, size + 1):
            p = proofs.inclusion(record, nid, size)
            assert (p.index, p.size, p.notification_id, p.event_hash, p.root) == (nid - 1, size, nid, hashes[nid - 1],
                                                                                  root)
            merkle.verify_inclusion(p.index, size, merkle.leaf_hash(hashes[nid - 1]), p.proof, root)
        if size < 12:
            with pytest.raises(proofs.NotProvable, match=f"at position {size + 1}, after the tree of size {size}"):
                proofs.inclusion(record, size + 1, size)


def test_an_event_named_by_aggregate_and_version(record: Record) -> None:
    a, b = interleaved_dossiers(record, "AB", 1)
    p = proofs.inclusion(record, proofs.EventRef.parse(f"{b.id}@2"))
    assert (p.notification_id, p.aggregate_id, p.version, p.size) == (4, str(b.id), 2, 4)
    with pytest.raises(proofs.NotProvable, match="holds no chained event"):
        proofs.inclusion(record, proofs.EventRef.parse(f"{a.id}@3"))
    with pytest.raises(proofs.NotProvable, match="holds no chained event notification 99"):
        proofs.inclusion(record, 99)
    with pytest.raises(proofs.NotProvable, match="has no tree of size 5"):
        proofs.inclusion(record, 1, 5)


def test_random_sizes(record: Record) -> None:
    interleaved_dossiers(record, "ABCDEFGHIJ", 6)  # 70 events
    hashes = event_hashes(record)
    rng = random.Random(13)
    for _ in range(40):
        size = rng.randint(1, 70)
        index = rng.randrange(size)
        p = proofs.inclusion(record, index + 1, size)
        p.verify(merkle.merkle_tree_hash(hashes[:size]))
        old = rng.randint(0, size)
        merkle.verify_consistency(old, size, merkle.merkle_tree_hash(hashes[:old]), p.root,
                                  proofs.consistency(record, old, size))


def test_consistency_between_every_pair_of_small_sizes(record: Record) -> None:
    interleaved_dossiers(record, "ABC", 3)  # 12 events
    roots = [proofs.root_at(record, n) for n in range(13)]
    hashes = event_hashes(record)
    assert roots == [merkle.merkle_tree_hash(hashes[:n]) for n in range(13)]
    for new in range(13):
        for old in range(new + 1):
            merkle.verify_consistency(old, new, roots[old], roots[new], proofs.consistency(record, old, new))
    with pytest.raises(proofs.NotProvable, match="from size 5 to size 4"):
        proofs.consistency(record, 5, 4)
    with pytest.raises(proofs.NotProvable, match="no tree of size 13"):
        proofs.consistency(record, 1, 13)


def test_shredding_leaves_every_proof_valid_and_the_content_unreadable(record: Record) -> None:
    marie = Suivi(subject_id="S-001", personal={"name": "Marie Tremblay"}, team="CLSC-1")
    marie.update_contact(subject_id="S-001", personal={"phone": "438-555-0199"})
    jean = Suivi(subject_id="S-002", personal={"name": "Jean Gagnon"}, team="CLSC-2")
    record.save(marie, jean)
    before = proofs.sign_tree_checkpoint(record, now=NOW)
    head = parse_checkpoint(before.text)
    kept = [proofs.inclusion(record, nid, head.size) for nid in range(1, head.size + 1)]

    trail.shred(record, "S-001", by="responsable-acces", reason="decision D-2025-17", now=NOW)

    assert record.repository.get(marie.id).personal == SHREDDED
    after = parse_checkpoint(proofs.sign_tree_checkpoint(record, now=NOW).text)
    assert after.size == head.size + 1  # the erasure's own event
    for old in kept:
        again = proofs.inclusion(record, old.notification_id, head.size)
        assert again == old  # the same leaf, path and root: a ciphertext's hash does not need its key
        again.verify(head.root_hash)
        proofs.inclusion(record, old.notification_id, after.size).verify(after.root_hash)
    merkle.verify_consistency(head.size, after.size, head.root_hash, after.root_hash,
                              proofs.consistency(record, head.size, after.size))


def test_the_signed_checkpoint(record: Record) -> None:
    with pytest.raises(CheckpointError, match="the store is empty"):
        proofs.sign_tree_checkpoint(record, now=NOW)
    interleaved_dossiers(record, "ABC", 2)
    cp, note = proofs.checkpoint_with_note(record, now=NOW)
    sid = trail.store_id(record)
    assert sid is not None
    vkey = proofs.log_verifier(record)
    assert str(vkey).startswith(f"arrimage/{sid}+")
    opened = proofs.open_tree_checkpoint(str(note), vkey)
    assert opened.head.origin == f"arrimage/{sid}"
    assert (opened.head.size, opened.head.root_hash) == (9, merkle.merkle_tree_hash(event_hashes(record)))
    assert opened.head.extensions == (f"arrimage-chain 9 9 {cp.chain_hash}", "arrimage-time 2026-11-23T15:00:00Z")
    # Another seed's key (another ring) does not open it.
    other = proofs.log_key(sid, parse_key_ring("k:" + "A" * 43 + "=")).verifier
    with pytest.raises(NoteError, match=r"invalid signature|no signature by a known key"):
        proofs.open_tree_checkpoint(str(note), other)
    assert proofs.log_verifier(record, DEV_CHECKPOINT_KEYS) == vkey


def test_no_checkpoint_over_a_tampered_store_or_an_altered_tree(record: Record, raw: Raw) -> None:
    interleaved_dossiers(record, "ABC", 2)
    proofs.sign_tree_checkpoint(record, now=NOW)
    tree_table = raw.chain.replace("audit_chain", "audit_tree")
    # A node the root at 9 rests on (the frontier of 9 is [0, 8) and [8, 9)); one it does not rest on would fail
    # the inclusion proofs that use it, against the signed root.
    raw.x(f"UPDATE {tree_table} SET hash = ? WHERE level = 3 AND start = 0", bytes(32))
    with pytest.raises(CheckpointError, match="not the ones the verified chain gives"):
        proofs.sign_tree_checkpoint(record, now=NOW, full=True)
    # Resumed from the note kept at size 9, whose signed root the altered node no longer gives.
    with pytest.raises(CheckpointError, match=r"from the tree checkpoint of size 9 signed .* rewritten below it"):
        proofs.sign_tree_checkpoint(record, now=NOW)
    raw.x(f"DELETE FROM {tree_table}")
    raw.x(f"DELETE FROM {raw.chain.replace('audit_chain', 'audit_tree_head')}")
    proofs.sign_tree_checkpoint(record, now=NOW)  # rebuilt from the chain by the follower
    raw.x("UPDATE {events} SET state = ? WHERE {nid} = 5", b"{}")
    with pytest.raises(CheckpointError, match=r"will not sign this store's tree: .*notification 5"):
        proofs.sign_tree_checkpoint(record, now=NOW, full=True)  # before the kept note: the full verify's
    with pytest.raises(proofs.NotProvable, match="no longer hashes to its chain entry"):
        proofs.inclusion(record, 5)
