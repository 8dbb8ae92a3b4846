"""Issue 13 through the installed CLI, on SQLite and PostgreSQL: `audit checkpoint --note`, `audit log-key`,
`audit prove EVENT --checkpoint NOTE`, `audit consistency OLD NEW`; their exit codes (0 proven, 1 not provable
or not proven, 2 bad input with nothing written), a rewritten tree and another log's key refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.record.keys import parse_key_ring
from adapters.record.record import Record
from domain.audit import merkle
from domain.audit.note import parse_checkpoint, parse_note
from tests.audit_builders import populate
from tests.e2e.harness import Result, run_cli
from tests.merkle_attack_builders import auditor_cli_env
from tests.tamper_builders import Raw, interleaved_dossiers
from usecases.audit import proofs


@dataclass
class Cli:
    env: dict[str, str]
    record_env: dict[str, str]
    folder: Path

    def run(self, *args: str) -> Result:
        return run_cli("audit", *args, env=self.env, cwd=self.folder)

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.code == 0, result
        return result

    def fails(self, code: int, *args: str) -> str:
        result = self.run(*args)
        assert result.code == code, result
        assert len(result.err.strip().splitlines()) == 1, result  # one line
        return result.err.strip()

    def checkpoint(self, name: str) -> Path:
        self.ok("checkpoint", "--out", str(self.folder / f"{name}.json"), "--note", str(self.folder / f"{name}.note"))
        return self.folder / f"{name}.note"


@pytest.fixture
def cli(store_env: dict[str, str], tmp_path: Path) -> Iterator[Cli]:
    record = Record(store_env)
    populate(record)
    record.close()
    yield Cli(auditor_cli_env(store_env, tmp_path), store_env, tmp_path)


def test_checkpoint_prove_and_consistency(cli: Cli) -> None:
    first = cli.checkpoint("first")
    out = cli.ok("checkpoint", "--out", str(cli.folder / "again.json"), "--note", str(cli.folder / "again.note")).out
    vkey = cli.ok("log-key").out.strip()
    assert f"log key {vkey} (an auditor or witness pins it: --log-key)" in out
    head = parse_checkpoint(parse_note(first.read_text()).text)
    assert head.origin == vkey.split("+")[0] and head.extensions[0].startswith(f"arrimage-chain {head.size} ")

    # Events of the first checkpoint (first, middle, last), proven against its root by the JSON proof alone (every
    # index of small trees: tests/integration/test_audit_proofs.py).
    for nid in (1, head.size // 2, head.size):
        p = cli.ok("prove", str(nid), "--checkpoint", str(first), "--json").json()
        assert (p["proven"], p["index"], p["size"], p["notification_id"]) == (True, nid - 1, head.size, nid)
        merkle.verify_inclusion(p["index"], p["size"], merkle.leaf_hash(bytes.fromhex(p["event_hash"])),
                                [bytes.fromhex(h) for h in p["proof"]], head.root_hash)
    assert "engine's own log key" in p["trust"]
    named = f"{p['aggregate_id']}@{p['version']}"
    (cli.folder / "log.pub").write_text(vkey + "\n")
    text = cli.ok("prove", named, "--checkpoint", str(first), "--log-key", str(cli.folder / "log.pub")).out
    assert f"proven event notification {head.size} ({named}) is leaf {head.size - 1} of the tree of {head.size}" in text
    assert f"checked against the pinned log key {vkey}" in text

    record = Record(cli.record_env)
    try:
        interleaved_dossiers(record, "AB", 2)  # 6 events more
    finally:
        record.close()
    second = cli.checkpoint("second")
    assert parse_checkpoint(parse_note(second.read_text()).text).size == head.size + 6
    proven = cli.ok("consistency", str(first), str(second), "--log-key", vkey).out
    assert f"proven the tree of {head.size + 6} events ({second}) extends the tree of {head.size} ({first})" in proven
    j = cli.ok("consistency", str(first), str(second), "--json").json()
    merkle.verify_consistency(head.size, head.size + 6, head.root_hash, bytes.fromhex(j["new_root"]),
                              [bytes.fromhex(h) for h in j["proof"]])
    cli.ok("consistency", str(first), str(first))
    # An event after the first checkpoint is not in its tree (exit 1); it is in the second's.
    assert cli.fails(1, "prove", str(head.size + 1), "--checkpoint", str(first)) == (
        f"not proven: event notification {head.size + 1} is at position {head.size + 1}, after the tree of size "
        f"{head.size} (a later checkpoint holds it)")
    cli.ok("prove", str(head.size + 1), "--checkpoint", str(second))
    assert "holds no chained event notification 999" in cli.fails(1, "prove", "999", "--checkpoint", str(second))


def test_bad_input_is_refused_and_nothing_is_written(cli: Cli) -> None:
    note = cli.checkpoint("cp")
    (cli.folder / "garbage.note").write_text("not a note\n")
    assert cli.fails(2, "prove", "abc", "--checkpoint", str(note)) == (
        "invalid input: event 'abc': expected a notification id, or <aggregate uuid>@<version>")
    assert "is not an aggregate uuid" in cli.fails(2, "prove", "xyz@3", "--checkpoint", str(note))
    assert "no such file" in cli.fails(2, "prove", "1", "--checkpoint", str(cli.folder / "missing.note"))
    assert "is not a signed checkpoint note" in cli.fails(2, "prove", "1", "--checkpoint",
                                                           str(cli.folder / "garbage.note"))
    assert "--log-key: verifier key" in cli.fails(2, "prove", "1", "--checkpoint", str(note), "--log-key", "nope")
    assert "no such file" in cli.fails(2, "consistency", str(note), str(cli.folder / "missing.note"))
    record = Record(cli.record_env)
    try:
        interleaved_dossiers(record, "A", 1)
    finally:
        record.close()
    later = cli.checkpoint("later")
    assert "give the older checkpoint first" in cli.fails(2, "consistency", str(later), str(note))
    before = sorted(p.name for p in cli.folder.iterdir())
    assert "no such directory" in cli.fails(2, "checkpoint", "--out", str(cli.folder / "x.json"), "--note",
                                            str(cli.folder / "nowhere" / "x.note"))
    assert "is a directory" in cli.fails(2, "checkpoint", "--out", str(cli.folder / "x.json"), "--note",
                                         str(cli.folder))
    assert sorted(p.name for p in cli.folder.iterdir()) == before


def test_another_key_a_forged_note_and_a_rewritten_tree_are_not_proven(cli: Cli) -> None:
    note = cli.checkpoint("cp")
    head = parse_checkpoint(parse_note(note.read_text()).text)
    stranger = proofs.log_key(head.origin.removeprefix("arrimage/"), parse_key_ring("k:" + "B" * 43 + "=")).verifier
    assert "does not verify with log key" in cli.fails(1, "prove", "1", "--checkpoint", str(note), "--log-key",
                                                       str(stranger))
    forged = note.read_text().replace(f"\n{head.size}\n", f"\n{head.size - 1}\n", 1)
    (cli.folder / "forged.note").write_text(forged)
    assert "invalid signature" in cli.fails(1, "prove", "1", "--checkpoint", str(cli.folder / "forged.note"))
    assert "invalid signature" in cli.fails(1, "consistency", str(cli.folder / "forged.note"), str(note))
    record = Record(cli.record_env)
    try:
        interleaved_dossiers(record, "A", 0)  # one event more
    finally:
        record.close()
    later = cli.checkpoint("later")
    # The tree rewritten under the signed checkpoint: the proof the store gives no longer reaches the signed root.
    raw = Raw(cli.record_env)
    try:
        raw.x(f"UPDATE {raw.chain.replace('audit_chain', 'audit_tree')} SET hash = ? WHERE level = 1 AND start = 0",
              bytes(32))
    finally:
        raw.close()
    # Node [0, 2) is on the path of leaves 2 and 3, not on leaf 0's (whose sibling is leaf 1).
    assert "the store's tree does not prove event notification 3: root_mismatch" in cli.fails(
        1, "prove", "3", "--checkpoint", str(note))
    cli.ok("prove", "1", "--checkpoint", str(note))
    # A node the root rests on rewritten: no checkpoint is signed over it, and consistency is not proven.
    raw = Raw(cli.record_env)
    try:
        raw.x(f"UPDATE {raw.chain.replace('audit_chain', 'audit_tree')} SET hash = ? WHERE level = 3 AND start = 0",
              bytes(32))
    finally:
        raw.close()
    assert "not the ones the verified chain gives" in cli.fails(1, "checkpoint", "--out", str(cli.folder / "n.json"),
                                                                "--note", str(cli.folder / "n.note"))
    assert "is not proven to extend" in cli.fails(1, "consistency", str(note), str(later))
