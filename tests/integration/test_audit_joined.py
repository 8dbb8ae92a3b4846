"""`audit verify` reads each stored event joined with its chain row (`Snapshot.joined_rows`, `verify_joined`), and
the two streams merged (`verify_range`) from the first row that does not pass: the same report as the merge alone.

On test_audit_tamper's store (3 dossiers × 3 events, SQLite and PostgreSQL): the last event removed with its chain
row kept (the join has no row for it: only the count of chain rows finds it), a chain row's topic or version edited
alone (compared by the store in the join), a chain row of an event that is gone before the head. Each report equals
the one of `verify_rows` over the two streams, the path before the join.
"""

from __future__ import annotations

import pytest

from adapters.record.record import Record
from domain.audit.verify import ProblemKind, VerifyReport, verify_rows
from tests.tamper_builders import OPENED, Dossier, Raw
from usecases.audit.trail import verify


def merged(record: Record) -> VerifyReport:
    with record.audit_store().snapshot() as snap:
        return verify_rows(snap.event_rows(), snap.chain_rows(), snap, key=snap.dialect.okey)


def same_as_merged(record: Record) -> VerifyReport:
    report = verify(record, jobs=1)
    expected = merged(record)
    assert (report.ok, report.problem, report.events_checked, report.head, report.milestones) == (
        expected.ok, expected.problem, expected.events_checked, expected.head, expected.milestones)
    return report


def test_the_last_event_removed_with_its_chain_row_kept_is_named(
    record: Record, raw: Raw, dossiers: list[Dossier]
) -> None:
    raw.x("DELETE FROM {events} WHERE {nid} = 9")
    report = same_as_merged(record)
    assert report.problem is not None and (report.problem.kind, report.problem.notification_id) == (
        ProblemKind.REMOVED, 9)


@pytest.mark.parametrize(("column", "value"), [("topic", OPENED), ("originator_version", 7)])
def test_a_chain_row_edited_alone_is_named(
    record: Record, raw: Raw, dossiers: list[Dossier], column: str, value: object
) -> None:
    raw.x(f"UPDATE {{chain}} SET {column} = ? WHERE notification_id = 4", value)
    report = same_as_merged(record)
    assert report.problem is not None and (report.problem.kind, report.problem.notification_id) == (
        ProblemKind.ALTERED, 4)


def test_a_removed_event_before_the_head_is_named(record: Record, raw: Raw, dossiers: list[Dossier]) -> None:
    raw.x("DELETE FROM {events} WHERE {nid} = 2")
    report = same_as_merged(record)
    assert report.problem is not None and (report.problem.kind, report.problem.notification_id) == (
        ProblemKind.REMOVED, 2)


def test_an_untouched_store_gives_the_merge_s_milestones(record: Record, dossiers: list[Dossier]) -> None:
    report = same_as_merged(record)
    assert report.ok and report.events_checked == 9 and len(report.milestones) == 9
