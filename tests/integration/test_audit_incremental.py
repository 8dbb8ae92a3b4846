"""Issue 12, « The record at full speed »: "an incremental verify from the last verified checkpoint that
costs only the new events". `verify(record, since=checkpoint)` checks the checkpoint's signature, finds
its head still stored as signed, then reads and hashes only the events after it; what it read is in the
report (`rows_read`: event rows + chain rows), not a timing. SQLite and PostgreSQL, on test_audit_tamper's
store (dossiers A, B, C × 3 events, notifications 1–9) and its attacker's SQL.
"""

from __future__ import annotations

from dataclasses import replace

from adapters.record.record import Record
from domain.audit.verify import ProblemKind
from tests.tamper_builders import NOTED, NOW, Dossier, Raw, rewrite_history
from usecases.audit.trail import checkpoint, verify


def _two_more(record: Record, dossiers: list[Dossier]) -> None:
    """Notifications 10 (A v4: its previous event is before the checkpoint) and 11 (a new dossier D v1)."""
    dossiers[0].note("after the checkpoint")
    record.save(dossiers[0])
    record.save(Dossier(code="D"))


def test_reads_only_the_events_after_the_checkpoint(record: Record, dossiers: list[Dossier]) -> None:
    cp = checkpoint(record, now=NOW)
    _two_more(record, dossiers)
    report = verify(record, since=cp, include_stored=False)
    assert (report.ok, report.problem, report.events_checked, report.rows_read) == (True, None, 2, 4)
    assert report.since is not None and (report.since.notification_id, report.since.seq) == (9, 9)
    assert report.head is not None and (report.head.notification_id, report.head.seq) == (11, 11)
    full = verify(record, include_stored=False)
    assert (full.events_checked, full.rows_read, full.head) == (11, 22, report.head)  # the same head, recomputed
    # Nothing new: nothing read, and that is a pass, not an empty record.
    cp2 = checkpoint(record, now=NOW)
    assert (verify(record, since=cp2).events_checked, verify(record, since=cp2).rows_read) == (0, 0)


def test_an_event_altered_after_the_checkpoint_is_named(
    record: Record, raw: Raw, dossiers: list[Dossier]
) -> None:
    cp = checkpoint(record, now=NOW)
    _two_more(record, dossiers)
    raw.x("UPDATE {events} SET state = ? WHERE {nid} = 10", b'{"text":"nothing happened"}')
    problem = verify(record, since=cp, include_stored=False).problem
    assert problem is not None
    assert (problem.kind, problem.notification_id, problem.originator_id, problem.originator_version,
            problem.topic) == (ProblemKind.ALTERED, 10, str(dossiers[0].id), 4, NOTED)
    assert problem.detail == "stored bytes differ from what was chained"


def test_an_edit_before_the_checkpoint_is_the_full_verify_s_job(
    record: Record, raw: Raw, dossiers: list[Dossier]
) -> None:
    """The documented limit: the incremental pass does not read what precedes its checkpoint."""
    cp = checkpoint(record, now=NOW)
    _two_more(record, dossiers)
    raw.x("UPDATE {events} SET state = ? WHERE {nid} = 5", b'{"text":"nothing happened"}')
    assert verify(record, since=cp, include_stored=False).ok is True
    full = verify(record, include_stored=False).problem
    assert full is not None and (full.kind, full.notification_id) == (ProblemKind.ALTERED, 5)


def test_a_rechained_history_does_not_meet_the_checkpoint_s_head(
    record: Record, raw: Raw, dossiers: list[Dossier]
) -> None:
    """The thorough attacker rewrites event 5 and recomputes the chain: the head the checkpoint signed is no
    longer what the store holds at notification 9, so the incremental pass refuses to resume from it."""
    cp = checkpoint(record, now=NOW)
    _two_more(record, dossiers)
    rewrite_history(raw, record, 5, b'{"text":"nothing happened"}')
    report = verify(record, since=cp, include_stored=False)
    assert report.problem is not None and report.rows_read == 0
    assert (report.problem.kind, report.problem.notification_id) == (ProblemKind.CHECKPOINT_MISMATCH, 9)
    assert report.problem.detail.endswith("events up to here were rewritten")


def test_a_removed_head_and_a_forged_signature_are_refused(
    record: Record, raw: Raw, dossiers: list[Dossier]
) -> None:
    cp = checkpoint(record, now=NOW)
    forged = replace(cp, count=cp.count + 1)
    problem = verify(record, since=forged, include_stored=False).problem
    assert problem is not None and problem.kind is ProblemKind.BAD_SIGNATURE
    raw.x("DELETE FROM {chain} WHERE notification_id = 9")
    raw.x("DELETE FROM {events} WHERE {nid} = 9")
    problem = verify(record, since=cp, include_stored=False).problem
    assert problem is not None and (problem.kind, problem.notification_id) == (ProblemKind.REMOVED, 9)
