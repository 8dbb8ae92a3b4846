"""Issue 13, « incremental verification from the last verified checkpoint »: a signed tree checkpoint
(`proofs.sign_tree`, behind `audit checkpoint --note`, GET /v1/audit/checkpoint and `audit publish`) resumes
from the latest note the engine kept whose signature verifies: the chain from the chain head its
``arrimage-chain`` line signs, the tree from the stored frontier at its size, checked to fold to its signed
root. What it reads is the report's `rows_read` (event rows + chain rows), not a timing. SQLite and PostgreSQL,
on test_audit_tamper's store (dossiers A, B, C × 3 events, notifications 1–9) and its attacker's SQL.

What an incremental signing does NOT check, by design: the events before the resumed checkpoint (the full verify
before it and the checkpoint's signed chain hash and root vouch for them). An event altered in place there is
found by a full verify (`full=True`, `trail.verify`), which must keep running on its own schedule.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.record.keys import parse_key_ring
from adapters.record.notes import note_store
from adapters.record.record import Record
from domain.audit import merkle
from domain.audit.checkpoint import CheckpointError
from domain.audit.note import parse_checkpoint
from domain.audit.verify import ProblemKind
from tests.merkle_attack_builders import Cli, table
from tests.tamper_builders import NOW, Dossier, Raw, rewrite_history
from usecases.audit import proofs, trail

SIGNED_9 = "the tree checkpoint of size 9 signed 2026-11-23T15:00:00Z"


def _two_more(record: Record, dossiers: list[Dossier]) -> None:
    """Notifications 10 (A v4: its previous event is before the checkpoint) and 11 (a new dossier D v1)."""
    dossiers[0].note("after the checkpoint")
    record.save(dossiers[0])
    record.save(Dossier(code="D"))


def _chain_hashes(record: Record) -> list[bytes]:
    with record.audit_store().snapshot() as snap:
        return [bytes(r[6]) for r in snap.chain_rows()]


def test_incremental_signing_reads_only_the_new_rows_and_signs_the_same_root(
    record: Record, dossiers: list[Dossier]
) -> None:
    first = proofs.sign_tree(record, now=NOW)  # nothing kept yet: a full verify
    assert (first.report.since, first.report.events_checked, first.report.rows_read) == (None, 9, 18)
    _two_more(record, dossiers)
    again = proofs.sign_tree(record, now=NOW)
    assert again.report.since is not None and (again.report.since.seq, again.report.since.notification_id) == (9, 9)
    assert (again.report.events_checked, again.report.rows_read) == (2, 4)
    full = proofs.sign_tree(record, now=NOW, full=True)
    assert (full.report.since, full.report.rows_read) == (None, 22)
    assert again.note.text == full.note.text  # same size, root, chain head and time
    head = parse_checkpoint(again.note.text)
    assert (head.size, head.root_hash) == (11, merkle.merkle_tree_hash(_chain_hashes(record)))
    # Nothing new: nothing read, the same note signed again.
    same = proofs.sign_tree(record, now=NOW)
    assert (same.report.events_checked, same.report.rows_read, same.note.text) == (0, 0, again.note.text)
    # From an explicit note (here the first), and in forked ranges: the same root.
    explicit = proofs.sign_tree(record, now=NOW, since=str(first.note))
    assert (explicit.report.rows_read, parse_checkpoint(explicit.note.text).root_hash) == (4, head.root_hash)
    resume = proofs.resume_point(record, str(first.note), [proofs.log_verifier(record)])
    for report in (trail.verify(record, tree=True, jobs=3, min_range=1),
                   trail.verify(record, tree=True, resume=resume, jobs=2, min_range=1)):
        assert report.ok and report.tree_root == head.root_hash


def test_a_tree_rewritten_below_the_last_checkpoint_is_refused_naming_it(
    record: Record, raw: Raw, dossiers: list[Dossier]
) -> None:
    proofs.sign_tree(record, now=NOW)
    _two_more(record, dossiers)
    tree = raw.chain.replace("audit_chain", "audit_tree")
    # [0, 8) is on the frontier of size 9: the kept note's signed root rests on it.
    raw.x(f"UPDATE {tree} SET hash = ? WHERE level = 3 AND start = 0", bytes(32))
    with pytest.raises(CheckpointError, match=f"will not resume from {SIGNED_9}: .* rewritten below it"):
        proofs.sign_tree(record, now=NOW)


def test_a_chain_altered_after_the_last_checkpoint_is_refused(
    record: Record, raw: Raw, dossiers: list[Dossier]
) -> None:
    proofs.sign_tree(record, now=NOW)
    _two_more(record, dossiers)
    raw.x("UPDATE {chain} SET chain_hash = ? WHERE notification_id = 11", bytes(32))
    with pytest.raises(CheckpointError, match="chain_altered at notification 11"):
        proofs.sign_tree(record, now=NOW)
    raw.x("UPDATE {events} SET state = ? WHERE {nid} = 10", b'{"text":"nothing happened"}')
    with pytest.raises(CheckpointError, match="will not sign this store's tree: altered at notification 10"):
        proofs.sign_tree(record, now=NOW)


def test_a_rechained_history_does_not_meet_the_kept_note(record: Record, raw: Raw, dossiers: list[Dossier]) -> None:
    """The thorough attacker rewrites event 5 and recomputes the chain: the chain head the kept note signs is
    no longer what the store holds at notification 9."""
    proofs.sign_tree(record, now=NOW)
    _two_more(record, dossiers)
    rewrite_history(raw, record, 5, b'{"text":"nothing happened"}')
    with pytest.raises(CheckpointError, match=f"checkpoint_mismatch at notification 9: {SIGNED_9} says chain"):
        proofs.sign_tree(record, now=NOW)


def test_an_event_altered_before_the_checkpoint_is_the_full_verify_s_job(
    record: Record, raw: Raw, dossiers: list[Dossier]
) -> None:
    proofs.sign_tree(record, now=NOW)
    _two_more(record, dossiers)
    raw.x("UPDATE {events} SET state = ? WHERE {nid} = 5", b'{"text":"nothing happened"}')
    signed = proofs.sign_tree(record, now=NOW)  # the documented limit: not read
    assert (signed.report.since is not None, signed.report.rows_read) == (True, 4)
    with pytest.raises(CheckpointError, match="will not sign this store's tree: altered at notification 5"):
        proofs.sign_tree(record, now=NOW, full=True)
    full = trail.verify(record).problem
    assert full is not None and (full.kind, full.notification_id) == (ProblemKind.ALTERED, 5)


def test_a_note_the_keys_do_not_open_is_not_resumed_from(record: Record, dossiers: list[Dossier]) -> None:
    """A kept note of another key (the ring changed) sends the signing back to a full verify; an explicit one
    is refused, naming why."""
    other = parse_key_ring("k:" + "B" * 43 + "=")
    stranger = proofs.sign_tree(record, other, now=NOW)
    assert note_store(record).latest() == str(stranger.note)
    _two_more(record, dossiers)
    signed = proofs.sign_tree(record, now=NOW)
    assert (signed.report.since, signed.report.rows_read) == (None, 22)
    with pytest.raises(CheckpointError, match="does not open with this log's keys"):
        proofs.sign_tree(record, now=NOW, since=str(stranger.note))
    # Both keys in the ring (the new one active): the note signed by the older one still resumes.
    both = parse_key_ring("new:" + "C" * 43 + "=,k:" + "B" * 43 + "=")
    note_store(record).keep(99, str(stranger.note), "later")  # the latest kept is the stranger's, size 9
    resumed = proofs.sign_tree(record, both, now=NOW)
    assert resumed.report.since is not None and resumed.report.rows_read == 4


def test_audit_verify_since_a_checkpoint_note(
    record: Record, raw: Raw, dossiers: list[Dossier], store_env: dict[str, str], tmp_path: Path
) -> None:
    """`arrimage audit verify --since-checkpoint NOTE` (in this process): the chain and the tree resume from the
    note; its tree root at the head is the one a full signing gives. A file that is no checkpoint is bad input
    (2); a note of another key, or a tree rewritten below it, is a failed verify (1) that says so."""
    note = tmp_path / "kept.note"
    note.write_text(str(proofs.sign_tree(record, now=NOW).note))
    _two_more(record, dossiers)
    cli = Cli.over(store_env, tmp_path)
    done = cli.invoke("verify", "--since-checkpoint", str(note), "--json")
    assert done.code == 0, done
    report = json.loads(done.out)
    assert (report["events_checked"], report["rows_read"], report["since"]["seq"]) == (2, 4, 9)
    assert report["tree_root"] == merkle.merkle_tree_hash(_chain_hashes(record)).hex()
    said = cli.invoke("verify", "--since-checkpoint", str(note))
    assert said.code == 0 and "verified 2 events after checkpoint position 9 (notification 9)" in said.out, said

    junk = tmp_path / "junk.note"
    junk.write_text("not a checkpoint\n")
    bad = cli.invoke("verify", "--since-checkpoint", str(junk))
    assert bad.code == 2 and "neither a JSON checkpoint nor a checkpoint note" in bad.err, bad
    stranger = tmp_path / "stranger.note"
    stranger.write_text(str(proofs.sign_tree(record, parse_key_ring("k:" + "B" * 43 + "="), now=NOW).note))
    refused = cli.invoke("verify", "--since-checkpoint", str(stranger))
    assert refused.code == 1 and "bad_signature" in refused.out and "does not open with this log's keys" in refused.out

    tree = raw.chain.replace("audit_chain", "audit_tree")
    raw.x(f"UPDATE {tree} SET hash = ? WHERE level = 3 AND start = 0", bytes(32))
    rewritten = cli.invoke("verify", "--since-checkpoint", str(note))
    assert rewritten.code == 1, rewritten
    assert f"checkpoint_mismatch at store: will not resume from {SIGNED_9}" in " ".join(rewritten.out.split())


def test_a_full_signing_is_bound_to_the_kept_note_too(record: Record, raw: Raw, dossiers: list[Dossier]) -> None:
    """`full=True` (and `audit checkpoint --note`) reads everything, and the tree of the first 9 events it
    verified must still give the kept note's signed root: a history rechained with its tree rebuilt is refused,
    no JSON checkpoint signed, in one pass or in ranges; only dropping the kept copies hides it (the copy
    elsewhere, a witness's, still holds the fork)."""
    proofs.sign_tree(record, now=NOW)
    _two_more(record, dossiers)
    honest = proofs.sign_tree(record, now=NOW, full=True)
    assert honest.report.frontier_at is not None and honest.report.frontier_at[0] == 9
    rewrite_history(raw, record, 5, b'{"text":"nothing happened"}')
    for name in ("audit_tree", "audit_tree_head"):
        raw.x(f"DELETE FROM {raw.chain.replace('audit_chain', name)}")
    fork = "not the signed root of the tree checkpoint of size 11 signed 2026-11-23T15:00:00Z .*a fork"
    with pytest.raises(CheckpointError, match=fork):
        proofs.sign_tree(record, now=NOW, full=True)
    kept = len(trail.stored_checkpoints(record))
    with pytest.raises(CheckpointError, match=fork):
        proofs.checkpoint_with_note(record, now=NOW)
    assert len(trail.stored_checkpoints(record)) == kept
    report = trail.verify(record, tree=True, capture=9, jobs=3, min_range=1)
    assert report.ok and report.frontier_at is not None
    assert report.frontier_at[1] == trail.verify(record, tree=True, capture=9, jobs=1).frontier_at[1]  # type: ignore[index]


def test_only_the_latest_kept_note_stays(record: Record, raw: Raw, dossiers: list[Dossier]) -> None:
    """Retention of ``audit_notes`` (`adapters.record.notes`): a signing keeps its note and drops those at smaller
    sizes (nothing reads them; the checkpoints that count are held outside the engine), so the table holds one row
    however often the engine signs; the next signing still resumes from it."""
    notes = table(raw, "notes")
    proofs.sign_tree(record, now=NOW)
    assert raw.x(f"SELECT size FROM {notes}") == [(9,)]
    _two_more(record, dossiers)
    latest = proofs.sign_tree(record, now=NOW)
    assert raw.x(f"SELECT size FROM {notes}") == [(11,)]
    assert note_store(record).latest() == str(latest.note)
    proofs.sign_tree(record, now=NOW)  # the same size again: the first note kept at a size stays
    assert raw.x(f"SELECT size, note FROM {notes}") == [(11, str(latest.note))]
    _two_more(record, dossiers)
    resumed = proofs.sign_tree(record, now=NOW)
    assert resumed.report.since is not None and resumed.report.since.seq == 11
    assert raw.x(f"SELECT size FROM {notes}") == [(13,)]
