"""A database copy checked in segments of notification ids, each in its own process (`--jobs N`), or one segment.

Each segment reads the rows with notification ids in (lo, hi] and checks each row as `verifier.check` does (the
same checks, the same order), in a loop that builds no object per row: the columns are hashed as they come from the
cursor (`hashlib` directly, the hash inputs packed by precompiled `Struct`s, topics encoded once). The fast pass
reads each stored event joined in SQL with its chain row (`JOINED_SQL`: one cursor, the aggregate and version
compared by SQLite); a chain row whose event is gone is not in that join, so the chain rows it covered are counted
(one `count(*)`), and if one was skipped the segment is read again from its start by the merge of the two tables'
streams (`_run`), as it is from the first row the fast pass does not pass. The merge's own fast loop hands a row it
does not pass, with the state of the pass and the row after it, to `check.row_problem`: the finding is then named
by the same code, in the same words, as the one-pass reader's.

A segment starts from the chain row before it *as stored* (its position and chain hash): a segment's rows pass
exactly when each links to its stored predecessor, so when every segment before it passes, the stored row it
starts from is the one the previous segment verified last (its recomputed position and hash): the parent checks
that seam, and re-runs a segment from the previous one's computed end if it ever did not hold. Segments after a
failing one do not count: the first failing position is the lowest over the segments counted, as in one pass.

An aggregate's previous event: the segment's own (bounded) memory of the aggregates it has seen, else the copy's
last chain row of that aggregate before this row (an index look-up). Every row before this one passed (the
segment's own, and those of the segments before it, else this one does not count), so that row is the last one a
single pass would hold for the aggregate, and its stored aggregate hash the one the pass recomputed there.

The tree: each segment folds its leaf hashes into aligned perfect subtrees (at most two per level); the parent
folds the segments' subtrees in order into the compact range of the whole, and, at each position a trusted
checkpoint speaks of, the stack captured there onto the segments before it, for the root at that position.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from hashlib import sha256
from itertools import zip_longest
from multiprocessing import get_context
from pathlib import Path
from struct import Struct
from typing import Any

from verifier.rows import (
    CHAIN_SQL,
    CHAIN_TABLE,
    EVENTS_SQL,
    EVENTS_TABLE,
    BadInput,
    Row,
    merged_row,
    not_hex,
    open_copy,
    step,
)

ZERO = bytes(32)
EVENT_HEADER = Struct(">cHIQq")  # verifier/README.md §2: tag, len(K), len(T), len(S), version
CHAIN_TAIL = Struct(">qqq")  # seq, notification id, the aggregate's previous notification id
HASH = 32
# The whole input of an aggregate hash and of a chain hash packed at once (the same bytes as their concatenation, for
# hashes of 32 bytes: a `32s` field pads or cuts any other length, so hashes as stored are checked for it first)
AGGREGATE_INPUT = Struct(">c32s32s")  # "A", the aggregate's previous aggregate hash, the event hash
LINK_INPUT = Struct(">c32sqqq32s32s")  # "C", previous chain hash, seq, notification id, previous nid, event, aggregate
PAGE = 20_000
CACHE = 100_000
MIN_SEGMENT = 20_000  # notification ids a segment process is given at least
TOP = (1 << 63) - 1  # the largest notification id SQLite holds: a segment open at its end
JOINED_SQL = (
    # Each stored event with its chain row, joined on the notification id by SQLite. Whether the chain row names the
    # same aggregate and version is one column, compared as Python compares them (`+`: no type affinity, so 5 and
    # '5' differ); no chain row at all gives NULL columns, which no check passes. A chain row with no event is not
    # in this join: `check_segment` counts the chain rows the fast pass covered.
    f"SELECT e.rowid, e.originator_id, e.originator_version, e.topic, e.state, "
    f"+c.originator_id IS +e.originator_id AND +c.originator_version IS +e.originator_version, "
    f"c.seq, c.aggregate_prev_nid, c.event_hash, c.aggregate_hash, c.chain_hash "
    f"FROM {EVENTS_TABLE} e LEFT JOIN {CHAIN_TABLE} c ON c.notification_id = e.rowid "
    f"WHERE e.rowid > ? AND e.rowid <= ? ORDER BY e.rowid"
)

Subtree = tuple[int, int, bytes]
"""(start, level, hash): the root of the perfect subtree of leaves [start, start + 2**level)."""


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


def fold(stack: list[Subtree], node: Subtree) -> None:
    """Push an aligned perfect subtree; merge it with its left sibling as long as they make a larger aligned one."""
    stack.append(node)
    while len(stack) > 1:
        s2, l2, h2 = stack[-1]
        s1, l1, h1 = stack[-2]
        if l1 != l2 or s1 % (2 << l1) or s1 + (1 << l1) != s2:
            return
        del stack[-1]
        stack[-1] = (s1, l1 + 1, node_hash(h1, h2))


def stack_root(stack: Sequence[Subtree]) -> bytes:
    """The root of the tree whose compact range is `stack` (leaves [0, n), largest subtree first)."""
    if not stack:
        return sha256(b"").digest()
    r = stack[-1][2]
    for _, _, h in reversed(stack[:-1]):
        r = node_hash(h, r)
    return r


def frontier(size: int) -> list[tuple[int, int]]:
    """(start, level) of the perfect subtrees of a tree of `size` leaves, largest (leftmost) first."""
    out, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((start, level))
            start += 1 << level
    return out


@dataclass(frozen=True)
class Start:
    """Where a segment begins: at `position`, from chain hash `chain`, the chain row at `notification_id` (0: none)."""

    position: int
    notification_id: int
    chain: bytes


@dataclass
class Mark:
    """The pass at a position a trusted checkpoint speaks of: the chain hash, the segment's stack, the row."""

    position: int
    chain: bytes
    stack: tuple[Subtree, ...]
    row: Row


@dataclass
class Segment:
    lo: int
    hi: int | None  # None: to the end
    start: Start
    position: int = 0
    last_nid: int = 0
    chain: bytes = ZERO
    problem: Any = None  # check.Problem (a segment's first finding)
    stack: list[Subtree] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


class _Heads:
    """The last (notification id, aggregate hash) of each aggregate before the row being checked: recent ones in a
    dict (insertion order is recency), the others from the copy's chain table (see the module's docstring)."""

    def __init__(
        self, conn: sqlite3.Connection, okey_text: Callable[[bytes], str], empty_before: bool, size: int = CACHE
    ) -> None:
        self.cache: dict[bytes, tuple[int, bytes]] = {}
        self.size = size
        self.conn = conn
        self.text = okey_text
        self.complete = empty_before  # nothing before the segment and nothing evicted: a miss is a first event
        self.before = 0  # the notification id of the row being checked

    def lookup(self, okey: bytes, before: int) -> tuple[int, bytes]:
        if self.complete:
            return 0, ZERO
        row = self.conn.execute(
            f"SELECT notification_id, aggregate_hash FROM {CHAIN_TABLE} WHERE originator_id = ? "
            "AND notification_id < ? ORDER BY notification_id DESC LIMIT 1",
            (self.text(okey), before),
        ).fetchone()
        return (0, ZERO) if row is None else (int(row[0]), bytes(row[1]))

    def get(self, okey: bytes) -> tuple[int, bytes]:  # `check.row_problem`'s interface
        found = self.cache.get(okey)
        return found if found is not None else self.lookup(okey, self.before)

    def put(self, okey: bytes, nid: int, agg: bytes) -> None:
        cache = self.cache
        cache.pop(okey, None)
        cache[okey] = (nid, agg)
        if len(cache) > self.size:
            del cache[next(iter(cache))]
            self.complete = False


def _pages(cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    while rows := cursor.fetchmany(PAGE):
        yield from rows


def stored_start(conn: sqlite3.Connection, lo: int) -> Start:
    """The chain row at or before notification `lo`, as stored (position 0 and zero hash when there is none)."""
    row = conn.execute(
        f"SELECT seq, chain_hash, notification_id FROM {CHAIN_TABLE} WHERE notification_id <= ? "
        "ORDER BY notification_id DESC LIMIT 1",
        (lo,),
    ).fetchone()
    if row is None or type(row[0]) is not int or not isinstance(row[1], bytes):
        return Start(0, 0, ZERO)
    return Start(row[0], row[2], bytes(row[1]))


def check_segment(
    path: str, text_ids: bool, lo: int, hi: int | None, start: Start | None, marks: frozenset[int], cache: int = CACHE
) -> Segment:
    """The rows with notification ids in (lo, hi], checked from `start` (None: the chain row before them, as
    stored). Runs in a worker process: plain arguments, a picklable result."""
    from verifier.check import row_problem  # the detailed checks; imported here: check imports this module

    conn = open_copy(Path(path))
    try:
        if start is None:
            start = stored_start(conn, lo)
        seg = Segment(lo, hi, start, start.position, start.notification_id, start.chain, stack=[])

        def okey_of(stored: str) -> bytes:
            try:
                k = stored.encode() if text_ids else bytes.fromhex(stored)
                if not text_ids and k.hex() != stored:  # one spelling per id: look-ups go by the stored text
                    raise ValueError(f"{stored!r} is not in lowercase hex digits")
            except ValueError as e:
                raise not_hex(Path(path), e) from None
            return k

        def text_of(okey: bytes) -> str:
            return okey.decode() if text_ids else okey.hex()

        empty_before = start.position == 0 and lo == 0
        heads = _Heads(conn, text_of, empty_before, size=cache)
        top = hi if hi is not None else TOP
        done = _joined(seg, conn.execute(JOINED_SQL, (lo, top)), heads, okey_of, marks)
        upto = top if done else seg.last_nid if seg.position > start.position else lo
        chained = conn.execute(
            f"SELECT count(*) FROM {CHAIN_TABLE} WHERE notification_id > ? AND notification_id <= ?", (lo, upto)
        ).fetchone()[0]
        if chained != seg.position - start.position:
            # a chain row with no stored event among the rows passed: the merge of the two streams decides, from
            # the segment's start (the fast pass's result is dropped)
            seg = Segment(lo, hi, start, start.position, start.notification_id, start.chain, stack=[])
            heads = _Heads(conn, text_of, empty_before, size=cache)
        elif done:
            return seg
        # from the first row the fast pass did not pass. Open-ended: the row after the segment is read too, as a
        # finding at its end may need it (rows swapped across the seam); the loop stops past `hi`
        after = seg.last_nid if seg.position > start.position else lo
        events = _pages(conn.execute(f"{EVENTS_SQL} WHERE rowid > ? ORDER BY rowid", (after,)))
        chain = _pages(conn.execute(f"{CHAIN_SQL} WHERE notification_id > ? ORDER BY notification_id", (after,)))
        _run(seg, events, chain, heads, okey_of, marks, row_problem)
        return seg
    finally:
        conn.close()


CHUNK_LEVEL = 10
CHUNK = 1 << CHUNK_LEVEL  # leaves hashed into one aligned subtree at a time, in list comprehensions


def _subtree(leaves: list[bytes]) -> bytes:
    level = leaves
    while len(level) > 1:
        level = [sha256(b"\x01" + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=True)]
    return level[0]


class Leaves:
    """The segment's leaf hashes on their way to its stack: a full aligned chunk of CHUNK leaves is hashed into one
    subtree at once; any other leaves (a segment's unaligned start, its end, a checkpoint's position) one by one."""

    def __init__(self, stack: list[Subtree], base: int) -> None:
        self.stack = stack
        self.base = base  # the leaf index of pending[0]
        self.pending: list[bytes] = []

    def flush(self) -> None:
        for i, h in enumerate(self.pending):
            fold(self.stack, (self.base + i, 0, h))
        self.base += len(self.pending)
        self.pending = []

    def chunk(self) -> None:
        """At an aligned chunk's end (called when the position is a multiple of CHUNK)."""
        if self.base % CHUNK == 0 and len(self.pending) == CHUNK:
            fold(self.stack, (self.base, CHUNK_LEVEL, _subtree(self.pending)))
            self.base += CHUNK
            self.pending = []
        else:
            self.flush()


def _joined(
    seg: Segment, cursor: sqlite3.Cursor, heads: _Heads, okey_of: Callable[[str], bytes], marks: frozenset[int]
) -> bool:
    """The hot loop over the joined rows (`JOINED_SQL`), a page at a time: the checks of `_run`'s fast loop on the
    same pairs, in the same order, one stored event and its chain row a row. True when it passed every row of the
    segment; False at the first row it does not pass (the segment's state is then that of the row before), which
    the merge of the two streams (`_run`) then reads again."""
    pack_event, pack_aggregate, pack_link = EVENT_HEADER.pack, AGGREGATE_INPUT.pack, LINK_INPUT.pack
    cache, size, lookup = heads.cache, heads.size, heads.lookup
    okeys: dict[str, bytes] = {}
    topics: dict[str, bytes] = {}
    leaves = Leaves(seg.stack, seg.position)
    append = leaves.pending.append
    position, last_nid, prev = seg.position, seg.last_nid, seg.chain
    ahead = sorted(m for m in marks if m > position)
    mark = ahead.pop(0) if ahead else -1
    mask = CHUNK - 1
    fetch = cursor.fetchmany
    done = len(prev) == HASH  # the start as stored (`pack_link` would pad or cut it): else the merge reads it
    while done and (page := fetch(PAGE)):
        for nid, oid, version, topic, state, same, seq, prev_nid, stored_eh, stored_agg, stored_link in page:
            if (
                not same
                or seq != position + 1
                or type(state) is not bytes
                or type(version) is not int
                or type(prev_nid) is not int
            ):
                done = False
                break
            okey = okeys.get(oid)
            if okey is None:
                try:
                    okey = okey_of(oid)
                except BadInput:  # said by the merge, in its order
                    done = False
                    break
                okeys[oid] = okey
                if len(okeys) > size:
                    okeys.clear()
            tb = topics.get(topic)
            if tb is None:
                tb = topics[topic] = topic.encode()
            hasher = sha256(pack_event(b"E", len(okey), len(tb), len(state), version) + okey + tb)
            hasher.update(state)
            eh = hasher.digest()
            h = cache.get(okey)
            if h is None:
                h = lookup(okey, nid)
                fresh = True
                if len(h[1]) != HASH:  # as stored: `pack_link` would pad or cut it
                    done = False
                    break
            else:
                fresh = False
            if eh != stored_eh or h[0] != prev_nid:
                done = False
                break
            agg = sha256(pack_aggregate(b"A", h[1], eh)).digest()
            link = sha256(pack_link(b"C", prev, seq, nid, prev_nid, eh, agg)).digest()
            if agg != stored_agg or link != stored_link:
                done = False
                break
            position = seq
            cache[okey] = (nid, agg)  # an aggregate keeps its place: the cache forgets the first seen first
            if fresh and len(cache) > size:
                del cache[next(iter(cache))]
                heads.complete = False
            prev, last_nid = link, nid
            append(sha256(b"\x00" + eh).digest())
            if not position & mask:
                leaves.chunk()
                append = leaves.pending.append
            if position == mark:
                leaves.flush()
                append = leaves.pending.append
                row = merged_row(position, (nid, oid, version, topic, state),
                                 (nid, oid, version, topic, seq, prev_nid, stored_eh, stored_agg, stored_link), okey_of)
                seg.marks.append(Mark(position, link, tuple(seg.stack), row))
                mark = ahead.pop(0) if ahead else -1
    seg.position, seg.last_nid, seg.chain = position, last_nid, prev
    leaves.flush()
    return done


def _run(
    seg: Segment,
    events: Iterator[tuple[Any, ...]],
    chain: Iterator[tuple[Any, ...]],
    heads: _Heads,
    okey_of: Callable[[str], bytes],
    marks: frozenset[int],
    row_problem: Any,
) -> None:
    """The hot loop: both streams in step, local names for everything it calls, no object built but hashes. The
    first pair out of step, or row that does not pass, goes to `_slow` (the detailed checks, one row at a time)."""
    pack_event, pack_tail = EVENT_HEADER.pack, CHAIN_TAIL.pack
    cache, size = heads.cache, heads.size
    okeys: dict[str, bytes] = {}
    topics: dict[str, bytes] = {}
    leaves = Leaves(seg.stack, seg.position)
    pending = leaves.pending
    position, last_nid, prev = seg.position, seg.last_nid, seg.chain
    hi = seg.hi if seg.hi is not None else float("inf")
    mask = CHUNK - 1
    left: tuple[Any, Any] | None = None
    for ev, ch in zip_longest(events, chain):
        if ev is None or ch is None or ev[0] != ch[0]:
            left = (ev, ch)
            break
        nid = ev[0]
        if nid > hi:
            break
        oid, version, state = ev[1], ev[2], ev[4]
        seq, prev_nid = ch[4], ch[5]
        if (
            seq != position + 1
            or oid != ch[1]
            or version != ch[2]
            or type(state) is not bytes
            or type(version) is not int
            or type(prev_nid) is not int
        ):
            left = (ev, ch)
            break
        okey = okeys.get(oid)
        if okey is None:
            okey = okeys[oid] = okey_of(oid)
            if len(okeys) > size:
                okeys.clear()
        topic = ev[3]
        tb = topics.get(topic)
        if tb is None:
            tb = topics[topic] = topic.encode()
        eh = sha256(pack_event(b"E", len(okey), len(tb), len(state), version) + okey + tb + state).digest()
        h = cache.get(okey)
        if h is None:
            h = heads.lookup(okey, nid)
            fresh = True
        else:
            fresh = False
        if eh != ch[6] or h[0] != prev_nid:
            left = (ev, ch)
            break
        agg = sha256(b"A" + h[1] + eh).digest()
        link = sha256(b"C" + prev + pack_tail(seq, nid, prev_nid) + eh + agg).digest()
        if agg != ch[7] or link != ch[8]:
            left = (ev, ch)
            break
        position = seq
        cache[okey] = (nid, agg)  # an aggregate keeps its place: the cache forgets the first seen first
        if fresh and len(cache) > size:
            del cache[next(iter(cache))]
            heads.complete = False
        prev, last_nid = link, nid
        pending.append(sha256(b"\x00" + eh).digest())
        if not position & mask:
            leaves.chunk()
            pending = leaves.pending
        if position in marks:
            leaves.flush()
            pending = leaves.pending
            seg.marks.append(Mark(position, link, tuple(seg.stack), merged_row(position, ev, ch, okey_of)))
    seg.position, seg.last_nid, seg.chain = position, last_nid, prev
    if left is not None:
        _slow(seg, left, events, chain, heads, okey_of, marks, row_problem, leaves)
    leaves.flush()


def _slow(
    seg: Segment,
    pair: tuple[Any, Any],
    events: Iterator[tuple[Any, ...]],
    chain: Iterator[tuple[Any, ...]],
    heads: _Heads,
    okey_of: Callable[[str], bytes],
    marks: frozenset[int],
    row_problem: Any,
    leaves: Leaves,
) -> None:
    """From a pair the fast loop did not pass: the streams merged a row at a time and each row given to the
    detailed checks (`check.row_problem`) with the row after it, until the first finding or the segment's end."""
    ev, ch = pair
    hi = seg.hi if seg.hi is not None else float("inf")
    position, last_nid, prev = seg.position, seg.last_nid, seg.chain
    while ev is not None or ch is not None:
        row = merged_row(position + 1, ev, ch, okey_of)
        if row.notification_id > hi:
            break
        ev, ch = step(ev, ch, events, chain)
        following = merged_row(position + 2, ev, ch, okey_of) if ev is not None or ch is not None else None
        heads.before = row.notification_id
        found, agg, link = row_problem(row, position + 1, last_nid, heads, prev, following)
        if found is not None:
            seg.problem = found
            break
        position += 1  # passed (a row the fast loop sends here only for a value of an unexpected type)
        heads.put(row.okey, row.notification_id, agg)
        prev, last_nid = link, row.notification_id
        leaves.pending.append(sha256(b"\x00" + (row.event_hash or b"")).digest())
        leaves.flush()
        if position in marks:
            seg.marks.append(Mark(position, link, tuple(seg.stack), row))
    seg.position, seg.last_nid, seg.chain = position, last_nid, prev


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def bounds(
    conn: sqlite3.Connection, lo: int, jobs: int, min_segment: int = MIN_SEGMENT
) -> list[tuple[int, int | None]]:
    """At most `jobs` ranges of notification ids after `lo`, of equal width, at least `min_segment` wide (the last
    one open)."""
    top = max(
        conn.execute("SELECT max(rowid) FROM stored_events").fetchone()[0] or 0,
        conn.execute(f"SELECT max(notification_id) FROM {CHAIN_TABLE}").fetchone()[0] or 0,
    )
    jobs = min(jobs, (top - lo) // max(min_segment, 1))  # a process for fewer rows costs more than it saves
    if jobs <= 1:
        return [(lo, None)]
    width = (top - lo) // jobs
    cuts = [lo + k * width for k in range(jobs)]
    return [(a, b) for a, b in zip(cuts, [*cuts[1:], None], strict=True)]


def run_segments(
    path: Path,
    text_ids: bool,
    start: Start,
    marks: frozenset[int],
    jobs: int,
    cache: int = CACHE,
    min_segment: int = MIN_SEGMENT,
) -> list[Segment]:
    """The segments after `start` (a trusted start: the first segment begins from it), in notification order,
    up to and including the first that fails; seams checked."""
    conn = open_copy(path)
    try:
        ranges = bounds(conn, start.notification_id, jobs, min_segment)
    finally:
        conn.close()
    starts: list[Start | None] = [start, *([None] * (len(ranges) - 1))]
    if len(ranges) == 1:
        done = [check_segment(str(path), text_ids, ranges[0][0], ranges[0][1], start, marks, cache)]
    else:
        method = "fork" if "fork" in _methods() else "spawn"
        with ProcessPoolExecutor(max_workers=len(ranges), mp_context=get_context(method)) as pool:
            futures = [
                pool.submit(check_segment, str(path), text_ids, lo, hi, s, marks, cache)
                for (lo, hi), s in zip(ranges, starts, strict=True)
            ]
            done = [f.result() for f in futures]
    out: list[Segment] = []
    for seg in done:
        if out:
            before = out[-1]
            seam = Start(before.position, before.last_nid, before.chain)
            if (seg.start.position, seg.start.chain) != (seam.position, seam.chain):
                # never when the segment before passed (see the module's docstring); if it did not hold, the
                # segment is checked again from where the one before ended, as one pass would
                seg = check_segment(str(path), text_ids, seg.lo, seg.hi, seam, marks, cache)
        out.append(seg)
        if seg.problem is not None:
            break
    return out


def _methods() -> list[str]:
    from multiprocessing import get_all_start_methods

    return get_all_start_methods()
