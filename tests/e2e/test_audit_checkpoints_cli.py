"""Issue 9, "Checkpoints that mean something", through the installed `arrimage audit` on a record built by the
use cases (tests/audit_builders.py), SQLite and PostgreSQL (issue 12): each attack as someone with write access
to the database (through SQL on its tables) or to the bundle makes it, and what `verify` / `export` now answer.

The same attacks at the use cases: tests/integration/test_audit_checkpoints.py.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from adapters.record.keys import DEV_CHECKPOINT_KEYS
from adapters.record.signing import public_key_b64
from cli.audit_export import bundle_problem
from tests.audit_builders import Store, build
from tests.merkle_attack_builders import second_store
from tests.tamper_builders import Raw, rewrite_history

ENGINE_PUBLIC = public_key_b64(DEV_CHECKPOINT_KEYS.active)
STRANGER_PUBLIC = public_key_b64(bytes(range(32)))


def built(folder: Path, store_env: dict[str, str]) -> Store:
    folder.mkdir()
    return build(folder, store_env)


@pytest.fixture
def store(store_env: dict[str, str], tmp_path: Path) -> Store:
    return built(tmp_path / "a", store_env)


def pinned(tmp_path: Path, key: str = ENGINE_PUBLIC) -> str:
    path = tmp_path / "engine.pub"
    path.write_text(key + "\n")
    return str(path)


def rechain(store: Store, nid: int) -> None:
    """An event back-dated by a month (its stored `timestamp`), then every chain row from it recomputed with the
    project's `link_batch`; the database's copies of checkpoints removed."""
    raw = Raw(store.record_env)
    try:
        (state,) = raw.x("SELECT state FROM {events} WHERE {nid} = ?", nid)[0]
        year_month = bytes(state)[48:55]  # '{"timestamp":{"_type_":"datetime_iso","_data_":"YYYY-MM'
        forged = bytes(state).replace(year_month, b"2020-01", 1)
        assert forged != bytes(state)
        rewrite_history(raw, store.record(), nid, forged)
        raw.x("DELETE FROM {cps}")
    finally:
        raw.close()


def test_export_refuses_a_rechained_store_against_the_last_checkpoint(store: Store, tmp_path: Path) -> None:
    """Before: `verify` said verified and `export` signed the forged head (exit 0). Now `export --against`
    the checkpoint kept elsewhere refuses (exit 1), names the checkpoint and the rewritten event itself (its
    milestone; before milestones, the checkpoint's head), and the bundle has no checkpoint."""
    kept = tmp_path / "kept.json"
    store.ok("checkpoint", "--out", str(kept))
    head = json.loads(kept.read_text())["notification_id"]
    rechain(store, head - 3)
    assert store.run("verify").code == 0  # internal consistency alone: the documented limit
    out = tmp_path / "bundle"
    result = store.run("export", "--out", str(out), "--against", str(kept), "--trusted-key", pinned(tmp_path))
    assert result.code == 1, result
    assert f"TAMPERING checkpoint_mismatch at notification {head - 3}" in result.out
    assert "this event was rewritten (the chain still meets the checkpoint at the event before)" in result.out
    assert f"signed checkpoint dev-checkpoint@{json.loads(kept.read_text())['signed_at']}" in result.out
    assert not (out / "checkpoint.json").exists()
    assert json.loads((out / "MANIFEST.json").read_text())["verified"] is False
    # verify says the same against the kept checkpoint.
    refused = store.run("verify", "--against", str(kept), "--json")
    assert (refused.code, refused.json()["problem"]["kind"]) == (1, "checkpoint_mismatch")


def test_export_against_the_last_checkpoint_signs_a_store_that_extends_it(store: Store, tmp_path: Path) -> None:
    kept = tmp_path / "kept.json"
    store.ok("checkpoint", "--out", str(kept))
    store.ok("replay", "case:C-ABCDEFGH23", "--role", "auditeur")  # one more event: an access
    out = tmp_path / "bundle"
    result = store.ok("export", "--out", str(out), "--against", str(kept), "--trusted-key", pinned(tmp_path))
    assert "checkpoint signatures checked against 1 pinned public key" in result.out
    cp = json.loads((out / "checkpoint.json").read_text())
    assert cp["count"] > json.loads(kept.read_text())["count"]
    assert cp["store_id"] == json.loads(kept.read_text())["store_id"]


def test_export_without_against_says_it_extends_no_trusted_checkpoint(store: Store, tmp_path: Path) -> None:
    result = store.ok("export", "--out", str(tmp_path / "bundle"))
    assert "not checked against a trusted checkpoint (pass --against FILE)" in result.out
    assert "checkpoint signatures checked against the engine's own key only" in result.out


def test_a_checkpoint_of_another_store_is_refused(store: Store, tmp_path: Path) -> None:
    theirs = tmp_path / "theirs.json"
    with second_store(store.record_env, tmp_path) as other_env:
        built(tmp_path / "b", other_env).ok("checkpoint", "--out", str(theirs))
    result = store.run("verify", "--against", str(theirs), "--json")
    assert result.code == 1
    problem = result.json()["problem"]
    assert problem["kind"] == "other_store"
    assert f"is of store {json.loads(theirs.read_text())['store_id']}; this store is " in problem["detail"]
    text = store.run("verify", "--against", str(theirs))
    assert (text.code, text.out.startswith("TAMPERING other_store at notification ")) == (1, True)


def test_a_checkpoint_signed_by_an_unpinned_key_is_refused(store: Store, tmp_path: Path) -> None:
    """Before: the trusted keys were the engine's configuration (environment, a `.env` in the current
    folder), which whoever runs the command controls. Now the auditor pins the public keys they trust."""
    kept = tmp_path / "kept.json"
    store.ok("checkpoint", "--out", str(kept))
    plain = store.ok("verify", "--against", str(kept))
    assert plain.out.splitlines()[1] == (
        "checkpoint signatures checked against the engine's own key only (its configuration): "
        "pin the public key with --trusted-key")
    refused = store.run("verify", "--against", str(kept), "--trusted-key", STRANGER_PUBLIC, "--json")
    assert refused.code == 1
    assert refused.json()["problem"]["kind"] == "bad_signature"
    assert refused.json()["problem"]["detail"].endswith(f"key {ENGINE_PUBLIC} is not a pinned trusted key")
    good = store.ok("verify", "--against", str(kept), "--trusted-key", pinned(tmp_path),
                    "--trusted-key", STRANGER_PUBLIC)
    assert good.out.splitlines()[1] == "checkpoint signatures checked against 2 pinned public keys"
    bad = store.run("verify", "--trusted-key", "not-a-key")
    assert (bad.code, bad.err) == (2, "invalid input: trusted key not-a-key: neither a base64 Ed25519 public key "
                                      "nor a PEM file\n")


def test_a_tampered_bundle_manifest_is_detected(store: Store, tmp_path: Path) -> None:
    """Before: MANIFEST.json listed each file's SHA-256, unsigned: whoever edited a file rewrote its line.
    Now the manifest is signed, and `verify --bundle DIR` checks the signature and every file."""
    out = tmp_path / "bundle"
    store.ok("export", "--out", str(out))
    manifest = json.loads((out / "MANIFEST.json").read_text())
    assert manifest["signature"]["public_key"] == ENGINE_PUBLIC and manifest["store_id"]
    key = pinned(tmp_path)
    assert bundle_problem(out, [ENGINE_PUBLIC]) is None
    assert store.ok("verify", "--bundle", str(out), "--trusted-key", key).out.startswith("bundle verified")
    # The attacker edits accesses.json and its line of the manifest.
    body = b"[]\n"
    (out / "accesses.json").write_bytes(body)
    manifest["files"]["accesses.json"] = {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
    (out / "MANIFEST.json").write_text(json.dumps(manifest))
    assert bundle_problem(out, [ENGINE_PUBLIC]) == "MANIFEST.json: signature does not verify"
    result = store.run("verify", "--bundle", str(out), "--trusted-key", key)
    assert (result.code, result.out) == (1, f"TAMPERING bundle {out}: MANIFEST.json: signature does not verify\n")
    # A file changed behind an intact manifest is named.
    store.ok("export", "--out", str(out))
    (out / "register.json").write_text("[]\n")
    assert bundle_problem(out, [ENGINE_PUBLIC]) == "register.json: its SHA-256 differs from the manifest's"
    assert bundle_problem(out, [STRANGER_PUBLIC]) == (
        f"MANIFEST.json: signed by key {ENGINE_PUBLIC}, which is not a pinned trusted key")
