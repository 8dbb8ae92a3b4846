"""Who read an entente through the audit trail: one small aggregate per entente.

Ententes carry no personal content, so reading one is not a decision of the
disclosure rules and has no person's register to go in. It is still an access
to the legal record, and `arrimage audit accesses` must show it: each replay of
an entente (allowed or refused) is one `Read` event here, metadata only (who,
in which role, for what, when, which version, the outcome and the rule).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.disclosure.model import Outcome
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes.model import Frozen

NAMESPACE = UUID("6e0d3b2a-91c4-4f57-a8e2-3c7b5d1f9a04")


def entente_reads_id(code: str) -> UUID:
    return uuid5(NAMESPACE, f"entente-reads:{code}")


class EntenteRead(Frozen):
    read_id: str
    code: str
    actor_id: str
    role: Role
    purpose: PurposeKind
    moment: datetime  # when the read happened
    as_of: datetime | None  # the moment the entente was rebuilt at (None: as it stands)
    version: int  # event count of the entente replayed
    outcome: Outcome
    rule: str  # the rule relied on, allowed or refused
    reason: str


class EntenteReads(Aggregate):
    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return entente_reads_id(code)

    @event("Opened")
    def __init__(self, code: str) -> None:
        self.code = code
        self.reads: list[EntenteRead] = []

    def record(self, read: EntenteRead) -> None:
        if any(r.read_id == read.read_id for r in self.reads):
            return  # a retried record adds nothing
        self._read(read=read.model_dump(mode="json"))

    @event("Read")
    def _read(self, read: dict[str, Any]) -> None:
        self.reads.append(EntenteRead.model_validate(read))
