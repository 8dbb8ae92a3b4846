"""The test PostgreSQL server's settings, read in one place by the tests' conftest and the benchmarks."""

from __future__ import annotations

import os
from typing import TypedDict


class PostgresParams(TypedDict):
    """The test server's connection parameters, as psycopg.connect and PostgresAddress take them."""

    host: str
    port: str
    dbname: str
    user: str
    password: str


def postgres_params(prefix: str) -> PostgresParams:
    """The server named by the environment variables `{prefix}HOST`, `…PORT`, `…DBNAME`, `…USER`,
    `…PASSWORD`; by default `localhost:5432`, database `test`, user `postgres`, no password."""
    return {
        "host": os.environ.get(f"{prefix}HOST", "localhost"),
        "port": os.environ.get(f"{prefix}PORT", "5432"),
        "dbname": os.environ.get(f"{prefix}DBNAME", "test"),
        "user": os.environ.get(f"{prefix}USER", "postgres"),
        "password": os.environ.get(f"{prefix}PASSWORD", ""),
    }


def postgres_available(params: PostgresParams) -> bool:
    import psycopg

    try:
        with psycopg.connect(connect_timeout=3, **params):
            return True
    except psycopg.OperationalError:
        return False
