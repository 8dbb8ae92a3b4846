"""The restore drill of deploy/RUNBOOK.md (Backups and restore), run on SQLite end to end: a signed checkpoint
kept away from the record, an online backup with `sqlite3 .backup`, the record lost and restored from the
backup, and `arrimage audit verify --against` the kept checkpoint with the engine's public key pinned: exit 0.
A backup older than a later checkpoint is found out: verify against that checkpoint fails (exit 1), naming the
record as behind it, so a restore that lost events is never taken for a whole one. The PostgreSQL drill the
same way with `pg_dump -Fc` and `pg_restore` of the record's schema."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from adapters.record.environment import PostgresAddress, record_env
from adapters.record.keys import DEV_CHECKPOINT_KEYS
from adapters.record.record import Record
from adapters.record.signing import public_key_b64
from domain.ententes import commands as ac
from tests.audit_builders import T0, build, populate
from tests.conftest import PG, PostgresSchema, require_postgres
from tests.crisis_builders import crisis_content as content
from tests.e2e.harness import postgres_auditor_env, run_completed
from usecases.ententes import Ententes


def sqlite_backup(source: Path, target: Path) -> None:
    """The RUNBOOK's command: an online, consistent copy (the SQLite backup API), safe while workers write."""
    subprocess.run(["sqlite3", str(source), f".backup '{target}'"], check=True, timeout=60)


def test_backup_restore_and_verify_against_the_kept_checkpoint(tmp_path: Path) -> None:
    store = build(tmp_path)
    pub = tmp_path / "engine.pub"
    pub.write_text(public_key_b64(DEV_CHECKPOINT_KEYS.active) + "\n")
    kept = tmp_path / "elsewhere" / "checkpoint-1.json"
    kept.parent.mkdir()
    store.ok("checkpoint", "--out", str(kept))  # 1. checkpoint, kept away from the record
    backup = tmp_path / "backups" / "record.sqlite"
    backup.parent.mkdir()
    sqlite_backup(store.path, backup)  # 2. the backup
    store.path.unlink()  # 3. the record lost
    for side in ("-wal", "-shm"):
        Path(f"{store.path}{side}").unlink(missing_ok=True)
    assert store.run("verify", "--against", str(kept), "--trusted-key", str(pub)).code != 0
    shutil.copy2(backup, store.path)  # 4. restored
    verified = store.run("verify", "--against", str(kept), "--trusted-key", str(pub))  # 5. the drill's proof
    assert verified.code == 0, verified
    assert "verified" in verified.out
    assert "checkpoint signatures checked against 1 pinned public key" in verified.out


def test_a_backup_older_than_the_last_checkpoint_is_found_out(tmp_path: Path) -> None:
    store = build(tmp_path)
    pub = tmp_path / "engine.pub"
    pub.write_text(public_key_b64(DEV_CHECKPOINT_KEYS.active) + "\n")
    backup = tmp_path / "record-monday.sqlite"
    sqlite_backup(store.path, backup)  # Monday's backup
    record = store.record()
    try:  # Tuesday: work recorded after it, then a checkpoint
        Ententes(record).draft(ac.DraftEntente(by="dsp", code="ENT-LAV-02", content=content("cc-laval")), T0)
    finally:
        record.close()
    kept = tmp_path / "checkpoint-tuesday.json"
    store.ok("checkpoint", "--out", str(kept))
    shutil.copy2(backup, store.path)  # Wednesday: restored from Monday's backup
    for side in ("-wal", "-shm"):
        Path(f"{store.path}{side}").unlink(missing_ok=True)
    behind = store.run("verify", "--against", str(kept), "--trusted-key", str(pub), "--json")
    assert behind.code == 1, behind
    found = behind.json()
    assert (found["ok"], found["problem"]["kind"]) == (False, "truncated")
    assert found["problem"]["detail"] == ("a signed checkpoint covers 14 events up to notification 14; the store "
                                          "ends at notification 13 after 13 events")


@pytest.mark.postgres
def test_the_postgresql_drill_pg_dump_restore_and_verify(tmp_path: Path) -> None:
    """The RUNBOOK's PostgreSQL drill, on a schema of the test server: checkpoint, `pg_dump -Fc`, the schema
    dropped (the record lost), `pg_restore`, `audit verify --against` the kept checkpoint: exit 0."""
    require_postgres()
    schema = PostgresSchema()
    try:
        record = Record(record_env(postgres=PostgresAddress(**PG, schema=schema.name), create=True))
        try:
            populate(record)
        finally:
            record.close()
        env = postgres_auditor_env(PG, schema.name, tmp_path)

        def audit(*args: str) -> subprocess.CompletedProcess[str]:
            return run_completed("audit", *args, env=env)

        pub = tmp_path / "engine.pub"
        pub.write_text(public_key_b64(DEV_CHECKPOINT_KEYS.active) + "\n")
        kept = tmp_path / "checkpoint.json"
        assert audit("checkpoint", "--out", str(kept)).returncode == 0
        dump = tmp_path / "record.dump"
        connection = ["-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", PG["dbname"]]
        pg_env = {**os.environ, "PGPASSWORD": PG["password"]}
        subprocess.run(["pg_dump", *connection, "-n", schema.name, "-Fc", "-f", str(dump)], check=True, env=pg_env,
                       timeout=120)
        schema.drop()  # the record lost
        lost = audit("verify", "--against", str(kept), "--trusted-key", str(pub))
        assert lost.returncode == 3, lost  # no record there: nothing created by the read
        subprocess.run(["pg_restore", *connection, "--no-owner", str(dump)], check=True, env=pg_env, timeout=120)
        verified = audit("verify", "--against", str(kept), "--trusted-key", str(pub))
        assert verified.returncode == 0, verified
        assert "checkpoint signatures checked against 1 pinned public key" in verified.stdout
    finally:
        schema.drop()
