"""`arrimage audit verify --bundle DIR --log-key VKEY --since-checkpoint OLD.note`: the manifest's check in the
incremental mode (issue 13, cli/audit_export.bundle_problem, verifier/README.md §7.1).

A bundle built here as `audit export` writes it: record.jsonl of 16,400 events of three aggregates (the test log's
rows, tests/unit/test_verifier.py), tree.json, checkpoint.note at its head and MANIFEST.json listing them, signed
with the seed of the log key and naming the head it signs. OLD is at 16,385 events (the frontier: one subtree of
2^14 leaves from tree.json and the line at OLD). The command runs in this process (typer's runner).

In the full mode every file is hashed. In the incremental mode record.jsonl is not hashed whole: its size must be
the manifest's, and the head its new lines verify to (from OLD's signed chain head) the one the manifest signs;
every other file is hashed. So an edit before OLD that keeps the file's size passes (the full pass's to find), a new
line altered is named, a tail rewritten with every hash recomputed is refused by the manifest's signed head even
without a newer note, and the bytes read are a small part of record.jsonl's (counted by the kernel: `rchar` of
/proc/self/io, every read(2) of this process; the full mode, read twice, is the control).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapters.record.keys import KeyRing
from adapters.record.signing import sign_document
from cli.main import app
from tests.unit.test_verifier import SEED, VKEY, note, rows, write
from verifier.bundle_since import TREE, tree_nodes

N = 16_400
OLD = 16_385
FILES = ("record.jsonl", TREE, "checkpoint.note", "verify.json")


@pytest.fixture(scope="module")
def honest() -> list[dict[str, Any]]:
    return rows(N)


def export(folder: Path, data: list[dict[str, Any]]) -> Path:
    """The bundle of `data` with its signed manifest (as `audit export` writes one that verified)."""
    write(folder, data)
    (folder / TREE).write_text(json.dumps(tree_nodes(bytes.fromhex(r["event_hash"]) for r in data)))
    (folder / "checkpoint.note").write_text(note(data, N))
    (folder / "verify.json").write_text(json.dumps({"ok": True, "events_checked": N}))
    files = {}
    for name in FILES:
        body = (folder / name).read_bytes()
        files[name] = {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
    head = data[N - 1]
    manifest = {"format": "arrimage-audit-export/1", "verified": True, "events_checked": N, "files": files,
                "checkpoint": {"notification_id": head["notification_id"], "count": N,
                               "chain_hash": head["chain_hash"]}}
    (folder / "MANIFEST.json").write_text(json.dumps(sign_document(KeyRing((("k1", SEED),)), manifest)))
    (folder.parent / "old.note").write_text(note(data, OLD))
    return folder


def verify(folder: Path, *, since: bool = True, against: bool = True) -> tuple[int, dict[str, Any]]:
    args = ["audit", "verify", "--bundle", str(folder), "--log-key", VKEY, "--json"]
    if against:
        args += ["--against", str(folder / "checkpoint.note")]
    if since:
        args += ["--since-checkpoint", str(folder.parent / "old.note")]
    run = CliRunner().invoke(app, args)
    assert run.exit_code in (0, 1), run.output
    return run.exit_code, json.loads(run.stdout)


def same_length_edit(data: list[dict[str, Any]], position: int) -> None:
    """A line's stored bytes changed, its length kept (the file's size is the manifest's)."""
    state = base64.b64decode(data[position - 1]["state"])
    data[position - 1]["state"] = base64.b64encode(state.replace(b"nement", b"NEMENT")).decode()


def lines_with(data: list[dict[str, Any]], change: Any) -> list[dict[str, Any]]:
    out = [dict(r) for r in data]
    change(out)
    return out


def test_an_intact_bundle_passes_both_modes_and_says_what_the_manifest_covers(
        tmp_path: Path, honest: list[dict[str, Any]]) -> None:
    folder = export(tmp_path / "b", honest)
    code, full = verify(folder, since=False)
    assert (code, full["ok"], full["manifest_problem"], full["manifest_covers"]) == (0, True, None,
                                                                                     "every file hashed")
    code, inc = verify(folder)
    assert (code, inc["ok"], inc["manifest_problem"]) == (0, True, None)
    assert inc["manifest_covers"] == ("every file hashed but record.jsonl: its size, and its new lines' head is "
                                      "the one it signs (hashed whole if it signs none)")
    assert (inc["record"]["since"], inc["record"]["events"]) == (OLD, N)


def test_a_line_before_old_edited_in_place_is_the_full_passs_to_find(
        tmp_path: Path, honest: list[dict[str, Any]]) -> None:
    folder = export(tmp_path / "b", honest)
    write(folder, lines_with(honest, lambda d: same_length_edit(d, 10)))
    code, inc = verify(folder)
    assert (code, inc["ok"], inc["manifest_problem"]) == (0, True, None)  # as documented (README §7.1)
    assert "were not read" in inc["record"]["notes"][-1]
    code, full = verify(folder, since=False)
    assert (code, full["manifest_problem"]) == (1, "record.jsonl: its SHA-256 differs from the manifest's")
    assert (full["record"]["problem"]["kind"], full["record"]["problem"]["seq"]) == ("altered", 10)


def test_a_line_before_old_that_changes_the_files_size_is_named(tmp_path: Path,
                                                                honest: list[dict[str, Any]]) -> None:
    folder = export(tmp_path / "b", honest)
    write(folder, lines_with(honest, lambda d: d[9].update(state=base64.b64encode(b"{}").decode())))
    code, inc = verify(folder)
    assert code == 1 and inc["record"]["ok"] is True
    assert inc["manifest_problem"].startswith("record.jsonl: ") and "bytes, the manifest says" in \
        inc["manifest_problem"]


def test_an_altered_new_line_is_named(tmp_path: Path, honest: list[dict[str, Any]]) -> None:
    folder = export(tmp_path / "b", honest)
    write(folder, lines_with(honest, lambda d: same_length_edit(d, OLD + 5)))
    code, inc = verify(folder)
    assert code == 1 and not inc["ok"]
    problem = inc["record"]["problem"]
    assert (problem["kind"], problem["seq"], problem["notification_id"]) == ("altered", OLD + 5,
                                                                             honest[OLD + 4]["notification_id"])


def test_new_lines_rewritten_with_their_hashes_are_refused_by_the_manifests_signed_head(
        tmp_path: Path, honest: list[dict[str, Any]]) -> None:
    """No newer note given: the new lines are then only consistent with OLD, but the manifest signs the head."""
    folder = export(tmp_path / "b", honest)
    state = base64.b64decode(honest[OLD + 4]["state"])
    write(folder, rows(N, change={OLD + 5: state.replace(b"nement", b"NEMENT")}))
    code, inc = verify(folder, against=False)
    assert code == 1 and inc["record"]["ok"] is True and not inc["ok"]
    forged = rows(N, change={OLD + 5: state.replace(b"nement", b"NEMENT")})[N - 1]["chain_hash"]
    assert inc["manifest_problem"] == (
        f"record.jsonl: its lines verify to position {N} (notification {honest[N - 1]['notification_id']}, chain "
        f"hash {forged}); the manifest signs position {N} (notification {honest[N - 1]['notification_id']}, chain "
        f"hash {honest[N - 1]['chain_hash']})")
    code, checked = verify(folder)  # with the newer note, its root and chain head refuse it first
    assert code == 1 and checked["record"]["problem"]["kind"] == "checkpoint_mismatch"


@pytest.mark.parametrize("name", [TREE, "verify.json", "checkpoint.note"])
def test_every_other_file_is_still_hashed(tmp_path: Path, honest: list[dict[str, Any]], name: str) -> None:
    folder = export(tmp_path / "b", honest)
    body = (folder / name).read_bytes()
    (folder / name).write_bytes(body[:-2] + (b"0" if body[-2:-1] != b"0" else b"1") + body[-1:])
    code, inc = verify(folder)
    assert (code, inc["manifest_problem"]) == (1, f"{name}: its SHA-256 differs from the manifest's")


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="counts read(2) bytes through Linux's /proc")
def test_the_incremental_pass_does_not_read_record_jsonl_before_old(tmp_path: Path,
                                                                    honest: list[dict[str, Any]]) -> None:
    folder = export(tmp_path / "b", honest)
    size = (folder / "record.jsonl").stat().st_size
    verify(folder)  # every module the command imports is loaded once
    counted = {}
    for mode in (True, False):
        before = _rchar()
        code, _ = verify(folder, since=mode)
        counted[mode] = _rchar() - before
        assert code == 0
    assert counted[False] >= 2 * size  # the control: the full mode reads the file twice (verifier, SHA-256)
    assert counted[True] < size // 4, (counted, size)  # bisection reads, tree.json, the lines from OLD on
