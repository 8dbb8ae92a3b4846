"""Issue 13, adversarial: attacks on the record's Merkle tree and its signed C2SP checkpoints, made directly in the
database (SQLite and PostgreSQL, `store_env`) as someone with write access to it would make them, and each one
detected with the event or the checkpoint named: by the use cases (`usecases.audit.proofs`, `trail.verify`), by the
offline verifier (`verifier`, over the store's record.jsonl), and for some through the installed CLI in its own
process (exit 0 proven, 1 not, 2 bad input).

1. an event altered in place; 2. an event inserted, removed, or two reordered, the chain recomputed after it and the
tree rebuilt so that the store agrees with itself; 3. the tree's nodes or head rewritten; 4. a forged checkpoint
note; 5. a fork (a second store of the same log: same first events, then others); 6. a proof from another tree;
7. a person's key shredded (nothing is an attack there: every proof must stay valid, the content unreadable).
Also an inner tree node rewritten, and the tail cut (tree rebuilt, or left over the shorter chain). The tests marked
xfail(strict) are findings in the code under test: their reason names the file and what fails.

The store: `dossiers`, notifications 1-9 (A1 B1 C1 A2 B2 C2 A3 B3 C3), a checkpoint note signed over it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.record.keys import parse_key_ring
from adapters.record.note_signing import note_signer, signer_key_from_seed
from adapters.record.record import Record
from adapters.record.tree import TreeError
from domain.audit import merkle
from domain.audit.checkpoint import CheckpointError
from domain.audit.erasure import SHREDDED
from domain.audit.hashing import event_hash, originator_key
from domain.audit.note import Note, NoteError, TreeHead, parse_checkpoint, sign_checkpoint
from domain.audit.verify import ProblemKind
from domain.audit.witnessing import format_hash_lines
from tests.integration.test_audit_shredding import Suivi
from tests.merkle_attack_builders import (
    Cli,
    copy_prefix,
    cover_tracks,
    drop_kept_notes,
    insert_rechained,
    keep,
    remove_rechained,
    second_store,
    swap_rechained,
    table,
    write_bundle_rows,
)
from tests.tamper_builders import NOTED, NOW, OPENED, Dossier, Raw, interleaved_dossiers
from usecases.audit import proofs, trail
from verifier import Kind, Report, Source, verify_bundle

ALTERED = b'{"text":"nothing happened"}'
ROOT = Path(__file__).resolve().parents[2]


def sign(record: Record) -> Note:
    return proofs.sign_tree_checkpoint(record, now=NOW)


def head_of(note: Note | Path) -> TreeHead:
    text = note.read_text() if isinstance(note, Path) else str(note)
    return parse_checkpoint(text[: text.index("\n\n") + 1])


def offline(record: Record, folder: Path, *notes: Path) -> Report:
    """The offline verifier over the store's record.jsonl as it stands, against notes kept elsewhere."""
    vkey = str(proofs.log_verifier(record))
    return verify_bundle(write_bundle_rows(record, folder), [Source(str(n), n.read_text()) for n in notes], [vkey])


def grow(record: Record, dossiers: list[Dossier], n: int) -> None:
    for i in range(n):
        d = dossiers[i % len(dossiers)]
        d.note(f"later {i}")
        record.save(d)


# ------------------------------------------------------------------------------------------ 1. an altered event
def test_an_altered_event_is_named_and_its_proof_fails_against_the_signed_root(
    record: Record, raw: Raw, dossiers: list[Dossier], store_env: dict[str, str], tmp_path: Path
) -> None:
    note = keep(sign(record), tmp_path / "kept.note")
    signed = head_of(note)
    honest = proofs.inclusion(record, 5, signed.size)
    raw.x("UPDATE {events} SET state = ? WHERE {nid} = 5", ALTERED)
    b = dossiers[1]

    problem = trail.verify(record).problem
    assert problem is not None
    assert (problem.kind, problem.notification_id, problem.originator_id, problem.originator_version,
            problem.topic) == (ProblemKind.ALTERED, 5, str(b.id), 2, NOTED)
    # The record gives no proof for it, naming it; and the altered bytes' own leaf, on the honest path, does not
    # reach the root the note signs.
    with pytest.raises(proofs.NotProvable, match=r"event notification 5 \(notification 5\) no longer hashes"):
        proofs.inclusion(record, 5, signed.size)
    with pytest.raises(proofs.NotProvable, match=rf"event {b.id}@2 \(notification 5\) no longer hashes"):
        proofs.inclusion(record, proofs.EventRef.parse(f"{b.id}@2"), signed.size)
    forged_leaf = merkle.leaf_hash(event_hash(originator_key(b.id), 2, NOTED, ALTERED))
    with pytest.raises(merkle.MerkleProofError):
        merkle.verify_inclusion(4, signed.size, forged_leaf, honest.proof, signed.root_hash)
    honest.verify(signed.root_hash)  # the entry the chain holds is still the one signed
    # The engine's full verify refuses to sign; its default, resumed from the note it kept at size 9, checks only
    # the events after it and signs the tree as it stands, whose leaf 5 is still the hash chained, not the bytes now
    # stored: the proofs above keep refusing the altered event.
    with pytest.raises(CheckpointError, match="will not sign this store's tree: altered at notification 5"):
        proofs.sign_tree_checkpoint(record, now=NOW, full=True)
    assert head_of(sign(record)).root_hash == signed.root_hash

    report = offline(record, tmp_path / "bundle", note)
    assert report.problem is not None and not report.ok
    assert (report.problem.kind, report.problem.seq, report.problem.notification_id, report.problem.aggregate_id,
            report.problem.version, report.problem.topic) == (Kind.ALTERED, 5, 5, str(b.id), 2, NOTED)
    assert [c.status for c in report.checkpoints] == ["not_reached"]

    cli = Cli.over(store_env, tmp_path)
    verified = cli.run("verify")
    assert verified.code == 1, verified
    assert f"TAMPERING altered at notification 5 (aggregate {b.id} v2, {NOTED})" in verified.out
    proved = cli.invoke("prove", "5", "--checkpoint", str(note))
    assert proved.code == 1, proved
    assert proved.err.startswith("not proven: event notification 5 (notification 5) no longer hashes to its chain")
    assert cli.invoke("prove", "4", "--checkpoint", str(note)).code == 0  # the events around it still prove


# ----------------------------------------------------------------------- 2. inserted, removed, reordered, rechained
ATTACKS: dict[str, Callable[[Raw, Record], object]] = {
    "inserted": lambda raw, record: insert_rechained(raw, record, 5),
    "removed": lambda raw, record: remove_rechained(raw, record, 5),
    "reordered": lambda raw, record: swap_rechained(raw, record, 5),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_rechained_insert_removal_or_reorder_fails_against_the_signed_note(
    attack: str, record: Record, raw: Raw, dossiers: list[Dossier], store_env: dict[str, str], tmp_path: Path
) -> None:
    old = keep(sign(record), tmp_path / "old.note")
    before = head_of(old)
    signed_hashes = [proofs.inclusion(record, nid, 9).event_hash for nid in range(1, 10)]
    ATTACKS[attack](raw, record)
    assert trail.verify(record).ok is True  # the chain alone is consistent: only what was signed shows it
    with pytest.raises(CheckpointError, match=r"will not resume from the tree checkpoint of size 9 signed "
                                              r"2026-11-23T15:00:00Z: the (tree's stored nodes at that size do not "
                                              r"give its signed root|record's tree does not hold it)"):
        sign(record)  # the note the engine kept in the database
    drop_kept_notes(raw)  # the thorough attacker removes that copy too
    grow(record, dossiers, 3)  # the record goes on; its operator signs again
    new = keep(sign(record), tmp_path / "new.note")
    after = head_of(new)
    assert after.size == {"inserted": 13, "removed": 11, "reordered": 12}[attack]

    # The events before position 5 are the ones signed, yet no event's proof in the tree of the old note's size
    # reaches its root: that tree is not the one signed.
    first_nine = [nid for (nid,) in raw.x("SELECT notification_id FROM {chain} WHERE seq <= 9 ORDER BY seq")]
    now = [proofs.inclusion(record, nid, 9) for nid in first_nine]
    assert [p.event_hash for p in now[:4]] == signed_hashes[:4] and now[4].event_hash != signed_hashes[4]
    for p in now:
        with pytest.raises(merkle.MerkleProofError):
            p.verify(before.root_hash)
    with pytest.raises(merkle.MerkleProofError):
        merkle.verify_consistency(9, after.size, before.root_hash, after.root_hash,
                                  proofs.consistency(record, 9, after.size))

    cli = Cli.over(store_env, tmp_path)
    refused = (cli.run if attack == "inserted" else cli.invoke)("consistency", str(old), str(new))
    assert refused.code == 1, refused
    assert refused.err.startswith(f"not proven: the tree of {after.size} events ({new}) is not proven to extend the "
                                  f"tree of 9 ({old})"), refused
    proved = cli.invoke("prove", str(first_nine[4]), "--checkpoint", str(old))  # the event now at position 5
    assert proved.code == 1 and "does not reach the root checkpoint" in proved.err, proved

    report = offline(record, tmp_path / "bundle", old, new)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.checkpoint, report.problem.between) == (
        Kind.CHECKPOINT_MISMATCH, str(old), (0, 9))
    assert f"Yet {new}, at or past position 9, is met: this checkpoint is of another tree" in report.problem.detail
    assert [(c.source, c.status) for c in report.checkpoints] == [(str(old), "not_met"), (str(new), "met")]
    if attack == "removed":  # the operator exports the rewritten store; the auditor checks it with the note they kept
        bundle = tmp_path / "export"
        exported = cli.invoke("export", "--out", str(bundle))
        assert exported.code == 0, exported
        checked = cli.invoke("verify", "--bundle", str(bundle), "--against", str(old), "--log-key",
                             str(proofs.log_verifier(record)))
        assert checked.code == 1, checked
        assert f"TAMPERING checkpoint_mismatch at checkpoint {old}" in checked.out, checked
    if attack == "inserted":  # the offline verifier as an auditor runs it: its own process, nothing of the engine
        alone = subprocess.run([sys.executable, "-m", "verifier", "--bundle", str(tmp_path / "bundle"), "--against",
                                str(old), "--log-key", str(proofs.log_verifier(record)), "--json"],
                               env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}, cwd="/",
                               capture_output=True, text=True, timeout=120)
        assert alone.returncode == 1, alone
        assert json.loads(alone.stdout)["problem"]["checkpoint"] == str(old)


def test_the_inserted_event_is_named_by_the_checkpoint_milestones(
    record: Record, raw: Raw, dossiers: list[Dossier], tmp_path: Path
) -> None:
    """The JSON checkpoint signed with the note carries milestones: with it, the verifiers name the first event
    that differs, not only the checkpoint."""
    cp, note = proofs.checkpoint_with_note(record, now=NOW)
    kept_json, kept_note = tmp_path / "kept.json", keep(note, tmp_path / "kept.note")
    kept_json.write_text(cp.to_json())
    forged = insert_rechained(raw, record, 5)
    problem = trail.verify(record, [cp]).problem
    assert problem is not None and (problem.kind, problem.notification_id, problem.originator_id) == (
        ProblemKind.CHECKPOINT_MISMATCH, 5, str(forged))
    report = verify_bundle(write_bundle_rows(record, tmp_path / "bundle"),
                           [Source(str(kept_note), kept_note.read_text()), Source(str(kept_json), cp.to_json())],
                           [str(proofs.log_verifier(record))])
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq, report.problem.notification_id, report.problem.aggregate_id,
            report.problem.topic) == (Kind.CHECKPOINT_MISMATCH, 5, 5, str(forged), OPENED), report.problem


# ------------------------------------------------------------------------------------------- 3. a rewritten tree
def test_a_rewritten_tree_node_fails_prove_and_consistency_against_the_signed_notes(
    record: Record, raw: Raw, dossiers: list[Dossier], store_env: dict[str, str], tmp_path: Path
) -> None:
    nine = keep(sign(record), tmp_path / "nine.note")
    grow(record, dossiers, 1)
    ten = keep(sign(record), tmp_path / "ten.note")
    # [0, 8) of level 3 is in every proof that crosses the tree's middle; the head's root is made to agree with
    # it, so that the follower goes on extending the rewritten tree.
    raw.x(f"UPDATE {table(raw, 'tree')} SET hash = ? WHERE level = 3 AND start = 0", bytes(32))
    lied = record.audit_tree().read(lambda lookup: merkle.root_at(lookup, 10))
    raw.x(f"UPDATE {table(raw, 'tree_head')} SET root = ? WHERE id = 1", lied)
    assert proofs.tree_head(record).root == lied

    with pytest.raises(merkle.MerkleProofError):
        proofs.inclusion(record, 9, 10).verify(head_of(ten).root_hash)
    with pytest.raises(proofs.NotProvable, match="the store's tree does not prove event 1: root_mismatch"):
        proofs.inclusion(record, 1, 10)
    with pytest.raises(merkle.MerkleProofError):
        merkle.verify_consistency(9, 10, head_of(nine).root_hash, head_of(ten).root_hash,
                                  proofs.consistency(record, 9, 10))
    grow(record, dossiers, 1)
    with pytest.raises(CheckpointError, match="the tree tables were altered"):
        sign(record)  # the engine signs no tree but the one its verified chain gives

    cli = Cli.over(store_env, tmp_path)
    refused = cli.invoke("consistency", str(nine), str(ten))
    assert refused.code == 1, refused
    assert refused.err.startswith(f"not proven: the tree of 10 events ({ten}) is not proven to extend the tree of 9 "
                                  f"({nine})"), refused
    proved = cli.invoke("prove", "9", "--checkpoint", str(ten))
    assert proved.code == 1, proved
    assert proved.err.startswith(f"not proven: event notification 9's proof from this record does not reach the root "
                                 f"checkpoint {ten} signs (the record's tree of 10 events is not the one signed)")
    # The chain was never touched: the offline verifier, which builds its own tree, meets both notes.
    report = offline(record, tmp_path / "bundle", nine, ten)
    assert report.ok and [c.status for c in report.checkpoints] == ["met", "met"], report


def test_a_proof_that_misses_the_signed_root_names_the_checkpoint(
    record: Record, raw: Raw, dossiers: list[Dossier], store_env: dict[str, str], tmp_path: Path
) -> None:
    old = keep(sign(record), tmp_path / "old.note")
    swap_rechained(raw, record, 5)
    refused = Cli.over(store_env, tmp_path).invoke("prove", "5", "--checkpoint", str(old))
    assert refused.code == 1 and str(old) in refused.err, refused


def test_the_follower_refuses_to_extend_a_tree_whose_head_disagrees(
    record: Record, raw: Raw, dossiers: list[Dossier]
) -> None:
    sign(record)
    raw.x(f"UPDATE {table(raw, 'tree_head')} SET root = ? WHERE id = 1", bytes(32))
    grow(record, dossiers, 1)
    with pytest.raises(TreeError, match="stored nodes of size 9 do not fold to its stored root"):
        proofs.tree_head(record)
    with pytest.raises((TreeError, proofs.NotProvable), match="do not fold to its stored root"):
        proofs.consistency(record, 9, 10)
    with pytest.raises((TreeError, proofs.NotProvable), match="do not fold to its stored root"):
        proofs.inclusion(record, 1, 9)
    assert record.audit_tree().head().size == 9  # nothing of the batch was written
    with pytest.raises(CheckpointError, match="do not fold to its stored root"):
        sign(record)


def test_prove_over_a_tree_the_follower_refuses_says_why(
    record: Record, raw: Raw, dossiers: list[Dossier], store_env: dict[str, str], tmp_path: Path
) -> None:
    note = keep(sign(record), tmp_path / "kept.note")
    raw.x(f"UPDATE {table(raw, 'tree_head')} SET root = ? WHERE id = 1", bytes(32))
    grow(record, dossiers, 1)
    cli = Cli.over(store_env, tmp_path)
    for args in (("prove", "1", "--checkpoint", str(note)), ("consistency", str(note), str(note))):
        refused = cli.invoke(*args)
        assert refused.code == 1 and "do not fold to its stored root" in refused.err, refused


def test_the_follower_refuses_a_head_moved_back_naming_it(record: Record, raw: Raw, dossiers: list[Dossier]) -> None:
    """The head moved back to size 5 with the root of size 5 (the nodes over 6-9 left in place)."""
    raw.x(f"UPDATE {table(raw, 'tree_head')} SET size = 5, root = ? WHERE id = 1", proofs.root_at(record, 5))
    with pytest.raises(TreeError, match=r"the tree holds the node of positions 5 to 6 \(level 1\) beyond its head of "
                       "size 5: the tree head was moved back"):
        proofs.tree_head(record)


def test_an_inner_node_rewritten_fails_the_proofs_that_use_it_naming_their_event(
    record: Record, raw: Raw, dossiers: list[Dossier]
) -> None:
    """[4, 6) is no part of the frontier of 9 the engine checks before it signs: the engine still signs (what
    `_tree_agrees` covers), and every proof that passes through the node fails, naming its event."""
    signed = head_of(sign(record))
    hashes = [proofs.inclusion(record, nid, 9).event_hash for nid in range(1, 10)]
    raw.x(f"UPDATE {table(raw, 'tree')} SET hash = ? WHERE level = 1 AND start = 4", bytes(32))
    assert head_of(sign(record)).root_hash == signed.root_hash
    for nid in (7, 8):  # [4, 6) is their sibling's sibling
        with pytest.raises(proofs.NotProvable, match=f"the store's tree does not prove event {nid}: root_mismatch"):
            proofs.inclusion(record, nid, 9)
    for nid in (1, 5, 6, 9):
        proofs.inclusion(record, nid, 9).verify(signed.root_hash)
    with pytest.raises(merkle.MerkleProofError):
        merkle.verify_consistency(6, 9, merkle.merkle_tree_hash(hashes[:6]), signed.root_hash,
                                  proofs.consistency(record, 6, 9))


def test_a_cut_tail_with_the_tree_rebuilt_is_named_against_the_note(
    record: Record, raw: Raw, dossiers: list[Dossier], store_env: dict[str, str], tmp_path: Path
) -> None:
    note = keep(sign(record), tmp_path / "kept.note")
    raw.x("DELETE FROM {events} WHERE {nid} >= 8")
    raw.x("DELETE FROM {chain} WHERE notification_id >= 8")
    cover_tracks(raw)
    assert trail.verify(record).ok is True and proofs.tree_head(record).size == 7
    with pytest.raises(proofs.NotProvable, match="the record's tree holds 7 events: it has no tree of size 9"):
        proofs.inclusion(record, 1, 9)
    refused = Cli.over(store_env, tmp_path).invoke("prove", "1", "--checkpoint", str(note))
    assert (refused.code, refused.err) == (1, "not proven: the record's tree holds 7 events: it has no tree of size "
                                              "9\n"), refused
    report = offline(record, tmp_path / "bundle", note)
    assert report.problem is not None and (report.problem.kind, report.problem.checkpoint, report.problem.detail) == (
        Kind.TRUNCATED, str(note), f"checkpoint {note} covers 9 events; the record ends after 7: events 8 to 9 were "
                                   "cut")


def test_a_cut_tail_under_the_tree_names_the_missing_position(
    record: Record, raw: Raw, dossiers: list[Dossier], store_env: dict[str, str], tmp_path: Path
) -> None:
    note = keep(sign(record), tmp_path / "kept.note")
    raw.x("DELETE FROM {events} WHERE {nid} >= 8")
    raw.x("DELETE FROM {chain} WHERE notification_id >= 8")  # the tree, left as it was, still holds 9 leaves
    gone = "the chain no longer holds the event at position 9, which the tree of size 9 holds: events were removed"
    with pytest.raises(proofs.NotProvable, match=gone):
        proofs.inclusion(record, 1, 9)
    with pytest.raises(proofs.NotProvable, match=gone):
        proofs.consistency(record, 5, 9)
    refused = Cli.over(store_env, tmp_path).invoke("prove", "1", "--checkpoint", str(note))
    assert refused.code == 1 and refused.err.startswith(f"not proven: {gone}"), refused


# ---------------------------------------------------------------------------------------- 4. a forged checkpoint
def test_a_forged_checkpoint_note_is_refused_naming_the_note_and_key(
    record: Record, dossiers: list[Dossier], store_env: dict[str, str], tmp_path: Path
) -> None:
    note = sign(record)
    vkey = proofs.log_verifier(record)
    signed = head_of(note)
    text = str(note)
    other_root = base64.b64encode(proofs.root_at(record, 8)).decode()  # the note claims another tree
    edited = keep(text.replace(base64.b64encode(signed.root_hash).decode(), other_root, 1), tmp_path / "edited.note")
    sid = trail.store_id(record)
    assert sid is not None
    impostor = signer_key_from_seed(proofs.origin(sid), bytes(range(32)))
    other_key = keep(sign_checkpoint(signed, note_signer(impostor)), tmp_path / "other-key.note")
    other_ring = keep(proofs.sign_tree_checkpoint(record, parse_key_ring("k:" + "B" * 43 + "="), now=NOW),
                      tmp_path / "other-ring.note")

    for forged in (edited, other_key, other_ring):
        with pytest.raises(NoteError):
            proofs.open_tree_checkpoint(forged.read_text(), vkey)
        report = offline(record, tmp_path / "bundle", forged)
        assert report.problem is not None and (report.problem.kind, report.problem.checkpoint) == (
            Kind.BAD_SIGNATURE, str(forged)), report
    cli = Cli.over(store_env, tmp_path)
    for forged in (edited, other_key):
        refused = cli.invoke("prove", "1", "--checkpoint", str(forged), "--log-key", str(vkey))
        assert refused.code == 1, refused
        assert refused.err.startswith(f"not proven: checkpoint {forged} does not verify with log key {vkey}: ")
    refused = cli.invoke("consistency", str(other_ring), str(other_ring))
    assert refused.code == 1 and f"checkpoint {other_ring} does not verify with log key {vkey}" in refused.err


def test_a_note_with_its_size_edited_is_a_bad_signature_offline(
    record: Record, dossiers: list[Dossier], tmp_path: Path
) -> None:
    note, signed = sign(record), head_of(sign(record))
    edited = keep(str(note).replace(f"\n{signed.size}\n", f"\n{signed.size - 1}\n", 1), tmp_path / "edited.note")
    report = offline(record, tmp_path / "bundle", edited)
    assert report.problem is not None and (report.problem.kind, report.problem.checkpoint) == (
        Kind.BAD_SIGNATURE, str(edited))


# ------------------------------------------------------------------------------- 5. a fork, 6. another tree's proof
def test_a_fork_is_caught_by_consistency_compare_and_the_offline_verifier(
    record: Record, raw: Raw, dossiers: list[Dossier], store_env: dict[str, str], tmp_path: Path
) -> None:
    common = keep(sign(record), tmp_path / "common.note")
    with second_store(store_env, tmp_path) as fork_env:
        fork = Record(fork_env)
        fork_raw = Raw(fork_env)
        try:
            copy_prefix(raw, fork_raw, 9)
            assert trail.store_id(fork) == trail.store_id(record)
            assert proofs.log_verifier(fork) == proofs.log_verifier(record)  # one log, one key
            assert proofs.tree_head(fork).root == head_of(common).root_hash
            grow(record, dossiers, 3)
            theirs = interleaved_dossiers(fork, "XYZ", 0)  # 3 other events at notifications 10-12
            ours = keep(sign(record), tmp_path / "ours.note")
            split = keep(sign(fork), tmp_path / "theirs.note")
            assert head_of(ours).size == head_of(split).size == 12
            grow(fork, theirs, 1)
            larger = keep(sign(fork), tmp_path / "theirs-13.note")
            vkey = str(proofs.log_verifier(record))

            # 6. a proof from the fork's tree does not hold against the record's note, not even for a shared event
            for nid in (3, 10):
                with pytest.raises(merkle.MerkleProofError):
                    proofs.inclusion(fork, nid, 12).verify(head_of(ours).root_hash)
                proofs.inclusion(record, nid, 12).verify(head_of(ours).root_hash)
            proofs.inclusion(fork, 3, 9).verify(head_of(common).root_hash)  # before the fork: one tree

            on_fork, on_record = Cli.over(fork_env, tmp_path), Cli.over(store_env, tmp_path)
            assert on_fork.invoke("consistency", str(common), str(split), "--log-key", vkey).code == 0
            for cli in (on_fork, on_record):
                same_size = cli.invoke("consistency", str(ours), str(split), "--log-key", vkey)
                assert same_size.code == 1, same_size
                assert same_size.err.startswith(f"not proven: the tree of 12 events ({split}) is not proven to "
                                                f"extend the tree of 12 ({ours})")
            grown = on_fork.invoke("consistency", str(ours), str(larger), "--log-key", vkey)
            assert grown.code == 1 and f"the tree of 13 events ({larger}) is not proven to extend the tree of 12 " \
                                       f"({ours})" in grown.err, grown
            beyond = on_record.invoke("consistency", str(ours), str(larger), "--log-key", vkey)
            assert beyond.code == 1 and "it has no tree of size 13" in beyond.err, beyond
            proved = on_fork.invoke("prove", "10", "--checkpoint", str(ours), "--log-key", vkey)
            assert proved.code == 1 and "does not reach the root checkpoint" in proved.err, proved

            compared = on_record.run("compare", str(ours), str(split), "--log-key", vkey)
            assert compared.code == 1, compared
            assert f"split: {ours} (size 12) and {split} (size 12): two roots at size 12" in compared.err
            proof = tmp_path / "proof.txt"
            proof.write_text(format_hash_lines(proofs.consistency(fork, 12, 13)))
            compared = on_record.invoke("compare", str(ours), str(larger), "--log-key", vkey, "--proof", str(proof))
            assert compared.code == 1 and f"split: {ours} (size 12) and {larger} (size 13)" in compared.err

            report = offline(fork, tmp_path / "bundle", common, ours, split)
            assert report.problem is not None
            assert (report.problem.kind, report.problem.checkpoint, report.problem.between) == (
                Kind.CHECKPOINT_MISMATCH, str(ours), (9, 12))
            assert [c.status for c in report.checkpoints] == ["met", "not_met", "met"]
            assert f"Yet {split}, at or past position 12, is met" in report.problem.detail
        finally:
            fork_raw.close()
            fork.close()


def test_a_proof_for_another_logs_event_is_refused(
    record: Record, dossiers: list[Dossier], store_env: dict[str, str], tmp_path: Path
) -> None:
    ours = keep(sign(record), tmp_path / "ours.note")
    with second_store(store_env, tmp_path) as other_env:
        other = Record(other_env)
        try:
            interleaved_dossiers(other, "ABC", 2)  # the same shape, other events, another store id
            with pytest.raises(merkle.MerkleProofError):
                proofs.inclusion(other, 5, 9).verify(head_of(ours).root_hash)
            refused = Cli.over(other_env, tmp_path).invoke("prove", "5", "--checkpoint", str(ours), "--log-key",
                                                        str(proofs.log_verifier(record)))
            assert refused.code == 1, refused
            assert refused.err.startswith(f"not proven: checkpoint {ours} is of log 'arrimage/"
                                          f"{trail.store_id(record)}'; this record is log 'arrimage/"
                                          f"{trail.store_id(other)}'"), refused
        finally:
            other.close()


# ----------------------------------------------------------------------------------------------- 7. shredding
def test_shredding_keeps_every_proof_and_the_offline_verify_and_the_content_unreadable(
    record: Record, store_env: dict[str, str], tmp_path: Path
) -> None:
    marie = Suivi(subject_id="S-001", personal={"name": "Marie Tremblay"}, team="CLSC-1")
    marie.update_contact(subject_id="S-001", personal={"phone": "438-555-0199"})
    jean = Suivi(subject_id="S-002", personal={"name": "Jean Gagnon"}, team="CLSC-2")
    record.save(marie, jean)
    interleaved_dossiers(record, "AB", 1)
    before = keep(sign(record), tmp_path / "before.note")
    n = head_of(before).size
    kept = [proofs.inclusion(record, nid, n) for nid in range(1, n + 1)]
    pairs = {(m, k): proofs.consistency(record, m, k) for k in range(n + 1) for m in range(k + 1)}

    trail.shred(record, "S-001", by="responsable-acces", reason="decision D-2025-17", now=NOW)

    assert record.repository.get(marie.id).personal == SHREDDED
    assert record.repository.get(jean.id).personal == {"name": "Jean Gagnon"}
    after = keep(sign(record), tmp_path / "after.note")
    assert head_of(after).size == n + 1  # the erasure's own event
    for old in kept:
        assert proofs.inclusion(record, old.notification_id, n) == old
        old.verify(head_of(before).root_hash)
        proofs.inclusion(record, old.notification_id, n + 1).verify(head_of(after).root_hash)
    roots = [proofs.root_at(record, k) for k in range(n + 2)]
    for (m, k), proof in pairs.items():
        assert proofs.consistency(record, m, k) == proof
        merkle.verify_consistency(m, k, roots[m], roots[k], proof)
    merkle.verify_consistency(n, n + 1, head_of(before).root_hash, head_of(after).root_hash,
                              proofs.consistency(record, n, n + 1))

    report = offline(record, tmp_path / "bundle", before, after)
    assert report.ok and report.events == n + 1 and [c.status for c in report.checkpoints] == ["met", "met"]
    jsonl = (tmp_path / "bundle" / "record.jsonl").read_bytes()
    assert b"Marie" not in jsonl and b"438-555" not in jsonl  # sealed: ciphertext in base64, its key destroyed
    cli = Cli.over(store_env, tmp_path)
    for nid in (1, 2):  # Marie's own events
        assert cli.invoke("prove", str(nid), "--checkpoint", str(before)).code == 0
    assert cli.invoke("consistency", str(before), str(after)).code == 0

