"""The offline verifier (issue 13) over bundles built here: a record of three interleaved aggregates chained with the
project's own `link_batch`, written as `record.jsonl`, and checkpoints signed with a test log key (C2SP notes) or
the engine's JSON checkpoint of the same seed. Each attack is made on the file, as someone holding the bundle
would make it; the verifier names the event or the checkpoint."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters.record.keys import KeyRing
from adapters.record.note_signing import note_signer, signer_key_from_seed
from adapters.record.signing import sign_checkpoint as sign_json_checkpoint
from domain.audit.checkpoint import milestone_step
from domain.audit.hashing import link_batch
from domain.audit.merkle import merkle_tree_hash
from domain.audit.note import TreeHead, sign_checkpoint
from verifier import BadInput, Kind, Report, Source, bundle_rows, check_rows, verify_bundle, verify_database
from verifier.__main__ import main

ORIGIN = "arrimage/3f1c2d4e-0000-4000-8000-000000000001"
SEED = bytes(range(32))
LOG = signer_key_from_seed(ORIGIN, SEED)
VKEY = str(LOG.verifier)
OTHER = signer_key_from_seed(ORIGIN, bytes(range(1, 33)))  # same name, another seed: a forger's key
AGGREGATES = [UUID(int=0xA0 + i) for i in range(3)]
N = 12


def events(n: int = N, *, change: dict[int, bytes] | None = None) -> list[tuple[int, bytes, int, str, bytes]]:
    """n events of three interleaved aggregates, notification ids 1, 3, 5 … (gaps, as PostgreSQL leaves them)."""
    out = []
    for i in range(n):
        agg = AGGREGATES[i % 3]
        state = (change or {}).get(i + 1, json.dumps({"n": i, "texte": "événement"}).encode())
        out.append((2 * i + 1, agg.bytes, i // 3 + 1, f"domain.thing:Event{i % 2}", state))
    return out


def rows(n: int = N, *, change: dict[int, bytes] | None = None) -> list[dict[str, Any]]:
    """The bundle's rows (DESIGN13: one JSON object per chain row, in seq order), chained consistently."""
    evs = events(n, change=change)
    states = {nid: state for nid, _, _, _, state in evs}
    out = []
    for nid, okey, version, topic, seq, prev_nid, eh, agg, ch in link_batch(evs, None, {}):
        out.append({"seq": seq, "notification_id": nid, "originator_id": str(UUID(bytes=okey)),
                    "originator_version": version, "topic": topic,
                    "state": base64.b64encode(states[nid]).decode(), "aggregate_prev_nid": prev_nid,
                    "event_hash": eh.hex(), "aggregate_hash": agg.hex(), "chain_hash": ch.hex()})
    return out


def write(folder: Path, data: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "record.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    return folder


def note(data: list[dict[str, Any]], size: int, *, signer: Any = LOG, chain: bool = True) -> str:
    root = merkle_tree_hash([bytes.fromhex(r["event_hash"]) for r in data[:size]])
    ext = (f"arrimage-chain {size} {data[size - 1]['notification_id']} {data[size - 1]['chain_hash']}",) \
        if chain and size else ()
    return str(sign_checkpoint(TreeHead(ORIGIN, size, root, ext), note_signer(signer)))


def json_checkpoint(data: list[dict[str, Any]], size: int) -> str:
    step = milestone_step(size)
    cp = sign_json_checkpoint(
        KeyRing((("k1", SEED),)), notification_id=data[size - 1]["notification_id"], count=size,
        chain_hash=data[size - 1]["chain_hash"], signed_at="2027-03-01T14:00:00+00:00",
        store_id=ORIGIN.split("/")[1],
        milestones=tuple((r["seq"], r["chain_hash"][:16]) for r in data[:size] if r["seq"] % step == 0))
    return cp.to_json()


def check(folder: Path, *against: str | Source) -> Report:
    return verify_bundle(folder, list(against), [VKEY])


def named(report: Report, kind: Kind, seq: int | None, nid: int | None = None) -> None:
    assert not report.ok and report.problem is not None, report
    assert (report.problem.kind, report.problem.seq) == (kind, seq), report.problem
    if nid is not None:
        assert report.problem.notification_id == nid, report.problem


# ------------------------------------------------------------------------------------------------------- passes


def test_a_good_bundle_passes_against_its_note_and_its_json_checkpoint(tmp_path: Path) -> None:
    data = rows()
    folder = write(tmp_path / "b", data)
    report = check(folder, Source("head.note", note(data, N)), Source("mid.note", note(data, 5, chain=False)),
                   Source("head.json", json_checkpoint(data, N)))
    assert report.ok and report.problem is None, report
    assert report.events == N and report.head == (N, 2 * N - 1, data[-1]["chain_hash"])
    assert report.root == merkle_tree_hash([bytes.fromhex(r["event_hash"]) for r in data]).hex()
    assert [(c.source, c.status) for c in report.checkpoints] == [
        ("head.note", "met"), ("mid.note", "met"), ("head.json", "met")]
    assert report.notes == ()


def test_without_a_checkpoint_it_says_only_internal_consistency_is_shown(tmp_path: Path) -> None:
    report = check(write(tmp_path / "b", rows()))
    assert report.ok and "only shown consistent with itself" in report.notes[0]


def test_a_bundle_longer_than_the_checkpoint_passes_up_to_it(tmp_path: Path) -> None:
    data = rows()
    report = check(write(tmp_path / "b", data), note(data[:8], 8))
    assert report.ok and report.events == N and report.checkpoints[0].status == "met"


# ------------------------------------------------------------------------------------------------ each attack


def test_an_altered_state_names_its_event(tmp_path: Path) -> None:
    data = rows()
    data[6]["state"] = base64.b64encode(b'{"n": 6, "texte": "autre"}').decode()
    report = check(write(tmp_path / "b", data), note(rows(), N))
    named(report, Kind.ALTERED, 7, 13)
    assert report.problem is not None
    assert (report.problem.aggregate_id, report.problem.version, report.problem.topic) == (
        str(AGGREGATES[0]), 3, "domain.thing:Event0")
    assert report.checkpoints[0].status == "not_reached"


def test_an_altered_event_hash_names_its_event(tmp_path: Path) -> None:
    data = rows()
    data[3]["event_hash"] = "00" * 32
    named(check(write(tmp_path / "b", data)), Kind.ALTERED, 4, 7)


def test_an_edited_chain_hash_names_its_event(tmp_path: Path) -> None:
    data = rows()
    data[9]["chain_hash"] = "11" * 32
    report = check(write(tmp_path / "b", data))
    named(report, Kind.CHAIN_ALTERED, 10, 19)
    assert report.problem is not None and "chain hash recomputed" in report.problem.detail


def test_an_inserted_row_is_named_at_its_position(tmp_path: Path) -> None:
    data = rows()
    data.insert(5, dict(data[2]))  # a copy of an earlier row slipped in
    report = check(write(tmp_path / "b", data))
    named(report, Kind.INSERTED, 6, 5)
    assert report.problem is not None and "found 3 again" in report.problem.detail


def test_a_forged_row_with_the_next_position_breaks_the_chain_there(tmp_path: Path) -> None:
    data = rows()
    forged = dict(data[4], seq=6, notification_id=10, state=base64.b64encode(b"{}").decode())
    data.insert(5, forged)
    for later in data[6:]:
        later["seq"] += 1
    named(check(write(tmp_path / "b", data)), Kind.ALTERED, 6, 10)


def test_a_removed_row_is_named_at_the_missing_position(tmp_path: Path) -> None:
    data = rows()
    del data[4]
    report = check(write(tmp_path / "b", data))
    named(report, Kind.REMOVED, 5, 11)
    assert report.problem is not None and "position 5 missing" in report.problem.detail


def test_swapped_rows_are_named_reordered(tmp_path: Path) -> None:
    data = rows()
    data[7], data[8] = data[8], data[7]
    report = check(write(tmp_path / "b", data))
    named(report, Kind.REORDERED, 8, 17)
    assert report.problem is not None and "position 9 comes before position 8" in report.problem.detail


def test_swapped_rows_renumbered_break_the_chain(tmp_path: Path) -> None:
    data = rows()
    data[7], data[8] = data[8], data[7]
    data[7]["seq"], data[8]["seq"] = 8, 9
    named(check(write(tmp_path / "b", data)), Kind.CHAIN_ALTERED, 8, 17)


def test_a_rewrite_recomputed_consistently_is_caught_only_by_the_checkpoint(tmp_path: Path) -> None:
    """Every hash of the rewritten file is right: no row fails; the note's root does not match, and the report
    says where the change lies (between the last checkpoint met and the first not met)."""
    honest = rows()
    forged = rows(change={6: b'{"n": 5, "texte": "antidate"}'})
    folder = write(tmp_path / "b", forged)
    assert check(folder).ok  # consistent with itself
    alone = check(folder, Source("head.note", note(honest, N)))
    assert not alone.ok and alone.problem is not None
    assert (alone.problem.kind, alone.problem.checkpoint, alone.problem.between) == (
        Kind.CHECKPOINT_MISMATCH, "head.note", (0, N))
    assert "after position 0 (the start) and at or before position 12" in alone.problem.detail
    narrowed = check(folder, Source("a.note", note(honest, 4)), Source("b.note", note(honest, 8)),
                     Source("head.note", note(honest, N)))
    assert narrowed.problem is not None and narrowed.problem.between == (4, 8)
    assert narrowed.problem.checkpoint == "b.note"
    assert [c.status for c in narrowed.checkpoints] == ["met", "not_met", "not_met"]
    exact = check(folder, Source("head.json", json_checkpoint(honest, N)))  # milestones at every event
    named(exact, Kind.CHECKPOINT_MISMATCH, 6, 11)
    assert exact.problem is not None and exact.problem.between == (5, 6)


def test_a_forged_note_signature_is_refused_naming_the_file(tmp_path: Path) -> None:
    data = rows()
    good = note(data, N)
    body, _, line = good.rstrip("\n").rpartition("\n")
    name, sig = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 1
    forged = f"{body}\n{name} {base64.b64encode(bytes(raw)).decode()}\n"
    report = check(write(tmp_path / "b", data), Source("forged.note", forged))
    assert report.problem is not None and (report.problem.kind, report.problem.checkpoint) == (
        Kind.BAD_SIGNATURE, "forged.note")
    assert "invalid signature" in report.problem.detail
    by_another = check(write(tmp_path / "c", data), Source("other.note", note(data, N, signer=OTHER)))
    assert by_another.problem is not None and by_another.problem.kind is Kind.BAD_SIGNATURE


def test_a_json_checkpoint_by_a_key_not_given_is_refused(tmp_path: Path) -> None:
    data = rows()
    cp = json.loads(json_checkpoint(data, N))
    cp["chain_hash"] = "0" + cp["chain_hash"][1:]
    report = check(write(tmp_path / "b", data), Source("edited.json", json.dumps(cp)))
    assert report.problem is not None and report.problem.kind is Kind.BAD_SIGNATURE
    assert report.problem.checkpoint == "edited.json" and "does not verify" in report.problem.detail


def test_a_note_of_a_forked_tree_is_named_and_the_fork_shown(tmp_path: Path) -> None:
    """The log's key signed, at size 6, a tree whose event 3 differs: the honest bundle does not meet it, while
    the honest checkpoint at 12 is met, so the two signed trees cannot both be the log's."""
    honest = rows()
    fork = rows(change={3: b'{"fork": true}'})
    folder = write(tmp_path / "b", honest)
    report = check(folder, Source("fork.note", note(fork, 6, chain=False)), Source("head.note", note(honest, N)))
    assert report.problem is not None
    assert (report.problem.kind, report.problem.checkpoint) == (Kind.CHECKPOINT_MISMATCH, "fork.note")
    assert "head.note, at or past position 6, is met" in report.problem.detail
    assert "fork" in report.problem.detail
    assert [c.status for c in report.checkpoints] == ["not_met", "met"]


def test_a_truncated_bundle_names_the_checkpoint_it_falls_short_of(tmp_path: Path) -> None:
    data = rows()
    report = check(write(tmp_path / "b", data[:9]), Source("head.note", note(data, N)))
    assert report.problem is not None
    assert (report.problem.kind, report.problem.checkpoint) == (Kind.TRUNCATED, "head.note")
    assert report.problem.detail == ("checkpoint head.note covers 12 events; the record ends after 9: events 10 to "
                                     "12 were cut")
    assert report.checkpoints[0].status == "beyond"


def test_an_unchained_event_and_a_chain_row_without_its_event_are_named(tmp_path: Path) -> None:
    """The export writes the store as it is: an event the chain never recorded (seq and hashes null), a chain row
    whose event is gone (state null)."""
    data = rows()
    unchained = dict(data[3], seq=None, aggregate_prev_nid=None, event_hash=None, aggregate_hash=None,
                     chain_hash=None, notification_id=8)
    named(check(write(tmp_path / "a", [*data[:4], unchained, *data[4:]])), Kind.INSERTED, 5, 8)
    data[2]["state"] = None
    named(check(write(tmp_path / "b", data)), Kind.REMOVED, 3, 5)


def test_aggregates_spilled_to_disk_are_checked_the_same(tmp_path: Path) -> None:
    """With room for one aggregate in memory, the other two come back from the spill file: the same verdicts."""
    data = rows()
    folder = write(tmp_path / "a", data)
    assert check_rows(bundle_rows(folder), cache=1).ok
    data[7]["aggregate_prev_nid"] = 3  # A1 v3: its previous event is notification 9 (v2), not 3 (v1)
    named(check_rows(bundle_rows(write(tmp_path / "b", data)), cache=1), Kind.CHAIN_ALTERED, 8, 15)


def test_a_file_cut_mid_line_is_named(tmp_path: Path) -> None:
    folder = write(tmp_path / "b", rows())
    text = (folder / "record.jsonl").read_text()
    (folder / "record.jsonl").write_text(text[: len(text) - 40])
    named(check(folder), Kind.MALFORMED, 12)


def test_bad_input_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"record\.jsonl: cannot be read"):
        check(tmp_path / "missing")
    folder = write(tmp_path / "b", rows())
    with pytest.raises(BadInput, match="not a checkpoint note"):
        check(folder, Source("x.note", "hello\n"))
    with pytest.raises(BadInput, match="neither the base64"):
        verify_bundle(folder, [], ["not-a-key"])


# ---------------------------------------------------------------------------------------- a database copy


def database(path: Path, data: list[dict[str, Any]]) -> Path:
    """A SQLite file with the record's two tables (column types of adapters/record/sqlite.py), ids as hex."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, "
                     "state BLOB, PRIMARY KEY (originator_id, originator_version))")  # the rowid: notification id
        conn.execute("CREATE TABLE audit_chain (notification_id INTEGER PRIMARY KEY, originator_id TEXT, "
                     "originator_version INTEGER, topic TEXT, seq INTEGER, aggregate_prev_nid INTEGER, "
                     "event_hash BLOB, aggregate_hash BLOB, chain_hash BLOB)")
        for r in data:
            oid = UUID(r["originator_id"]).hex
            conn.execute("INSERT INTO stored_events (originator_id, originator_version, topic, state, rowid) "
                         "VALUES (?, ?, ?, ?, ?)", (
                oid, r["originator_version"], r["topic"], base64.b64decode(r["state"]), r["notification_id"]))
            conn.execute("INSERT INTO audit_chain VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (
                r["notification_id"], oid, r["originator_version"], r["topic"], r["seq"], r["aggregate_prev_nid"],
                bytes.fromhex(r["event_hash"]), bytes.fromhex(r["aggregate_hash"]), bytes.fromhex(r["chain_hash"])))
    return path


def test_a_database_copy_verifies_and_names_a_deleted_or_swapped_event(tmp_path: Path) -> None:
    data = rows()
    good = database(tmp_path / "good.sqlite", data)
    assert verify_database(good, [note(data, N)], [VKEY]).ok
    gone = database(tmp_path / "gone.sqlite", data)
    with sqlite3.connect(gone) as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid = 9")
    named(verify_database(gone, [], []), Kind.REMOVED, 5, 9)
    extra = database(tmp_path / "extra.sqlite", data)
    with sqlite3.connect(extra) as conn:
        conn.execute("INSERT INTO stored_events (originator_id, originator_version, topic, state, rowid) "
                     "VALUES (?, 9, 't', x'00', 4)", (AGGREGATES[1].hex,))
    named(verify_database(extra, [], []), Kind.INSERTED, 3, 4)
    swapped = database(tmp_path / "swapped.sqlite", data)
    with sqlite3.connect(swapped) as conn:  # two events' notification ids exchanged
        conn.execute("UPDATE stored_events SET rowid = -1 WHERE rowid = 3")
        conn.execute("UPDATE stored_events SET rowid = 3 WHERE rowid = 5")
        conn.execute("UPDATE stored_events SET rowid = 5 WHERE rowid = -1")
    named(verify_database(swapped, [], []), Kind.REORDERED, 2, 3)
    sqlite3.connect(tmp_path / "empty.sqlite").close()
    with pytest.raises(BadInput, match="no table stored_events or audit_chain"):
        verify_database(tmp_path / "empty.sqlite", [], [])


# ------------------------------------------------------------------------------------------------ the command


def test_the_command_exits_0_1_and_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = rows()
    folder = write(tmp_path / "b", data)
    (tmp_path / "head.note").write_text(note(data, N))
    key = tmp_path / "log.vkey"
    key.write_text(VKEY + "\n")
    assert main(["--bundle", str(folder), "--against", str(tmp_path / "head.note"), "--log-key", str(key)]) == 0
    assert capsys.readouterr().out.startswith(f"verified {N} events of {folder / 'record.jsonl'}")
    del data[3]
    write(folder, data)
    assert main(["--bundle", str(folder), "--against", str(tmp_path / "head.note"), "--log-key", VKEY,
                 "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert (found["ok"], found["problem"]["kind"], found["problem"]["seq"]) == (False, "removed", 4)
    assert main(["--bundle", str(folder), "--against", str(tmp_path / "nope.note"), "--log-key", VKEY]) == 2
    assert "nope.note: cannot be read" in capsys.readouterr().err
