"""Issue 9 through the installed CLI: no process starts on the public development keys outside development
mode (one line naming the missing keys, exit 2, nothing created), and `arrimage doctor` says why.

Only the export's test reads a record, so only it runs on a SQLite file and a PostgreSQL schema (`store_env`, issue
12). The others run as a production machine where nobody set anything: the refusals come before any record is
opened, `doctor --offline` opens none, and `doctor`'s record check is of that machine's default, the embedded SQLite
file (`record: no SQLite record at …`)."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from pathlib import Path

from tests.e2e.harness import run_completed

MISSING = ("refusing to start on public development keys: ARRIMAGE_PAYLOAD_KEYS, ARRIMAGE_SUBJECT_KEKS, "
           "ARRIMAGE_CHECKPOINT_KEYS not set (set them, see deploy/arrimage.env.example; "
           "or ARRIMAGE_MODE=development for a test machine)\n")


def run(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """`arrimage` as on a production machine where nobody set ARRIMAGE_MODE or any key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")}
    env.update({"ARRIMAGE_DATA_DIR": str(cwd / "var"), "ARRIMAGE_TEMPORAL_ADDRESS": "127.0.0.1:1",
                "ARRIMAGE_LOG_FORMAT": "console", **extra})
    return run_completed(*args, env=env, cwd=cwd, timeout=60)


def keys() -> dict[str, str]:
    return {name: f"k1:{base64.b64encode(bytes([i]) * 32).decode()}"
            for i, name in enumerate(("ARRIMAGE_PAYLOAD_KEYS", "ARRIMAGE_SUBJECT_KEKS", "ARRIMAGE_CHECKPOINT_KEYS"))}


def test_worker_without_keys_nor_development_mode_refuses(tmp_path: Path) -> None:
    done = run(tmp_path, "worker")
    assert (done.returncode, done.stdout, done.stderr) == (2, "", MISSING)
    assert not (tmp_path / "var").exists()  # nothing created: no record sealed under a public key


def test_cli_read_without_keys_refuses(tmp_path: Path) -> None:
    # a person's read outside development mode goes through the gateway (ARRIMAGE_API_URL): refused before the
    # keys are even looked at (tests/e2e/test_cli_through_gateway.py); an operator's command needs the keys
    done = run(tmp_path, "cases", "list", "--all")
    assert (done.returncode, done.stderr) == (2, (
        "refused [operators_only]: direct record access is for operators on the server: on your machine, set "
        "ARRIMAGE_API_URL (the gateway) and ARRIMAGE_TOKEN (your token), and the token says who you are\n"))
    operator = run(tmp_path, "audit", "verify", "--trust-engine-key")
    assert (operator.returncode, operator.stderr) == (2, MISSING)


def test_worker_with_two_bad_settings_names_both_and_starts_nothing(tmp_path: Path) -> None:
    """Issue 12: configuration validated at start, every bad value at once, one line each, exit 2, nothing
    created (no record, no connection: the Temporal address is one nobody listens on)."""
    config = tmp_path / "arrimage.toml"
    config.write_text('task_queue = "q"\ngateway_burst = 0\n', encoding="utf-8")
    done = run(tmp_path, "worker", ARRIMAGE_CONFIG=str(config), ARRIMAGE_STORE="oracle", **keys())
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        "ARRIMAGE_STORE: expected one of 'sqlite' or 'postgres'; set one of them",
        f"ARRIMAGE_GATEWAY_BURST: expected at least 1 (set in {config}); set a value of at least 1",
    ]
    assert not (tmp_path / "var").exists()


def test_one_missing_key_named(tmp_path: Path) -> None:
    done = run(tmp_path, "worker", **{k: v for k, v in keys().items() if k != "ARRIMAGE_SUBJECT_KEKS"})
    assert done.returncode == 2
    assert done.stderr.startswith("refusing to start on public development keys: ARRIMAGE_SUBJECT_KEKS not set")


def test_doctor_without_keys_is_not_production_ready(tmp_path: Path) -> None:
    done = run(tmp_path, "doctor", "--offline")
    assert done.returncode == 1, done.stderr
    assert done.stdout == (
        "mode      production\n"
        "key       ARRIMAGE_PAYLOAD_KEYS: development\n"
        "key       ARRIMAGE_SUBJECT_KEKS: development\n"
        "key       ARRIMAGE_CHECKPOINT_KEYS: development\n"
        "temporal  127.0.0.1:1: TLS\n"
        "not production-ready: ARRIMAGE_PAYLOAD_KEYS is development; ARRIMAGE_SUBJECT_KEKS is development; "
        "ARRIMAGE_CHECKPOINT_KEYS is development\n"
    )
    assert not (tmp_path / "var" / "record.sqlite").exists()


def test_doctor_json_production_ready_never_prints_a_key(tmp_path: Path) -> None:
    done = run(tmp_path, "doctor", "--json", "--offline", **keys())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "mode": "production",
        "keys": {"ARRIMAGE_PAYLOAD_KEYS": "production", "ARRIMAGE_SUBJECT_KEKS": "production",
                 "ARRIMAGE_CHECKPOINT_KEYS": "production"},
        "payload_key": {"key_id": "k1", "started": None, "age_days": None, "max_age_days": 90},
        "connections": {"temporal": {"address": "127.0.0.1:1", "tls": True, "mtls": False}},
        "production_ready": True,
        "problems": [],
        "warnings": ["ARRIMAGE_PAYLOAD_KEYS: the active key id 'k1' names no start date, so its age is unknown "
                     "(name keys by the day they come into use: p2026-12-01)"],
    }
    for value in keys().values():
        assert value.split(":")[1] not in done.stdout


def test_doctor_in_development_mode_exits_1(tmp_path: Path) -> None:
    done = run(tmp_path, "doctor", "--json", "--offline", ARRIMAGE_MODE="development", **keys())
    assert done.returncode == 1
    found = json.loads(done.stdout)
    assert found["problems"] == ["ARRIMAGE_MODE=development", "no TLS to temporal"]


def test_doctor_checks_the_deployment_and_says_how_to_fix_it(tmp_path: Path) -> None:
    """Issue 12: without --offline, each check ok/warn/fail with its fix; a configuration fit for production
    is not production-ready while Temporal does not answer (exit 1); nothing created."""
    done = run(tmp_path, "doctor", **keys())
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert "fail      temporal: cannot connect to 127.0.0.1:1 (TLS): Connection refused" in lines
    assert f"fail      record: no SQLite record at {tmp_path / 'var' / 'record.sqlite'}" in lines
    assert lines[-1].startswith("not production-ready: temporal: cannot connect to 127.0.0.1:1")
    found = json.loads(run(tmp_path, "doctor", "--json", **keys()).stdout)
    assert [(c["name"], c["status"]) for c in found["checks"]] == [
        ("temporal", "fail"), ("record", "fail"), ("clock", "warn")]
    assert all(c["fix"] for c in found["checks"])
    assert not (tmp_path / "var").exists()


def test_export_readable_by_its_owner_only(tmp_path: Path, store_env: dict[str, str]) -> None:
    """`audit export` of the record (either store) under a permissive umask (022): the bundle's folder 0700, its
    files 0600."""
    from tests.audit_builders import build

    store = build(tmp_path, store_env)
    out = tmp_path / "bundle"
    old = os.umask(0o022)
    try:
        store.ok("export", "--out", str(out))
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    files = sorted(out.iterdir())
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
