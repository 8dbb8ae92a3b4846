"""The offline verifier over a database copy in segments (`--jobs N`) and incrementally (`--since OLD.note`), issue 13.

A copy of 40 events of three interleaved aggregates (notification ids 1, 3 … 79), chained with the project's own
`link_batch`. With two jobs the segments meet at notification 39 (position 20): each attack is made at that seam,
just after it, and inside a segment, and every number of jobs must give the same report, naming the same event, as
one pass. A cache of one aggregate sends the previous-event look-ups to the copy's chain table: the same verdicts.
Incremental: from a note signed at 24 events, only events 25 to 40 are read; an altered new event, a copy rewritten
below the old checkpoint and a fork of it are named; an event altered before it is not seen (the documented limit).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from domain.audit.merkle import CompactRange, leaf_hash, merkle_tree_hash
from tests.unit.test_verifier import VKEY, database, json_checkpoint, note, rows
from verifier import Kind, Report, Source, verify_database
from verifier.__main__ import main
from verifier.segments import bounds

N = 40
SEAM = 20  # the last position of the first of two segments (notification 39)
RUNS = ((1, 100_000), (2, 100_000), (2, 1), (4, 1))  # (jobs, aggregates cached)


def copy(tmp_path: Path, name: str, data: list[dict[str, Any]], *, tree: bool = False) -> Path:
    path = database(tmp_path / f"{name}.sqlite", data)
    if tree:  # the tree tables as the engine's follower keeps them: every perfect subtree of level >= 1
        compact = CompactRange()
        with sqlite3.connect(path) as conn:
            conn.execute(
                "CREATE TABLE audit_tree (level INTEGER, start INTEGER, hash BLOB, PRIMARY KEY (level, start))"
            )
            for r in data:
                for node in compact.append_leaf_hash(leaf_hash(bytes.fromhex(r["event_hash"]))):
                    if node.level:
                        conn.execute("INSERT INTO audit_tree VALUES (?, ?, ?)", (node.level, node.start, node.hash))
    return path


def edit(path: Path, *sql: str) -> Path:
    with sqlite3.connect(path) as conn:
        for statement in sql:
            conn.execute(statement)
    return path


def each_jobs(path: Path, *against: str | Source, since: str | None = None) -> Report:
    """The report with 1, 2 and 4 jobs, and with a cache of one aggregate: all the same, returned once."""
    reports = [
        verify_database(path, list(against), [VKEY], jobs=j, since=since, cache=c, min_segment=1) for j, c in RUNS
    ]
    first = _comparable(reports[0])
    for r in reports[1:]:
        assert _comparable(r) == first
    return reports[0]


def _comparable(report: Report) -> dict[str, Any]:
    d = report.to_dict()
    del d["seconds"]
    return d


def named(report: Report, kind: Kind, seq: int | None, nid: int | None = None) -> None:
    assert not report.ok and report.problem is not None, report
    assert (report.problem.kind, report.problem.seq) == (kind, seq), report.problem
    if nid is not None:
        assert report.problem.notification_id == nid, report.problem


def nid(position: int) -> int:
    return 2 * position - 1


# ------------------------------------------------------------------------------------------------ in segments


def test_segments_give_the_root_and_head_of_one_pass(tmp_path: Path) -> None:
    data = rows(N)
    with sqlite3.connect(copy(tmp_path, "cut", data)) as conn:  # where the seams of these tests lie
        assert bounds(conn, 0, 2, 1) == [(0, nid(SEAM)), (nid(SEAM), None)]
        assert bounds(conn, 0, 4, 1) == [(0, 19), (19, 38), (38, 57), (57, None)]
        assert bounds(conn, 0, 4, 30) == [(0, 39), (39, None)] and bounds(conn, 0, 4) == [(0, None)]
    report = each_jobs(copy(tmp_path, "good", data), note(data, N), note(data, 7), json_checkpoint(data, N))
    assert report.ok, report
    assert report.events == N and report.head == (N, nid(N), data[-1]["chain_hash"])
    assert report.root == merkle_tree_hash([bytes.fromhex(r["event_hash"]) for r in data]).hex()
    assert [c.status for c in report.checkpoints] == ["met", "met", "met"]


@pytest.mark.parametrize("position", [7, SEAM, SEAM + 1, N])
def test_an_altered_event_is_named_by_every_number_of_jobs(tmp_path: Path, position: int) -> None:
    path = edit(copy(tmp_path, "c", rows(N)), f"UPDATE stored_events SET state = x'7b7d' WHERE rowid = {nid(position)}")
    named(each_jobs(path, note(rows(N), N)), Kind.ALTERED, position, nid(position))


@pytest.mark.parametrize("position", [7, SEAM, SEAM + 1])
def test_an_inserted_event_is_named_by_every_number_of_jobs(tmp_path: Path, position: int) -> None:
    """A stored event the chain never recorded, just after the event at `position`."""
    path = edit(
        copy(tmp_path, "c", rows(N)),
        "INSERT INTO stored_events (originator_id, originator_version, topic, "
        f"state, rowid) VALUES ('{'ab' * 16}', 1, 't', x'00', {nid(position) + 1})",
    )
    named(each_jobs(path), Kind.INSERTED, position + 1, nid(position) + 1)


@pytest.mark.parametrize("position", [7, SEAM, SEAM + 1])
def test_a_removed_event_is_named_by_every_number_of_jobs(tmp_path: Path, position: int) -> None:
    gone = edit(copy(tmp_path, "gone", rows(N)), f"DELETE FROM stored_events WHERE rowid = {nid(position)}")
    named(each_jobs(gone), Kind.REMOVED, position, nid(position))
    both = edit(
        copy(tmp_path, "both", rows(N)),
        f"DELETE FROM stored_events WHERE rowid = {nid(position)}",
        f"DELETE FROM audit_chain WHERE notification_id = {nid(position)}",
    )
    report = each_jobs(both)
    named(report, Kind.REMOVED, position, nid(position + 1))
    assert report.problem is not None and f"position {position} missing" in report.problem.detail


@pytest.mark.parametrize("position", [7, SEAM])
def test_reordered_events_are_named_by_every_number_of_jobs(tmp_path: Path, position: int) -> None:
    """Two events' notification ids exchanged; then two chain rows' positions exchanged (the seam between them)."""
    a, b = nid(position), nid(position + 1)
    swapped = edit(
        copy(tmp_path, "s", rows(N)),
        f"UPDATE stored_events SET rowid = -1 WHERE rowid = {a}",
        f"UPDATE stored_events SET rowid = {a} WHERE rowid = {b}",
        f"UPDATE stored_events SET rowid = {b} WHERE rowid = -1",
    )
    named(each_jobs(swapped), Kind.REORDERED, position, a)
    moved = edit(
        copy(tmp_path, "m", rows(N)),
        f"UPDATE audit_chain SET seq = -1 WHERE notification_id = {a}",
        f"UPDATE audit_chain SET seq = {position} WHERE notification_id = {b}",
        f"UPDATE audit_chain SET seq = {position + 1} WHERE notification_id = {a}",
    )
    report = each_jobs(moved)
    named(report, Kind.REORDERED, position, a)
    assert (
        report.problem is not None
        and f"position {position + 1} comes before position {position} (rows swapped)" in report.problem.detail
    )


def test_an_aggregate_pointer_across_the_seam_is_checked_by_every_number_of_jobs(tmp_path: Path) -> None:
    """Position 22 (aggregate A0 v8) names its aggregate's previous event as notification 37 (A0 v7, position 19,
    in the first segment): edited to 31 (v6), the second segment's look-up in the copy names it as one pass does."""
    data = rows(N)
    assert data[21]["aggregate_prev_nid"] == 37
    path = edit(
        copy(tmp_path, "c", data), f"UPDATE audit_chain SET aggregate_prev_nid = 31 WHERE notification_id = {nid(22)}"
    )
    report = each_jobs(path)
    named(report, Kind.CHAIN_ALTERED, 22, nid(22))
    assert report.problem is not None and "in this record it is 37" in report.problem.detail


def test_a_rewrite_is_located_by_json_milestones_in_either_segment(tmp_path: Path) -> None:
    """Every hash recomputed after an edit: no row fails on its own; the JSON checkpoint's milestones name the
    event, whichever segment holds it (the roots and chains at marks are merged across segments)."""
    honest = rows(N)
    for position in (6, SEAM + 3):
        forged = rows(N, change={position: b'{"antidate": true}'})
        report = each_jobs(copy(tmp_path, f"f{position}", forged), json_checkpoint(honest, N), note(honest, N))
        named(report, Kind.CHECKPOINT_MISMATCH, position, nid(position))
        assert report.problem is not None and report.problem.between == (position - 1, position)


def test_a_truncated_copy_is_named_by_every_number_of_jobs(tmp_path: Path) -> None:
    data = rows(N)
    path = edit(
        copy(tmp_path, "c", data),
        f"DELETE FROM stored_events WHERE rowid > {nid(30)}",
        f"DELETE FROM audit_chain WHERE notification_id > {nid(30)}",
    )
    report = each_jobs(path, note(data, N))
    assert report.problem is not None and (report.problem.kind, report.events) == (Kind.TRUNCATED, 30)


# ---------------------------------------------------------------------------------------------- incremental


OLD = 24


def test_incremental_reads_only_the_new_events_and_gives_the_full_root(tmp_path: Path) -> None:
    data = rows(N)
    for tree in (True, False):
        report = each_jobs(copy(tmp_path, f"t{tree}", data, tree=tree), note(data, N), since=note(data, OLD))
        assert report.ok and (report.since, report.events) == (OLD, N), report
        assert report.root == merkle_tree_hash([bytes.fromhex(r["event_hash"]) for r in data]).hex()
        assert report.head == (N, nid(N), data[-1]["chain_hash"])
        how = "stored tree nodes" if tree else "recomputed from the chain rows"
        assert how in report.notes[-1]
    same = each_jobs(copy(tmp_path, "same", data, tree=True), note(data, OLD), since=note(data, OLD))
    assert same.ok and same.events == N and same.checkpoints[0].status == "met"
    older = each_jobs(copy(tmp_path, "older", data, tree=True), note(data, 10), since=note(data, OLD))
    assert older.ok and older.checkpoints[0].status == "before_since"


def test_incremental_names_an_altered_new_event(tmp_path: Path) -> None:
    data = rows(N)
    for position in (OLD + 1, 33):
        path = edit(
            copy(tmp_path, f"a{position}", data, tree=True),
            f"UPDATE stored_events SET state = x'00' WHERE rowid = {nid(position)}",
        )
        named(each_jobs(path, note(data, N), since=note(data, OLD)), Kind.ALTERED, position, nid(position))
    pointer = edit(
        copy(tmp_path, "p", data, tree=True),  # A1 v9 (position 26) points back past the checkpoint
        f"UPDATE audit_chain SET aggregate_prev_nid = 1 WHERE notification_id = {nid(OLD + 2)}",
    )
    named(each_jobs(pointer, since=note(data, OLD)), Kind.CHAIN_ALTERED, OLD + 2, nid(OLD + 2))


def test_incremental_refuses_a_copy_rewritten_below_the_old_checkpoint_or_a_fork_of_it(tmp_path: Path) -> None:
    honest = rows(N)
    rewritten = rows(N, change={5: b'{"rewritten": true}'})  # every hash recomputed from event 5 on
    report = each_jobs(copy(tmp_path, "r", rewritten, tree=True), since=note(honest, OLD))
    assert report.problem is not None and (report.problem.kind, report.problem.checkpoint) == (
        Kind.CHECKPOINT_MISMATCH,
        "--since",
    )
    assert "rewritten at or before it" in report.problem.detail
    fork = rows(N, change={3: b'{"fork": true}'})  # the log signed, at 24, a tree whose event 3 differs
    forked = each_jobs(copy(tmp_path, "f", honest, tree=True), since=note(fork, OLD))
    assert forked.problem is not None and forked.problem.kind is Kind.CHECKPOINT_MISMATCH
    edited_tree = edit(
        copy(tmp_path, "t", honest, tree=True),
        "UPDATE audit_tree SET hash = zeroblob(32) WHERE level = 4 AND start = 0",
    )
    fell_back = each_jobs(edited_tree, since=note(honest, OLD))  # the stored nodes do not fold: recomputed
    assert fell_back.ok and "recomputed" in fell_back.notes[-1]
    both = edit(
        copy(tmp_path, "b", honest, tree=True),
        "UPDATE audit_tree SET hash = zeroblob(32) WHERE level = 4",
        f"UPDATE audit_chain SET event_hash = zeroblob(32) WHERE notification_id = {nid(9)}",
    )
    refused = each_jobs(both, since=note(honest, OLD))
    assert refused.problem is not None and refused.problem.kind is Kind.CHECKPOINT_MISMATCH
    assert "do not give its signed root" in refused.problem.detail


def test_incremental_does_not_see_an_event_altered_before_the_old_checkpoint(tmp_path: Path) -> None:
    """The limit verifier/README.md §7 states: events up to the old checkpoint are not read again."""
    data = rows(N)
    path = edit(copy(tmp_path, "c", data, tree=True), f"UPDATE stored_events SET state = x'00' WHERE rowid = {nid(5)}")
    assert each_jobs(path, note(data, N), since=note(data, OLD)).ok
    named(each_jobs(path, note(data, N)), Kind.ALTERED, 5, nid(5))


def test_the_command_takes_jobs_and_since(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = rows(N)
    path = copy(tmp_path, "c", data, tree=True)
    (tmp_path / "old.note").write_text(note(data, OLD))
    (tmp_path / "head.note").write_text(note(data, N))
    assert (
        main(
            [
                "--database",
                str(path),
                "--against",
                str(tmp_path / "head.note"),
                "--log-key",
                VKEY,
                "--since",
                str(tmp_path / "old.note"),
                "--jobs",
                "2",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith(f"verified events {OLD + 1} to {N} ({N - OLD} new) of {path}")
    edit(path, f"UPDATE stored_events SET state = x'00' WHERE rowid = {nid(30)}")
    assert main(["--database", str(path), "--log-key", VKEY, "--since", str(tmp_path / "old.note"), "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert (found["problem"]["kind"], found["problem"]["seq"], found["since"]) == ("altered", 30, OLD)
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "record.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))
    # a bundle takes --since too (tests/unit/test_verifier_bundle_since.py)
    assert main(["--bundle", str(folder), "--log-key", VKEY, "--since", str(tmp_path / "old.note")]) == 0
    assert capsys.readouterr().out.startswith(f"verified events {OLD + 1} to {N}")
    assert main(["--database", str(path), "--jobs", "0"]) == 2
