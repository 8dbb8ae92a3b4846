"""The store under test for the tests that run `arrimage worker` as its own process (issue 12: every test on
SQLite and PostgreSQL): the record's environment for this process (`store_env`), the worker's settings for the
same store (`ARRIMAGE_*`), and another connection holding the store's writes, to keep an activity mid-save."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.record.record import Record
from tests.integration.worker_process import WorkerProcess, running_worker


@dataclass(frozen=True)
class StoreUnderTest:
    env: dict[str, str]
    """The record's environment (`tests/conftest.py` `store_env`): a SQLite file or a throw-away schema."""

    @property
    def sqlite(self) -> bool:
        return "SQLITE_DBNAME" in self.env

    def record(self) -> Record:
        return Record(self.env)

    def worker_env(self) -> dict[str, str]:
        """`arrimage worker`'s settings (its environment) for this store."""
        e = self.env
        if self.sqlite:
            return {"ARRIMAGE_SQLITE_PATH": e["SQLITE_DBNAME"]}
        return {
            "ARRIMAGE_STORE": "postgres",
            "ARRIMAGE_POSTGRES_HOST": e["POSTGRES_HOST"],
            "ARRIMAGE_POSTGRES_PORT": e["POSTGRES_PORT"],
            "ARRIMAGE_POSTGRES_DBNAME": e["POSTGRES_DBNAME"],
            "ARRIMAGE_POSTGRES_USER": e["POSTGRES_USER"],
            "ARRIMAGE_POSTGRES_PASSWORD": e.get("POSTGRES_PASSWORD", ""),
            "ARRIMAGE_POSTGRES_SCHEMA": e["POSTGRES_SCHEMA"],
        }

    @contextmanager
    def worker(self, address: str, task_queue: str, tmp_path: Path) -> Iterator[WorkerProcess]:
        """`running_worker` (not started yet; stopped at the end) over this store."""
        with running_worker(address, task_queue, tmp_path / "record.sqlite", tmp_path) as proc:
            proc.env.pop("ARRIMAGE_SQLITE_PATH")
            proc.env.update(self.worker_env())
            yield proc

    @contextmanager
    def writes_held(self, sqlite_begin: str = "BEGIN EXCLUSIVE") -> Iterator[None]:
        """Another connection holds the store's writes until the block ends. SQLite: its file in a transaction
        begun by `sqlite_begin` (EXCLUSIVE: readers wait too; IMMEDIATE: writers only). PostgreSQL: the events
        table locked in EXCLUSIVE mode, the lock every insert takes first (`CHAINED_INSERT`; reads go through);
        the record's tables are made first if they are not there yet."""
        conn: Any
        if self.sqlite:
            import sqlite3

            conn = sqlite3.connect(self.env["SQLITE_DBNAME"], isolation_level=None, check_same_thread=False)
            conn.execute(sqlite_begin)
        else:
            import psycopg
            from psycopg.sql import SQL

            from adapters.record.postgres import ChainingPostgresRecorder

            record = self.record()
            try:
                assert isinstance(record.recorder, ChainingPostgresRecorder)
                events = record.recorder.dialect.tables["events"]
            finally:
                record.close()
            e = self.env
            conn = psycopg.connect(  # not autocommit: the lock lasts until the rollback
                host=e["POSTGRES_HOST"], port=e["POSTGRES_PORT"], dbname=e["POSTGRES_DBNAME"], user=e["POSTGRES_USER"],
                password=e.get("POSTGRES_PASSWORD", ""),
            )
            conn.execute(SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(events))
        try:
            yield
        finally:
            conn.rollback()
            conn.close()
