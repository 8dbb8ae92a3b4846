"""An export bundle verified incrementally (`--bundle DIR --since OLD.note`, verifier/bundle_since.py), issue 13.

A bundle of 40 events of three interleaved aggregates (notification ids 1, 3 … 79) and a note signed at 24 events.
Every attack made on a line after the note is named by the incremental pass as by the full pass over the same file
(kind, position, notification id, and the checkpoints' verdicts): with `tree.json` (level 3: the frontier's 16- and
8-leaf subtrees read from it, no line before position 24 read but by bisection) and without it (the leaves
recomputed from the lines' event hashes). The limits: an event altered before the note is not seen (the full pass
names it); a bundle rewritten below the note, or a fork, is refused; a `tree.json` that does not fold is not used.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from domain.audit.hashing import ZERO, aggregate_hash, chain_hash
from domain.audit.merkle import merkle_tree_hash
from tests.unit.test_verifier import VKEY, note, rows, write
from verifier import Kind, Report, Source, verify_bundle
from verifier.__main__ import main
from verifier.bundle_since import TREE, tree_nodes, verify_bundle_since

N = 40
OLD = 24
LEVEL = 3


def nid(position: int) -> int:
    return 2 * position - 1


def bundle(folder: Path, data: list[dict[str, Any]], *, tree: bool, honest: list[dict[str, Any]] | None = None,
           raw: list[str] | None = None) -> Path:
    """record.jsonl of `data` (or the lines `raw`), and tree.json of the `honest` record's event hashes (as the
    exporter wrote them before the attacker edited the lines)."""
    write(folder, data)
    if raw is not None:
        (folder / "record.jsonl").write_text("".join(raw))
    if tree:
        hashes = [bytes.fromhex(r["event_hash"]) for r in (honest or rows(N))]
        (folder / TREE).write_text(json.dumps(tree_nodes(hashes, LEVEL)))
    return folder


def verdict(report: Report) -> dict[str, Any]:
    p = report.problem
    return {"ok": report.ok, "problem": None if p is None else (p.kind, p.seq, p.notification_id, p.checkpoint),
            "checkpoints": [(c.source, c.status) for c in report.checkpoints if c.status != "before_since"]}


def both(folder: Path, *against: Source) -> tuple[Report, Report]:
    full = verify_bundle(folder, list(against), [VKEY])
    inc = verify_bundle_since(folder, list(against), [VKEY], Source("old.note", note(rows(N), OLD)))
    return full, inc


def altered_state(data: list[dict[str, Any]], p: int) -> None:
    data[p - 1]["state"] = base64.b64encode(b"{}").decode()


def altered_event_hash(data: list[dict[str, Any]], p: int) -> None:
    data[p - 1]["event_hash"] = "00" * 32


def edited_chain_hash(data: list[dict[str, Any]], p: int) -> None:
    data[p - 1]["chain_hash"] = "11" * 32


def inserted_copy(data: list[dict[str, Any]], p: int) -> None:
    data.insert(p - 1, dict(data[p - 3]))


def inserted_unchained(data: list[dict[str, Any]], p: int) -> None:
    data.insert(p - 1, dict(data[p - 1], seq=None, notification_id=data[p - 1]["notification_id"] - 1,
                            aggregate_prev_nid=None, event_hash=None, aggregate_hash=None, chain_hash=None))


def removed(data: list[dict[str, Any]], p: int) -> None:
    del data[p - 1]


def swapped(data: list[dict[str, Any]], p: int) -> None:
    data[p - 1], data[p] = data[p], data[p - 1]


def pointer_back(data: list[dict[str, Any]], p: int) -> None:
    data[p - 1]["aggregate_prev_nid"] = 1


def pointer_lost(data: list[dict[str, Any]], p: int) -> None:
    data[p - 1]["aggregate_prev_nid"] = 0


def removed_state(data: list[dict[str, Any]], p: int) -> None:
    data[p - 1]["state"] = None


def cut(data: list[dict[str, Any]], p: int) -> None:
    del data[p - 1:]


ATTACKS = [altered_state, altered_event_hash, edited_chain_hash, inserted_copy, inserted_unchained, removed, swapped,
           pointer_back, pointer_lost, removed_state, cut]


@pytest.mark.parametrize("tree", [True, False])
@pytest.mark.parametrize("position", [OLD + 1, OLD + 2, 33, N - 1])
@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.__name__)
def test_an_attack_after_the_note_is_named_as_the_full_pass_names_it(tmp_path: Path, attack: Any, position: int,
                                                                      tree: bool) -> None:
    data = rows(N)
    attack(data, position)
    folder = bundle(tmp_path / "b", data, tree=tree)
    for against in ((), (Source("head.note", note(rows(N), N)),),
                    (Source("mid.note", note(rows(N), 30)), Source("head.note", note(rows(N), N)))):
        full, inc = both(folder, *against)
        assert full.ok is (not against and attack is cut), attack  # a cut tail is seen only against a note
        assert full.problem is None or full.problem.seq is None or full.problem.seq > OLD  # after the note
        assert verdict(inc) == verdict(full), (against, full.problem, inc.problem)
        assert inc.since == OLD


@pytest.mark.parametrize("tree", [True, False])
def test_an_intact_bundle_gives_the_full_root_and_head_from_the_new_lines(tmp_path: Path, tree: bool) -> None:
    data = rows(N)
    folder = bundle(tmp_path / "b", data, tree=tree)
    full, inc = both(folder, Source("head.note", note(data, N)))
    assert full.ok and inc.ok, inc
    assert (inc.since, inc.events, inc.root, inc.head) == (OLD, N, full.root, full.head)
    assert inc.root == merkle_tree_hash([bytes.fromhex(r["event_hash"]) for r in data]).hex()
    assert ("tree.json" in inc.notes[-1]) is tree and ("recomputed" in inc.notes[-1]) is not tree
    for size in (OLD, 30, N):  # a note at the old size, in between, and the newest: met
        _, at = both(folder, Source("n.note", note(data, size)))
        assert at.ok and at.checkpoints[0].status == "met"
    _, older = both(folder, Source("o.note", note(data, 10)))
    assert older.ok and older.checkpoints[0].status == "before_since"


def test_with_tree_json_no_line_before_the_frontier_is_parsed(tmp_path: Path) -> None:
    """Every line before position 24 holds a state that is not base64: the full pass stops at line 1; the
    incremental pass, its frontier from tree.json (16 + 8 leaves), never decodes them."""
    data = rows(N)
    for r in data[:OLD]:
        r["state"] = "not base64!"
    folder = bundle(tmp_path / "b", data, tree=True)
    full, inc = both(folder, Source("head.note", note(rows(N), N)))
    assert full.problem is not None and full.problem.kind is Kind.MALFORMED and full.problem.seq == 1
    assert inc.ok and "tree.json" in inc.notes[-1], inc


def test_a_malformed_new_line_is_named_at_its_line(tmp_path: Path) -> None:
    data = rows(N)
    raw = [json.dumps(r) + "\n" for r in data]
    raw[30] = "{not json\n"
    folder = bundle(tmp_path / "b", data, tree=True, raw=raw)
    full, inc = both(folder)
    assert verdict(inc) == verdict(full) and full.problem is not None
    assert full.problem.kind is Kind.MALFORMED and full.problem.detail == inc.problem.detail  # type: ignore[union-attr]
    raw[30] = json.dumps(data[30])  # the last line cut: its newline gone
    (folder / "record.jsonl").write_text("".join(raw[:31]))
    full, inc = both(folder)
    assert verdict(inc) == verdict(full) and full.problem is not None and full.problem.kind is Kind.MALFORMED


def test_an_event_altered_before_the_note_is_the_full_passs_to_find(tmp_path: Path) -> None:
    """The limit verifier/README.md §7 states: events up to the old note are not read again."""
    for tree in (True, False):
        data = rows(N)
        altered_state(data, 5)
        folder = bundle(tmp_path / f"b{tree}", data, tree=tree)
        full, inc = both(folder, Source("head.note", note(rows(N), N)))
        assert inc.ok, inc
        assert full.problem is not None and (full.problem.kind, full.problem.seq) == (Kind.ALTERED, 5)


def test_a_bundle_rewritten_below_the_note_or_a_fork_of_it_is_refused(tmp_path: Path) -> None:
    honest = rows(N)
    rewritten = rows(N, change={5: b'{"rewritten": true}'})  # every hash recomputed from event 5 on
    for tree in (True, False):
        folder = bundle(tmp_path / f"r{tree}", rewritten, tree=tree, honest=rewritten)
        _, inc = both(folder)
        assert inc.problem is not None and (inc.problem.kind, inc.problem.checkpoint) == (
            Kind.CHECKPOINT_MISMATCH, "old.note")
    fork = rows(N, change={3: b'{"fork": true}'})  # the log signed, at 24, a tree whose event 3 differs
    forked = verify_bundle_since(bundle(tmp_path / "f", honest, tree=True), [], [VKEY], note(fork, OLD))
    assert forked.problem is not None and forked.problem.kind is Kind.CHECKPOINT_MISMATCH
    head_edited = rows(N)
    head_edited[OLD - 1]["chain_hash"] = "22" * 32  # the line at the note's position no longer holds its head
    _, edited = both(bundle(tmp_path / "h", head_edited, tree=True))
    assert edited.problem is not None and "rewritten at or before it" in edited.problem.detail


def test_a_tree_json_that_does_not_fold_is_not_used(tmp_path: Path) -> None:
    honest = rows(N)
    folder = bundle(tmp_path / "t", honest, tree=True)
    doc = json.loads((folder / TREE).read_text())
    doc["nodes"]["4"][0] = "00" * 32
    (folder / TREE).write_text(json.dumps(doc))
    _, fell_back = both(folder, Source("head.note", note(honest, N)))
    assert fell_back.ok and "recomputed" in fell_back.notes[-1]
    edited = rows(N)
    edited[8]["event_hash"] = "00" * 32  # and a line below the note no longer gives its root either
    write(folder, edited)
    _, refused = both(folder)
    assert refused.problem is not None and refused.problem.kind is Kind.CHECKPOINT_MISMATCH
    assert "do not give its signed root" in refused.problem.detail
    (folder / TREE).write_text("[not the format]")
    write(folder, honest)
    _, plain = both(folder)
    assert plain.ok and "recomputed" in plain.notes[-1]


def test_the_command_takes_since_with_a_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = rows(N)
    folder = bundle(tmp_path / "b", data, tree=True)
    (tmp_path / "old.note").write_text(note(data, OLD))
    (tmp_path / "head.note").write_text(note(data, N))
    args = ["--bundle", str(folder), "--log-key", VKEY, "--since", str(tmp_path / "old.note")]
    assert main([*args, "--against", str(tmp_path / "head.note")]) == 0
    assert capsys.readouterr().out.startswith(f"verified events {OLD + 1} to {N} ({N - OLD} new) of {folder}")
    altered_state(data, 30)
    write(folder, data)
    assert main([*args, "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert (found["problem"]["kind"], found["problem"]["seq"], found["since"]) == ("altered", 30, OLD)
    (tmp_path / "cp.json").write_text("{}")
    assert main([*args[:-1], str(tmp_path / "cp.json")]) == 2


def test_a_pointer_rewritten_past_the_note_with_its_hashes_is_left_to_the_newer_note(tmp_path: Path) -> None:
    """The limit verifier/README.md §7.1 states: a bundle has no index of aggregates, so a new event that says its
    aggregate had no earlier event is taken at its word. With every later hash recomputed, the full pass names it;
    the incremental pass passes alone, and against the newer note names that note as not met (chain head)."""
    data = rows(N)
    by_nid = {r["notification_id"]: r for r in data}
    for r in data[OLD + 1:]:  # position 26 on
        if r["seq"] == OLD + 2:
            r["aggregate_prev_nid"] = 0
        prev_agg = bytes.fromhex(by_nid[r["aggregate_prev_nid"]]["aggregate_hash"]) if r["aggregate_prev_nid"] \
            else ZERO
        eh = bytes.fromhex(r["event_hash"])
        agg = aggregate_hash(prev_agg, eh)
        prev_chain = bytes.fromhex(data[r["seq"] - 2]["chain_hash"])
        r["aggregate_hash"] = agg.hex()
        r["chain_hash"] = chain_hash(prev_chain, r["seq"], r["notification_id"], r["aggregate_prev_nid"], eh,
                                     agg).hex()
    folder = bundle(tmp_path / "b", data, tree=True)
    full, inc = both(folder)
    assert full.problem is not None and (full.problem.kind, full.problem.seq) == (Kind.CHAIN_ALTERED, OLD + 2)
    assert inc.ok, inc
    full, inc = both(folder, Source("head.note", note(rows(N), N)))
    assert full.problem is not None and (full.problem.kind, full.problem.seq) == (Kind.CHAIN_ALTERED, OLD + 2)
    assert inc.problem is not None and (inc.problem.kind, inc.problem.checkpoint) == (
        Kind.CHECKPOINT_MISMATCH, "head.note")
    assert inc.problem.between == (OLD, N) and "chain hash at position 40" in inc.problem.detail
