"""Issue 13: the Merkle tree kept beside the chain by its follower (`adapters.record.tree`), on SQLite and
PostgreSQL (`store_env`): incremental and idempotent catch-up, two followers racing, a gap in the chain refused,
altered tree tables found; every root compared with the in-memory tree of ``domain.audit.merkle``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial

import pytest

from adapters.record.record import Record
from adapters.record.tree import MerkleHead, TreeError, TreeStore
from domain.audit import merkle
from tests.tamper_builders import Raw, interleaved_dossiers


def event_hashes(record: Record) -> list[bytes]:
    with record.audit_store().snapshot() as snap:
        return [bytes(r[6]) for r in snap.chain_rows()]


def memory(record: Record) -> merkle.MemoryNodes:
    return merkle.MemoryNodes(merkle.leaf_hash(e) for e in event_hashes(record))


def tree_rows(raw: Raw) -> int:
    return int(raw.x(f"SELECT count(*) FROM {raw.chain.replace('audit_chain', 'audit_tree')}")[0][0])


def test_catch_up_is_incremental_and_idempotent(record: Record, raw: Raw) -> None:
    tree = record.audit_tree(batch=4)
    assert tree.catch_up() == MerkleHead(0, merkle.EMPTY_ROOT)  # an empty chain: the empty tree
    ds = interleaved_dossiers(record, "ABC", 2)  # 9 events
    head = tree.catch_up()
    mem = memory(record)
    assert head == MerkleHead(9, merkle.root_at(mem, 9)) == tree.head()
    assert tree_rows(raw) == 9 - 9 .bit_count()  # one node of level >= 1 per merge: n - popcount(n)
    assert tree.catch_up() == head and tree_rows(raw) == 7  # again: nothing written
    for d in ds:
        d.note("later")
        record.save(d)
    assert tree.catch_up(until=10) == MerkleHead(10, merkle.root_at(memory(record), 10))  # up to a position
    head = tree.catch_up()
    mem = memory(record)
    assert head == MerkleHead(12, merkle.root_at(mem, 12))
    assert tree_rows(raw) == 12 - 12 .bit_count()
    for start, level in [(0, 3), (8, 2), (11, 0), (4, 1)]:
        assert tree.lookup(start, level) == mem(start, level)
    with pytest.raises(merkle.MissingNode):
        tree.lookup(12, 2)
    with pytest.raises(ValueError, match="not a perfect subtree"):
        tree.lookup(3, 1)


def test_the_tree_keeps_every_past_root(record: Record) -> None:
    interleaved_dossiers(record, "ABCDE", 3)  # 20 events
    tree = record.audit_tree(batch=3)
    tree.catch_up()
    hashes = event_hashes(record)
    for n in range(len(hashes) + 1):
        assert tree.read(partial(root_at, size=n)) == merkle.merkle_tree_hash(hashes[:n])


def root_at(lookup: merkle.NodeLookup, size: int) -> bytes:
    return merkle.root_at(lookup, size)


def test_two_followers_racing_build_one_tree(store_env: dict[str, str], record: Record, raw: Raw) -> None:
    """Two records over the one store (two connection pools), each with its follower, catching up at once in
    batches of 2 while events are appended: one tree, each node once, the heads' roots the in-memory ones."""
    other = Record(store_env)
    try:
        interleaved_dossiers(record, "ABCD", 4)  # 20 events
        trees = [record.audit_tree(batch=2), other.audit_tree(batch=2)]
        heads: list[list[MerkleHead]] = [[], []]
        errors: list[BaseException] = []
        go = threading.Barrier(2)

        def follow(i: int) -> None:
            try:
                go.wait()
                for _ in range(5):
                    heads[i].append(trees[i].catch_up())
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=follow, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        interleaved_dossiers(record, "EF", 2)  # 6 more while they run
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        final = trees[0].catch_up()
        mem = memory(record)
        assert final == MerkleHead(26, merkle.root_at(mem, 26)) == trees[1].catch_up()
        for h in heads[0] + heads[1]:
            assert h.root == merkle.root_at(mem, h.size)
        assert tree_rows(raw) == 26 - 26 .bit_count()
    finally:
        other.close()


@pytest.fixture
def gapped(record: Record, raw: Raw) -> Iterator[TreeStore]:
    interleaved_dossiers(record, "ABC", 2)  # 9 events
    raw.x("DELETE FROM {chain} WHERE seq = 6")
    yield record.audit_tree(batch=4)


def test_a_gap_in_the_chain_is_refused_naming_the_position(gapped: TreeStore) -> None:
    """The follower takes positions 1-4 (one batch), then refuses the batch that would skip position 6: nothing of
    it is written, and every later attempt says the same."""
    for _ in range(2):
        with pytest.raises(TreeError, match="no event at position 6 \\(the next stored is at 7\\)") as e:
            gapped.catch_up()
        assert e.value.position == 6
        assert gapped.head().size == 4


def test_altered_tree_nodes_are_refused(record: Record, raw: Raw) -> None:
    interleaved_dossiers(record, "ABC", 2)
    tree = record.audit_tree()
    tree.catch_up()
    raw.x(f"UPDATE {raw.chain.replace('audit_chain', 'audit_tree')} SET hash = ? WHERE level = 3", bytes(32))
    interleaved_dossiers(record, "D", 0)
    with pytest.raises(TreeError, match="do not fold to its stored root"):
        tree.catch_up()


def test_a_head_moved_back_is_refused_naming_the_node_beyond_it(record: Record, raw: Raw) -> None:
    """Nodes and head move together: a node stored beyond the head means the head was moved back."""
    interleaved_dossiers(record, "ABC", 2)
    tree = record.audit_tree()
    tree.catch_up()
    mem = memory(record)
    raw.x(f"UPDATE {raw.chain.replace('audit_chain', 'audit_tree_head')} SET size = 5, root = ? WHERE id = 1",
          merkle.root_at(mem, 5))
    with pytest.raises(TreeError, match="holds the node of positions 5 to 6 \\(level 1\\) beyond its head of size 5"):
        tree.catch_up()
