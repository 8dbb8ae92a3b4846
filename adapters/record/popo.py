"""The record in memory: ``PERSISTENCE_MODULE=adapters.record.popo``, for unit tests.

eventsourcing's in-memory store with in-memory subject keys. Not chained: it
keeps no audit tables, so it has no audit reader (`AuditUnsupported`).
"""

from __future__ import annotations

import os
from functools import cached_property

# The module, not its classes: the library picks the one factory class this module holds.
from eventsourcing import popo as library

from adapters.record.keys import KeyRing
from adapters.record.sealing import new_data_key
from adapters.record.sql import AuditStore, CaseBoundElsewhere
from domain.audit.erasure import SubjectErased


class AuditUnsupported(RuntimeError):
    """The configured event store has no audit chain (the in-memory store)."""


class MemorySubjectKeys:
    """Subject keys held in memory (`SubjectKeyStore`)."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[str, bytes | None]] = {}

    def key_for_writing(self, subject_id: str) -> tuple[str, bytes]:
        if subject_id not in self._keys:
            self._keys[subject_id] = (os.urandom(6).hex(), new_data_key())
        key_id, key = self._keys[subject_id]
        if key is None:
            raise SubjectErased(f"subject {subject_id}'s key was destroyed; no new personal content may be recorded")
        return key_id, key

    def key(self, subject_id: str, key_id: str) -> bytes | None:
        found = self._keys.get(subject_id)
        return found[1] if found is not None and found[0] == key_id else None

    def current_key_id(self, subject_id: str) -> str | None:
        found = self._keys.get(subject_id)
        return found[0] if found is not None and found[1] is not None else None

    def kept(self, subject_id: str) -> tuple[str, bytes] | None:
        found = self._keys.get(subject_id)
        return (found[0], found[1]) if found is not None and found[1] is not None else None

    def destroy(self, subject_id: str, at: str) -> str | None:
        found = self._keys.get(subject_id)
        if found is None or found[1] is None:
            return None
        self._keys[subject_id] = (found[0], None)
        return found[0]

    def erase_traces(self, subject_id: str, *, patience: float = 5.0) -> tuple[str, ...]:
        return ()  # nothing of it was kept anywhere else

    def rewrap(self, *, patience: float = 5.0) -> tuple[int, tuple[str, ...]]:
        return 0, ()  # held in clear in memory: nothing wraps them


class MemoryCaseSubjects:
    """Which person each crisis case is about, in memory (`adapters.record.sql.CaseSubjects`)."""

    def __init__(self) -> None:
        self._bound: dict[str, str] = {}

    def bind(self, case_code: str, subject_id: str) -> None:
        if self._bound.setdefault(case_code, subject_id) != subject_id:
            raise CaseBoundElsewhere(f"case {case_code} is about another person")

    def subject_of(self, case_code: str) -> str | None:
        return self._bound.get(case_code)


class Factory(library.POPOFactory):
    """eventsourcing's in-memory factory, with in-memory subject keys and no audit reader."""

    def subject_key_store(self, kek: KeyRing) -> MemorySubjectKeys:
        return MemorySubjectKeys()

    @cached_property
    def _case_subjects(self) -> MemoryCaseSubjects:
        return MemoryCaseSubjects()

    def case_subjects(self) -> MemoryCaseSubjects:
        return self._case_subjects  # one per record: the bindings live as long as its keys

    def audit_store(self, page: int = 10_000) -> AuditStore:
        raise AuditUnsupported("this event store keeps no audit chain (use SQLite or PostgreSQL)")
