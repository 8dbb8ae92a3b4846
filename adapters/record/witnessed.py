"""What the log keeps of its witnesses (issue 13), beside the chain: for each witness (by verifier key) the size it
last cosigned, from which the next consistency proof starts, and every cosigned checkpoint note collected by
``usecases.audit.witnessing.publish`` (evidence an auditor is shown; the latest is what `audit publish` prints).

Two tables named like the record's other audit tables (``<prefix>audit_witnesses``, ``<prefix>audit_cosigned``,
the prefix of the application's ``audit_store``), made on first use: a record made before issue 13 has none, and
no statement of the append's path touches them.
"""

from __future__ import annotations

from typing import Any

from adapters.record.record import Record
from adapters.record.sql import STORE, Dialect

WITNESSES = "audit_witnesses"
COSIGNED = "audit_cosigned"
DDL = (
    "CREATE TABLE IF NOT EXISTS {witnesses} (witness text PRIMARY KEY, size text NOT NULL, at text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {cosigned} (size text NOT NULL, note text NOT NULL, at text NOT NULL, "
    "witnesses integer NOT NULL)",
)


class WitnessedStore:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        store = dialect.tables["store"]  # type: ignore[attr-defined]  # both dialects name their tables
        if isinstance(store, str):  # SQLite: the bare name
            prefix = store.removesuffix(STORE)
            self.tables: dict[str, Any] = {"witnesses": prefix + WITNESSES, "cosigned": prefix + COSIGNED}
        else:  # PostgreSQL: Identifier(schema, name); its parts are kept in `_obj`, no public accessor
            from psycopg.sql import Identifier

            schema, name = store._obj
            prefix = name.removesuffix(STORE)
            self.tables = {"witnesses": Identifier(schema, prefix + WITNESSES),
                           "cosigned": Identifier(schema, prefix + COSIGNED)}
        self._made = False

    def _sql(self, template: str) -> Any:
        if isinstance(self.tables["witnesses"], str):
            return template.format(**self.tables)
        from psycopg.sql import SQL

        return SQL(template.replace("?", "%s")).format(**self.tables)

    def _make(self) -> None:
        if not self._made:
            with self.dialect.transaction(commit=True) as cursor:
                for statement in DDL:
                    cursor.execute(self._sql(statement))
            self._made = True

    def last_size(self, witness: str) -> int | None:
        """The size this witness last cosigned for this log, or None."""
        self._make()
        with self.dialect.transaction(commit=False) as cursor:
            cursor.execute(self._sql("SELECT size FROM {witnesses} WHERE witness = ?"), (witness,))
            row = cursor.fetchone()
        return int(row["size"]) if row else None

    def cosigned(self, witness: str, size: int, at: str) -> None:
        self._make()
        with self.dialect.transaction(commit=True) as cursor:
            cursor.execute(self._sql(
                "INSERT INTO {witnesses} (witness, size, at) VALUES (?, ?, ?) ON CONFLICT (witness) DO UPDATE "
                "SET size = excluded.size, at = excluded.at"), (witness, str(size), at))

    def keep(self, size: int, note: str, at: str, witnesses: int) -> None:
        """Keep a checkpoint note with the cosignatures collected (`witnesses`: how many)."""
        self._make()
        with self.dialect.transaction(commit=True) as cursor:
            cursor.execute(self._sql("INSERT INTO {cosigned} (size, note, at, witnesses) VALUES (?, ?, ?, ?)"),
                           (str(size), note, at, witnesses))

    def notes(self) -> list[str]:
        """Every note kept, oldest first."""
        self._make()
        with self.dialect.transaction(commit=False) as cursor:
            cursor.execute(self._sql("SELECT size, note, at FROM {cosigned}"))
            rows = cursor.fetchall()
        return [row["note"] for row in sorted(rows, key=lambda r: (r["at"], int(r["size"])))]


def witnessed_store(record: Record) -> WitnessedStore:
    return WitnessedStore(record.audit_store().dialect)
