"""Issue 9, Transport: the record's PostgreSQL connection takes `ARRIMAGE_POSTGRES_SSLMODE`.

eventsourcing's PostgreSQL datastore has no sslmode setting: `adapters.record.postgres.Factory` puts it in the
connection pool's arguments, so libpq enforces it. Before, `sslmode=require` was silently ignored and the
record's connection went in clear."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import OperationalError

from adapters.record.postgres import Factory
from tests.conftest import PostgresSchema, require_postgres

pytestmark = pytest.mark.postgres


def connection_with(sslmode: str) -> bool:
    """Whether the record's connection under `sslmode` uses TLS."""
    schema = PostgresSchema()
    try:
        env = {**schema.env(), "POSTGRES_SSLMODE": sslmode, "POSTGRES_CONNECT_TIMEOUT": "2"}
        factory = Factory(env)
        try:
            with factory.datastore.get_connection() as conn:
                return bool(conn.pgconn.ssl_in_use)
        finally:
            factory.datastore.close()
    finally:
        schema.drop()


def test_sslmode_disable_reaches_the_connection() -> None:
    require_postgres()
    assert connection_with("disable") is False


def test_sslmode_require_is_enforced() -> None:
    """Against a server without TLS (the tests'), `require` refuses to connect instead of going in clear; a
    server with TLS gives a connection that uses it."""
    require_postgres()
    try:
        assert connection_with("require") is True
    except OperationalError as refused:  # the pool's "couldn't get a connection": libpq refused each attempt
        assert "couldn't get a connection" in str(refused)
