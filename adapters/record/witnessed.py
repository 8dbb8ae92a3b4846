"""What the log keeps of its witnesses (issue 13), beside the chain: for each witness (by verifier key) the size it
last cosigned, from which the next consistency proof starts, and every cosigned checkpoint note collected by
``usecases.audit.witnessing.publish`` (evidence an auditor is shown; the latest is what `audit publish` prints).

Two tables named like the record's other audit tables (``<prefix>audit_witnesses``, ``<prefix>audit_cosigned``,
the prefix of the application's ``audit_store``), made with the record's other audit tables (`Dialect.create_tables`,
at each opening: a record made before issue 13 gets them then); no statement of the append's path touches them.
The cosigned notes are the publication record (what each witness saw and signed), kept whole: one row per
publication (`adapters.record.notes` keeps only the engine's latest own note).
"""

from __future__ import annotations

from adapters.record.record import Record
from adapters.record.sql import Dialect


class WitnessedStore:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def last_size(self, witness: str) -> int | None:
        """The size this witness last cosigned for this log, or None."""
        with self.dialect.transaction(commit=False) as cursor:
            cursor.execute(self.dialect.sql("SELECT size FROM {witnesses} WHERE witness = ?"), (witness,))
            row = cursor.fetchone()
        return int(row["size"]) if row else None

    def cosigned(self, witness: str, size: int, at: str) -> None:
        with self.dialect.transaction(commit=True) as cursor:
            cursor.execute(
                self.dialect.sql(
                    "INSERT INTO {witnesses} (witness, size, at) VALUES (?, ?, ?) ON CONFLICT (witness) DO UPDATE "
                    "SET size = excluded.size, at = excluded.at"
                ),
                (witness, str(size), at),
            )

    def keep(self, size: int, note: str, at: str, witnesses: int) -> None:
        """Keep a checkpoint note with the cosignatures collected (`witnesses`: how many)."""
        with self.dialect.transaction(commit=True) as cursor:
            cursor.execute(
                self.dialect.sql("INSERT INTO {cosigned} (size, note, at, witnesses) VALUES (?, ?, ?, ?)"),
                (str(size), note, at, witnesses),
            )

    def notes(self) -> list[str]:
        """Every note kept, oldest first."""
        with self.dialect.transaction(commit=False) as cursor:
            cursor.execute(self.dialect.sql("SELECT size, note, at FROM {cosigned}"))
            rows = cursor.fetchall()
        return [row["note"] for row in sorted(rows, key=lambda r: (r["at"], int(r["size"])))]


def witnessed_store(record: Record) -> WitnessedStore:
    return WitnessedStore(record.audit_store().dialect)
