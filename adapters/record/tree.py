"""The record's Merkle tree (RFC 6962 / RFC 9162, ``domain.audit.merkle``) kept beside the chain (issue 13).

Leaf m (0-based) is the chain row at position ``seq = m + 1``, its entry that row's 32-byte ``event_hash``
(over the *stored* state: personal content is hashed as ciphertext, so crypto-shredding changes no leaf).
Two tables, named per application like the chain (`adapters.record.sql.audit_tables`):

- ``audit_tree (level, start, hash)``: the hash of every perfect subtree of level >= 1 that the tree's
  growth has completed (they never change: ``merkle`` "perfect subtrees are forever"); level 0 is not
  copied, it is ``leaf_hash`` of the chain row's ``event_hash``;
- ``audit_tree_head (id = 1, size, root)``: how many leaves the tree holds, and its root.

Built by a *follower* (`TreeStore.catch_up`), never in the append's transaction: the chain's hot path is
unchanged, and a tree behind the chain costs one catch-up before a proof. The follower cannot skip or
reorder an event: it reads the chain rows after its size in ``seq`` order and refuses any position other
than the next (`TreeError`, naming it); it restores its frontier from stored nodes and checks that it folds to
the stored root; nodes and the head move together in one transaction per batch, the head by a
compare-and-set, after a write that serialises followers (so two never interleave, and a crash leaves the
tree at a batch boundary). A dropped connection runs the batch again (`Dialect.retrying`): it reads the head
again, so a batch whose commit landed unacknowledged is not applied twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from adapters.record.sql import Dialect
from domain.audit.merkle import EMPTY_ROOT, HASH_SIZE, CompactRange, MissingNode, Node, NodeLookup, leaf_hash

T = TypeVar("T")

BATCH = 10_000
"""Chain rows per catch-up transaction."""


class TreeError(RuntimeError):
    """The tree cannot follow the chain as stored: a gap or a reorder at `position` (1-based seq), or stored
    tree nodes that do not fold to the stored root. Nothing of the batch was written."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class _Lost(Exception):
    """The head moved under this batch (another follower's compare-and-set won): the batch is redone."""


@dataclass(frozen=True)
class MerkleHead:
    """The tree as stored: `size` leaves (chained events), RFC 6962 `root` (``EMPTY_ROOT`` for none)."""

    size: int
    root: bytes


@dataclass(frozen=True)
class Leaf:
    """One leaf: its 0-based `index` in the tree (chain ``seq`` - 1), the event it is, and its entry."""

    index: int
    notification_id: int
    originator_id: str
    originator_version: int
    event_hash: bytes

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.event_hash)


def frontier(size: int) -> list[tuple[int, int]]:
    """(start, level) of the perfect subtrees covering [0, size), largest first (one per set bit)."""
    out: list[tuple[int, int]] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((start, level))
            start += 1 << level
    return out


def _check_position(start: int, level: int) -> None:
    if level < 0 or start < 0 or start % (1 << level):
        raise ValueError(f"[{start}, +2**{level}) is not a perfect subtree (start not a multiple of its size)")


class TreeStore:
    """The Merkle tree of one record's chain, over the store's `Dialect` (SQLite or PostgreSQL)."""

    def __init__(self, dialect: Dialect, batch: int = BATCH) -> None:
        if batch < 1:
            raise ValueError(f"a catch-up batch holds at least one row, not {batch}")
        self.dialect = dialect
        self.batch = batch

    # ------------------------------------------------------------------------------------------ the follower
    def catch_up(self, until: int | None = None) -> MerkleHead:
        """Append every chained event not in the tree yet (up to position `until` when given), batch by batch;
        the head after. Idempotent: a tree already caught up is read, not written."""
        caught_up = self.dialect.retrying(lambda: self._caught_up(until))
        if caught_up is not None:
            return caught_up  # nothing to add: no write, no lock taken
        while True:
            try:
                head, added = self.dialect.retrying(lambda: self._one_batch(until))
            except _Lost:
                continue  # another follower moved the head: read it again
            if added < self.batch:
                return head

    def _caught_up(self, until: int | None) -> MerkleHead | None:
        """The head when the chain holds no position after it (or it has reached `until`), else None."""
        with self.dialect.transaction(commit=False) as cursor:
            size, root = self._head(cursor)
            if until is not None and size >= until:
                return MerkleHead(size, root)
            cursor.execute(self.dialect.sql("SELECT seq FROM {chain} WHERE seq > ? ORDER BY seq LIMIT 1"), (size,))
            return MerkleHead(size, root) if cursor.fetchone() is None else None

    def _one_batch(self, until: int | None) -> tuple[MerkleHead, int]:
        sql = self.dialect.sql
        with self.dialect.transaction(commit=True) as cursor:
            cursor.execute(sql("INSERT INTO {tree_head} (id, size, root) VALUES (1, 0, ?) ON CONFLICT (id) DO NOTHING"),
                           (EMPTY_ROOT,))
            # A write first: followers queue here (SQLite's write lock, PostgreSQL's row lock), and what this
            # transaction reads next is the head the last one committed.
            cursor.execute(sql("UPDATE {tree_head} SET size = size WHERE id = 1"))
            size, root = self._head(cursor)
            limit = self.batch if until is None else max(0, min(self.batch, until - size))
            if limit == 0:
                return MerkleHead(size, root), 0
            cursor.execute(sql("SELECT seq, event_hash FROM {chain} WHERE seq > ? ORDER BY seq LIMIT ?"),
                           (size, limit))
            rows = cursor.fetchall()
            if not rows:
                return MerkleHead(size, root), 0
            self._nothing_beyond(cursor, size)
            compact = CompactRange(size, [self._node(cursor, s, lv, size) for s, lv in frontier(size)])
            if compact.root() != root:
                raise TreeError(f"the tree's stored nodes of size {size} do not fold to its stored root: "
                                "the tree tables were altered")
            nodes: list[Node] = []
            for row in rows:
                seq, eh = int(row["seq"]), bytes(row["event_hash"])
                if seq != compact.size + 1:
                    raise TreeError(
                        f"the chain has no event at position {compact.size + 1} (the next stored is at {seq}): "
                        "the tree never skips or reorders an event", compact.size + 1)
                if len(eh) != HASH_SIZE:
                    raise TreeError(f"the chain row at position {seq} holds an event hash of {len(eh)} bytes", seq)
                nodes.extend(n for n in compact.append_leaf_hash(leaf_hash(eh)) if n.level > 0)
            if nodes:
                cursor.executemany(sql("INSERT INTO {tree} (level, start, hash) VALUES (?, ?, ?)"),
                                   [(n.level, n.start, n.hash) for n in nodes])
            new = MerkleHead(compact.size, compact.root())
            cursor.execute(sql("UPDATE {tree_head} SET size = ?, root = ? WHERE id = 1 AND size = ?"),
                           (new.size, new.root, size))
            if self._head(cursor) != (new.size, new.root):
                raise _Lost  # rolls the batch back
            return new, len(rows)

    def _nothing_beyond(self, cursor: Any, size: int) -> None:
        """No stored node covers a leaf at or after `size`: nodes and head move together, so one there means the
        head was moved back (or a node written by hand). At level L the first such node starts at size rounded
        down to a multiple of 2**L; above the size's highest bit, any node is."""
        top = size.bit_length()
        terms = " OR ".join(["(level = ? AND start >= ?)"] * top + ["level > ?"])
        params = [v for level in range(1, top + 1) for v in (level, size >> level << level)] + [top]
        cursor.execute(self.dialect.sql(f"SELECT level, start FROM {{tree}} WHERE {terms} LIMIT 1"), params)
        row = cursor.fetchone()
        if row is not None:
            start, level = int(row["start"]), int(row["level"])
            raise TreeError(
                f"the tree holds the node of positions {start + 1} to {start + (1 << level)} (level {level}) beyond "
                f"its head of size {size}: the tree head was moved back or the tree tables altered", start + 1)

    def _head(self, cursor: Any) -> tuple[int, bytes]:
        cursor.execute(self.dialect.sql("SELECT size, root FROM {tree_head} WHERE id = 1"))
        row = cursor.fetchone()
        return (0, EMPTY_ROOT) if row is None else (int(row["size"]), bytes(row["root"]))

    def _node(self, cursor: Any, start: int, level: int, size: int | None = None) -> bytes:
        _check_position(start, level)
        if level == 0:
            cursor.execute(self.dialect.sql("SELECT event_hash FROM {chain} WHERE seq = ?"), (start + 1,))
            row = cursor.fetchone()
            found = leaf_hash(bytes(row["event_hash"])) if row is not None else None
        else:
            cursor.execute(self.dialect.sql("SELECT hash FROM {tree} WHERE level = ? AND start = ?"), (level, start))
            row = cursor.fetchone()
            found = bytes(row["hash"]) if row is not None else None
        if found is None:
            missing = MissingNode(start, level, size if size is not None else 0)
            if size is None:
                missing.args = (f"the store holds no node for leaves [{start}, {start + (1 << level)}) (level {level})"
                                + (": the chain has no event at that position" if level == 0 else ""),)
            raise missing
        return found

    # -------------------------------------------------------------------------------------------- reading
    def head(self) -> MerkleHead:
        """The tree's head as stored (not caught up: `catch_up` returns the head after it)."""

        def read() -> MerkleHead:
            with self.dialect.transaction(commit=False) as cursor:
                return MerkleHead(*self._head(cursor))

        return self.dialect.retrying(read)

    def lookup(self, start: int, level: int) -> bytes:
        """A `merkle.NodeLookup`: the hash of the perfect subtree [start, start + 2**level) (level 0: the leaf
        hash of the chain row at seq start + 1); `merkle.MissingNode` when the store holds none."""

        def read() -> bytes:
            with self.dialect.transaction(commit=False) as cursor:
                return self._node(cursor, start, level)

        return self.dialect.retrying(read)

    def read(self, work: Callable[[NodeLookup], T]) -> T:
        """`work` given a lookup over one read transaction (a root or proof of O(log n) look-ups in one
        round of connections), run again whole after a dropped connection."""

        def once() -> T:
            with self.dialect.transaction(commit=False) as cursor:
                return work(lambda start, level: self._node(cursor, start, level))

        return self.dialect.retrying(once)

    def leaf(self, *, notification_id: int | None = None, originator: bytes | None = None,
             version: int | None = None) -> Leaf | None:
        """The leaf of an event named by its notification id, or by its originator (hashing key,
        ``domain.audit.hashing.originator_key``) and version; None when the chain holds no such event."""
        if (notification_id is None) == (originator is None or version is None):
            raise ValueError("name an event by its notification id, or by its originator and version")
        d = self.dialect
        select = "SELECT notification_id, originator_id, originator_version, seq, event_hash FROM {chain} WHERE "
        params: tuple[Any, ...]
        if notification_id is not None:
            statement, params = select + "notification_id = ?", (notification_id,)
        else:
            assert originator is not None
            statement, params = (select + "originator_id = ? AND originator_version = ?",
                                 (d.stored_id(originator), version))

        def read() -> Leaf | None:
            with d.transaction(commit=False) as cursor:
                cursor.execute(d.sql(statement), params)
                row = cursor.fetchone()
            if row is None:
                return None
            okey = d.okey(row["originator_id"])
            oid = okey.decode() if d.text_ids else str(UUID(bytes=okey))
            return Leaf(int(row["seq"]) - 1, int(row["notification_id"]), oid, int(row["originator_version"]),
                        bytes(row["event_hash"]))

        return d.retrying(read)

    def leaves(self, after: int = 0, until: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(seq, event hash) of the chain rows at positions after `after` and up to `until`, in seq order, page
        by page (a read transaction each): for a caller that folds them into a `CompactRange`."""
        at = after
        while until is None or at < until:
            limit = self.batch if until is None else min(self.batch, until - at)

            def page(start: int = at, n: int = limit) -> list[tuple[int, bytes]]:
                with self.dialect.transaction(commit=False) as cursor:
                    cursor.execute(self.dialect.sql(
                        "SELECT seq, event_hash FROM {chain} WHERE seq > ? ORDER BY seq LIMIT ?"), (start, n))
                    return [(int(r["seq"]), bytes(r["event_hash"])) for r in cursor.fetchall()]

            rows = self.dialect.retrying(page)
            yield from rows
            if len(rows) < limit:
                return
            at = rows[-1][0]
