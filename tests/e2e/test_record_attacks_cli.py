"""Issue 9, a crafted stored topic through the installed CLI: `cases history` used to import whatever module a
row inserted in the database named (here a module of the project's tests, importable by the CLI, that writes
a file when imported). Now the read is refused in one line naming the event and the topic, nothing is
imported, the other cases still read, and `audit verify` names the inserted row.

On a copy of the legacy record (tests/fixtures/legacy_2026_11), Temporal unreachable: reads come from the
record.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from domain.crisis.aggregate import case_id
from tests.e2e.harness import ARRIMAGE, Result, cli_env

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "legacy_2026_11"
ROOT = Path(__file__).resolve().parent.parent.parent
PAYLOAD = "tests.integration.topic_payload:Boom"
STATE = (b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-01T00:00:00+00:00"},'
         b'"originator_topic":"' + PAYLOAD.encode() + b'"}')


def test_cases_history_refuses_a_crafted_topic_and_imports_nothing(tmp_path: Path) -> None:
    record = tmp_path / "record.sqlite"
    shutil.copyfile(FIXTURE / "record.sqlite", record)
    crafted = {  # a case whose created event names the payload as its aggregate, one whose event is the payload
        "C-EVILROWSAA": ("domain.crisis.aggregate:CrisisCase.Opened", "originator_topic"),
        "C-EVILROWSBB": (PAYLOAD, "topic"),
    }
    with sqlite3.connect(record) as conn:
        for code, (topic, _) in crafted.items():
            conn.execute("INSERT INTO stored_events (originator_id, originator_version, topic, state) "
                         "VALUES (?, 1, ?, ?)", (case_id(code).hex, topic, STATE))
    ran = tmp_path / "payload-ran"
    env = cli_env(record_path=record, data_dir=tmp_path / "var", columns=250, target="127.0.0.1:1",
                  ARRIMAGE_MODE="development", PYTHONPATH=str(ROOT), ARRIMAGE_TOPIC_PAYLOAD_FILE=str(ran))

    def run(*args: str) -> Result:
        proc = subprocess.run([ARRIMAGE, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    for code, (_, what) in crafted.items():
        refused = run("cases", "history", code)
        assert refused.code == 1 and refused.out == "", refused
        assert refused.err.startswith(f"unexpected failure: event {case_id(code)} v1: its {what} '{PAYLOAD}'")
        assert "nothing imported" in refused.err
        assert not ran.exists()
    assert run("cases", "history", "C-DEMOPHONEA").code == 0  # the other cases still read
    verify = run("audit", "verify")
    assert verify.code == 1 and "inserted" in verify.out and str(case_id("C-EVILROWSAA")) in verify.out
    assert not ran.exists()
