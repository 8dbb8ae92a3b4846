"""Witnessed checkpoints (issue 13), on SQLite and PostgreSQL: a real witness (``adapters.witness``, its HTTP server
on a free port, its SQLite state) and a real record whose tree checkpoints `publish` sends it.

- publish → cosigned; the record grows → publish again → the consistency proof from the size the witness
  cosigned is accepted; the cosigned notes are kept in the record and open with the witness's key;
- the record forgets what the witness holds → 409 with the witness's size → sent again from it → cosigned;
- a fork (a second record whose tree is signed with the first's origin and key) → the witness refuses it, 409 at
  the same size, 422 on a larger one, and keeps the refusals as evidence; `audit compare` of the two notes
  exits 1 naming both files;
- a checkpoint signed by another key under the log's name → 403, and `publish` reports the witness refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.record.environment import record_env
from adapters.record.keys import parse_key_ring
from adapters.record.note_signing import ed25519_verify, note_signer, signer_key_from_seed
from adapters.record.record import Record
from adapters.record.witnessed import witnessed_store
from adapters.witness.client import post_add_checkpoint
from adapters.witness.server import witness_server
from adapters.witness.service import Witness
from adapters.witness.state import WitnessState
from cli.main import app
from domain.audit.note import COSIGNATURE_V1, Note, TreeHead, open_checkpoint, parse_checkpoint, sign_checkpoint
from domain.audit.witnessing import SIZE_CONTENT_TYPE, AddCheckpoint, Outcome, WitnessEndpoint, format_hash_lines
from tests.tamper_builders import NOW, Dossier, interleaved_dossiers
from usecases.audit.proofs import consistency, log_key, log_verifier, root_at, sign_tree_checkpoint, tree_head
from usecases.audit.trail import store_id
from usecases.audit.witnessing import kept_notes, publish

ARRIMAGE = str(Path(sys.executable).parent / "arrimage")  # the one installed beside this interpreter
WITNESS_KEY = signer_key_from_seed("witness.example/w1", bytes(range(7, 39)), COSIGNATURE_V1)
STRANGER = parse_key_ring("mallory:" + "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")


@dataclass
class Running:
    endpoint: WitnessEndpoint
    state: WitnessState


@pytest.fixture
def witness(record: Record, tmp_path: Path) -> Iterator[Running]:
    """A witness that knows this record's log key, serving on a free port until the test ends."""
    state = WitnessState(tmp_path / "witness.sqlite")
    server = witness_server(Witness(str(WITNESS_KEY), [log_verifier(record)], state), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Running(WitnessEndpoint(WITNESS_KEY.verifier, f"http://127.0.0.1:{server.server_address[1]}"), state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def proof_lines(proof: Sequence[bytes]) -> str:
    return format_hash_lines(proof)


def grow(record: Record, dossiers: list[Dossier], n: int) -> None:
    for i in range(n):
        dossiers[i % len(dossiers)].note(f"later {i}")
        record.save(dossiers[i % len(dossiers)])


def test_publish_is_cosigned_then_the_grown_record_is_cosigned_on_its_consistency_proof(
    record: Record, dossiers: list[Dossier], witness: Running
) -> None:
    first = publish(record, None, [witness.endpoint], NOW)  # None: the development ring
    assert [(r.outcome, r.old_size) for r in first.reports] == [(Outcome.COSIGNED, 0)]
    assert first.size == 9 and first.all_cosigned
    grow(record, dossiers, 5)
    second = publish(record, None, [witness.endpoint], NOW + timedelta(days=1))
    assert [(r.outcome, r.old_size) for r in second.reports] == [(Outcome.COSIGNED, 9)]
    assert second.size == 14
    log = log_verifier(record)
    kept = kept_notes(record)
    assert kept == [first.note, second.note]
    opened = open_checkpoint(kept[-1], log=log, verify=ed25519_verify, witnesses=[WITNESS_KEY.verifier])
    assert opened.head.size == 14 and opened.head.root_hash == tree_head(record).root
    assert [c.name for c in opened.witnessed_by([WITNESS_KEY.verifier])] == ["witness.example/w1"]
    held = witness.state.latest(log.name)
    assert held is not None and parse_checkpoint(held.text).size == 14
    assert witnessed_store(record).last_size(str(WITNESS_KEY.verifier)) == 14


def test_a_witness_ahead_of_what_the_record_remembers_answers_409_and_the_log_sends_again_from_its_size(
    record: Record, dossiers: list[Dossier], witness: Running
) -> None:
    publish(record, None, [witness.endpoint], NOW)
    store = witnessed_store(record)
    with store.dialect.transaction(commit=True) as cursor:  # the record's memory of its witnesses lost
        cursor.execute(store.dialect.sql("DELETE FROM {witnesses}"))
    grow(record, dossiers, 3)
    again = publish(record, None, [witness.endpoint], NOW)
    assert [(r.outcome, r.old_size) for r in again.reports] == [(Outcome.COSIGNED, 9)]


def fork_record(tmp_path: Path) -> Record:
    """A second record (SQLite) with other events than the fixtures' dossiers: the operator's other branch."""
    fork = Record(record_env(sqlite=tmp_path / "fork.sqlite"))
    interleaved_dossiers(fork, "XYZ", 4)
    return fork


def forked_note(record: Record, fork: Record, size: int) -> Note:
    """The fork's tree at `size` signed under the record's origin with the record's key: what a log that shows
    two views signs."""
    sid = store_id(record)
    assert sid is not None
    key = log_key(sid)
    head = TreeHead(key.name, size, root_at(fork, size))
    return sign_checkpoint(head, note_signer(key))


def test_a_forked_log_is_refused_by_the_witness_and_compare_names_both_checkpoints(
    record: Record, dossiers: list[Dossier], witness: Running, tmp_path: Path
) -> None:
    published = publish(record, None, [witness.endpoint], NOW)
    fork = fork_record(tmp_path)
    try:
        tree_head(fork)
        split = forked_note(record, fork, 9)
        answer = post_add_checkpoint(witness.endpoint.add_checkpoint_url, AddCheckpoint(9, (), split).body())
        assert answer.status == 409 and answer.content_type != SIZE_CONTENT_TYPE
        assert answer.body.decode().startswith("split view: size 9 was cosigned with root ")
        larger = forked_note(record, fork, 12)
        proof = tuple(consistency(fork, 9, 12))  # the fork's own proof: it cannot meet the record's root
        answer = post_add_checkpoint(witness.endpoint.add_checkpoint_url, AddCheckpoint(9, proof, larger).body())
        assert answer.status == 422
        assert "consistency proof from size 9 to 12 does not verify" in answer.body.decode()
        assert [s for _, s, _ in witness.state.evidence()] == [409, 422]  # kept: proof of the log's misbehaviour
        mine, theirs, proof_file = tmp_path / "ours.note", tmp_path / "theirs.note", tmp_path / "proof.txt"
        mine.write_text(published.note)
        theirs.write_text(str(split))
        vkey = str(log_verifier(record))
        run = CliRunner().invoke(app, ["audit", "compare", str(mine), str(theirs), "--log-key", vkey])
        assert run.exit_code == 1, run.output
        assert f"split: {mine} (size 9) and {theirs} (size 9): two roots at size 9" in run.output
        theirs.write_text(str(larger))
        proof_file.write_text(proof_lines(proof))
        run = CliRunner().invoke(app, ["audit", "compare", str(mine), str(theirs), "--log-key", vkey,
                                       "--proof", str(proof_file)])
        assert run.exit_code == 1, run.output
        assert f"split: {mine} (size 9) and {theirs} (size 12): no consistency proof from size 9" in run.output
        run = CliRunner().invoke(app, ["audit", "compare", str(mine), str(theirs), "--log-key", vkey])
        assert run.exit_code == 2 and "give --proof" in run.output
    finally:
        fork.close()


def test_the_record_grown_compares_as_an_extension(
    record: Record, dossiers: list[Dossier], tmp_path: Path
) -> None:
    old, new, proof_file = tmp_path / "old.note", tmp_path / "new.note", tmp_path / "proof.txt"
    old.write_text(str(sign_tree_checkpoint(record, now=NOW)))
    grow(record, dossiers, 4)
    new.write_text(str(sign_tree_checkpoint(record, now=NOW)))
    proof_file.write_text(proof_lines(consistency(record, 9, 13)))
    run = CliRunner().invoke(app, ["audit", "compare", str(new), str(old), "--log-key", str(log_verifier(record)),
                                   "--proof", str(proof_file)])
    assert run.exit_code == 0, run.output
    assert f"extends: {old} (size 9) and {new} (size 13): size 13 proven to extend size 9" in run.output


def test_a_forged_log_signature_is_403(record: Record, dossiers: list[Dossier], witness: Running) -> None:
    sid = store_id(record)
    assert sid is not None
    forger = signer_key_from_seed(f"arrimage/{sid}", bytes(32))
    forged = sign_checkpoint(TreeHead(forger.name, 9, tree_head(record).root), note_signer(forger))
    answer = post_add_checkpoint(witness.endpoint.add_checkpoint_url, AddCheckpoint(0, (), forged).body())
    assert (answer.status, answer.body) == (403, b"log signature: note: no signature by a known key\n")
    done = publish(record, STRANGER, [witness.endpoint], NOW)  # the engine signing with a key the witness never saw
    assert [(r.outcome, r.detail) for r in done.reports] == [
        (Outcome.REFUSED, "403: log signature: note: no signature by a known key")]
    assert not done.all_cosigned
    assert witness.state.latest(f"arrimage/{sid}") is None


def test_an_unreachable_witness_is_reported_and_the_others_still_cosign(
    record: Record, dossiers: list[Dossier], witness: Running
) -> None:
    gone = WitnessEndpoint(signer_key_from_seed("gone.example", bytes(range(9, 41)), COSIGNATURE_V1).verifier,
                           "http://127.0.0.1:9")
    done = publish(record, None, [gone, witness.endpoint], NOW)
    assert [r.outcome for r in done.reports] == [Outcome.UNREACHABLE, Outcome.COSIGNED]
    assert done.note.count("— ") == 2  # the log's signature and the one cosignature


def test_the_offline_witness_cosigns_the_same_way(record: Record, dossiers: list[Dossier], tmp_path: Path) -> None:
    runner = CliRunner()
    key_file, state = tmp_path / "w.key", tmp_path / "state.sqlite"
    made = runner.invoke(app, ["audit", "witness", "key", "--name", "witness.example/offline", "--out", str(key_file)])
    assert made.exit_code == 0, made.output
    assert made.output.startswith("witness.example/offline+") and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert runner.invoke(app, ["audit", "witness", "key", "--name", "w", "--out", str(key_file)]).exit_code == 2
    vkey = str(log_verifier(record))
    note, out = tmp_path / "cp.note", tmp_path / "cosigned.note"
    note.write_text(str(sign_tree_checkpoint(record, now=NOW)))
    args = ["--key", str(key_file), "--log-key", vkey, "--state", str(state), "--out", str(out)]
    run = runner.invoke(app, ["audit", "witness", "cosign", str(note), *args])
    assert run.exit_code == 0, run.output
    assert out.read_text().count("— ") == 2
    grow(record, dossiers, 2)
    note.write_text(str(sign_tree_checkpoint(record, now=NOW)))
    run = runner.invoke(app, ["audit", "witness", "cosign", str(note), *args])  # no --proof from 9 to 11
    assert run.exit_code == 1 and "refused (422)" in run.output
    proof = tmp_path / "proof.txt"
    proof.write_text(proof_lines(consistency(record, 9, 11)))
    run = runner.invoke(app, ["audit", "witness", "cosign", str(note), *args, "--proof", str(proof)])
    assert run.exit_code == 0, run.output
    note.write_text("not a note\n")
    assert runner.invoke(app, ["audit", "witness", "cosign", str(note), *args]).exit_code == 2


def test_the_commands_serve_and_publish_as_a_deployment_runs_them(tmp_path: Path) -> None:
    """`arrimage audit witness serve` in its own process, `arrimage audit publish` in another over a SQLite record
    (ARRIMAGE_WITNESSES): exit 0 cosigned; the witness stopped → exit 1, unreachable named; none set → exit 2."""
    path = tmp_path / "record.sqlite"
    record = Record(record_env(sqlite=path))
    try:
        interleaved_dossiers(record, "AB", 1)
        vkey = str(log_verifier(record))
    finally:
        record.close()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")},
           "ARRIMAGE_SQLITE_PATH": str(path), "ARRIMAGE_DATA_DIR": str(tmp_path), "ARRIMAGE_MODE": "development",
           "ARRIMAGE_LOG_LEVEL": "WARNING"}
    key_file = tmp_path / "w.key"
    made = subprocess.run([ARRIMAGE, "audit", "witness", "key", "--name", "w.example/1", "--out", str(key_file)],
                          env=env, capture_output=True, text=True, check=True)
    server = subprocess.Popen(
        [ARRIMAGE, "audit", "witness", "serve", "--key", str(key_file), "--log-key", vkey, "--state",
         str(tmp_path / "state.sqlite"), "--listen", "127.0.0.1:0"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        url = line.split(" on ")[1].split()[0].removesuffix("/add-checkpoint")
        env["ARRIMAGE_WITNESSES"] = f"{made.stdout.strip()}={url}"
        done = subprocess.run([ARRIMAGE, "audit", "publish", "--json"], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["size"] == 4 and [w["outcome"] for w in report["witnesses"]] == ["cosigned"]
    finally:
        server.terminate()
        server.wait(timeout=10)
    done = subprocess.run([ARRIMAGE, "audit", "publish"], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and f"unreachable: w.example/1 ({url}) from size 4" in done.stdout
    env["ARRIMAGE_WITNESSES"] = ""
    done = subprocess.run([ARRIMAGE, "audit", "publish"], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "no witness configured" in done.stderr


def test_two_requests_at_once_cannot_roll_the_witness_back(
    record: Record, dossiers: list[Dossier], witness: Running
) -> None:
    """The spec's race: two requests from size 0, for sizes 5 and 9, at once. The check of the old size and the
    keeping of the new checkpoint are one transaction: exactly one is cosigned, the other gets 409 with its size,
    and the witness holds what it cosigned."""
    sid = store_id(record)
    assert sid is not None
    key = log_key(sid)
    notes = {n: sign_checkpoint(TreeHead(key.name, n, root_at(record, n)), note_signer(key)) for n in (5, 9)}
    start = threading.Barrier(2)
    answers: dict[int, tuple[int, bytes]] = {}

    def send(n: int) -> None:
        start.wait()
        got = post_add_checkpoint(witness.endpoint.add_checkpoint_url, AddCheckpoint(0, (), notes[n]).body())
        answers[n] = (got.status, got.body)

    threads = [threading.Thread(target=send, args=(n,)) for n in notes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(status for status, _ in answers.values())
    assert statuses == [200, 409]
    won = next(n for n, (status, _) in answers.items() if status == 200)
    lost = next(n for n in notes if n != won)
    assert answers[lost][1] == f"{won}\n".encode()
    held = witness.state.latest(key.name)
    assert held is not None and parse_checkpoint(held.text).size == won


def test_the_same_checkpoint_compares_as_the_same(record: Record, dossiers: list[Dossier], tmp_path: Path) -> None:
    a, b = tmp_path / "a.note", tmp_path / "b.note"
    a.write_text(str(sign_tree_checkpoint(record, now=NOW)))
    b.write_text(str(sign_tree_checkpoint(record, now=NOW + timedelta(hours=1))))  # same tree, another time line
    run = CliRunner().invoke(app, ["audit", "compare", str(a), str(b), "--log-key", str(log_verifier(record)),
                                   "--json"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.output)["agreement"] == "same"
    run = CliRunner().invoke(app, ["audit", "compare", str(a), str(b), "--log-key", "not-a-key"])
    assert run.exit_code == 2 and "--log-key: verifier key" in run.output
