"""Issue 12, `audit verify` in ranges: the store checked as ranges, each from its *stored* predecessor, then merged
in notification order (`verify_range`, `good_before`, `merge_ranges`), gives the very report of one pass
(`verify_rows`): same first problem, same counts, same head and milestones — whatever the tampering and wherever
the ranges are cut, checked here over plain rows at every cut, with a cache of aggregate heads full or tiny.
The processes and the stores are `tests/integration/test_audit_parallel.py`'s."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations
from uuid import UUID

import pytest

from domain.audit.checkpoint import Checkpoint
from domain.audit.hashing import link_batch, originator_key
from domain.audit.verify import (
    ChainHead,
    ChainRow,
    EventRow,
    VerifyReport,
    good_before,
    merge_ranges,
    verify_range,
    verify_rows,
)

AGGREGATES = 4


def store(n: int) -> list[EventRow]:
    versions: dict[int, int] = {}
    out = []
    for nid in range(1, n + 1):
        agg = (nid * 3) % AGGREGATES
        versions[agg] = versions.get(agg, 0) + 1
        topic = "t:Opened" if versions[agg] == 1 else "t:Noted"
        out.append((nid, originator_key(UUID(int=agg + 1)), versions[agg], topic, f"note {nid}".encode()))
    return out


class Index:
    """The point look-ups of a `ChainIndex` over the (tampered) rows themselves."""

    def __init__(self, events: list[EventRow], chain: list[ChainRow]) -> None:
        self.events, self.chain = events, chain

    def chain_row_for(self, originator: bytes, version: int) -> ChainRow | None:
        return next((c for c in self.chain if (c[1], c[2]) == (originator, version)), None)

    def event_nid_for(self, originator: bytes, version: int) -> int | None:
        return next((e[0] for e in self.events if (e[1], e[2]) == (originator, version)), None)

    def aggregate_hash_at(self, notification_id: int) -> bytes | None:
        return next((c[7] for c in self.chain if c[0] == notification_id), None)


def by_ranges(
    events: list[EventRow],
    chain: list[ChainRow],
    cuts: Sequence[int],
    *,
    checkpoints: Sequence[Checkpoint] = (),
    since: ChainHead | None = None,
    cache_size: int = 8_192,
) -> VerifyReport:
    """What the use case does with processes, in one: ranges after each cut (a stored chain row), each started
    from that row as stored, merged."""
    index = Index(events, chain)
    stored = {c[0]: c for c in chain}
    by_seq: dict[int, int] = {c[4]: c[0] for c in chain}
    nid_at: Callable[[int], int | None] = by_seq.get
    starts = [since, *(ChainHead(b, stored[b][4], stored[b][8].hex()) for b in cuts)]
    ends: list[int | None] = [*cuts, None]
    passes = []
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        lo = start.notification_id if start is not None else 0

        def within(row: tuple[object, ...], lo: int = lo, end: int | None = end) -> bool:
            nid = row[0]
            assert isinstance(nid, int)
            return nid > lo and (end is None or nid <= end)

        good = good_before(checkpoints, start, since=since, nid_at=nid_at) if i and start is not None else (0, 0)
        passes.append(
            verify_range(
                [e for e in events if within(e)],
                [c for c in chain if within(c)],
                index,
                start=start,
                checkpoints=checkpoints,
                good=good,
                final=end is None,
                milestones=since is None,
                cache_size=cache_size,
            )
        )
    return merge_ranges(passes, start=since)


def assert_same_at_every_cut(
    events: list[EventRow],
    chain: list[ChainRow],
    *,
    checkpoints: Sequence[Checkpoint] = (),
    since: ChainHead | None = None,
) -> VerifyReport:
    after = since.notification_id if since is not None else 0
    cuts = [c[0] for c in chain if c[0] > after][:-1]
    for cache_size in (8_192, 1):
        one = verify_rows(
            [e for e in events if e[0] > after],
            [c for c in chain if c[0] > after],
            Index(events, chain),
            checkpoints=checkpoints,
            start=since,
            cache_size=cache_size,
        )
        for k in (1, 2):
            for chosen in combinations(cuts, k):
                assert (
                    by_ranges(events, chain, chosen, checkpoints=checkpoints, since=since, cache_size=cache_size) == one
                ), (chosen, cache_size)
    return one


def signed(events: list[EventRow], chain: list[ChainRow], upto: int) -> Checkpoint:
    report = verify_rows([e for e in events if e[0] <= upto], [c for c in chain if c[0] <= upto], Index(events, chain))
    assert report.ok and report.head is not None
    return Checkpoint(
        notification_id=report.head.notification_id,
        count=report.head.seq,
        chain_hash=report.head.chain_hash,
        signed_at=f"t{upto}",
        key_id="k",
        public_key="",
        signature="",
        store_id="s",
        milestones=report.milestones,
    )


N = 14
EVENTS = store(N)
CHAIN = link_batch(list(EVENTS), None, {})


def swap_nids(rows: list[EventRow], a: int, b: int) -> list[EventRow]:
    moved = [((b if r[0] == a else a if r[0] == b else r[0]), *r[1:]) for r in rows]
    return sorted(moved, key=lambda r: r[0])


def chain_edit(i: int, col: int, value: object) -> list[ChainRow]:
    return [(*c[:col], value, *c[col + 1 :]) if c[0] == i else c for c in CHAIN]  # type: ignore[misc]


TAMPERINGS: dict[str, Callable[[], tuple[list[EventRow], list[ChainRow]]]] = {
    "untouched": lambda: (EVENTS, CHAIN),
    "state altered (first row)": lambda: ([(*e[:4], b"x") if e[0] == 1 else e for e in EVENTS], CHAIN),
    "state altered (middle)": lambda: ([(*e[:4], b"x") if e[0] == 7 else e for e in EVENTS], CHAIN),
    "state altered (last row)": lambda: ([(*e[:4], b"x") if e[0] == N else e for e in EVENTS], CHAIN),
    "topic altered": lambda: ([(*e[:3], "t:Other", e[4]) if e[0] == 6 else e for e in EVENTS], CHAIN),
    "event removed": lambda: ([e for e in EVENTS if e[0] != 8], CHAIN),
    "last event removed": lambda: ([e for e in EVENTS if e[0] != N], CHAIN),
    "event and chain row removed": lambda: ([e for e in EVENTS if e[0] != 8], [c for c in CHAIN if c[0] != 8]),
    "first pair removed": lambda: ([e for e in EVENTS if e[0] != 1], [c for c in CHAIN if c[0] != 1]),
    "pair of rows reordered": lambda: (swap_nids(EVENTS, 5, 9), CHAIN),
    "neighbours reordered": lambda: (swap_nids(EVENTS, 6, 7), CHAIN),
    "forged event": lambda: (sorted([*EVENTS, (100, originator_key(UUID(int=99)), 1, "t:Opened", b"z")]), CHAIN),
    "forged event inside": lambda: (
        sorted([*EVENTS, (100, originator_key(UUID(int=99)), 1, "t:Opened", b"z")]),
        [(c[0] if c[0] < 9 else c[0] + 100, *c[1:]) for c in CHAIN],
    ),
    "aggregate hash edited": lambda: (EVENTS, chain_edit(10, 7, b"\0" * 32)),
    "chain hash edited": lambda: (EVENTS, chain_edit(10, 8, b"\0" * 32)),
    "previous pointer edited": lambda: (EVENTS, chain_edit(11, 5, 2)),
    "position edited": lambda: (EVENTS, chain_edit(10, 4, 9)),
}


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_ranges_report_what_one_pass_reports(name: str) -> None:
    events, chain = TAMPERINGS[name]()
    report = assert_same_at_every_cut(events, chain)
    assert report.ok is (name == "untouched"), report.problem


@pytest.mark.parametrize("rewritten", [1, 5, 6, 9, 11])
def test_a_rechained_store_is_located_the_same_against_checkpoints(rewritten: int) -> None:
    """The thorough attacker (one event edited, every chain row recomputed) against checkpoints kept elsewhere:
    a milestone mismatch, its wording (the last milestone or checkpoint met), at every cut."""
    cps = [signed(EVENTS, CHAIN, 6), signed(EVENTS, CHAIN, 11)]
    forged = [(*e[:4], b"nothing happened") if e[0] == rewritten else e for e in EVENTS]
    report = assert_same_at_every_cut(forged, link_batch(list(forged), None, {}), checkpoints=cps)
    assert report.problem is not None and report.problem.kind == "checkpoint_mismatch"
    assert assert_same_at_every_cut(EVENTS, CHAIN, checkpoints=cps).checkpoints_checked == 2


def test_checkpoints_beyond_the_store_and_of_a_removed_row() -> None:
    cps = [signed(EVENTS, CHAIN, 6), signed(EVENTS, CHAIN, N)]
    truncated = assert_same_at_every_cut(EVENTS[:10], CHAIN[:10], checkpoints=cps)
    assert truncated.problem is not None and truncated.problem.kind == "truncated"
    gone = assert_same_at_every_cut([e for e in EVENTS if e[0] != 6], [c for c in CHAIN if c[0] != 6], checkpoints=cps)
    assert gone.problem is not None and (gone.problem.kind, gone.problem.notification_id) == ("removed", 6)


def test_an_incremental_pass_in_ranges() -> None:
    cp = signed(EVENTS, CHAIN, 5)
    since = ChainHead(cp.notification_id, cp.count, cp.chain_hash)
    assert assert_same_at_every_cut(EVENTS, CHAIN, since=since).events_checked == N - 5
    altered = [(*e[:4], b"x") if e[0] == 9 else e for e in EVENTS]
    problem = assert_same_at_every_cut(altered, CHAIN, since=since, checkpoints=[signed(EVENTS, CHAIN, 11)]).problem
    assert problem is not None and (problem.kind, problem.notification_id) == ("altered", 9)


def test_milestones_of_a_long_store_merge_to_the_one_pass_step() -> None:
    """3,000 events: the one pass keeps every 4th position; ranges keep their own (finer) steps, merged."""
    events = store(3_000)
    chain = link_batch(list(events), None, {})
    one = verify_rows(events, chain, Index(events, chain))
    for cuts in ([700], [1_000, 2_999], [1, 1_500, 2_000]):
        assert by_ranges(events, chain, cuts) == one
    assert [m[0] for m in one.milestones][:2] == [4, 8]
