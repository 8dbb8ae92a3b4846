"""Issue 7's last refusals, as a script and a person meet them through the installed `arrimage`: the exact
exit code, one line on stderr in the domain's words (or one JSON problem with `--json`), nothing on
stdout, and nothing recorded — the record's rows counted before and after.

No Temporal: each refusal happens before any workflow could be reached (the address given points at a
port where nothing listens, so a command that got past its check would fail with exit 4 instead).
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.record.record import Record
from tests.e2e.harness import ARRIMAGE, Result, cli_env

CSSS = "cisss-laval"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Shell:
    path: Path
    env: dict[str, str]
    workdir: Path

    def run(self, *args: str) -> Result:
        proc = subprocess.run([ARRIMAGE, *args], env=self.env, cwd=self.workdir, capture_output=True, text=True,
                              timeout=120)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def write(self, name: str, data: dict[str, Any]) -> Path:
        path = self.workdir / name
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    def rows(self) -> dict[str, int]:
        """Every table of the record with its row count: events, chain, keys, checkpoints."""
        with sqlite3.connect(self.path) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {n: int(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    """An empty record (created as `arrimage up` creates it) and the CLI's environment pointing at it."""
    path = tmp_path / "record.sqlite"
    Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}).close()
    env = cli_env(record_path=path, data_dir=tmp_path, columns=200, target=f"127.0.0.1:{closed_port()}",
                  ARRIMAGE_USER="auditrice")
    return Shell(path, env, tmp_path)


# ---------------------------------------------------------------------- crisis: an opening refused for a person
def test_an_info_social_opening_by_a_partner_is_refused_in_words(shell: Shell) -> None:
    """Info-Social 8-1-1 is the CSSS's own service (seed 001 L683-685): a partner cannot open a case
    through it. The refusal names the service as people do, not by its code (`info_social`)."""
    now = datetime.now(UTC)
    intake = shell.write("intake.json", {
        "actor_org": "cps-laval", "responsible_org": CSSS, "territory": "laval", "subject_id": "test-personne-0001",
        "intake": {"service": "info_social", "request_mode": "telephone", "urgency": "urgent",
                   "face_to_face_needed": True},
        "received_at": (now - timedelta(minutes=2)).isoformat(), "first_contact_at": now.isoformat(),
    })
    before = shell.rows()
    assert before["stored_events"] == 0
    result = shell.run("cases", "open", "--file", str(intake), "--by", "intervenant-1")
    assert (result.code, result.out, result.err) == (
        2, "", "refused [wrong_party]: opening a case through Info-Social 8-1-1 is done by cisss-laval, "
               "not by cps-laval\n")
    problem = json.loads(shell.run("cases", "open", "--file", str(intake), "--by", "intervenant-1", "--json").err)
    assert (problem["type"], problem["status"], problem["code"]) == ("urn:arrimage:problem:refused", 2, "wrong_party")
    assert shell.rows() == before
