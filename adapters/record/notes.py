"""The tree checkpoint the engine signed last (issue 13), kept beside the chain: one C2SP note, at the largest size.

`usecases.audit.proofs.sign_tree_checkpoint` keeps each note it signs here, and resumes its next verify from the
latest one whose signature still verifies with the configured keys (incremental signing): the note names the
chain head (its ``arrimage-chain`` line) and the tree's root at its size, both under the log's signature, so a
copy kept in the very database it vouches for can be trusted as far as that signature goes. Deleting or
replacing the copy only sends the next signing back to a full verify.

Retention: only the latest note is kept (each signing deletes those at smaller sizes, in its transaction). Nothing
reads an older one: a signing resumes from, and is bound to, the latest (`proofs.kept_resume_point`,
`proofs._kept_head`), and a consistency proof from an older checkpoint is computed from the tree, not from a note.
This table is not the publication record: the checkpoints that count are the ones held outside the engine (the
files handed to auditors, and the witnesses' cosigned notes, all kept in ``<prefix>audit_cosigned``,
`adapters.record.witnessed`); a copy here vouches for nothing an attacker with write access could not delete.
Kept whole, it grew by one row per signing for ever.

One table named like the record's other audit tables (``<prefix>audit_notes``, the prefix of the application's
``audit_store``), made with them (`Dialect.create_tables`, at each opening of the record); the append's path never
touches it. The first note signed at a size is kept (a later one at the same size differs only by its time).
"""

from __future__ import annotations

from adapters.record.record import Record
from adapters.record.sql import Dialect


class NoteStore:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    def keep(self, size: int, note: str, at: str) -> None:
        """Keep the note signed at this tree size (the first one kept at a size stays), and drop the older ones."""

        def write() -> None:  # run again after a dropped connection: the insert and the delete are idempotent
            with self.dialect.transaction(commit=True) as cursor:
                cursor.execute(
                    self.dialect.sql(
                        "INSERT INTO {notes} (size, note, at) VALUES (?, ?, ?) ON CONFLICT (size) DO NOTHING"
                    ),
                    (size, note, at),
                )
                cursor.execute(self.dialect.sql("DELETE FROM {notes} WHERE size < (SELECT max(size) FROM {notes})"))

        self.dialect.retrying(write)

    def latest(self) -> str | None:
        """The note kept at the largest size, or None."""

        def read() -> str | None:
            with self.dialect.transaction(commit=False) as cursor:
                cursor.execute(self.dialect.sql("SELECT note FROM {notes} ORDER BY size DESC LIMIT 1"))
                row = cursor.fetchone()
            return None if row is None else str(row["note"])

        return self.dialect.retrying(read)


def note_store(record: Record) -> NoteStore:
    return NoteStore(record.audit_store().dialect)
