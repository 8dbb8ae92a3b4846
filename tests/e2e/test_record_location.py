"""Nothing but `up` (and `worker`) creates a record; a read that finds none says so and fails (issue 7).

Run from another folder, the reads used to find no record, create an empty `./var`, and
`arrimage audit verify` answered "verified 0 events" with exit 0: an auditor was told an empty
record was intact. Now every read names the record it looked for, exits 3, and creates nothing.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from adapters.record.record import Record
from tests.conftest import PG, PostgresSchema, require_postgres
from tests.e2e.harness import Result, arun_cli

NO_RECORD = (
    "no record at {path}: run from the folder where `arrimage up` runs, "
    "or set ARRIMAGE_DATA_DIR / ARRIMAGE_SQLITE_PATH"
)

READS = [
    ("audit", "verify"),
    ("audit", "verify", "--json"),
    ("audit", "accesses"),
    ("audit", "exceptions"),
    ("audit", "register", "--person", "p-7f3a9c2e"),
    ("ententes", "list"),
    ("ententes", "show", "ENT-LAV-01"),
    ("ententes", "history", "ENT-LAV-01"),
    ("cases", "show", "C-ABCDEFGH23"),
    ("cases", "history", "C-ABCDEFGH23"),
    ("codec-server", "--port", "0"),  # a server too: refused at start, not at its first request
]


def run(cwd: Path, *args: str, **extra: str) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")}
    env.update({"ARRIMAGE_MODE": "development", "ARRIMAGE_ROLE": "auditeur",
                "ARRIMAGE_LOG_FORMAT": "console", "ARRIMAGE_LOG_LEVEL": "WARNING", "COLUMNS": "200", **extra})

    return asyncio.run(arun_cli(*args, env=env, cwd=cwd, timeout=60))


@pytest.mark.parametrize("args", READS, ids=lambda a: " ".join(a))
def test_a_read_from_another_folder_says_there_is_no_record_exits_3_and_creates_nothing(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = run(tmp_path, *args)
    assert (result.code, result.err) == (3, NO_RECORD.format(path=tmp_path / "var" / "record.sqlite") + "\n"), result
    assert result.out == ""
    assert list(tmp_path.iterdir()) == []


def test_a_read_with_a_data_dir_that_does_not_exist_creates_neither_the_dir_nor_the_file(tmp_path: Path) -> None:
    data = tmp_path / "nowhere" / "var"
    result = run(tmp_path, "audit", "verify", ARRIMAGE_DATA_DIR=str(data))
    assert (result.code, result.err) == (3, NO_RECORD.format(path=data / "record.sqlite") + "\n"), result
    assert list(tmp_path.iterdir()) == []


def test_a_read_with_an_sqlite_path_that_does_not_exist_names_that_path(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "record.sqlite"
    result = run(tmp_path, "ententes", "list", ARRIMAGE_SQLITE_PATH=str(path))
    assert (result.code, result.err) == (3, NO_RECORD.format(path=path) + "\n"), result
    assert list(tmp_path.iterdir()) == []


def empty_record(path: Path) -> None:
    """What `up` leaves before the first command: the store, its tables, no event."""
    Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}).close()


def test_verify_of_an_empty_record_fails_unless_allowed(tmp_path: Path) -> None:
    empty_record(tmp_path / "record.sqlite")
    env = {"ARRIMAGE_SQLITE_PATH": str(tmp_path / "record.sqlite")}
    refused = run(tmp_path, "audit", "verify", **env)
    assert (refused.code, refused.err) == (1, "the record holds no events (pass --allow-empty to accept that)\n")
    as_json = run(tmp_path, "audit", "verify", "--json", **env)
    assert (as_json.code, as_json.err) == (1, "the record holds no events (pass --allow-empty to accept that)\n")
    allowed = run(tmp_path, "audit", "verify", "--allow-empty", **env)
    assert allowed.code == 0, allowed
    assert "verified 0 events" in allowed.out


def test_a_read_of_an_existing_empty_record_is_not_refused(tmp_path: Path) -> None:
    """The rule is about where the record is, not what it holds: an empty list is a true answer."""
    empty_record(tmp_path / "record.sqlite")
    result = run(tmp_path, "ententes", "list", "--json", ARRIMAGE_SQLITE_PATH=str(tmp_path / "record.sqlite"))
    assert result.code == 0, result
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("record.sqlite")) == []


@pytest.mark.postgres
def test_a_read_of_a_postgres_schema_without_the_record_says_so_and_creates_no_table(tmp_path: Path) -> None:
    require_postgres()
    import psycopg
    from psycopg.conninfo import make_conninfo

    schema = PostgresSchema()
    try:
        env = {"ARRIMAGE_STORE": "postgres", "ARRIMAGE_POSTGRES_HOST": PG["host"], "ARRIMAGE_POSTGRES_PORT": PG["port"],
               "ARRIMAGE_POSTGRES_DBNAME": PG["dbname"], "ARRIMAGE_POSTGRES_USER": PG["user"],
               "ARRIMAGE_POSTGRES_PASSWORD": PG["password"], "ARRIMAGE_POSTGRES_SCHEMA": schema.name}
        result = run(tmp_path, "audit", "verify", **env)
        assert (result.code, result.err) == (3, (
            f"no record at PostgreSQL database {PG['dbname']}, schema {schema.name}: check ARRIMAGE_POSTGRES_DBNAME / "
            "ARRIMAGE_POSTGRES_SCHEMA, or start `arrimage up` or `arrimage worker` once to create it\n")), result
        with psycopg.connect(make_conninfo(**PG)) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema.name,)
            ).fetchall()
        assert tables == []
        assert list(tmp_path.iterdir()) == []
    finally:
        schema.drop()
