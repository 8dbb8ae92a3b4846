"""The Merkle tree of RFC 6962 / RFC 9162 (section 2.1) over the record's entries: pure, SHA-256.

Issue 13's foundation. Nothing here reads a store or the clock: the tree is defined over
*leaf hashes*, the algorithms that make proofs ask a ``NodeLookup`` for the hashes of perfect
subtrees, and the verifiers take bytes and sizes.

- ``leaf_hash(entry)`` = H(0x00 ‖ entry), ``node_hash(left, right)`` = H(0x01 ‖ left ‖ right); the
  tree of n > 1 leaves splits at k, the largest power of two smaller than n (``split``): left the
  first k leaves, right the rest. The empty tree's root is H("") (``EMPTY_ROOT``). The prefix bytes
  keep a leaf from ever passing for an inner node (second-preimage).
- **Perfect subtrees are forever.** The subtree [start, start + 2^level), start a multiple of 2^level,
  has the same hash in every tree that holds its leaves. A store keeps those hashes once, as
  the record grows (``CompactRange.append_leaf_hash`` returns the ones each append completes),
  and ``NodeLookup`` serves them: every root, inclusion proof and consistency proof below,
  for any past size, takes O(log n) look-ups, so 10 M events never need loading.
  ``MemoryNodes`` is the in-memory lookup (tests, small trees).
- ``CompactRange`` is the frontier: the roots of the perfect subtrees that make up [0, size)
  (one per set bit of size, largest first), O(log n) memory; its ``root()`` is the tree's root
  after each append, so a follower builds the tree over the record without keeping the events.

What the proofs show, in plain terms (an auditor's reading):

- An **inclusion proof** of entry m in a tree of size n and root R (R from a signed checkpoint)
  shows that this exact entry is the (m+1)-th leaf of *that* tree: changing one byte of it, its
  position, or the (size, root) pair makes the proof fail. The size is bound only through the
  root: the same proof and root can verify for another size whose tree has the same shape
  along the path, so size and root must both be read from the one signed checkpoint (likewise
  the new size of a consistency proof; the old size is bound). It holds about log2(n) hashes and
  reveals no other entry (only hashes of groups of them). It does **not** show that the entry
  is true, that it was recorded on time, that nothing else about the person exists, nor that
  the log showed everyone the same tree: that needs checkpoints compared between parties
  (witnesses), which is consistency's job.
- A **consistency proof** between sizes m ≤ n with roots R1 and R2 shows that the tree of R2 is
  the tree of R1 with entries appended: the first m entries are unchanged, none removed,
  reordered or inserted before m. A failure is ``old_root_mismatch`` when the proof's old tree
  is not R1's (a fork), except for a power-of-two m, whose R1 is itself a node of the new tree:
  there a fork fails as ``root_mismatch``. It does **not** show anything about the entries after m
  (they may be anything), nor that R1 was itself honest; and both roots must come from
  checkpoints the verifier trusts (signed, ideally co-signed by witnesses), since a proof
  only links two roots it is given.

Verification follows RFC 9162 2.1.3.2 and 2.1.4.2 step by step, after checking the sizes and
the proof's length (computed from the sizes alone); a failure raises ``MerkleProofError`` whose
``kind`` and message say what failed: which size, which proof hash, which root.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from hashlib import sha256

HASH_SIZE = 32
EMPTY_ROOT = sha256(b"").digest()
"""RFC 9162 2.1.1: the hash of the empty tree is the hash of the empty string."""

NodeLookup = Callable[[int, int], bytes]
"""``lookup(start, level)``: the hash of the perfect subtree of leaves [start, start + 2**level)
(start a multiple of 2**level; level 0 is a leaf hash). Raises ``LookupError`` when it holds no
such node (``MissingNode`` for ``MemoryNodes``)."""


def leaf_hash(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n ≥ 2): the size of the left subtree."""
    if n < 2:
        raise ValueError(f"a tree of size {n} does not split")
    return 1 << ((n - 1).bit_length() - 1)


def merkle_tree_hash(entries: Sequence[bytes]) -> bytes:
    """MTH of RFC 9162 2.1.1 over raw entries, through a compact range (O(log n) memory)."""
    compact = CompactRange()
    for entry in entries:
        compact.append_leaf_hash(leaf_hash(entry))
    return compact.root()


# --- the frontier -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A perfect subtree's hash: leaves [start, start + 2**level)."""

    start: int
    level: int
    hash: bytes

    @property
    def end(self) -> int:
        return self.start + (1 << self.level)


@dataclass
class CompactRange:
    """The roots of the perfect subtrees covering [0, size), largest (leftmost) first.

    ``hashes[i]`` covers 2**level leaves for each set bit of ``size``, from the highest bit. Append
    is a binary increment: the new leaf merges with as many trailing subtrees as ``size`` has
    trailing one bits. Restore a follower from a stored frontier with ``CompactRange(size, hashes)``.
    """

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"a compact range cannot have size {self.size}")
        if len(self.hashes) != self.size.bit_count():
            raise ValueError(
                f"a compact range of size {self.size} holds {self.size.bit_count()} hashes, not {len(self.hashes)}"
            )
        for i, h in enumerate(self.hashes):
            _check_hash(h, f"compact range hash {i}")

    def append_leaf_hash(self, leaf: bytes) -> list[Node]:
        """Add one leaf (a ``leaf_hash``); returns the perfect subtrees it completes, lowest first."""
        _check_hash(leaf, "leaf hash")
        completed = [Node(self.size, 0, leaf)]
        h, level = leaf, 0
        while self.size >> level & 1:
            h = node_hash(self.hashes.pop(), h)
            level += 1
            completed.append(Node(self.size + 1 - (1 << level), level, h))
        self.hashes.append(h)
        self.size += 1
        return completed

    def root(self) -> bytes:
        """The root of the tree of ``size`` leaves: the frontier folded from the right."""
        if not self.hashes:
            return EMPTY_ROOT
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = node_hash(h, r)
        return r

    def nodes(self) -> list[Node]:
        """The frontier as nodes (start, level, hash), leftmost first."""
        out: list[Node] = []
        start = 0
        for level in range(self.size.bit_length() - 1, -1, -1):
            if self.size >> level & 1:
                out.append(Node(start, level, self.hashes[len(out)]))
                start += 1 << level
        return out


# --- node look-ups ------------------------------------------------------------------------------


class MissingNode(LookupError):
    """A lookup holds no perfect subtree [start, start + 2**level)."""

    def __init__(self, start: int, level: int, size: int) -> None:
        self.start, self.level, self.size = start, level, size
        super().__init__(
            f"no node for leaves [{start}, {start + (1 << level)}) (level {level}) in a tree of {size} leaves"
        )


class MemoryNodes:
    """Every perfect subtree's hash, in lists per level: the in-memory ``NodeLookup``."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = []
        self.compact = CompactRange()
        for leaf in leaves:
            self.append_leaf_hash(leaf)

    @classmethod
    def of_entries(cls, entries: Iterable[bytes]) -> MemoryNodes:
        return cls(leaf_hash(e) for e in entries)

    @property
    def size(self) -> int:
        return self.compact.size

    def append_leaf_hash(self, leaf: bytes) -> None:
        for node in self.compact.append_leaf_hash(leaf):
            if node.level == len(self.levels):
                self.levels.append([])
            self.levels[node.level].append(node.hash)

    def __call__(self, start: int, level: int) -> bytes:
        if level < 0 or start < 0 or start % (1 << level):
            raise ValueError(f"[{start}, +2**{level}) is not a perfect subtree (start not a multiple of its size)")
        index = start >> level
        if level >= len(self.levels) or index >= len(self.levels[level]):
            raise MissingNode(start, level, self.size)
        return self.levels[level][index]


def subtree_root(lookup: NodeLookup, start: int, size: int) -> bytes:
    """MTH of leaves [start, start + size), start a multiple of the smallest power of two ≥ size.

    Those are the subtrees the RFC's recursion names (the whole tree, and the right part of a split),
    and each is its perfect subtrees, largest first, folded from the right.
    """
    if size <= 0:
        raise ValueError(f"a subtree of {size} leaves has no root")
    parts: list[bytes] = []
    at, left = start, size
    while left:
        level = left.bit_length() - 1
        parts.append(lookup(at, level))
        at += 1 << level
        left -= 1 << level
    r = parts[-1]
    for h in reversed(parts[:-1]):
        r = node_hash(h, r)
    return r


def root_at(lookup: NodeLookup, size: int) -> bytes:
    """The root of the tree of the first ``size`` leaves (any past size the lookup covers)."""
    if size < 0:
        raise ValueError(f"no tree of size {size}")
    return EMPTY_ROOT if size == 0 else subtree_root(lookup, 0, size)


# --- proofs -------------------------------------------------------------------------------------


def inclusion_proof(lookup: NodeLookup, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 2.1.3.1: sibling hashes from the leaf up to the root.

    Iterative form of the recursion: at most one sibling is not a perfect subtree (the right part
    at the first split where the path goes left; below it everything is perfect), so the proof
    costs O(log n) look-ups.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, n, m = 0, size, index
    while n > 1:
        k = split(n)
        if m < k:
            path.append(subtree_root(lookup, start + k, n - k))
            n = k
        else:
            path.append(lookup(start, k.bit_length() - 1))
            start, m, n = start + k, m - k, n - k
    path.reverse()
    return path


def consistency_proof(lookup: NodeLookup, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 2.1.4.1 (SUBPROOF with b = true), O(log n) look-ups.

    Empty when old_size is 0 or equal to new_size (nothing to prove beyond comparing roots).
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    start, m, n, whole = 0, old_size, new_size, True
    while m != n:
        k = split(n)
        if m <= k:
            proof.append(subtree_root(lookup, start + k, n - k))
            n = k
        else:
            proof.append(lookup(start, k.bit_length() - 1))
            start, m, n, whole = start + k, m - k, n - k, False
    if not whole:
        # SUBPROOF(m, D[m], false) = [MTH(D[m])]; here D[m] is a left part, hence perfect.
        proof.append(lookup(start, n.bit_length() - 1))
    proof.reverse()
    return proof


# --- verification -------------------------------------------------------------------------------


class ProofFailure(StrEnum):
    BAD_SIZE = "bad_size"  # index ≥ size, size 0, old size > new size
    WRONG_LENGTH = "wrong_length"  # not the number of hashes these sizes need
    BAD_HASH = "bad_hash"  # a proof hash, leaf hash or root that is not 32 bytes
    ROOT_MISMATCH = "root_mismatch"  # the root recomputed from the proof is not the one given
    OLD_ROOT_MISMATCH = "old_root_mismatch"  # consistency: the old tree's recomputed root differs


class MerkleProofError(ValueError):
    """A proof that does not verify; ``kind`` says how, the message names sizes, step and hashes."""

    def __init__(self, kind: ProofFailure, message: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}")


def inclusion_proof_length(index: int, size: int) -> int:
    """Hashes in PATH(index, D[size]): one per level where index and size - 1 differ (``inner``),
    plus one per level above them where the path takes a left sibling (the set bits left)."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_length(old_size: int, new_size: int) -> int:
    """Hashes in PROOF(old_size, D[new_size]), 0 < old_size < new_size: the inclusion path of the
    old tree's last leaf without the levels inside the perfect subtree that ends the old tree, plus
    that subtree's own root unless it is the whole old tree (old_size a power of two)."""
    shift = (old_size & -old_size).bit_length() - 1
    seed = 0 if old_size == 1 << shift else 1
    return seed + inclusion_proof_length(old_size - 1, new_size) - shift


def _check_hash(h: bytes, what: str) -> None:
    if len(h) != HASH_SIZE:
        raise MerkleProofError(ProofFailure.BAD_HASH, f"{what} is {len(h)} bytes, not {HASH_SIZE}")


def _short(h: bytes) -> str:
    return h[:8].hex() + "…"


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` and the leaf hash ``leaf`` at ``index`` give for a tree of ``size``
    (RFC 9162 2.1.3.2, steps 1–4 and the size half of step 5)."""
    if not 0 <= index < size:
        raise MerkleProofError(ProofFailure.BAD_SIZE, f"leaf {index} is not in a tree of size {size}")
    _check_hash(leaf, "the leaf hash")
    want = inclusion_proof_length(index, size)
    if len(proof) != want:
        raise MerkleProofError(
            ProofFailure.WRONG_LENGTH,
            f"the proof of leaf {index} in a tree of size {size} needs {want} hashes, it has {len(proof)}",
        )
    fn, sn, r = index, size - 1, leaf
    for step, p in enumerate(proof):
        _check_hash(p, f"proof hash {step}")
        if sn == 0:  # unreachable once the length is right; the RFC's own guard
            raise MerkleProofError(ProofFailure.WRONG_LENGTH, f"proof hash {step} is beyond the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:  # likewise
        raise MerkleProofError(ProofFailure.WRONG_LENGTH, f"the proof ends {sn.bit_length()} levels below the root")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ``MerkleProofError`` unless ``proof`` shows the leaf hash ``leaf`` is leaf ``index``
    of the tree of ``size`` leaves whose root is ``root`` (RFC 9162 2.1.3.2)."""
    _check_hash(root, "the root")
    got = root_from_inclusion_proof(index, size, leaf, proof)
    if got != root:
        raise MerkleProofError(
            ProofFailure.ROOT_MISMATCH,
            f"leaf {index} and its {len(proof)} proof hashes give root {_short(got)} for size {size}, "
            f"not {_short(root)}",
        )


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Raise ``MerkleProofError`` unless ``proof`` shows the tree (new_size, new_root) extends the
    tree (old_size, old_root) (RFC 9162 2.1.4.2).

    Size 0 is the empty tree (root ``EMPTY_ROOT``), a prefix of every tree: its proof is empty.
    Equal sizes need equal roots and an empty proof.
    """
    _check_hash(old_root, "the old root")
    _check_hash(new_root, "the new root")
    if not 0 <= old_size <= new_size:
        raise MerkleProofError(
            ProofFailure.BAD_SIZE, f"size {old_size} cannot be a prefix of a tree of size {new_size}"
        )
    want = 0 if old_size in (0, new_size) else consistency_proof_length(old_size, new_size)
    if len(proof) != want:
        raise MerkleProofError(
            ProofFailure.WRONG_LENGTH,
            f"the proof from size {old_size} to size {new_size} needs {want} hashes, it has {len(proof)}",
        )
    if old_size == 0:
        if old_root != EMPTY_ROOT:
            raise MerkleProofError(
                ProofFailure.OLD_ROOT_MISMATCH,
                f"the tree of size 0 has root {_short(EMPTY_ROOT)}, not {_short(old_root)}",
            )
        return
    if old_size == new_size:
        if old_root != new_root:
            raise MerkleProofError(
                ProofFailure.ROOT_MISMATCH,
                f"two different roots for size {old_size}: {_short(old_root)} and {_short(new_root)}",
            )
        return
    for step, c in enumerate(proof):
        _check_hash(c, f"proof hash {step}")
    # Step 2: when the old tree is a perfect subtree of the new one, its root is the path's seed.
    seeded = old_size & (old_size - 1) == 0
    path = [old_root, *proof] if seeded else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for step, c in enumerate(path[1:], start=0 if seeded else 1):  # step: the index in ``proof``
        if sn == 0:  # unreachable once the length is right; the RFC's own guard
            raise MerkleProofError(ProofFailure.WRONG_LENGTH, f"proof hash {step} is beyond the new root")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise MerkleProofError(ProofFailure.WRONG_LENGTH, f"the proof ends {sn.bit_length()} levels below the new root")
    if fr != old_root:
        raise MerkleProofError(
            ProofFailure.OLD_ROOT_MISMATCH,
            f"the proof gives root {_short(fr)} for the old size {old_size}, not {_short(old_root)}: "
            "the first entries differ (a fork) or the proof is wrong",
        )
    if sr != new_root:
        # With a power-of-two old size the old root is the proof's seed, so a fork shows here.
        fork = " (or the old tree is not its first entries)" if seeded else ""
        raise MerkleProofError(
            ProofFailure.ROOT_MISMATCH,
            f"the proof gives root {_short(sr)} for the new size {new_size}, not {_short(new_root)}{fork}",
        )
