"""The one builder of the record's `eventsourcing` environment (settings, tests and benchmarks all call it).

The keys are the library's own (``PERSISTENCE_MODULE``, ``SQLITE_DBNAME``,
``POSTGRES_*``, ``CREATE_TABLE``) plus ``SUBJECT_KEKS`` (``adapters.record.record``);
the persistence module is ours for that store (``adapters.record.sqlite|postgres|popo``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def private_file(path: Path) -> Path:
    """Make `path` (the record's SQLite file) exist readable by its owner only (0o600), in a folder of the
    owner's only when it makes it (0o700). SQLite gives its `-wal` and `-shm` files the database file's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)
    return path


@dataclass(frozen=True)
class PostgresAddress:
    """Where the record's PostgreSQL database is; an empty `schema` is the database's default one."""

    host: str
    port: int | str
    dbname: str
    user: str
    password: str = ""
    schema: str = ""
    pool_size: int | None = None
    sslmode: str = ""


def record_env(
    *,
    sqlite: Path | str | None = None,
    postgres: PostgresAddress | None = None,
    create: bool = True,
    subject_keks: str = "",
) -> dict[str, str]:
    """The environment of a `Record` on PostgreSQL (`postgres`), on the SQLite file `sqlite`, or in memory
    (neither: unit tests).

    ``create=False`` makes it a read: the record must already be there (`NoRecord` otherwise), nothing is
    created. ``subject_keks`` is the key ring wrapping per-person keys (empty: the public development one).
    """
    env: dict[str, str]
    if postgres is not None:
        env = {
            "PERSISTENCE_MODULE": "adapters.record.postgres",
            "POSTGRES_HOST": postgres.host,
            "POSTGRES_PORT": str(postgres.port),
            "POSTGRES_DBNAME": postgres.dbname,
            "POSTGRES_USER": postgres.user,
            "POSTGRES_PASSWORD": postgres.password,
            "POSTGRES_ENABLE_DB_FUNCTIONS": "y",
        }
        if postgres.pool_size is not None:
            env["POSTGRES_POOL_SIZE"] = str(postgres.pool_size)
        if postgres.schema:
            env["POSTGRES_SCHEMA"] = postgres.schema
        if postgres.sslmode:
            env["POSTGRES_SSLMODE"] = postgres.sslmode  # ours: the library's datastore has no such key (postgres.py)
    elif sqlite is not None:
        env = {"PERSISTENCE_MODULE": "adapters.record.sqlite", "SQLITE_DBNAME": str(sqlite)}
    else:
        env = {"PERSISTENCE_MODULE": "adapters.record.popo"}
    if not create:
        env["CREATE_TABLE"] = "n"
    if subject_keks:
        env["SUBJECT_KEKS"] = subject_keks
    return env
