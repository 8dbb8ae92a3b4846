"""Issue 13: the tree's frontier folded inside the verify pass (`domain.audit.verify.fold_subtree`). Ranges cut at
any positions, each folded from an empty stack and the lists folded in order, give exactly the
`merkle.CompactRange` of the whole (what a pass in forked ranges merges); a stack started from a frontier
continues it (an incremental pass)."""

from __future__ import annotations

import itertools
import random
from hashlib import sha256

import pytest

from domain.audit import merkle
from domain.audit.verify import Subtree, fold_subtree, frontier_hashes


def leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(sha256(i.to_bytes(4, "big")).digest()) for i in range(n)]


def folded(hashes: list[bytes], cuts: list[int]) -> list[Subtree]:
    bounds = [0, *cuts, len(hashes)]
    parts: list[list[Subtree]] = []
    for lo, hi in itertools.pairwise(bounds):
        stack: list[Subtree] = []
        for i in range(lo, hi):
            fold_subtree(stack, (i, 0, hashes[i]))
        assert len(stack) <= 2 * max(hi - lo, 1).bit_length()  # O(log n) per range, whatever its start
        parts.append(stack)
    whole = list(parts[0])
    for part in parts[1:]:
        for node in part:
            fold_subtree(whole, node)
    return whole


def test_every_cut_of_small_trees_folds_to_the_compact_range() -> None:
    for n in range(0, 34):
        hashes = leaves(n)
        compact = merkle.CompactRange()
        for h in hashes:
            compact.append_leaf_hash(h)
        for a in range(0, n + 1):
            for b in range(a, n + 1):
                assert frontier_hashes(folded(hashes, [a, b]), n) == tuple(compact.hashes), (n, a, b)


def test_random_cuts_of_larger_trees() -> None:
    rng = random.Random(13)
    for _ in range(30):
        n = rng.randint(1, 3_000)
        hashes = leaves(n)
        cuts = sorted(rng.sample(range(n + 1), rng.randint(0, 6)))
        stack = folded(hashes, cuts)
        want = merkle.MemoryNodes(hashes).compact.root()
        assert merkle.CompactRange(n, list(frontier_hashes(stack, n))).root() == want


def test_a_stack_started_from_a_frontier_continues_it() -> None:
    hashes = leaves(77)
    at = merkle.CompactRange()
    for h in hashes[:45]:
        at.append_leaf_hash(h)
    stack: list[Subtree] = [(node.start, node.level, node.hash) for node in at.nodes()]
    for i in range(45, 77):
        fold_subtree(stack, (i, 0, hashes[i]))
    assert merkle.CompactRange(77, list(frontier_hashes(stack, 77))).root() == merkle.MemoryNodes(hashes).compact.root()


def test_a_stack_that_is_not_the_frontier_is_refused() -> None:
    hashes = leaves(6)
    stack: list[Subtree] = []
    for i in range(1, 6):  # leaf 0 missing
        fold_subtree(stack, (i, 0, hashes[i]))
    with pytest.raises(ValueError, match="do not cover positions 1 to 6"):
        frontier_hashes(stack, 6)
