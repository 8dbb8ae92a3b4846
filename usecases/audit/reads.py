"""Use cases of every read of the record outside a replay: load, decide, record, then hand over only
what the decision allows. Thin: the decisions are `disclosure.rules.decide` (one person) and
`audit.reads.decide_record_read` (across persons); `domain.audit.reads` says what each read asks for.

- `case`: `cases show` / `cases history`, decided and recorded in the case's person's register;
- `partner_case`: a partner's operational view of a case (the gateway), registered in the record-level
  reads log: it decides nothing about the person (what it shows of the intake a registered sending gave);
- `register`: `audit register --person`, decided and recorded in that person's register;
- `across`: a listing of cases, the access log, the exception report or an export, registered in the
  record-level reads log (`RecordReadEntry`), allowed or refused.

A refused read returns its decision and nothing else. `moment` is when the read happens, given by
the caller (the CLI's clock).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from pydantic import Field

from adapters.record.record import Record
from domain.audit.reads import CaseItem, case_items, decide_record_read, entries_shown, register_items
from domain.audit.record_reads import ReadKind, RecordRead, RecordReadEntry
from domain.audit.replay import DEFAULT_PURPOSE
from domain.clock import local_date
from domain.crisis.partner_view import PartnerCaseView, partner_view
from domain.crisis.state import CaseView
from domain.disclosure import commands as c
from domain.disclosure.model import Decision, DisclosureContext, DossierItem, Outcome
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes.model import Frozen
from usecases.audit.replays import ReaderFacts
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes
from usecases.handoff import registered_sendings


class Reader(Frozen):
    """Who reads, in which capacity, for what (default: the role's usual purpose), and what the decision
    needs that the record does not keep."""

    actor_id: str
    role: Role
    purpose: PurposeKind
    facts: ReaderFacts = Field(default_factory=ReaderFacts)

    @classmethod
    def of(cls, actor_id: str, role: Role, purpose: PurposeKind | None = None,
           facts: ReaderFacts | None = None) -> Reader:
        return cls(actor_id=actor_id, role=role, purpose=purpose or DEFAULT_PURPOSE[role],
                   facts=facts or ReaderFacts())


@dataclass(frozen=True)
class CaseRead:
    decision: Decision
    view: CaseView | None = None  # `show`, when allowed
    history: list[dict[str, Any]] | None = None  # `history`, when allowed (personal content masked)


@dataclass(frozen=True)
class PartnerRead:
    read: RecordRead  # as registered in the record-level reads log
    view: PartnerCaseView | None = None  # when allowed


@dataclass(frozen=True)
class RegisterRead:
    decision: Decision
    entries: list[dict[str, Any]] | None  # None: refused


class Reads:
    def __init__(self, record: Record, disclosures: Disclosures, cases: CrisisCases) -> None:
        self.record = record
        self.disclosures = disclosures
        self.cases = cases

    # ------------------------------------------------------------------ one person
    def case(self, code: str, what: CaseItem, reader: Reader, moment: datetime) -> CaseRead:
        """One item of the case (its state, or its event list), decided and recorded before it is read out."""
        case = self.cases.get(code)  # NotFound: nothing to decide, nothing recorded
        access_id = f"{what.value}:case:{code}@v{case.version}:{uuid4().hex[:12]}"
        decision = self._decide(case.subject_id, what.item, case_items(reader.purpose), reader, moment, access_id)
        if what.item not in decision.allowed:
            return CaseRead(decision)
        if what is CaseItem.STATE:
            return CaseRead(decision, view=case.view())
        return CaseRead(decision, history=self.cases.history(code))

    def partner_case(self, code: str, org_id: str, reader: Reader, moment: datetime) -> PartnerRead:
        """A partner's operational view of the case (`domain.crisis.partner_view`): the sendings looked up in the
        person's register (nothing decided anew), the view built, then the read registered once, allowed or
        refused, in the record-level reads log (`ReadKind.PARTNER_CASE` says why there). NotFound or
        NotAParty: nothing registered."""
        case = self.cases.get(code)
        sendings = registered_sendings(self.disclosures, case)
        opening = case.personal_details()[0].get("personal") if case.personal_details() else None
        view = partner_view(case.view(), org_id, sendings, opening)
        used = [a.sending.decision_id for a in view.attempts if a.sending is not None]
        read = self.across(ReadKind.PARTNER_CASE, reader, moment, {
            "case": code, "org": org_id, "sendings": " ".join(used) or None,
            "items": " ".join(view.intake.items) or None})
        return PartnerRead(read, view if read.allowed else None)

    def register(self, subject_id: str, reader: Reader, moment: datetime) -> RegisterRead:
        """The register entries about one person, decided and recorded in that register first."""
        access_id = f"register:person:{subject_id}:{uuid4().hex[:12]}"
        items = register_items(reader.purpose)
        decision = self._decide(subject_id, None, items, reader, moment, access_id)
        return RegisterRead(decision, entries_shown(self.disclosures.entries_about(subject_id), decision))

    def _decide(self, subject_id: str, only: str | None, items: list[DossierItem], reader: Reader,
                moment: datetime, access_id: str) -> Decision:
        req = c.RequestAccess(
            by=reader.actor_id, command_id=access_id, role=reader.role, subject_id=subject_id,
            items=[only] if only else [i.name for i in items], purpose=reader.purpose, moment=moment,
        )
        ctx = DisclosureContext(subject=reader.facts.subject, dossier_items=items, consents=None,
                                authorisations=reader.facts.authorisations, ententes=Ententes(self.record).list())
        return self.disclosures.decide_and_record(req, ctx, moment)

    # ------------------------------------------------------------------ across persons
    def may(self, kind: ReadKind, reader: Reader, moment: datetime) -> bool:
        """Whether the rules allow this read across persons; nothing registered (a listing of visibility's
        opaque codes checks the role and registers only a refusal)."""
        day = local_date(moment)
        return decide_record_read(kind, reader.role, reader.purpose, day, self.disclosures.config).outcome \
            is Outcome.ALLOWED

    def across(self, kind: ReadKind, reader: Reader, moment: datetime, scope: Mapping[str, object]) -> RecordRead:
        """Decide and register one read across persons (`scope`: its filters or period; unset ones left out)."""
        decided = decide_record_read(kind, reader.role, reader.purpose, local_date(moment), self.disclosures.config)
        read = RecordRead(
            read_id=f"{kind.value}:{uuid4().hex[:12]}", kind=kind, actor_id=reader.actor_id, role=reader.role,
            purpose=reader.purpose, moment=moment, scope=_text(scope), outcome=decided.outcome, rule=decided.rule,
            reason=decided.reason,
        )
        self.record.save(RecordReadEntry.of(read))
        return read

    def record_reads(self, *, actor_id: str | None = None, since: datetime | None = None,
                     until: datetime | None = None) -> list[RecordRead]:
        """The record-level reads log, filtered as the access log is."""
        found = [RecordRead.model_validate(ev.read)
                 for ev in self.record.events_of(RecordReadEntry.Registered)]  # type: ignore[attr-defined]
        return sorted(
            (r for r in found if (actor_id is None or r.actor_id == actor_id)
             and (since is None or r.moment >= since) and (until is None or r.moment < until)),
            key=lambda r: r.moment,
        )


def _text(scope: Mapping[str, object]) -> dict[str, str]:
    """Filters as the log keeps them: moments in ISO 8601, flags as `true`; unset ones (None, False) left out."""
    def text(v: object) -> str:
        return v.isoformat() if isinstance(v, datetime) else "true" if v is True else str(v)
    return {k: text(v) for k, v in scope.items() if v is not None and v is not False}
