"""Reads of the record that concern no one person: one small aggregate per read.

A listing of cases (codes, stages, deadlines), the access log, the exception report and the
auditor's export read metadata about many persons at once: no person's register can hold them,
yet each is an access to the legal record, and `arrimage audit accesses` must show it. Each such
read, allowed or refused, is one `RecordReadEntry` holding one `Registered` event: metadata only
(who, in which role, for what, when, what was asked — filters or period — the outcome and the rule).

One aggregate per read, not one log for all: two readers never contend for the same aggregate,
and a retried registration (same read id, hence same aggregate id) finds the one it made.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.disclosure.model import Outcome
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes.model import Frozen

NAMESPACE = UUID("3b8f6e21-5c4d-4a9e-b7f0-9d2e1c6a8f35")


class ReadKind(StrEnum):
    """What was read across persons."""

    CASE_LISTING = "liste_des_dossiers"  # `cases list --closed/--all`: codes, stages, deadlines
    ACCESS_LOG = "journal_des_acces"  # `audit accesses`
    EXCEPTIONS = "rapport_d_exceptions"  # `audit exceptions`
    EXPORT = "export_d_audit"  # `audit export`: all of the above, to hand over
    STANDARDS_REPORT = "rapport_des_normes"  # `report standards`: every case of a period read for its clocks
    # `GET /v1/cases/{code}` by a partner: its operational view of one case (`domain.crisis.partner_view`).
    # One person's case, yet no decision on the person's information is made: the intake items it shows are
    # those a handoff sending communicated, decided and entered once in the person's register (LSSSS 27.2 /
    # LRSSS 265) when the team was asked; deciding again at each read would enter the same communication
    # again, or refuse what was lawfully given. The read itself is an access, logged here (LRSSS 103) with
    # the case code and the sendings it relied on.
    PARTNER_CASE = "vue_operationnelle_partenaire"
    # The codec server (`arrimage codec-server`): the payloads of one workflow decoded for Temporal's UI, when no
    # person's register can hold the access (an entente's workflow), or refused before any decision about a
    # person (not the case's institution; a workflow the engine does not know). `domain.audit.payload_reads`.
    WORKFLOW_PAYLOADS = "charges_utiles_temporal"
    # A Merkle proof of the log (issue 13, `usecases.audit.proof_reads`): only hashes, but an inclusion proof names
    # one event (aggregate id, version, position) of a person's record; its scope says which. Read by the readers
    # of audit metadata, for an audit, as an export is.
    MERKLE_PROOF = "preuve_merkle"


def record_read_id(read_id: str) -> UUID:
    return uuid5(NAMESPACE, f"record-read:{read_id}")


class RecordRead(Frozen):
    read_id: str
    kind: ReadKind
    actor_id: str
    role: Role
    purpose: PurposeKind
    moment: datetime  # when the read happened
    scope: dict[str, str]  # what was asked: filters, period (codes and dates, never content)
    outcome: Outcome
    rule: str  # the rule relied on, allowed or refused
    reason: str

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOWED


class RecordReadEntry(Aggregate):
    @staticmethod
    def create_id(read_id: str, **_: Any) -> UUID:
        return record_read_id(read_id)

    @event("Registered")
    def __init__(self, read_id: str, read: dict[str, Any]) -> None:
        self.read_id = read_id
        self.read = RecordRead.model_validate(read)

    @classmethod
    def of(cls, read: RecordRead) -> RecordReadEntry:
        return cls(read_id=read.read_id, read=read.model_dump(mode="json"))
