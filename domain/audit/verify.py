"""Verification of the chain: a pure function over two streams of rows.

Inputs, both in ascending notification id:

- stored events ``(notification_id, originator_key, version, topic, state)``,
- chain rows ``(notification_id, originator_key, version, topic, seq,
  aggregate_prev_nid, event_hash, aggregate_hash, chain_hash)``,

plus a small ``ChainIndex`` (point look-ups, used only to classify a problem
and on aggregate-cache misses) and optional signed checkpoints. The snapshot
readers of ``adapters.record`` feed it from SQLite or PostgreSQL with one
database snapshot, so a verify that runs while others write sees a consistent
store. No clock here: the caller times the run (``VerifyReport.seconds``).

Memory is flat: two cursors, the running chain hash, and a bounded cache of
the last (notification id, aggregate hash) per recently seen aggregate. Each
chain row points back to its aggregate's previous notification id (0 for a
first event), so a first event costs nothing and a cache miss costs one
primary-key look-up of a chain row this same pass already verified. Work per
event: three SHA-256 over short byte strings and a few comparisons of bytes.

In ranges (issue 12: one Python process tops out near 145,000 events per CPU second here): `verify_range`
checks the rows after a chain row *as stored* (its position and hash) up to the range's end, and
`merge_ranges` joins the ranges in notification order. A chain recomputed from zero passes exactly when each
row's link from its stored predecessor matches (by induction the recomputed hash of every passing row is the
stored one), and the aggregate hash before an event is, cached or looked up, the bytes stored at its
aggregate's previous notification: so the first problem of the first range that has one is the one pass's,
with the same counts, head and milestones (`good_before` gives a range the last milestone or checkpoint met
before it, which words a checkpoint mismatch). `verify_rows` is one range. Where the ranges run (processes)
is ``adapters.record.ranges``' and ``usecases.audit.trail.verify``'s.

The hot path of a range (`verify_joined`): the stored events joined with their chain rows by the store, one
stream, the identity of the two rows compared there; it stops before the first row that would need more than
passing, and `verify_range` goes on from there over the two streams and names the problem (a range in two parts,
merged as two ranges). A chain row with no event is not in a join: the caller counts the chain rows the join
covered, and checks the range with `verify_range` alone when there are more.

It stops at the **first** problem, in notification order, and names it:

=================  ==============================================================
``altered``        the stored event's bytes no longer hash to what was chained
                   (state, topic or identity edited in place).
``inserted``       a stored event that the chain never recorded (forged row).
``reordered``      the event is one the chain recorded, but at another position
                   (notification ids, or versions, swapped).
``removed``        the chain recorded an event that is no longer stored, or a
                   chain position is missing (event and chain rows both deleted).
``chain_altered``  the events verify but the chain table itself was edited.
``checkpoint_mismatch``  the recomputed chain disagrees with a signed checkpoint:
                   history and chain table were rewritten together. Named at the
                   first of the checkpoint's milestones it no longer meets (format
                   /3): the rewritten event itself in a store of up to 1,024
                   events, within one milestone step beyond; at the head for /1, /2.
``truncated``      the store ends before a signed checkpoint's head: the tail
                   was removed.
``bad_signature``  a checkpoint's signature does not verify, or its key is not
                   trusted (checked first).
``other_store``    a checkpoint is of another store (its store id; checked first).
=================  ==============================================================

The tree's frontier (issue 13), when asked (``subtrees``): the verified rows' event hashes, in position order,
are the leaves of the record's Merkle tree, folded as they pass into the perfect subtrees they complete
(`fold_subtree`). A range started at any position keeps the subtrees of its own leaves (at most 2 log n, the
blocks of its positions that no sibling of its own completes), and `merge_ranges` folds the ranges' lists in
order: from position 0, that is exactly the `merkle.CompactRange` frontier at the head (`frontier_hashes`), so
the report carries the tree's root at the verified head without a second read. Why not one `CompactRange`
per range: ranges are cut at notification ids, so they start at any position, and a compact range only
covers [0, size); aligning the cuts to powers of two would bend the cutting to the tree for nothing, since a
list of subtrees merges the same way wherever a range starts.

What it cannot see on its own: someone who rewrites events *and* recomputes
the whole chain table consistently, or cuts the tail of both tables. Those are
what signed checkpoints kept outside the database are for; without one, verify
proves internal consistency only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from hashlib import sha256
from itertools import zip_longest
from struct import Struct
from typing import Any, Protocol

from domain.audit.checkpoint import MILESTONE_HEX, MILESTONES_MAX, Checkpoint, milestone_step
from domain.audit.hashing import CHAIN_TAIL, EVENT_HEADER, ZERO, event_hash, originator_from_key
from domain.audit.merkle import CompactRange, node_hash

EventRow = tuple[int, bytes, int, str, bytes]
ChainRow = tuple[int, bytes, int, str, int, int, bytes, bytes, bytes]
Subtree = tuple[int, int, bytes]
"""(start, level, hash): the perfect subtree of the tree's leaves [start, start + 2**level) (0-based leaves)."""


def fold_subtree(stack: list[Subtree], node: Subtree) -> None:
    """Push a subtree just right of the stack's last one, merging it with its left sibling while that is the
    stack's last (a binary increment, as `merkle.CompactRange.append_leaf_hash`). Adjacent subtrees in the
    stack are then never siblings; from position 0 that leaves one subtree per set bit of the size, largest
    first: the frontier (the next one's level must be smaller, else the two would be siblings)."""
    start, level, h = node
    while stack and start >> level & 1:
        s, lv, left = stack[-1]
        if lv != level or s + (1 << level) != start:
            break
        stack.pop()
        start, level, h = s, level + 1, node_hash(left, h)
    stack.append((start, level, h))


def frontier_hashes(stack: Sequence[Subtree], size: int) -> tuple[bytes, ...]:
    """The `merkle.CompactRange` hashes of [0, size) from a folded stack; ValueError if it is not that frontier."""
    want = [(n.start, n.level) for n in CompactRange(size, [bytes(32)] * size.bit_count()).nodes()]
    if [(s, lv) for s, lv, _ in stack] != want:
        raise ValueError(f"the folded subtrees do not cover positions 1 to {size} as a frontier")
    return tuple(h for _, _, h in stack)


class ProblemKind(StrEnum):
    ALTERED = "altered"
    INSERTED = "inserted"
    REORDERED = "reordered"
    REMOVED = "removed"
    CHAIN_ALTERED = "chain_altered"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    TRUNCATED = "truncated"
    BAD_SIGNATURE = "bad_signature"
    OTHER_STORE = "other_store"


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    notification_id: int | None
    originator_id: str | None
    originator_version: int | None
    topic: str | None
    detail: str

    def describe(self) -> str:
        where = f"notification {self.notification_id}" if self.notification_id is not None else "store"
        who = (
            f" (aggregate {self.originator_id} v{self.originator_version}, {self.topic})"
            if self.originator_id is not None
            else ""
        )
        return f"{self.kind.value} at {where}{who}: {self.detail}"


@dataclass(frozen=True)
class ChainHead:
    notification_id: int
    seq: int
    chain_hash: str


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    events_checked: int
    head: ChainHead | None
    problem: Problem | None = None
    checkpoints_checked: int = 0
    seconds: float = 0.0  # measured by the caller (usecases.audit.trail.verify): the check reads no clock
    notes: tuple[str, ...] = field(default=())
    trust: tuple[str, ...] = field(default=())
    """What the checkpoints' check rests on (pinned keys or the engine's own, checkpoints without store id)."""
    store_id: str | None = None
    milestones: tuple[tuple[int, str], ...] = ()
    """The chain's milestones as recomputed (`Checkpoint.milestones`), for the checkpoint signed next."""
    since: ChainHead | None = None
    """An incremental pass: the signed head it resumed from (`events_checked` then counts the events after it)."""
    rows_read: int = 0
    """Rows of the two streams fetched by this pass (events and chain rows, by page; set by the use case): an event
    read joined with its chain row counts as two, and rows read again after the joined stream stopped count again."""
    frontier: tuple[bytes, ...] | None = None
    """The Merkle tree's frontier at the verified head (`merkle.CompactRange` hashes of size ``head.seq``),
    folded from the verified rows' event hashes when asked (``subtrees``); None otherwise or on a problem."""
    frontier_at: tuple[int, tuple[bytes, ...]] | None = None
    """(m, the frontier of the first m verified leaves) for the position asked (``capture``), when the pass
    verified it: a signed root of an earlier size checked against the chain this pass verified."""

    @property
    def tree_root(self) -> bytes | None:
        """The tree's root at the verified head, from `frontier`."""
        if self.frontier is None:
            return None
        return CompactRange(self.head.seq if self.head else 0, list(self.frontier)).root()

    @property
    def events_per_second(self) -> float:
        return self.events_checked / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["milestones"]  # up to 1,024 pairs: in the signed checkpoint, not in every report
        del d["frontier"]
        del d["frontier_at"]
        if self.frontier is not None:
            d["tree_root"] = (self.tree_root or b"").hex()
        if self.problem is not None:
            d["problem"]["kind"] = self.problem.kind.value
        d["notes"] = list(self.notes)
        d["trust"] = list(self.trust)
        return d


class ChainIndex(Protocol):
    """Point look-ups into the same snapshot the streams come from."""

    def chain_row_for(self, originator: bytes, version: int) -> ChainRow | None:
        """The chain row recorded for this event identity, if any."""

    def event_nid_for(self, originator: bytes, version: int) -> int | None:
        """The notification id the event with this identity is stored at, if any."""

    def aggregate_hash_at(self, notification_id: int) -> bytes | None:
        """The aggregate hash stored in the chain row at this notification id."""


def _same(key: bytes) -> bytes:
    return key


def _problem(kind: ProblemKind, nid: int | None, row: EventRow | ChainRow | None, detail: str) -> Problem:
    if row is None:
        return Problem(kind, nid, None, None, None, detail)
    return Problem(kind, nid, originator_from_key(row[1]), row[2], row[3], detail)


def _misplaced(row: EventRow, index: ChainIndex, *, at: int) -> Problem:
    """An event stored where the chain does not expect it: recorded elsewhere, or never recorded."""
    nid, okey, version, topic, state = row
    recorded = index.chain_row_for(okey, version)
    if recorded is not None and recorded[0] != nid:
        same = recorded[6] == event_hash(okey, version, topic, state)
        return _problem(
            ProblemKind.REORDERED,
            at,
            row,
            f"this event was chained at notification {recorded[0]}"
            + ("" if same else " and its content differs from what was chained"),
        )
    return _problem(ProblemKind.INSERTED, at, row, "the chain never recorded this event")


def verify_rows(
    events: Iterable[EventRow],
    chain: Iterable[ChainRow],
    index: ChainIndex,
    *,
    checkpoints: Sequence[Checkpoint] = (),
    cache_size: int = 8_192,
    start: ChainHead | None = None,
    key: Callable[[Any], bytes] | None = None,
    subtrees: Sequence[Subtree] | None = None,
    capture: int | None = None,
) -> VerifyReport:
    """Recompute every hash; report the first problem. Signatures must be checked before.

    ``start``: an incremental pass. The streams then hold only the rows after ``start.notification_id``, and the
    chain resumes from that head (its position and hash, taken from a signed checkpoint whose head the caller
    found still stored): only the new events are hashed, an aggregate's earlier hash is one look-up of its
    stored chain row. What lies before the start is not looked at (the full pass's job); checkpoints at or
    before it are ignored, ``events_checked`` counts the new events only, and no milestones are returned (a
    checkpoint is signed after a full pass).

    ``key``: the rows' originator ids are as the store returns them (text, UUID), and this gives their
    hashing key (``hashing.originator_key``'s bytes). The two streams' ids are then compared as stored and
    each event's id is converted once, for its hash; without it, the ids are already those bytes.

    The same as one `verify_range` over the whole stream, merged (`merge_ranges`).
    """
    one = verify_range(events, chain, index, start=start, checkpoints=checkpoints, final=True,
                       milestones=start is None, cache_size=cache_size, key=key, subtrees=subtrees,
                       capture=capture)
    return merge_ranges([one], start=start, capture=capture)


@dataclass(frozen=True)
class RangePass:
    """What `verify_range` found over one range of the store: the state the chain reached, or its first problem."""

    problem: Problem | None
    seq: int
    """The position reached (the range's last event that passed, or one past it where the problem counts it)."""
    last_nid: int | None
    chain_hash: str
    """Hex of the chain hash after the last event that passed (the start's when none did)."""
    checkpoints_checked: int
    milestones: tuple[tuple[int, str], ...]
    """Every position of this range at a multiple of its own milestone step (a power of two), with its hash."""
    through: int
    """The last position whose milestone was considered (its link verified)."""
    subtrees: tuple[Subtree, ...] | None = None
    """The tree's subtrees folded from this range's verified leaves (after those it was given), when asked."""
    captured: tuple[Subtree, ...] | None = None
    """The stack when the pass reached position ``capture`` in this range (with the tree, when asked)."""


def verify_range(
    events: Iterable[EventRow],
    chain: Iterable[ChainRow],
    index: ChainIndex,
    *,
    start: ChainHead | None,
    checkpoints: Sequence[Checkpoint] = (),
    good: tuple[int, int] = (0, 0),
    final: bool = True,
    milestones: bool = True,
    cache_size: int = 8_192,
    key: Callable[[Any], bytes] | None = None,
    subtrees: Sequence[Subtree] | None = None,
    capture: int | None = None,
) -> RangePass:
    """Check one range of the store: the rows after ``start`` (None: from the first), up to the range's end.

    ``start`` is the chain row the range follows, as *stored* (position, hash): a chain recomputed from zero
    passes exactly when every row's link from its stored predecessor matches (by induction, the recomputed
    hash of each passing row is the stored one), so ranges checked apart and merged in notification order
    (`merge_ranges`) name the same first problem, with the same counts, as one pass. What a pass carries
    from row to row, each range is given as the one pass would have it there: the checkpoints still ahead
    (those after ``start``), ``good`` (position and notification of the last milestone or checkpoint met,
    `good_before`), and ``final`` (only the last range can find the store ends before a checkpoint). The
    aggregate hash before an event is the one recomputed in this range when its aggregate's previous event
    is in the bounded cache, else the stored one at that notification id: either way the same bytes, so the
    result does not depend on the cache nor on where a range starts.

    ``subtrees`` (None: no tree): the stack the range's verified leaves are folded onto (`fold_subtree`): empty
    for a range of a pass in ranges, the frontier at ``start`` for an incremental pass's first range.
    ``capture``: a position whose stack is kept as it stands there (`RangePass.captured`, merged to
    `VerifyReport.frontier_at`).
    """
    if start is not None:
        checkpoints = [c for c in checkpoints if c.notification_id > start.notification_id]
    to_key: Callable[[Any], bytes] = key if key is not None else _same

    def keyed(row: Any) -> Any:  # a row with its hashing key, for reports and look-ups (off the hot path)
        return None if row is None else (row[0], to_key(row[1]), *row[2:])

    pending = sorted(checkpoints, key=lambda c: c.notification_id)
    cp_i = 0
    next_cp = pending[0].notification_id if pending else None
    expect = pending[0].milestone_at() if pending else {}
    kept: list[tuple[int, str]] = []
    step = 1
    heads: dict[Any, tuple[int, bytes]] = {}  # by originator id as the rows give it
    topics: dict[str, bytes] = {}
    prev = ZERO if start is None else bytes.fromhex(start.chain_hash)
    seq = through = 0 if start is None else start.seq
    last_nid: int | None = None if start is None else start.notification_id
    problem: Problem | None = None
    # Inlined `hashing.event_hash/aggregate_hash/chain_hash` (same bytes; tested equal): this loop is the hot path.
    pack_event, pack_tail = EVENT_HEADER.pack, CHAIN_TAIL.pack
    aggregate_hash_at = index.aggregate_hash_at
    stack: list[Subtree] | None = None if subtrees is None else list(subtrees)
    captured: tuple[Subtree, ...] | None = None

    # Both streams in step: any difference of notification id is a problem, and the first one ends the pass.
    for ev, ch in zip_longest(events, chain):
        if ev is not None and (ch is None or ev[0] < ch[0]):
            problem = _misplaced(keyed(ev), index, at=ev[0])
            break
        nid = ch[0]
        if next_cp is not None and next_cp < nid:
            problem = _problem(
                ProblemKind.REMOVED,
                next_cp,
                None,
                f"the event a signed checkpoint ends at (notification {next_cp}) is no longer in the store",
            )
            break
        if ev is None or nid < ev[0]:
            kch = keyed(ch)
            moved = index.event_nid_for(kch[1], ch[2])
            if moved is not None:
                problem = _problem(ProblemKind.REORDERED, nid, kch, f"this event is now stored at notification {moved}")
            else:
                problem = _problem(
                    ProblemKind.REMOVED, nid, kch, "the chain recorded this event; it is no longer stored"
                )
            break
        _, oid, version, topic, state = ev
        if oid != ch[1] or version != ch[2] or topic != ch[3]:
            kev = keyed(ev)
            misplaced = _misplaced(kev, index, at=nid)
            if misplaced.kind is ProblemKind.REORDERED:
                problem = misplaced
            else:
                problem = _problem(
                    ProblemKind.ALTERED,
                    nid,
                    keyed(ch),
                    f"the row now claims aggregate {originator_from_key(kev[1])} v{version} ({topic})",
                )
            break
        okey = to_key(oid)
        tb = topics.get(topic)
        if tb is None:
            tb = topics[topic] = topic.encode()
        eh = sha256(pack_event(b"E", len(okey), len(tb), len(state), version) + okey + tb + state).digest()
        if eh != ch[6]:
            problem = _problem(ProblemKind.ALTERED, nid, keyed(ch), "stored bytes differ from what was chained")
            break
        seq += 1
        if ch[4] != seq:
            if ch[4] > seq:
                problem = _problem(
                    ProblemKind.REMOVED,
                    nid,
                    keyed(ch),
                    f"{ch[4] - seq} chained event(s) before this one are gone (positions {seq}–{ch[4] - 1}, "
                    f"after notification {last_nid})",
                )
            else:
                problem = _problem(ProblemKind.CHAIN_ALTERED, nid, keyed(ch), f"chain position {ch[4]} repeats")
            seq -= 1
            break
        prev_nid = ch[5]
        if prev_nid == 0:
            before = ZERO
        else:
            cached = heads.pop(oid, None)
            if cached is not None and cached[0] == prev_nid:
                before = cached[1]  # recomputed here, and verified: the bytes stored at prev_nid
            elif 0 < prev_nid < nid:
                before = aggregate_hash_at(prev_nid) or b""
            else:
                before = b""
        agg = sha256(b"A" + before + eh).digest()
        link = sha256(b"C" + prev + pack_tail(seq, nid, prev_nid) + eh + agg).digest()
        if agg != ch[7] or link != ch[8]:
            what = "aggregate" if agg != ch[7] else "chain"
            problem = _problem(
                ProblemKind.CHAIN_ALTERED, nid, keyed(ch), f"the {what} hash stored for this event is wrong"
            )
            break
        if stack is not None:
            fold_subtree(stack, (seq - 1, 0, sha256(b"\x00" + eh).digest()))
            if seq == capture:
                captured = tuple(stack)
        heads[oid] = (nid, agg)
        if len(heads) > cache_size:
            del heads[next(iter(heads))]
        prev = link
        last_nid = nid
        through = seq
        if milestones and seq % step == 0:
            kept.append((seq, link.hex()[:MILESTONE_HEX]))
            if len(kept) > MILESTONES_MAX:
                step *= 2
                kept = [m for m in kept if m[0] % step == 0]
        if expect:
            want = expect.get(seq)
            if want is not None:
                if link.hex()[:MILESTONE_HEX] != want:
                    cp = pending[cp_i]
                    where = ("this event was rewritten (the chain still meets the checkpoint at the event before)"
                             if good[0] == seq - 1 else
                             f"an event after position {good[0]}" + (f" (notification {good[1]})" if good[1] else "")
                             + " and up to this one was rewritten")
                    problem = _problem(
                        ProblemKind.CHECKPOINT_MISMATCH,
                        nid,
                        keyed(ch),
                        f"signed checkpoint {cp.key_id}@{cp.signed_at} has chain {want}… at position {seq}; the "
                        f"store gives {link.hex()[:MILESTONE_HEX]}…: {where}",
                    )
                    break
                good = (seq, nid)
        if next_cp == nid:
            cp = pending[cp_i]
            if cp.chain_hash != link.hex() or cp.count != seq:
                problem = _problem(
                    ProblemKind.CHECKPOINT_MISMATCH,
                    nid,
                    keyed(ch),
                    f"signed checkpoint {cp.key_id}@{cp.signed_at} says chain {cp.chain_hash[:16]}… count {cp.count}; "
                    f"the store gives {link.hex()[:16]}… count {seq}: events up to here were rewritten",
                )
                break
            cp_i += 1
            while cp_i < len(pending) and pending[cp_i].notification_id == nid:
                cp_i += 1  # the same head checkpointed twice: already compared above
            next_cp = pending[cp_i].notification_id if cp_i < len(pending) else None
            expect = pending[cp_i].milestone_at() if cp_i < len(pending) else {}
            good = (seq, nid)

    if problem is None and next_cp is not None and final:
        cp = pending[cp_i]
        problem = Problem(
            ProblemKind.TRUNCATED,
            cp.notification_id,
            None,
            None,
            None,
            f"a signed checkpoint covers {cp.count} events up to notification {cp.notification_id}; "
            f"the store ends at notification {last_nid} after {seq} events",
        )
    return RangePass(problem=problem, seq=seq, last_nid=last_nid, chain_hash=prev.hex(), checkpoints_checked=cp_i,
                     milestones=tuple(kept), through=through, subtrees=None if stack is None else tuple(stack),
                     captured=captured)


HASH = 32
# The input of an aggregate hash and of a chain hash packed at once: the same bytes as `hashing`'s concatenations when
# every hash in it has 32 bytes (a `32s` field pads or cuts any other length: hashes as stored are checked for it)
AGGREGATE_INPUT = Struct(">c32s32s")  # "A", the aggregate's previous aggregate hash, the event hash
LINK_INPUT = Struct(">c32sqqq32s32s")  # "C", previous chain hash, seq, notification id, previous nid, event, aggregate
CHUNK_LEVEL = 10
CHUNK = 1 << CHUNK_LEVEL  # the tree's leaves hashed into one aligned perfect subtree at a time


def _subtree(leaves: list[bytes]) -> bytes:
    level = leaves
    while len(level) > 1:
        level = [node_hash(a, b) for a, b in zip(level[0::2], level[1::2], strict=True)]
    return level[0]


JoinedRow = tuple[int, Any, int, str, bytes, Any, Any, Any, Any, Any, Any]
"""A stored event with the chain row at its notification id: (notification id, originator id, version, topic, state,
whether the chain row names the same originator, version and topic (false without one), seq, aggregate's previous
notification id, event hash, aggregate hash, chain hash), the chain's columns None where it has no row there."""


@dataclass(frozen=True)
class JoinedPass:
    """What `verify_joined` passed: the range's pass up to the row before the first it did not pass."""

    part: RangePass
    done: bool
    """Every row of the stream passed (and `part` is then the range's whole pass, its problem a truncation or None)."""
    good: tuple[int, int]
    """The last milestone or checkpoint met, for the `verify_range` that goes on from `part` (its ``good``)."""


def verify_joined(
    rows: Iterable[JoinedRow],
    index: ChainIndex,
    *,
    start: ChainHead | None,
    checkpoints: Sequence[Checkpoint] = (),
    good: tuple[int, int] = (0, 0),
    final: bool = True,
    milestones: bool = True,
    cache_size: int = 8_192,
    key: Callable[[Any], bytes] | None = None,
    subtrees: Sequence[Subtree] | None = None,
    capture: int | None = None,
) -> JoinedPass:
    """`verify_range`'s checks over one stream of stored events joined with their chain rows (the store's join on
    the notification id): the hot path of a range, one row per event and no merge. It stops *before* the first row
    that fails any check, or meets a checkpoint otherwise than exactly, and finds no problem itself: the caller
    goes on from `part` with `verify_range` over the two streams (its head as a start, `good`), which names it.

    A chain row with no stored event is not in such a join, so this alone cannot see one: the caller counts the
    chain rows up to `part`'s last notification id (up to the range's end when `done`), and if they are more than
    the events passed, checks the range again with `verify_range` alone. The arguments are `verify_range`'s."""
    if start is not None:
        checkpoints = [c for c in checkpoints if c.notification_id > start.notification_id]
    to_key: Callable[[Any], bytes] = key if key is not None else _same
    pending = sorted(checkpoints, key=lambda c: c.notification_id)
    cp_i = 0
    next_cp = pending[0].notification_id if pending else None
    expect = pending[0].milestone_at() if pending else {}
    kept: list[tuple[int, str]] = []
    step = 1
    heads: dict[Any, tuple[int, bytes]] = {}
    okeys: dict[Any, bytes] = {}
    topics: dict[str, bytes] = {}
    prev = ZERO if start is None else bytes.fromhex(start.chain_hash)
    seq = through = 0 if start is None else start.seq
    last_nid: int | None = None if start is None else start.notification_id
    pack_event, pack_aggregate, pack_link = EVENT_HEADER.pack, AGGREGATE_INPUT.pack, LINK_INPUT.pack
    aggregate_hash_at = index.aggregate_hash_at
    stack: list[Subtree] | None = None if subtrees is None else list(subtrees)
    captured: tuple[Subtree, ...] | None = None
    leaves: list[bytes] = []  # the leaf hashes after position `base`, not folded yet
    base = seq

    def flush() -> None:  # the pending leaves onto the stack: one subtree for an aligned chunk, else one by one
        nonlocal leaves, base
        assert stack is not None
        if base % CHUNK == 0 and len(leaves) == CHUNK:
            fold_subtree(stack, (base, CHUNK_LEVEL, _subtree(leaves)))
        else:
            for i, h in enumerate(leaves):
                fold_subtree(stack, (base + i, 0, h))
        base += len(leaves)
        leaves = []

    mask = CHUNK - 1
    tree = stack is not None
    done = len(prev) == HASH  # a start as stored of another length: `verify_range` reads it
    for nid, oid, version, topic, state, same, cseq, prev_nid, stored_eh, stored_agg, stored_link in rows:
        at = seq + 1
        if not done or not same or cseq != at or (next_cp is not None and next_cp < nid):
            done = False
            break
        okey = okeys.get(oid)
        if okey is None:
            try:
                okey = to_key(oid)
            except ValueError:  # raised by `verify_range`, in its order
                done = False
                break
            okeys[oid] = okey
            if len(okeys) > cache_size:
                okeys.clear()
        tb = topics.get(topic)
        if tb is None:
            tb = topics[topic] = topic.encode()
        hasher = sha256(pack_event(b"E", len(okey), len(tb), len(state), version) + okey + tb)
        hasher.update(state)
        eh = hasher.digest()
        if eh != stored_eh:
            done = False
            break
        if prev_nid == 0:
            before = ZERO
        else:
            cached = heads.get(oid)
            if cached is not None and cached[0] == prev_nid:
                before = cached[1]
            elif 0 < prev_nid < nid:
                before = aggregate_hash_at(prev_nid) or b""
                if len(before) != HASH:
                    done = False
                    break
            else:
                done = False
                break
        agg = sha256(pack_aggregate(b"A", before, eh)).digest()
        link = sha256(pack_link(b"C", prev, at, nid, prev_nid, eh, agg)).digest()
        if agg != stored_agg or link != stored_link:
            done = False
            break
        want = expect.get(at) if expect else None
        if want is not None and link.hex()[:MILESTONE_HEX] != want:
            done = False
            break
        if next_cp == nid and (pending[cp_i].chain_hash != link.hex() or pending[cp_i].count != at):
            done = False
            break
        # the row passed every check: the pass moves on
        seq = through = at
        if tree:
            leaves.append(sha256(b"\x00" + eh).digest())
            if not seq & mask or seq == capture:
                flush()
                if seq == capture:
                    captured = tuple(stack or ())
        heads[oid] = (nid, agg)
        if len(heads) > cache_size:
            del heads[next(iter(heads))]
        prev = link
        last_nid = nid
        if milestones and seq % step == 0:
            kept.append((seq, link.hex()[:MILESTONE_HEX]))
            if len(kept) > MILESTONES_MAX:
                step *= 2
                kept = [m for m in kept if m[0] % step == 0]
        if want is not None:
            good = (seq, nid)
        if next_cp == nid:
            cp_i += 1
            while cp_i < len(pending) and pending[cp_i].notification_id == nid:
                cp_i += 1
            next_cp = pending[cp_i].notification_id if cp_i < len(pending) else None
            expect = pending[cp_i].milestone_at() if cp_i < len(pending) else {}
            good = (seq, nid)
    if tree:
        flush()
    problem: Problem | None = None
    if done and next_cp is not None and final:
        cp = pending[cp_i]
        problem = Problem(
            ProblemKind.TRUNCATED,
            cp.notification_id,
            None,
            None,
            None,
            f"a signed checkpoint covers {cp.count} events up to notification {cp.notification_id}; "
            f"the store ends at notification {last_nid} after {seq} events",
        )
    part = RangePass(problem=problem, seq=seq, last_nid=last_nid, chain_hash=prev.hex(), checkpoints_checked=cp_i,
                     milestones=tuple(kept), through=through, subtrees=None if stack is None else tuple(stack),
                     captured=captured)
    return JoinedPass(part, done, good)


def merge_ranges(
    passes: Sequence[RangePass], *, start: ChainHead | None = None, capture: int | None = None
) -> VerifyReport:
    """The report of one pass from its ranges' passes, in notification order: the ranges up to the first that
    found a problem count (every one before it passed, so it saw what the one pass would have). ``start``: the
    incremental pass's own (`verify_rows`); milestones are returned for a full pass only, those of every
    range that count at the one pass's final step (`milestone_step`: a power of two, a multiple of each range's)."""
    counted: list[RangePass] = []
    for p in passes:
        counted.append(p)
        if p.problem is not None:
            break
    if not counted:
        raise ValueError("no range to merge")
    last = counted[-1]
    first_seq = 0 if start is None else start.seq
    kept: tuple[tuple[int, str], ...] = ()
    if start is None:
        step = milestone_step(last.through)
        kept = tuple(m for p in counted for m in p.milestones if m[0] % step == 0)
    frontier: tuple[bytes, ...] | None = None
    frontier_at: tuple[int, tuple[bytes, ...]] | None = None
    if last.problem is None and counted[0].subtrees is not None:
        stack: list[Subtree] = []
        for p in counted:
            if frontier_at is None and capture and p.captured is not None:
                at = list(stack)  # the ranges before, then this one's stack at the position
                for node in p.captured:
                    fold_subtree(at, node)
                frontier_at = (capture, frontier_hashes(at, capture))
            for node in p.subtrees or ():
                fold_subtree(stack, node)
        frontier = frontier_hashes(stack, last.seq)
    return VerifyReport(
        ok=last.problem is None,
        events_checked=last.seq - first_seq,
        head=ChainHead(last.last_nid, last.seq, last.chain_hash) if last.last_nid is not None else None,
        problem=last.problem,
        checkpoints_checked=sum(p.checkpoints_checked for p in counted),
        milestones=kept,
        since=start,
        frontier=frontier,
        frontier_at=frontier_at,
    )


def good_before(
    checkpoints: Sequence[Checkpoint], at: ChainHead, *, since: ChainHead | None, nid_at: Callable[[int], int | None]
) -> tuple[int, int]:
    """(position, notification) of the last milestone or checkpoint a pass from ``since`` (None: from the first
    event) has met when it reaches ``at``, given that every event up to ``at`` passed: what a range starting
    there is given as `verify_range`'s ``good`` (it words a checkpoint mismatch). ``nid_at``: the notification
    id of a chain position (one look-up, for a milestone met inside an earlier range)."""
    pending = sorted((c for c in checkpoints if since is None or c.notification_id > since.notification_id),
                     key=lambda c: c.notification_id)
    good = (0, 0)
    lower = 0 if since is None else since.seq
    ahead: Checkpoint | None = None
    for c in pending:
        if c.notification_id <= at.notification_id:
            good = (c.count, c.notification_id)  # met exactly: the ranges before passed
            lower = c.count
        else:
            ahead = c
            break
    if ahead is not None:
        met = [p for p in ahead.milestone_at() if lower < p <= at.seq]
        if met:
            p = max(met)
            good = (p, nid_at(p) or 0)
    return good
