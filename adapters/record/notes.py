"""The tree checkpoints the engine signed (issue 13), kept beside the chain: one C2SP note per tree size.

`usecases.audit.proofs.sign_tree_checkpoint` keeps each note it signs here, and resumes its next verify from the
latest one whose signature still verifies with the configured keys (incremental signing): the note names the
chain head (its ``arrimage-chain`` line) and the tree's root at its size, both under the log's signature, so a
copy kept in the very database it vouches for can be trusted as far as that signature goes. Deleting or
replacing the copies only sends the next signing back to a full verify.

One table named like the record's other audit tables (``<prefix>audit_notes``, the prefix of the application's
``audit_store``), made on first use: a record made before it has none, and the append's path never touches it.
The first note signed at a size is kept (a later one at the same size differs only by its time).
"""

from __future__ import annotations

from typing import Any

from adapters.record.record import Record
from adapters.record.sql import STORE, Dialect

NOTES = "audit_notes"
DDL = "CREATE TABLE IF NOT EXISTS {notes} (size bigint PRIMARY KEY, note text NOT NULL, at text NOT NULL)"


class NoteStore:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        store = dialect.tables["store"]  # type: ignore[attr-defined]  # both dialects name their tables
        self.table: Any
        if isinstance(store, str):  # SQLite: the bare name
            self.table = store.removesuffix(STORE) + NOTES
        else:  # PostgreSQL: Identifier(schema, name); its parts are kept in `_obj`, no public accessor
            from psycopg.sql import Identifier

            schema, name = store._obj
            self.table = Identifier(schema, name.removesuffix(STORE) + NOTES)
        self._made = False

    def _sql(self, template: str) -> Any:
        if isinstance(self.table, str):
            return template.format(notes=self.table)
        from psycopg.sql import SQL

        return SQL(template.replace("?", "%s")).format(notes=self.table)

    def _make(self) -> None:
        if not self._made:
            with self.dialect.transaction(commit=True) as cursor:
                cursor.execute(self._sql(DDL))
            self._made = True

    def keep(self, size: int, note: str, at: str) -> None:
        """Keep the note signed at this tree size (the first one kept at a size stays)."""
        self._make()

        def write() -> None:
            with self.dialect.transaction(commit=True) as cursor:
                cursor.execute(self._sql("INSERT INTO {notes} (size, note, at) VALUES (?, ?, ?) "
                                         "ON CONFLICT (size) DO NOTHING"), (size, note, at))

        self.dialect.retrying(write)

    def latest(self) -> str | None:
        """The note kept at the largest size, or None."""
        self._make()

        def read() -> str | None:
            with self.dialect.transaction(commit=False) as cursor:
                cursor.execute(self._sql("SELECT note FROM {notes} ORDER BY size DESC LIMIT 1"))
                row = cursor.fetchone()
            return None if row is None else str(row["note"])

        return self.dialect.retrying(read)


def note_store(record: Record) -> NoteStore:
    return NoteStore(record.audit_store().dialect)
