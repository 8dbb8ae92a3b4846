"""Issue 9, "a rechain is located at the checkpoint, not at the altered event": a checkpoint (format /3)
carries milestones of the chain, so a store rewritten and rechained since is located at the first milestone
it no longer meets: the very event up to 1,024 events, within `milestone_step(count)` events beyond.
Before, the mismatch was reported at the checkpoint's head, whatever event was rewritten."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

import pytest

from domain.audit.checkpoint import MILESTONES_MAX, Checkpoint, CheckpointError, milestone_step
from domain.audit.hashing import link_batch, originator_key
from domain.audit.verify import ChainRow, ProblemKind, VerifyReport, verify_rows
from tests.unit.test_audit_chain import NoIndex

EventRow = tuple[int, bytes, int, str, bytes]


def store(n: int) -> list[EventRow]:
    """n events over 7 aggregates, as a record stores them (notification ids from 1)."""
    versions: dict[int, int] = {}
    out = []
    for nid in range(1, n + 1):
        agg = nid % 7
        versions[agg] = versions.get(agg, 0) + 1
        out.append((nid, originator_key(UUID(int=agg + 1)), versions[agg], "t:Noted", f"note {nid}".encode()))
    return out


def signed_head(events: list[EventRow], chain: list[ChainRow]) -> tuple[Checkpoint, VerifyReport]:
    report = verify_rows(events, chain, NoIndex())
    assert report.ok and report.head is not None
    cp = Checkpoint(notification_id=report.head.notification_id, count=report.head.seq,
                    chain_hash=report.head.chain_hash, signed_at="2026-12-01T00:00:00+00:00", key_id="k",
                    public_key="", signature="", store_id="s", milestones=report.milestones)
    return cp, report


def rechained(events: list[EventRow], nid: int) -> tuple[list[EventRow], list[ChainRow]]:
    """The thorough attacker: one event's bytes edited, the whole chain recomputed with the project's own
    linking function."""
    forged = [(n, o, v, t, b"nothing happened" if n == nid else s) for n, o, v, t, s in events]
    return forged, link_batch(list(forged), None, {})


def test_a_small_store_is_located_at_the_rewritten_event() -> None:
    events = store(300)
    cp, report = signed_head(events, link_batch(list(events), None, {}))
    assert len(report.milestones) == 300 and milestone_step(300) == 1
    forged, chain = rechained(events, 123)
    assert verify_rows(forged, chain, NoIndex()).ok  # internally consistent: the documented limit
    problem = verify_rows(forged, chain, NoIndex(), checkpoints=[cp]).problem
    assert problem is not None and problem.kind is ProblemKind.CHECKPOINT_MISMATCH
    assert problem.notification_id == 123 and problem.originator_version == events[122][2]
    assert problem.detail.endswith("this event was rewritten (the chain still meets the checkpoint at the event "
                                   "before)")


def test_a_large_store_is_located_within_one_milestone_step() -> None:
    events = store(3_000)
    cp, report = signed_head(events, link_batch(list(events), None, {}))
    step = milestone_step(3_000)
    assert step == 4 and len(report.milestones) == 750 <= MILESTONES_MAX
    assert [seq for seq, _ in report.milestones][:3] == [4, 8, 12]
    forged, chain = rechained(events, 1_498)
    problem = verify_rows(forged, chain, NoIndex(), checkpoints=[cp]).problem
    assert problem is not None and problem.kind is ProblemKind.CHECKPOINT_MISMATCH
    assert problem.notification_id == 1_500  # the first milestone after the rewritten event, not the head (3,000)
    assert problem.detail.endswith("an event after position 1496 (notification 1496) and up to this one was "
                                   "rewritten")


def test_milestones_are_signed_and_read_back_strictly() -> None:
    events = store(20)
    cp, _ = signed_head(events, link_batch(list(events), None, {}))
    assert Checkpoint.from_json(cp.to_json()) == cp
    assert b'"milestones":[[1,' in cp.signed_bytes()  # the signature covers them
    body = cp._body()
    for bad in ([[2, "x" * 16]], [[5, "0" * 16], [3, "0" * 16]], [[21, "0" * 16]], "all"):
        with pytest.raises(CheckpointError, match="field milestones"):
            Checkpoint.from_dict({**body, "milestones": bad})
    legacy = replace(cp, format="arrimage-audit-checkpoint/2", milestones=None)
    assert "milestones" not in legacy.to_json() and Checkpoint.from_json(legacy.to_json()) == legacy
