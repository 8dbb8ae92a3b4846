"""Issue 4, tamper-evidence: rows altered, inserted, reordered and deleted *directly in the
database* (SQLite and PostgreSQL), and `verify` names the first such event and the kind.

Each test builds the same small store (3 dossiers × 3 events, saves interleaved so the
notification order mixes aggregates), then edits it with plain SQL, as someone with write
access to the database would, bypassing the application.
"""

from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

from adapters.record.keys import parse_key_ring
from adapters.record.record import Record
from domain.audit.checkpoint import Checkpoint
from domain.audit.verify import Problem, ProblemKind
from tests.tamper_builders import NOTED, NOW, OPENED, Dossier, Raw, rewrite_history
from usecases.audit.trail import checkpoint, verify


def expect(problem: Problem | None, kind: ProblemKind, nid: int, d: Dossier, version: int, topic: str) -> str:
    assert problem is not None
    assert (
        problem.kind,
        problem.notification_id,
        problem.originator_id,
        problem.originator_version,
        problem.topic,
    ) == (
        kind,
        nid,
        str(d.id),
        version,
        topic,
    )
    return problem.detail


def test_an_untouched_store_verifies(record: Record, dossiers: list[Dossier]) -> None:
    report = verify(record)
    assert (report.ok, report.problem, report.events_checked) == (True, None, 9)
    assert report.head is not None and (report.head.notification_id, report.head.seq) == (9, 9)
    # A store that keeps growing keeps verifying: the chain continues from the head.
    dossiers[0].note("later")
    record.save(dossiers[0])
    assert (verify(record).ok, verify(record).events_checked) == (True, 10)


def test_altered_state_bytes_are_named(record: Record, raw: Raw, dossiers: list[Dossier]) -> None:
    raw.x("UPDATE {events} SET state = ? WHERE {nid} = 5", b'{"text":"nothing happened"}')
    detail = expect(verify(record).problem, ProblemKind.ALTERED, 5, dossiers[1], 2, NOTED)
    assert detail == "stored bytes differ from what was chained"


def test_an_altered_topic_is_named(record: Record, raw: Raw, dossiers: list[Dossier]) -> None:
    raw.x("UPDATE {events} SET topic = ? WHERE {nid} = 4", OPENED)
    problem = verify(record).problem
    detail = expect(problem, ProblemKind.ALTERED, 4, dossiers[0], 2, NOTED)
    assert detail == f"the row now claims aggregate {dossiers[0].id} v2 ({OPENED})"


def test_a_forged_row_is_named_as_inserted(record: Record, raw: Raw, dossiers: list[Dossier]) -> None:
    forged = uuid4()
    raw.x(
        "INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES (?, 1, ?, ?)",
        raw.oid(forged),
        OPENED,
        b'{"code":"Z"}',
    )
    problem = verify(record).problem
    assert problem is not None
    assert (problem.kind, problem.notification_id, problem.originator_id, problem.originator_version) == (
        ProblemKind.INSERTED,
        10,
        str(forged),
        1,
    )
    assert problem.detail == "the chain never recorded this event"


def test_swapped_positions_are_named_as_reordered(record: Record, raw: Raw, dossiers: list[Dossier]) -> None:
    """B2 (notification 5) and C3 (notification 9) trade places in the notification order."""
    raw.x("UPDATE {events} SET {nid} = -1 WHERE {nid} = 5")
    raw.x("UPDATE {events} SET {nid} = 5 WHERE {nid} = 9")
    raw.x("UPDATE {events} SET {nid} = 9 WHERE {nid} = -1")
    assert raw.event_at(5) == (str(dossiers[2].id), 3, NOTED)
    detail = expect(verify(record).problem, ProblemKind.REORDERED, 5, dossiers[2], 3, NOTED)
    assert detail == "this event was chained at notification 9"


def test_swapped_versions_are_named_as_reordered(record: Record, raw: Raw, dossiers: list[Dossier]) -> None:
    """A2 (notification 4) and A3 (notification 7) swap versions: the aggregate replays out of order."""
    oid = raw.oid(dossiers[0].id)
    raw.x("UPDATE {events} SET originator_version = -2 WHERE originator_id = ? AND originator_version = 2", oid)
    raw.x("UPDATE {events} SET originator_version = 2 WHERE originator_id = ? AND originator_version = 3", oid)
    raw.x("UPDATE {events} SET originator_version = 3 WHERE originator_id = ? AND originator_version = -2", oid)
    detail = expect(verify(record).problem, ProblemKind.REORDERED, 4, dossiers[0], 3, NOTED)
    assert detail == "this event was chained at notification 7 and its content differs from what was chained"


def test_a_deleted_row_is_named_as_removed(record: Record, raw: Raw, dossiers: list[Dossier]) -> None:
    raw.x("DELETE FROM {events} WHERE {nid} = 6")
    detail = expect(verify(record).problem, ProblemKind.REMOVED, 6, dossiers[2], 2, NOTED)
    assert detail == "the chain recorded this event; it is no longer stored"


def test_a_row_deleted_with_its_chain_row_shows_as_a_gap(record: Record, raw: Raw, dossiers: list[Dossier]) -> None:
    raw.x("DELETE FROM {events} WHERE {nid} = 6")
    raw.x("DELETE FROM {chain} WHERE notification_id = 6")
    detail = expect(verify(record).problem, ProblemKind.REMOVED, 7, dossiers[0], 3, NOTED)
    assert detail == "1 chained event(s) before this one are gone (positions 6–6, after notification 5)"


def test_an_edited_chain_table_is_named(record: Record, raw: Raw, dossiers: list[Dossier]) -> None:
    raw.x("UPDATE {chain} SET chain_hash = ? WHERE notification_id = 3", bytes(32))
    detail = expect(verify(record).problem, ProblemKind.CHAIN_ALTERED, 3, dossiers[2], 1, OPENED)
    assert detail == "the chain hash stored for this event is wrong"


def test_a_rewritten_chain_passes_alone_and_fails_against_a_signed_checkpoint(
    record: Record, raw: Raw, dossiers: list[Dossier]
) -> None:
    """Why checkpoints exist: without one, a recomputed chain table is internally consistent."""
    kept_elsewhere = checkpoint(record, now=NOW)
    assert (kept_elsewhere.notification_id, kept_elsewhere.count) == (9, 9)
    rewrite_history(raw, record, 5, b'{"text":"nothing happened"}')
    raw.x("DELETE FROM {cps}")  # the attacker also removes the database's own copies
    assert verify(record).ok is True  # internal consistency only: the documented limit
    report = verify(record, [kept_elsewhere])
    # Located at the rewritten event itself (the checkpoint's milestones), not at the checkpoint's head (9).
    detail = expect(report.problem, ProblemKind.CHECKPOINT_MISMATCH, 5, dossiers[1], 2, NOTED)
    assert detail.endswith("this event was rewritten (the chain still meets the checkpoint at the event before)")


def test_the_database_copy_of_a_checkpoint_catches_a_rewrite_too(
    record: Record, raw: Raw, dossiers: list[Dossier]
) -> None:
    checkpoint(record, now=NOW)
    rewrite_history(raw, record, 5, b'{"text":"nothing happened"}')
    assert verify(record).problem is not None
    assert verify(record).problem.kind is ProblemKind.CHECKPOINT_MISMATCH  # type: ignore[union-attr]


def test_tail_truncation_is_caught_against_a_checkpoint(record: Record, raw: Raw, dossiers: list[Dossier]) -> None:
    kept_elsewhere = checkpoint(record, now=NOW)
    for table in ("{events}", "{chain}"):
        col = "{nid}" if table == "{events}" else "notification_id"
        raw.x(f"DELETE FROM {table} WHERE {col} >= 8")
    raw.x("DELETE FROM {cps}")
    assert verify(record).ok is True  # a clean cut of both tables is invisible without a checkpoint
    problem = verify(record, [kept_elsewhere]).problem
    assert problem == Problem(
        ProblemKind.TRUNCATED,
        9,
        None,
        None,
        None,
        "a signed checkpoint covers 9 events up to notification 9; the store ends at notification 7 after 7 events",
    )


def test_a_tampered_checkpoint_is_refused(record: Record, dossiers: list[Dossier]) -> None:
    cp = checkpoint(record, now=NOW)
    forged = Checkpoint.from_json(cp.to_json().replace('"count": 9', '"count": 12'))
    assert forged.count == 12
    problem = verify(record, [forged], include_stored=False).problem
    assert problem is not None and (problem.kind, problem.detail) == (
        ProblemKind.BAD_SIGNATURE,
        f"checkpoint signed_at {cp.signed_at} by 'dev-checkpoint': signature does not verify",
    )


def test_a_checkpoint_signed_by_an_untrusted_key_is_refused(record: Record, dossiers: list[Dossier]) -> None:
    stranger = parse_key_ring("mallory:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=")
    cp = checkpoint(record, checkpoint_keys=stranger, now=NOW)
    problem = verify(record, [cp], include_stored=False).problem
    assert problem is not None and problem.detail.endswith("key id 'mallory' is not a trusted checkpoint key")
    # Claiming a trusted key id with another public key does not help either.
    posing = replace(cp, key_id="dev-checkpoint")
    problem = verify(record, [posing], include_stored=False).problem
    assert problem is not None and problem.detail.endswith(
        "public key in the checkpoint is not the trusted key 'dev-checkpoint'"
    )
    # An auditor holding the public key may trust it explicitly.
    assert verify(record, [cp], include_stored=False, trusted_keys={"mallory": cp.public_key}).ok is True


def test_concurrent_saves_keep_one_consistent_chain(record: Record) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(i: int) -> None:
        d = Dossier(code=f"T{i}")
        for n in range(5):
            d.note(f"n{n}")
        record.save(d)
        d.note("again")
        record.save(d)

    with ThreadPoolExecutor(4) as ex:
        list(ex.map(work, range(24)))
    report = verify(record)
    assert (report.ok, report.events_checked) == (True, 24 * 7)
