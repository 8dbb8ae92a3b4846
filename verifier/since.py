"""Where an incremental pass (`--since OLD.note`) resumes: the chain head and the tree's frontier at the size of a
checkpoint note the auditor verified before (verifier/README.md §7 says what it trusts and what it does not).

The note is read and its signature verified like any trusted checkpoint. From it alone come the size, the root and,
from its ``arrimage-chain`` line (which must be at its size), the position, notification id and chain hash the new
events chain from. The frontier (one subtree hash per set bit of the size) is not in the note: it is read from the
copy's stored tree nodes (`audit_tree`, level 0 from the chain rows' event hashes) or, failing that, recomputed
from the event hashes its chain rows record for the first `size` positions (no content read, one hash per leaf and
about one per node). Either way it is used only if it folds to the note's signed root: a frontier that does is the
tree's own (a different one would be a SHA-256 collision), so neither source is trusted. The copy's chain row at
the note's notification id must hold its position and chain hash, else the copy was rewritten at or before it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from hashlib import sha256

from verifier.rows import CHAIN_TABLE
from verifier.segments import CHUNK, Leaves, Subtree, frontier, stack_root
from verifier.trusted import Trusted

TREE_TABLE = "audit_tree"  # (level, start, hash) of the perfect subtrees of level >= 1 (adapters/record/tree.py)


class SinceRefused(Exception):
    """The copy does not hold the checkpoint the pass would resume from (named as a checkpoint mismatch)."""


@dataclass(frozen=True)
class Since:
    source: str
    size: int
    notification_id: int
    chain: bytes
    root: bytes
    frontier: tuple[Subtree, ...]
    how: str  # where the frontier came from, for the report


def chain_head(t: Trusted) -> tuple[int, bytes]:
    """(notification id, chain hash) the note signs at its size; ValueError when it signs none."""
    for m in t.marks:
        if (
            m.what == "chain"
            and m.position == t.size
            and m.notification_id is not None
            and isinstance(m.expected, bytes)
        ):
            return m.notification_id, m.expected
    raise ValueError(
        f"{t.source}: no 'arrimage-chain {t.size} …' line: the chain head at its size is not signed, "
        "so the new events' chain cannot resume from it"
    )


def read_since(conn: sqlite3.Connection, t: Trusted) -> Since:
    """The resume point of a verified note over this copy; `SinceRefused` when the copy does not hold it."""
    root = next(m.expected for m in t.marks if m.what == "root")
    assert isinstance(root, bytes)
    nid, chain = chain_head(t)
    if t.size == 0:
        return Since(t.source, 0, 0, bytes(32), root, (), "the empty tree")
    row = conn.execute(f"SELECT seq, chain_hash FROM {CHAIN_TABLE} WHERE notification_id = ?", (nid,)).fetchone()
    if row is None or row[0] != t.size or bytes(row[1]) != chain:
        found = "no chain row" if row is None else f"position {row[0]}, chain hash {bytes(row[1]).hex()}"
        raise SinceRefused(
            f"it signs position {t.size} and chain hash {chain.hex()} at notification {nid}; the copy "
            f"holds {found} there: the record was rewritten at or before it (a full pass names where)"
        )
    for how, read in (
        ("the copy's stored tree nodes", _stored),
        ("recomputed from the chain rows' recorded event hashes", _recomputed),
    ):
        nodes = read(conn, t.size)  # the second only when the first is missing or does not fold
        if nodes is not None and stack_root(nodes) == root:
            return Since(t.source, t.size, nid, chain, root, tuple(nodes), how)
    raise SinceRefused(
        f"the event hashes its chain rows record for the first {t.size} events do not give its "
        f"signed root {root.hex()}: a chain row below it was edited, or the note is of another tree"
    )


def _stored(conn: sqlite3.Connection, size: int) -> list[Subtree] | None:
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TREE_TABLE,)).fetchone() is None:
        return None
    out: list[Subtree] = []
    for start, level in frontier(size):
        if level == 0:
            row = conn.execute(f"SELECT event_hash FROM {CHAIN_TABLE} WHERE seq = ?", (start + 1,)).fetchone()
            h = sha256(b"\x00" + bytes(row[0])).digest() if row is not None else None
        else:
            row = conn.execute(
                f"SELECT hash FROM {TREE_TABLE} WHERE level = ? AND start = ?", (level, start)
            ).fetchone()
            h = bytes(row[0]) if row is not None else None
        if h is None:
            return None
        out.append((start, level, h))
    return out


def _recomputed(conn: sqlite3.Connection, size: int) -> list[Subtree] | None:
    stack: list[Subtree] = []
    leaves = Leaves(stack, 0)
    cursor = conn.execute(f"SELECT seq, event_hash FROM {CHAIN_TABLE} WHERE seq <= ? ORDER BY seq", (size,))
    m = 0
    while rows := cursor.fetchmany(20_000):
        for seq, eh in rows:
            if seq != m + 1 or not isinstance(eh, bytes):
                return None
            leaves.pending.append(sha256(b"\x00" + eh).digest())
            m += 1
            if not m % CHUNK:
                leaves.chunk()
    leaves.flush()
    return stack if m == size else None
