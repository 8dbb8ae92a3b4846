"""The Merkle tree of RFC 6962 / RFC 9162 2.1 (issue 13's foundation): `domain.audit.merkle`.

Test vectors: the 8-leaf tree of the Certificate Transparency reference tests, as published in
transparency-dev/merkle (`testonly/constants.go`: leaf inputs, node hashes, roots, compact trees;
`proof/verify_test.go`: inclusion and consistency proofs, there with 1-based leaf numbers, here
0-based indexes). Every value below was also recomputed independently, from the RFC's recursive
definitions (`mth`, `path`, `subproof` here, written straight from RFC 9162 2.1.1, 2.1.3.1 and
2.1.4.1 over plain lists), before it was written down; the property tests compare the module's
look-up based algorithms with those definitions on random trees.
"""

from __future__ import annotations

from hashlib import sha256

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryNodes,
    MerkleProofError,
    MissingNode,
    Node,
    ProofFailure,
    consistency_proof,
    consistency_proof_length,
    inclusion_proof,
    inclusion_proof_length,
    leaf_hash,
    merkle_tree_hash,
    node_hash,
    root_at,
    verify_consistency,
    verify_inclusion,
)


def h(x: str) -> bytes:
    return bytes.fromhex(x)


LEAVES = [
    h(x) for x in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
]

# transparency-dev/merkle testonly/constants.go NodeHashes(): [level][index].
NODES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]

# RootHashes(): the root of the tree of the first n leaves, n = 0..8.
ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# CompactTrees(): the frontier after n leaves, as (level, index) into NODES.
COMPACT = [[], [(0, 0)], [(1, 0)], [(1, 0), (0, 2)], [(2, 0)], [(2, 0), (0, 4)], [(2, 0), (1, 2)]]
COMPACT += [[(2, 0), (1, 2), (0, 6)], [(3, 0)]]

# proof/verify_test.go inclusionProofs (leaf number - 1 = index) and consistencyProofs.
INCLUSION = [
    (0, 8, [NODES[0][1], NODES[1][1], NODES[2][1]]),
    (5, 8, [NODES[0][4], NODES[1][3], NODES[2][0]]),
    (2, 3, [NODES[1][0]]),
    (1, 5, [NODES[0][0], NODES[1][1], NODES[0][4]]),
]
CONSISTENCY = [
    (1, 8, [NODES[0][1], NODES[1][1], NODES[2][1]]),
    (6, 8, [NODES[1][2], NODES[1][3], NODES[2][0]]),
    (2, 5, [NODES[1][1], NODES[0][4]]),
    (6, 7, [NODES[1][2], NODES[0][6], NODES[2][0]]),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


# --- the RFC's recursive definitions, over lists: the reference ---------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: list[bytes]) -> bytes:
    if not d:
        return sha256(b"").digest()
    if len(d) == 1:
        return sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    return [*path(m, d[:k]), mth(d[k:])] if m < k else [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = _k(n)
    return [*subproof(m, d[:k], b), mth(d[k:])] if m <= k else [*subproof(m - k, d[k:], False), mth(d[:k])]


def failure(call: object) -> ProofFailure:
    with pytest.raises(MerkleProofError) as e:
        assert callable(call)
        call()
    return e.value.kind


# --- vectors ------------------------------------------------------------------------------------


def test_leaf_and_node_hashes_are_the_reference_tree() -> None:
    nodes = MemoryNodes.of_entries(LEAVES)
    assert [leaf_hash(e) for e in LEAVES] == NODES[0]
    for level, row in enumerate(NODES):
        assert [nodes(i << level, level) for i in range(len(row))] == row
    assert node_hash(NODES[0][0], NODES[0][1]) == NODES[1][0]


def test_roots_of_sizes_0_to_8() -> None:
    nodes = MemoryNodes.of_entries(LEAVES)
    assert ROOTS[0] == EMPTY_ROOT
    for n in range(9):
        assert root_at(nodes, n) == ROOTS[n] == merkle_tree_hash(LEAVES[:n]) == mth(LEAVES[:n]), n


def test_the_compact_range_is_the_reference_frontier_after_each_append() -> None:
    compact = CompactRange()
    assert compact.root() == ROOTS[0]
    for n, entry in enumerate(LEAVES, start=1):
        compact.append_leaf_hash(leaf_hash(entry))
        assert compact.hashes == [NODES[level][i] for level, i in COMPACT[n]]
        assert [(x.level, x.start >> x.level) for x in compact.nodes()] == COMPACT[n]
        assert compact.root() == ROOTS[n]


def test_an_append_returns_the_subtrees_it_completes() -> None:
    compact = CompactRange(3, [NODES[1][0], NODES[0][2]])
    done = compact.append_leaf_hash(NODES[0][3])
    assert done == [Node(3, 0, NODES[0][3]), Node(2, 1, NODES[1][1]), Node(0, 2, NODES[2][0])]
    assert (compact.size, compact.hashes, done[-1].end) == (4, [NODES[2][0]], 4)


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_vectors(index: int, size: int, proof: list[bytes]) -> None:
    nodes = MemoryNodes.of_entries(LEAVES)
    assert inclusion_proof(nodes, index, size) == proof == path(index, LEAVES[:size])
    verify_inclusion(index, size, NODES[0][index], proof, ROOTS[size])


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_vectors_refuse_every_corruption(index: int, size: int, proof: list[bytes]) -> None:
    leaf, root = NODES[0][index], ROOTS[size]
    # the corruptions of transparency-dev/merkle's corruptInclusionProof, each with the failure it must name
    assert failure(lambda: verify_inclusion(index + 1, size, leaf, proof, root)) in {
        ProofFailure.ROOT_MISMATCH,
        ProofFailure.WRONG_LENGTH,
        ProofFailure.BAD_SIZE,
    }
    if index:
        assert failure(lambda: verify_inclusion(index - 1, size, leaf, proof, root)) in {
            ProofFailure.ROOT_MISMATCH,
            ProofFailure.WRONG_LENGTH,
        }
    assert failure(lambda: verify_inclusion(index ^ 2, size, leaf, proof, root)) != ProofFailure.BAD_HASH
    assert failure(lambda: verify_inclusion(index, size * 2, leaf, proof, root)) == ProofFailure.WRONG_LENGTH
    assert failure(lambda: verify_inclusion(index, size // 2, leaf, proof, root)) != ProofFailure.BAD_HASH
    assert failure(lambda: verify_inclusion(index, size, SOME_HASH, proof, root)) == ProofFailure.ROOT_MISMATCH
    assert failure(lambda: verify_inclusion(index, size, b"WrongLeaf", proof, root)) == ProofFailure.BAD_HASH
    assert failure(lambda: verify_inclusion(index, size, leaf, proof, EMPTY_ROOT)) == ProofFailure.ROOT_MISMATCH
    assert failure(lambda: verify_inclusion(index, size, leaf, proof, SOME_HASH)) == ProofFailure.ROOT_MISMATCH
    for longer in ([*proof, b""], [*proof, root], [b"", *proof], [root, *proof], [proof[0], SOME_HASH, *proof[1:]]):
        assert failure(lambda p=longer: verify_inclusion(index, size, leaf, p, root)) == ProofFailure.WRONG_LENGTH
    assert failure(lambda: verify_inclusion(index, size, leaf, proof[:-1], root)) == ProofFailure.WRONG_LENGTH
    for i in range(len(proof)):
        flipped = [bytes([p[0] ^ 8]) + p[1:] if j == i else p for j, p in enumerate(proof)]
        assert failure(lambda p=flipped: verify_inclusion(index, size, leaf, p, root)) == ProofFailure.ROOT_MISMATCH


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_vectors(old: int, new: int, proof: list[bytes]) -> None:
    nodes = MemoryNodes.of_entries(LEAVES)
    assert consistency_proof(nodes, old, new) == proof == subproof(old, LEAVES[:new], True)
    verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_vectors_refuse_every_corruption(old: int, new: int, proof: list[bytes]) -> None:
    r1, r2 = ROOTS[old], ROOTS[new]
    for m, n in ((old - 1, new), (old + 1, new), (old ^ 2, new), (old, new * 2), (old, new // 2)):
        with pytest.raises(MerkleProofError):
            verify_consistency(m, n, r1, r2, proof)
    assert failure(lambda: verify_consistency(old, new, b"WrongRoot", r2, proof)) == ProofFailure.BAD_HASH
    # an old tree of power-of-two size is a node of the new one: its root seeds the proof, a wrong one shows at the end
    seeded = old & (old - 1) == 0
    fork = ProofFailure.ROOT_MISMATCH if seeded else ProofFailure.OLD_ROOT_MISMATCH
    assert failure(lambda: verify_consistency(old, new, SOME_HASH, r2, proof)) == fork
    assert failure(lambda: verify_consistency(old, new, r1, SOME_HASH, proof)) == ProofFailure.ROOT_MISMATCH
    assert failure(lambda: verify_consistency(old, new, r2, r1, proof)) in {
        ProofFailure.OLD_ROOT_MISMATCH,
        ProofFailure.ROOT_MISMATCH,
    }
    for wrong in ([], [*proof, r1], [*proof, r2], [r1, *proof], [r2, *proof], [proof[0], *proof], proof[:-1]):
        assert failure(lambda p=wrong: verify_consistency(old, new, r1, r2, p)) == ProofFailure.WRONG_LENGTH
    for i in range(len(proof)):
        flipped = [bytes([p[0] ^ 16]) + p[1:] if j == i else p for j, p in enumerate(proof)]
        assert failure(lambda p=flipped: verify_consistency(old, new, r1, r2, p)) in {
            ProofFailure.OLD_ROOT_MISMATCH,
            ProofFailure.ROOT_MISMATCH,
        }


def test_trivial_consistency_and_the_errors_name_what_failed() -> None:
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    verify_consistency(5, 5, ROOTS[5], ROOTS[5], [])
    verify_inclusion(0, 1, NODES[0][0], [], ROOTS[1])
    with pytest.raises(MerkleProofError, match=r"^bad_size: size 6 cannot be a prefix of a tree of size 5$"):
        verify_consistency(6, 5, ROOTS[6], ROOTS[5], [])
    with pytest.raises(MerkleProofError, match=r"^root_mismatch: two different roots for size 5: 4e3bbb1f7b478dcf…"):
        verify_consistency(5, 5, ROOTS[5], ROOTS[6], [])
    with pytest.raises(MerkleProofError, match=r"^old_root_mismatch: the tree of size 0 has root e3b0c44298fc1c14…"):
        verify_consistency(0, 5, ROOTS[1], ROOTS[5], [])
    with pytest.raises(
        MerkleProofError, match=r"^wrong_length: the proof from size 5 to size 5 needs 0 hashes, it has 1$"
    ):
        verify_consistency(5, 5, ROOTS[5], ROOTS[5], [EMPTY_ROOT])
    with pytest.raises(
        MerkleProofError, match=r"^wrong_length: the proof from size 1 to size 2 needs 1 hashes, it has 0$"
    ):
        verify_consistency(1, 2, ROOTS[1], ROOTS[2], [])
    with pytest.raises(MerkleProofError, match=r"^bad_size: leaf 8 is not in a tree of size 8$"):
        verify_inclusion(8, 8, NODES[0][7], [], ROOTS[8])
    with pytest.raises(MerkleProofError, match=r"^bad_hash: proof hash 1 is 31 bytes, not 32$"):
        verify_inclusion(0, 8, NODES[0][0], [NODES[0][1], NODES[1][1][:31], NODES[2][1]], ROOTS[8])
    with pytest.raises(
        MerkleProofError,
        match=r"^root_mismatch: leaf 0 and its 3 proof hashes give root 5dc9da79a70659a9… for size 8, not ddb89be4",
    ):
        verify_inclusion(0, 8, NODES[0][0], INCLUSION[0][2], ROOTS[7])
    with pytest.raises(
        MerkleProofError, match=r"^old_root_mismatch: the proof gives root 76e67dadbcdf1e10… for the old"
    ):
        verify_consistency(6, 8, ROOTS[5], ROOTS[8], CONSISTENCY[1][2])


def test_the_size_is_bound_through_the_root_only() -> None:
    """What RFC 9162 proofs do not bind (the reason size and root are read from one signed checkpoint):
    leaf 0's path is the same shape in trees of 7 and 6 leaves, so tree 7's proof and root pass for 6;
    with tree 6's own root they fail. The old size of a consistency proof, by contrast, is bound."""
    proof = inclusion_proof(MemoryNodes.of_entries(LEAVES), 0, 7)
    verify_inclusion(0, 6, NODES[0][0], proof, ROOTS[7])
    assert failure(lambda: verify_inclusion(0, 6, NODES[0][0], proof, ROOTS[6])) == ProofFailure.ROOT_MISMATCH
    cproof = consistency_proof(MemoryNodes.of_entries(LEAVES), 6, 8)
    verify_consistency(6, 7, ROOTS[6], ROOTS[8], cproof)
    assert failure(lambda: verify_consistency(6, 7, ROOTS[6], ROOTS[7], cproof)) == ProofFailure.ROOT_MISMATCH
    assert failure(lambda: verify_consistency(5, 8, ROOTS[6], ROOTS[8], cproof)) != ProofFailure.BAD_HASH


def test_requests_outside_the_tree_are_refused_by_name() -> None:
    nodes = MemoryNodes.of_entries(LEAVES[:5])
    with pytest.raises(ValueError, match=r"^leaf 5 is not in a tree of size 5$"):
        inclusion_proof(nodes, 5, 5)
    with pytest.raises(ValueError, match=r"^no consistency proof from size 6 to size 5$"):
        consistency_proof(nodes, 6, 5)
    with pytest.raises(MissingNode, match=r"^no node for leaves \[4, 8\) \(level 2\) in a tree of 5 leaves$"):
        inclusion_proof(nodes, 0, 8)
    with pytest.raises(ValueError, match=r"^a compact range of size 3 holds 2 hashes, not 1$"):
        CompactRange(3, [NODES[1][0]])


# --- properties on random trees -----------------------------------------------------------------

# distinct entries, as the record's are (each event's bytes name it): with two equal entries a proof for
# one is, rightly, a proof for the other
entries = st.lists(st.binary(max_size=12), min_size=1, max_size=300, unique=True)
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Counting:
    """A lookup that counts its calls, to hold proofs to O(log n) look-ups."""

    def __init__(self, inner: MemoryNodes) -> None:
        self.inner, self.calls = inner, 0

    def __call__(self, start: int, level: int) -> bytes:
        self.calls += 1
        return self.inner(start, level)


@SETTINGS
@given(entries, st.data())
def test_every_inclusion_proof_verifies_and_binds_leaf_index_size_and_root(d: list[bytes], data: st.DataObject) -> None:
    nodes = MemoryNodes.of_entries(d)
    n = len(d)
    m = data.draw(st.integers(0, n - 1), label="index")
    counting = Counting(nodes)
    proof = inclusion_proof(counting, m, n)
    assert proof == path(m, d)
    assert len(proof) == inclusion_proof_length(m, n) <= n.bit_length()
    assert counting.calls <= 2 * n.bit_length()
    root, leaf = mth(d), leaf_hash(d[m])
    verify_inclusion(m, n, leaf, proof, root)

    changed = data.draw(st.binary(max_size=12).filter(lambda e: e != d[m]), label="changed leaf")
    assert failure(lambda: verify_inclusion(m, n, leaf_hash(changed), proof, root)) == ProofFailure.ROOT_MISMATCH
    other = data.draw(st.integers(0, n).filter(lambda i: i != m), label="other index")
    with pytest.raises(MerkleProofError):
        verify_inclusion(other, n, leaf, proof, root)
    assert failure(lambda: verify_inclusion(m, n, leaf, proof, SOME_HASH)) == ProofFailure.ROOT_MISMATCH
    # Another size, with the root of the tree of that size (the pair a checkpoint signs): refused.
    size = data.draw(st.integers(m + 1, n + 8).filter(lambda s: s != n), label="other size")
    bigger = d + [b"x%d" % i for i in range(size - n)]
    with pytest.raises(MerkleProofError):
        verify_inclusion(m, size, leaf, proof, mth(bigger[:size]))


@SETTINGS
@given(entries, st.data())
def test_every_consistency_proof_verifies_and_a_fork_or_a_wrong_size_does_not(
    d: list[bytes], data: st.DataObject
) -> None:
    nodes = MemoryNodes.of_entries(d)
    n = len(d)
    m = data.draw(st.integers(0, n), label="old size")
    counting = Counting(nodes)
    proof = consistency_proof(counting, m, n)
    assert proof == ([] if m in (0, n) else subproof(m, d, True))
    assert len(proof) == (0 if m in (0, n) else consistency_proof_length(m, n)) <= n.bit_length() + 1
    assert counting.calls <= 2 * n.bit_length() + 1
    r1, r2 = mth(d[:m]), mth(d)
    verify_consistency(m, n, r1, r2, proof)
    if m == 0:
        return
    # A fork: the log rewrote one entry before m and shows a tree built on it.
    i = data.draw(st.integers(0, m - 1), label="rewritten entry")
    forked = [*d[:i], d[i] + b"!", *d[i + 1 :]]
    forked_proof = consistency_proof(MemoryNodes.of_entries(forked), m, n)
    failed = failure(lambda: verify_consistency(m, n, r1, mth(forked), forked_proof))
    seeded = m == n or m & (m - 1) == 0
    assert failed == (ProofFailure.ROOT_MISMATCH if seeded else ProofFailure.OLD_ROOT_MISMATCH)
    # Another old size, with that size's own root: refused.
    other = data.draw(st.integers(1, n).filter(lambda s: s != m), label="other old size")
    with pytest.raises(MerkleProofError):
        verify_consistency(other, n, mth(d[:other]), r2, proof)
    # Another new size, with the root of the tree of that size: refused.
    grown = d + [b"y%d" % i for i in range(8)]
    size = data.draw(st.integers(max(m, 1), n + 8).filter(lambda s: s != n), label="other new size")
    with pytest.raises(MerkleProofError):
        verify_consistency(m, size, r1, mth(grown[:size]), proof)


@SETTINGS
@given(entries)
def test_the_compact_range_root_is_the_full_root_after_each_append(d: list[bytes]) -> None:
    compact, nodes = CompactRange(), MemoryNodes()
    for n, e in enumerate(d, start=1):
        for node in compact.append_leaf_hash(leaf_hash(e)):
            assert node.hash == mth(d[node.start : node.end])
        nodes.append_leaf_hash(leaf_hash(e))
        assert compact.root() == mth(d[:n]) == root_at(nodes, n)
        assert len(compact.hashes) == n.bit_count()
    # a follower restored from a stored frontier goes on where it stopped
    half = len(d) // 2
    restored = CompactRange()
    for e in d[:half]:
        restored.append_leaf_hash(leaf_hash(e))
    again = CompactRange(restored.size, list(restored.hashes))
    for e in d[half:]:
        again.append_leaf_hash(leaf_hash(e))
    assert again.root() == compact.root()


def test_proofs_at_ten_million_leaves_take_a_few_dozen_look_ups() -> None:
    """A store-backed lookup never loads the leaves: here the nodes are made up, what counts is the calls."""
    calls: list[tuple[int, int]] = []

    def lookup(start: int, level: int) -> bytes:
        assert start % (1 << level) == 0 and start + (1 << level) <= 10_000_000
        calls.append((start, level))
        return sha256(b"%d/%d" % (start, level)).digest()

    proof = inclusion_proof(lookup, 7_654_321, 10_000_000)
    assert len(proof) == inclusion_proof_length(7_654_321, 10_000_000) and len(calls) <= 48
    calls.clear()
    proof = consistency_proof(lookup, 9_876_543, 10_000_000)
    assert len(proof) == consistency_proof_length(9_876_543, 10_000_000) and len(calls) <= 49
