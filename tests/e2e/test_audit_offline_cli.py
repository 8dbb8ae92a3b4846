"""The offline verifier end to end (issue 13): `arrimage audit export` writes record.jsonl and checkpoint.note,
then `arrimage audit verify --bundle DIR --against F.note --log-key VKEY` and `python -m verifier` check them with
nothing of the engine's configuration, on a SQLite record and on a PostgreSQL one (tests/audit_builders.py builds
both with the use cases). The log key is derived here as the engine derives it (origin `arrimage/<store id>`, the
checkpoint seed), so a change of that convention breaks this test. Attacks are made on the bundle's files and on a
copy of the SQLite database, as someone who holds them would make them."""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapters.record.environment import PostgresAddress, record_env
from adapters.record.keys import DEV_CHECKPOINT_KEYS
from adapters.record.note_signing import signer_key_from_seed
from adapters.record.record import Record
from domain.audit.hashing import link_batch
from tests.audit_builders import build, populate
from tests.conftest import PG, PostgresSchema, require_postgres
from tests.e2e.harness import Result, postgres_auditor_env, run_cli

ROOT = Path(__file__).resolve().parents[2]


def log_key(bundle: Path) -> str:
    store_id = json.loads((bundle / "MANIFEST.json").read_text())["store_id"]
    return str(signer_key_from_seed(f"arrimage/{store_id}", DEV_CHECKPOINT_KEYS.active).verifier)


def offline(*args: str) -> Result:
    """`python -m verifier`, in a bare environment: no ARRIMAGE_* setting, nothing of the engine configured."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "verifier", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd="/")
    return Result(proc.returncode, proc.stdout, proc.stderr)


def lines(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (bundle / "record.jsonl").read_text().splitlines()]


def rewrite(bundle: Path, rows: list[dict[str, Any]]) -> None:
    (bundle / "record.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def rechained(rows: list[dict[str, Any]], position: int, state: bytes) -> list[dict[str, Any]]:
    """The bundle an insider would forge: one event's stored bytes changed and every hash after it recomputed with
    the project's own `link_batch`, so that no row fails on its own."""
    events = []
    for r in rows:
        raw = state if r["seq"] == position else base64.b64decode(r["state"])
        events.append((r["notification_id"], bytes.fromhex(r["originator_id"].replace("-", "")),
                       r["originator_version"], r["topic"], raw))
    states = {e[0]: e[4] for e in events}
    out = []
    for row, (nid, _, _, _, seq, prev, eh, agg, ch) in zip(rows, link_batch(events, None, {}), strict=True):
        out.append({**row, "seq": seq, "notification_id": nid, "state": base64.b64encode(states[nid]).decode(),
                    "aggregate_prev_nid": prev, "event_hash": eh.hex(), "aggregate_hash": agg.hex(),
                    "chain_hash": ch.hex()})
    return out


def check_bundle(run: Any, bundle: Path) -> None:
    """What holds on either store: the bundle verifies offline through both commands; each attack is named."""
    key = log_key(bundle)
    note = str(bundle / "checkpoint.note")
    manifest = json.loads((bundle / "MANIFEST.json").read_text())
    assert {"record.jsonl", "checkpoint.note"} <= set(manifest["files"])
    n = manifest["events_checked"]
    assert len(lines(bundle)) == n

    verified = run("verify", "--bundle", str(bundle), "--against", note, "--against", str(bundle / "checkpoint.json"),
                   "--log-key", key)
    assert verified.code == 0, verified
    assert "manifest verified" in verified.out and f"verified {n} events of {bundle / 'record.jsonl'}" in verified.out
    assert "checkpoint.note (note, size" in verified.out and "met: root and chain as signed" in verified.out
    alone = offline("--bundle", str(bundle), "--against", note, "--log-key", key, "--json")
    assert alone.code == 0, alone
    assert (alone.json()["ok"], alone.json()["events"]) == (True, n)

    kept = bundle.parent / "kept.note"  # the auditor keeps the note away from the bundle
    shutil.copy(bundle / "checkpoint.note", kept)
    rows = lines(bundle)
    altered = [dict(r) for r in rows]
    altered[4]["state"] = base64.b64encode(b'{"edited": true}').decode()
    rewrite(bundle, altered)
    found = offline("--bundle", str(bundle), "--against", str(kept), "--log-key", key, "--json").json()
    assert (found["ok"], found["problem"]["kind"], found["problem"]["seq"]) == (False, "altered", 5)
    assert found["problem"]["notification_id"] == rows[4]["notification_id"]
    assert found["problem"]["aggregate_id"] == rows[4]["originator_id"]
    assert (found["problem"]["version"], found["problem"]["topic"]) == (rows[4]["originator_version"],
                                                                        rows[4]["topic"])
    cli = run("verify", "--bundle", str(bundle), "--against", str(kept), "--log-key", key)
    assert cli.code == 1 and "record.jsonl: its SHA-256 differs from the manifest's" in cli.out
    assert f"TAMPERING altered at position 5 (notification {rows[4]['notification_id']}" in cli.out

    rewrite(bundle, rechained(rows, 5, b'{"antidate": true}'))  # consistent: only the signed root shows it
    forged = offline("--bundle", str(bundle), "--against", str(kept), "--log-key", key, "--json").json()
    assert (forged["ok"], forged["problem"]["kind"], forged["problem"]["checkpoint"]) == (
        False, "checkpoint_mismatch", str(kept))
    assert forged["problem"]["between"] == [0, n]
    rewrite(bundle, rows[:-2])  # the tail cut
    cut = offline("--bundle", str(bundle), "--against", str(kept), "--log-key", key, "--json").json()
    assert (cut["problem"]["kind"], cut["problem"]["detail"]) == (
        "truncated", f"checkpoint {kept} covers {n} events; the record ends after {n - 2}: events {n - 1} to {n} "
                     "were cut")
    rewrite(bundle, rows)

    bad = run("verify", "--bundle", str(bundle), "--against", note, "--log-key", "not-a-key")
    assert bad.code == 2 and "neither the base64" in bad.err


def test_export_then_verify_offline_on_sqlite(tmp_path: Path) -> None:
    store = build(tmp_path)
    bundle = tmp_path / "bundle"
    store.ok("export", "--out", str(bundle))
    check_bundle(store.run, bundle)
    key = log_key(bundle)
    alone = store.run("verify", "--log-key", key)
    assert (alone.code, alone.err) == (2, "invalid input: --log-key checks an export bundle offline: give --bundle "
                                          "DIR\n")
    copy = tmp_path / "copy.sqlite"  # a database copy, read with the standard library's sqlite3
    shutil.copy(store.path, copy)
    ok = offline("--database", str(copy), "--against", str(bundle / "checkpoint.note"), "--log-key", key)
    assert ok.code == 0 and ok.out.startswith(f"verified {store.event_count()} events of {copy}"), ok
    with sqlite3.connect(copy) as conn:
        conn.execute("DELETE FROM stored_events WHERE rowid = 3")
    gone = offline("--database", str(copy), "--against", str(bundle / "checkpoint.note"), "--log-key", key, "--json")
    assert gone.code == 1
    assert (gone.json()["problem"]["kind"], gone.json()["problem"]["seq"],
            gone.json()["problem"]["notification_id"]) == ("removed", 3, 3)


@pytest.mark.postgres
def test_export_then_verify_offline_on_postgresql(tmp_path: Path) -> None:
    require_postgres()
    schema = PostgresSchema()
    try:
        record = Record(record_env(postgres=PostgresAddress(**PG, schema=schema.name), create=True))
        try:
            populate(record)
        finally:
            record.close()
        env = postgres_auditor_env(PG, schema.name, tmp_path, COLUMNS="250")

        def audit(*args: str) -> Result:
            return run_cli("audit", *args, env=env)

        bundle = tmp_path / "bundle"
        exported = audit("export", "--out", str(bundle))
        assert exported.code == 0, exported
        check_bundle(audit, bundle)
    finally:
        schema.drop()


def test_a_later_export_verified_since_the_earlier_note(tmp_path: Path) -> None:
    """`--since` on a bundle (verifier/README.md §7): an export, events recorded, a second export; the second bundle
    is checked from the first one's note, reading only its lines after it, through both commands; a new event
    altered is named as the full pass names it; a JSON checkpoint is not a note (exit 2)."""
    store = build(tmp_path)
    first, second = tmp_path / "first", tmp_path / "second"
    store.ok("export", "--out", str(first))
    store.close_case()
    store.ok("export", "--out", str(second))
    key, old, new = log_key(second), str(first / "checkpoint.note"), str(second / "checkpoint.note")
    size = json.loads((first / "MANIFEST.json").read_text())["events_checked"]
    n = json.loads((second / "MANIFEST.json").read_text())["events_checked"]
    assert n > size and "tree.json" in json.loads((second / "MANIFEST.json").read_text())["files"]
    cli = store.run("verify", "--bundle", str(second), "--against", new, "--log-key", key, "--since-checkpoint", old)
    assert cli.code == 0 and f"verified events {size + 1} to {n} ({n - size} new)" in cli.out, cli
    assert "manifest verified" in cli.out and "met: root and chain as signed" in cli.out
    inc = offline("--bundle", str(second), "--against", new, "--log-key", key, "--since", old, "--json")
    assert inc.code == 0 and (inc.json()["since"], inc.json()["events"]) == (size, n), inc
    rows = lines(second)
    rows[size]["state"] = base64.b64encode(b'{"edited": true}').decode()
    rewrite(second, rows)
    full = offline("--bundle", str(second), "--against", new, "--log-key", key, "--json").json()
    found = offline("--bundle", str(second), "--against", new, "--log-key", key, "--since", old, "--json").json()
    assert (found["problem"]["kind"], found["problem"]["seq"]) == ("altered", size + 1)
    assert found["problem"] == full["problem"]
    refused = store.run("verify", "--bundle", str(second), "--log-key", key, "--since-checkpoint",
                        str(first / "checkpoint.json"))
    assert refused.code == 2 and "--since takes a checkpoint note" in refused.err
