"""What tests/integration/test_merkle_attacks.py needs beyond tests/tamper_builders.py: the rechained attacks on the
record's Merkle tree (an event inserted, removed or two reordered, then the chain recomputed with
`tamper_builders.rewrite_history` and the tree and the database's own checkpoints dropped, so that the store agrees
with itself), a second store of the same log (a fork: same store id, hence the same origin and log key), the
bundle's record.jsonl the offline verifier reads, and the installed CLI run over either store. SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

from adapters.record.environment import record_env
from adapters.record.record import Record
from domain.audit.note import Note
from tests.e2e.harness import ARRIMAGE, Result, store_cli_env
from tests.tamper_builders import OPENED, Raw, rewrite_history
from usecases.audit.bundle import record_lines


def table(raw: Raw, name: str) -> str:
    """One of the record's audit tables (`tree`, `tree_head`, `store`…) as `Raw` names the chain."""
    return raw.chain.replace("audit_chain", f"audit_{name}")


def _shift_up(raw: Raw, at: int) -> None:
    """Notification ids from `at` on moved up by one (through negatives: no id is ever held twice)."""
    raw.x("UPDATE {events} SET {nid} = -{nid} WHERE {nid} >= ?", at)
    raw.x("UPDATE {events} SET {nid} = 1 - {nid} WHERE {nid} < 0")
    if raw.pg:  # the next event the application appends takes the id after the last one
        raw.x(f"SELECT setval(pg_get_serial_sequence('{raw.events}', 'notification_id'), "
              "(SELECT max(notification_id) FROM {events}))")


def state_at(raw: Raw, nid: int) -> bytes:
    return bytes(raw.x("SELECT state FROM {events} WHERE {nid} = ?", nid)[0][0])


def cover_tracks(raw: Raw) -> None:
    """The thorough attacker drops the database's own checkpoints and the tree (the follower rebuilds it from the
    rewritten chain), so that every check of the store against itself passes."""
    raw.x("DELETE FROM {cps}")
    raw.x(f"DELETE FROM {table(raw, 'tree')}")
    raw.x(f"DELETE FROM {table(raw, 'tree_head')}")


def drop_kept_notes(raw: Raw) -> None:
    """The tree checkpoints the engine keeps to sign incrementally (`<prefix>audit_notes`, the latest only) are
    dropped too: with one kept, the engine's next signature resumes from it and sees the rewrite."""
    name = table(raw, "notes")
    found = (raw.x("SELECT to_regclass(?)", name)[0][0] is not None if raw.pg else
             bool(raw.x("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", name)))
    if found:
        raw.x(f"DELETE FROM {name}")


def insert_rechained(raw: Raw, record: Record, at: int) -> UUID:
    """A forged event (a new aggregate's first) slipped in at notification `at`, the later ones moved up by one, the
    chain recomputed from there; the forged aggregate's id."""
    forged = uuid4()
    state = b'{"code":"Z"}'
    _shift_up(raw, at)
    raw.x("INSERT INTO {events} ({nid}, originator_id, originator_version, topic, state) VALUES (?, ?, 1, ?, ?)",
          at, raw.oid(forged), OPENED, state)
    rewrite_history(raw, record, at, state)
    cover_tracks(raw)
    return forged


def remove_rechained(raw: Raw, record: Record, nid: int) -> None:
    """The event at notification `nid` deleted, and the chain recomputed over the ones after it."""
    raw.x("DELETE FROM {events} WHERE {nid} = ?", nid)
    rewrite_history(raw, record, nid, b"")  # no row at `nid` any more: only the chain is recomputed
    cover_tracks(raw)


def swap_rechained(raw: Raw, record: Record, nid: int) -> None:
    """The events at notifications `nid` and `nid + 1` trade places, and the chain is recomputed from `nid`."""
    raw.x("UPDATE {events} SET {nid} = -1 WHERE {nid} = ?", nid)
    raw.x("UPDATE {events} SET {nid} = ? WHERE {nid} = ?", nid, nid + 1)
    raw.x("UPDATE {events} SET {nid} = ? WHERE {nid} = -1", nid + 1)
    rewrite_history(raw, record, nid, state_at(raw, nid))
    cover_tracks(raw)


@contextmanager
def second_store(store_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of another, empty store of the same kind (a SQLite file, or a PostgreSQL schema)."""
    if store_env["PERSISTENCE_MODULE"] != "adapters.record.postgres":
        yield record_env(sqlite=tmp_path / "fork.sqlite")
        return
    from tests.conftest import PostgresSchema

    schema = PostgresSchema()
    try:
        yield schema.env()
    finally:
        schema.drop()


def copy_prefix(src: Raw, dst: Raw, count: int) -> None:
    """The first `count` events and their chain rows, and the store id, copied from one store into another (made
    empty by `Record`): what a restored backup, or a copy taken to show another party, starts from."""
    events = src.x("SELECT {nid}, originator_id, originator_version, topic, state FROM {events} WHERE {nid} <= ? "
                   "ORDER BY {nid}", count)
    for nid, oid, version, topic, state in events:
        dst.x("INSERT INTO {events} ({nid}, originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?, ?)",
              nid, oid, version, topic, bytes(state))
    for row in src.x("SELECT * FROM {chain} WHERE notification_id <= ? ORDER BY notification_id", count):
        dst.x("INSERT INTO {chain} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
              *(bytes(v) if isinstance(v, memoryview) else v for v in row))
    store_id = src.x(f"SELECT store_id FROM {table(src, 'store')} WHERE id = 1")[0][0]
    dst.x(f"UPDATE {table(dst, 'store')} SET store_id = ? WHERE id = 1", store_id)
    if dst.pg:
        dst.x(f"SELECT setval(pg_get_serial_sequence('{dst.events}', 'notification_id'), ?)", count)


def write_bundle_rows(record: Record, folder: Path) -> Path:
    """record.jsonl as `audit export` writes it (`usecases.audit.bundle.record_lines`), of the store as it stands,
    faults included: export itself signs only a store that verifies, the attacker's copy is what is checked."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "record.jsonl").open("wb") as out:
        for line in record_lines(record):
            out.write(line)
    return folder


def auditor_cli_env(store_env: dict[str, str], folder: Path) -> dict[str, str]:
    """The environment of an auditor's `arrimage` over the record of `store_env` (SQLite or PostgreSQL), in
    development mode, the machine's own ARRIMAGE_* left out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")}
    env.update({"ARRIMAGE_DATA_DIR": str(folder), "ARRIMAGE_LOG_LEVEL": "WARNING", "ARRIMAGE_LOG_FORMAT": "console",
                "ARRIMAGE_MODE": "development", "ARRIMAGE_ROLE": "auditeur", "COLUMNS": "250",
                **store_cli_env(store_env)})
    return env


@dataclass
class Cli:
    """`arrimage audit …` over a store (exit codes 0/1/2): in its own process from `folder` (`run`), or in this
    one (`invoke`)."""

    env: dict[str, str]
    folder: Path

    @classmethod
    def over(cls, store_env: dict[str, str], folder: Path) -> Cli:
        return cls(auditor_cli_env(store_env, folder), folder)

    def run(self, *args: str) -> Result:
        """In its own process, as an operator or auditor runs it (the slow way: a few per test file)."""
        proc = subprocess.run([ARRIMAGE, "audit", *args], env=self.env, capture_output=True, text=True, timeout=120,
                              cwd=self.folder)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def invoke(self, *args: str) -> Result:
        """The same command in this process (`typer.testing.CliRunner`, the same environment). The command
        configures logging for its process (`workers.logs`): the test process's is put back after it."""
        import logging

        import structlog
        from typer.testing import CliRunner

        from cli.main import app

        root, config = logging.getLogger(), structlog.get_config()
        handlers, level = root.handlers[:], root.level
        try:
            done = CliRunner().invoke(app, ["audit", *args], env=self.env)
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
            structlog.configure(**config)
        if done.exception is not None and not isinstance(done.exception, SystemExit):
            raise done.exception
        return Result(done.exit_code, done.stdout, done.stderr)


def keep(note: Note | str, path: Path) -> Path:
    """A signed note kept away from the database, as its holder keeps it."""
    path.write_text(str(note), encoding="utf-8")
    return path
