"""The verification loop as it was before issue 12's speed work (commit 166ce58), frozen: the baseline that
`benchmarks.verify` times in the same run as `domain.audit.verify.verify_rows`. Same checks, same result; it
reads rows whose originator ids are already hashing keys (`Snapshot.events/chain`) and steps both streams with
`next()`. Not used by the product."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import sha256

from domain.audit.checkpoint import MILESTONE_HEX, MILESTONES_MAX, Checkpoint
from domain.audit.hashing import CHAIN_TAIL, EVENT_HEADER, ZERO, event_hash, originator_from_key
from domain.audit.verify import ChainHead, ChainIndex, ChainRow, EventRow, Problem, ProblemKind, VerifyReport


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
) -> VerifyReport:
    """Recompute every hash; report the first problem. Signatures must be checked before."""
    pending = sorted(checkpoints, key=lambda c: c.notification_id)
    cp_i = 0
    next_cp = pending[0].notification_id if pending else None
    expect = pending[0].milestone_at() if pending else {}
    good = (0, 0)  # (position, notification) of the last milestone or checkpoint the chain still met
    milestones: list[tuple[int, str]] = []
    step = 1
    heads: dict[bytes, tuple[int, bytes]] = {}
    topics: dict[str, bytes] = {}
    prev = ZERO
    seq = 0
    last_nid: int | None = None
    problem: Problem | None = None
    ev_it = iter(events)
    ch_it = iter(chain)
    ev = next(ev_it, None)
    ch = next(ch_it, None)
    # Inlined `hashing.event_hash/aggregate_hash/chain_hash` (same bytes; tested equal): this loop is the hot path.
    pack_event, pack_tail = EVENT_HEADER.pack, CHAIN_TAIL.pack

    while ev is not None or ch is not None:
        if ev is not None and (ch is None or ev[0] < ch[0]):
            problem = _misplaced(ev, index, at=ev[0])
            break
        if ch is None:  # both streams ended (the loop condition makes this unreachable)
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
            moved = index.event_nid_for(ch[1], ch[2])
            if moved is not None:
                problem = _problem(ProblemKind.REORDERED, nid, ch, f"this event is now stored at notification {moved}")
            else:
                problem = _problem(
                    ProblemKind.REMOVED, nid, ch, "the chain recorded this event; it is no longer stored"
                )
            break
        _, okey, version, topic, state = ev
        if okey != ch[1] or version != ch[2] or topic != ch[3]:
            misplaced = _misplaced(ev, index, at=nid)
            if misplaced.kind is ProblemKind.REORDERED:
                problem = misplaced
            else:
                problem = _problem(
                    ProblemKind.ALTERED,
                    nid,
                    ch,
                    f"the row now claims aggregate {originator_from_key(okey)} v{version} ({topic})",
                )
            break
        tb = topics.get(topic)
        if tb is None:
            tb = topics[topic] = topic.encode()
        eh = sha256(pack_event(b"E", len(okey), len(tb), len(state), version) + okey + tb + state).digest()
        if eh != ch[6]:
            problem = _problem(ProblemKind.ALTERED, nid, ch, "stored bytes differ from what was chained")
            break
        if ch[4] != seq + 1:
            if ch[4] > seq + 1:
                problem = _problem(
                    ProblemKind.REMOVED,
                    nid,
                    ch,
                    f"{ch[4] - seq - 1} chained event(s) before this one are gone (positions {seq + 1}–{ch[4] - 1}, "
                    f"after notification {last_nid})",
                )
            else:
                problem = _problem(ProblemKind.CHAIN_ALTERED, nid, ch, f"chain position {ch[4]} repeats")
            break
        seq += 1
        prev_nid = ch[5]
        if prev_nid == 0:
            before = ZERO
        else:
            cached = heads.pop(okey, None)
            if cached is not None and cached[0] == prev_nid:
                before = cached[1]
            elif cached is None and 0 < prev_nid < nid:
                before = index.aggregate_hash_at(prev_nid) or b""
            else:
                before = b""
        agg = sha256(b"A" + before + eh).digest()
        link = sha256(b"C" + prev + pack_tail(seq, nid, prev_nid) + eh + agg).digest()
        if agg != ch[7] or link != ch[8]:
            what = "aggregate" if agg != ch[7] else "chain"
            problem = _problem(ProblemKind.CHAIN_ALTERED, nid, ch, f"the {what} hash stored for this event is wrong")
            break
        heads[okey] = (nid, agg)
        if len(heads) > cache_size:
            del heads[next(iter(heads))]
        prev = link
        last_nid = nid
        if seq % step == 0:
            milestones.append((seq, link.hex()[:MILESTONE_HEX]))
            if len(milestones) > MILESTONES_MAX:
                step *= 2
                milestones = [m for m in milestones if m[0] % step == 0]
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
                    ch,
                    f"signed checkpoint {cp.key_id}@{cp.signed_at} has chain {want}… at position {seq}; the store "
                    f"gives {link.hex()[:MILESTONE_HEX]}…: {where}",
                )
                break
            good = (seq, nid)
        if next_cp == nid:
            cp = pending[cp_i]
            if cp.chain_hash != link.hex() or cp.count != seq:
                problem = _problem(
                    ProblemKind.CHECKPOINT_MISMATCH,
                    nid,
                    ch,
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
        ev = next(ev_it, None)
        ch = next(ch_it, None)

    if problem is None and next_cp is not None:
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
    head = ChainHead(last_nid, seq, prev.hex()) if last_nid is not None else None
    return VerifyReport(
        ok=problem is None,
        events_checked=seq,
        head=head,
        problem=problem,
        checkpoints_checked=cp_i,
        milestones=tuple(milestones),
    )
