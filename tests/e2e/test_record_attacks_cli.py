"""Issue 9, a crafted stored topic through the installed CLI: `cases history` used to import whatever module a
row inserted in the database named (here a module of the project's tests, importable by the CLI, that writes
a file when imported). Now the read is refused in one line naming the event and the topic, nothing is
imported, the other cases still read, and `audit verify` names the inserted row.

Temporal unreachable: reads come from the record. On SQLite, a copy of the legacy record
(tests/fixtures/legacy_2026_11); on PostgreSQL (issue 12), the auditor's record (tests/audit_builders.populate),
the rows inserted through SQL on the schema.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from adapters.record.record import Record
from domain.crisis.aggregate import case_id
from tests.audit_builders import CASE, populate
from tests.e2e.harness import ARRIMAGE, Result, cli_env, store_cli_env
from tests.tamper_builders import Raw

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "legacy_2026_11"
ROOT = Path(__file__).resolve().parent.parent.parent
PAYLOAD = "tests.integration.topic_payload:Boom"
STATE = (b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-01T00:00:00+00:00"},'
         b'"originator_topic":"' + PAYLOAD.encode() + b'"}')


@pytest.fixture
def untouched(store_env: dict[str, str]) -> str:
    """The record attacked (`store_env`'s) made; a case of it the attacker leaves alone."""
    if store_env["PERSISTENCE_MODULE"] != "adapters.record.postgres":
        shutil.copyfile(FIXTURE / "record.sqlite", store_env["SQLITE_DBNAME"])
        return "C-DEMOPHONEA"
    record = Record(store_env)
    try:
        populate(record)
    finally:
        record.close()
    return CASE


def test_cases_history_refuses_a_crafted_topic_and_imports_nothing(
        store_env: dict[str, str], untouched: str, tmp_path: Path) -> None:
    crafted = {  # a case whose created event names the payload as its aggregate, one whose event is the payload
        "C-EVILROWSAA": ("domain.crisis.aggregate:CrisisCase.Opened", "originator_topic"),
        "C-EVILROWSBB": (PAYLOAD, "topic"),
    }
    raw = Raw(store_env)
    try:
        for code, (topic, _) in crafted.items():
            raw.x("INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES (?, 1, ?, ?)",
                  raw.oid(case_id(code)), topic, STATE)
    finally:
        raw.close()
    ran = tmp_path / "payload-ran"
    env = cli_env(record_path=tmp_path / "record.sqlite", data_dir=tmp_path / "var", columns=250,
                  target="127.0.0.1:1", ARRIMAGE_MODE="development", PYTHONPATH=str(ROOT),
                  ARRIMAGE_TOPIC_PAYLOAD_FILE=str(ran))
    del env["ARRIMAGE_SQLITE_PATH"]
    env.update(store_cli_env(store_env))

    def run(*args: str) -> Result:
        proc = subprocess.run([ARRIMAGE, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    for code, (_, what) in crafted.items():
        refused = run("cases", "history", code)
        assert refused.code == 1 and refused.out == "", refused
        assert refused.err.startswith(f"unexpected failure: event {case_id(code)} v1: its {what} '{PAYLOAD}'")
        assert "nothing imported" in refused.err
        assert not ran.exists()
    assert run("cases", "history", untouched).code == 0  # the other cases still read
    verify = run("audit", "verify")
    assert verify.code == 1 and "inserted" in verify.out and str(case_id("C-EVILROWSAA")) in verify.out
    assert not ran.exists()
