"""Issue 12, `arrimage audit verify --jobs N` through the installed CLI: a store of 110,000 events (two ranges of
over 50,000, so the second is verified by a forked process), untouched then with the first event of the second
range altered (through SQL on the table): the JSON report of `--jobs 2` is the one pass's (`--jobs 1`), but for
the stopwatch and the rows fetched. SQLite and PostgreSQL (issue 12: the ranges are the store's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from tests.e2e.harness import cli_env, no_record, run_cli, store_cli_env
from tests.tamper_builders import Raw
from workers.bootstrap import open_record

EVENTS = 110_000
TOPIC = "tests.e2e.test_audit_verify_jobs_cli:Case.Noted"


def build(store_env: dict[str, str]) -> None:
    """1,000 aggregates at a time, ten events each, chained by the record's own recorder in batches of 1,000."""
    record = open_record(env=store_env)
    ids = [uuid4() for _ in range(1_000)]
    for batch in range(EVENTS // 1_000):
        version = batch % 10 + 1
        if version == 1:
            ids = [uuid4() for _ in range(1_000)]
        record.recorder.insert_events(
            [
                StoredEvent(originator_id=oid, originator_version=version, topic=TOPIC, state=b'{"n":%d}' % i)
                for i, oid in enumerate(ids)
            ]
        )
    record.close()


def auditor_env(store_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    env = cli_env(record_path=tmp_path / "record.sqlite", data_dir=tmp_path / "var", columns=200, target="127.0.0.1:1")
    del env["ARRIMAGE_SQLITE_PATH"]
    return {**env, **store_cli_env(store_env)}


def verify(store_env: dict[str, str], tmp_path: Path, jobs: int) -> tuple[int, dict[str, Any]]:
    env = auditor_env(store_env, tmp_path)
    ran = run_cli("audit", "verify", "--json", "--jobs", str(jobs), env=env, cwd=tmp_path, timeout=300)
    report = json.loads(ran.out)
    for varying in ("seconds", "rows_read"):
        del report[varying]
    return ran.code, report


def test_jobs_report_what_one_pass_reports(store_env: dict[str, str], tmp_path: Path) -> None:
    build(store_env)
    ok = verify(store_env, tmp_path, 2)
    assert ok == verify(store_env, tmp_path, 1)
    assert ok[0] == 0 and ok[1]["events_checked"] == EVENTS
    raw = Raw(store_env)
    try:
        raw.x("UPDATE {events} SET state = ? WHERE {nid} = 55001", b'{"n":-1}')
    finally:
        raw.close()
    code, report = verify(store_env, tmp_path, 2)
    assert (code, report) == verify(store_env, tmp_path, 1)
    assert (report["problem"]["kind"], report["problem"]["notification_id"]) == ("altered", 55_001)
    assert report["events_checked"] == 55_000


def test_jobs_below_one_is_refused_in_words(store_env: dict[str, str], tmp_path: Path) -> None:
    """`--jobs 0` is refused at the boundary (exit 2, one line naming the option), before any record is read:
    no SQLite file, no table in the PostgreSQL schema."""
    ran = run_cli("audit", "verify", "--jobs", "0", env=auditor_env(store_env, tmp_path), cwd=tmp_path, timeout=60)
    assert ran.code == 2
    assert "invalid value for '--jobs': expected at least 1" in ran.err
    assert not (tmp_path / "record.sqlite").exists()
    assert no_record(store_env)
