"""Issue 12, `audit verify --jobs N`: the store verified in ranges by forked processes (SQLite, PostgreSQL) reports
exactly what the one pass reports (`jobs=1`): the same first problem, counts, head and milestones, with the
tampering at the ranges' edges — the first row of a range, the last, a row removed where a range starts, a pair
reordered across two ranges, a rechain against a signed checkpoint — and the incremental pass and per-person
sealing with a shredded key verify as before. The proof at every cut, over plain rows, is
`tests/unit/test_audit_ranges.py`'s; here the processes, the snapshots and both stores.

Store: 5 dossiers x 6 events, notifications 1-30 interleaved (A1 B1 C1 D1 E1 A2 ...). With ``jobs=3`` and
``min_range=1`` the ranges are notifications 1-10, 11-20 and 21-30 (`CUTS`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from adapters.record.ranges import can_fork
from adapters.record.record import Record
from domain.audit.checkpoint import Checkpoint
from domain.audit.verify import ProblemKind, VerifyReport
from tests.tamper_builders import NOW, Dossier, Raw, interleaved_dossiers, rewrite_history
from usecases.audit.trail import checkpoint, verify

CUTS = (10, 20)


@pytest.fixture
def thirty(record: Record) -> list[Dossier]:
    return interleaved_dossiers(record, "ABCDE", 5)


def same(report: VerifyReport, one: VerifyReport) -> VerifyReport:
    """Equal but for the stopwatch and the rows fetched (a range reads its page, and a pass that stops early
    has read the pages it stopped in)."""
    assert replace(report, seconds=0.0, rows_read=0) == replace(one, seconds=0.0, rows_read=0)
    return report


def both(record: Record, jobs: int = 3, **kwargs: Any) -> VerifyReport:
    one = verify(record, jobs=1, **kwargs)
    return same(verify(record, jobs=jobs, min_range=1, **kwargs), one)


def swap(raw: Raw, a: int, b: int) -> None:
    raw.x("UPDATE {events} SET {nid} = -1 WHERE {nid} = ?", a)
    raw.x("UPDATE {events} SET {nid} = ? WHERE {nid} = ?", a, b)
    raw.x("UPDATE {events} SET {nid} = ? WHERE {nid} = -1", b)


def test_the_store_is_cut_in_ranges_read_by_other_processes(record: Record, thirty: list[Dossier]) -> None:
    assert can_fork(record.audit_store().dialect)
    report = both(record)
    assert (report.ok, report.events_checked, report.head and report.head.seq) == (True, 30, 30)
    assert len(report.milestones) == 30 and report.rows_read == 60
    for jobs in (2, 4, 7):
        both(record, jobs=jobs)


def sql(*statements: tuple[Any, ...]) -> Callable[[Raw], None]:
    def run(raw: Raw) -> None:
        for statement in statements:
            raw.x(*statement)

    return run


STATE = "UPDATE {events} SET state = ? WHERE {nid} = ?"
TAMPERINGS: dict[str, tuple[Callable[[Raw], None], ProblemKind, int]] = {
    "first row of a range altered": (sql((STATE, b"{}", 11)), ProblemKind.ALTERED, 11),
    "last row of a range altered": (sql((STATE, b"{}", 10)), ProblemKind.ALTERED, 10),
    "last row of the store altered": (sql((STATE, b"{}", 30)), ProblemKind.ALTERED, 30),
    "event removed where a range ends": (sql(("DELETE FROM {events} WHERE {nid} = 10",)), ProblemKind.REMOVED, 10),
    "event and chain row removed where a range ends": (
        sql(("DELETE FROM {events} WHERE {nid} = 10",), ("DELETE FROM {chain} WHERE notification_id = 10",)),
        ProblemKind.REMOVED,
        11,
    ),
    "pair reordered across two ranges": (lambda raw: swap(raw, 8, 13), ProblemKind.REORDERED, 8),
    "chain row edited at a range's start": (
        sql(("UPDATE {chain} SET aggregate_hash = ? WHERE notification_id = 11", bytes(32))),
        ProblemKind.CHAIN_ALTERED,
        11,
    ),
    "chain hash of a cut edited": (
        sql(("UPDATE {chain} SET chain_hash = ? WHERE notification_id = 20", bytes(32))),
        ProblemKind.CHAIN_ALTERED,
        20,
    ),
    "two problems, the later range's found first by its process": (
        sql((STATE, b"{}", 25), (STATE, b"{}", 12)),
        ProblemKind.ALTERED,
        12,
    ),
}


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_tampering_at_the_edges_of_ranges_is_reported_as_by_one_pass(
    record: Record, raw: Raw, thirty: list[Dossier], name: str
) -> None:
    tamper, kind, nid = TAMPERINGS[name]
    tamper(raw)
    for jobs in (2, 3):
        problem = both(record, jobs=jobs).problem
        assert problem is not None and (problem.kind, problem.notification_id) == (kind, nid), problem


def test_a_rechain_against_a_signed_checkpoint(record: Record, raw: Raw, thirty: list[Dossier]) -> None:
    """Checkpoints at 12 and 30 kept elsewhere; the thorough attacker rewrites notification 24 and rechains:
    located at 24 (the checkpoint's milestones), worded from the milestone met before, as by one pass."""
    early = checkpoint(record, now=NOW)
    raw.x("DELETE FROM {cps}")
    kept: list[Checkpoint] = [early]
    assert both(record, checkpoints=kept).checkpoints_checked == 1
    rewrite_history(raw, record, 24, b'{"text":"nothing happened"}')
    problem = both(record, checkpoints=kept).problem
    assert problem is not None and (problem.kind, problem.notification_id) == (ProblemKind.CHECKPOINT_MISMATCH, 24)
    cut = both(record, jobs=2, checkpoints=kept).problem
    assert cut == problem


def test_a_store_cut_after_a_checkpoint_is_truncated(record: Record, raw: Raw, thirty: list[Dossier]) -> None:
    kept = checkpoint(record, now=NOW)
    raw.x("DELETE FROM {cps}")
    for table, col in (("{events}", "{nid}"), ("{chain}", "notification_id")):
        raw.x(f"DELETE FROM {table} WHERE {col} >= 26")
    problem = both(record, checkpoints=[kept]).problem
    assert problem is not None and problem.kind is ProblemKind.TRUNCATED


def test_incremental_from_a_checkpoint_in_ranges(record: Record, raw: Raw, thirty: list[Dossier]) -> None:
    kept = checkpoint(record, now=NOW)  # at 30
    for d in thirty:
        for i in range(4):
            d.note(f"later {i}")
            record.save(d)  # notifications 31-50
    report = both(record, since=kept)
    assert (report.ok, report.events_checked, report.since and report.since.seq) == (True, 20, 30)
    raw.x("UPDATE {events} SET state = ? WHERE {nid} = 41", b"{}")
    problem = both(record, since=kept).problem
    assert problem is not None and (problem.kind, problem.notification_id) == (ProblemKind.ALTERED, 41)


def test_sealed_content_and_a_shredded_key_verify_in_ranges(record: Record, thirty: list[Dossier]) -> None:
    """Per-person content is hashed as stored (ciphertext): a key destroyed changes no hash."""
    from tests.integration.test_audit_shredding import Suivi
    from usecases.audit.trail import shred

    for n in range(12):
        s = Suivi(subject_id=f"p-{n % 3}", personal={"name": f"Person {n}"}, team="t")
        s.update_contact(subject_id=f"p-{n % 3}", personal={"phone": "555"})
        record.save(s)
    shred(record, "p-1", by="dpo", reason="request", now=NOW)
    report = both(record)
    assert report.ok and report.events_checked == 30 + 24 + 1
