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
from datetime import date, datetime
from typing import Any
from uuid import uuid4

from pydantic import Field

from adapters.record.listings import caught_up, logged
from adapters.record.record import Record
from domain.audit.own_register import OWN_REGISTER_READERS, Seen, check_own_register_reader, register_reader, seen_by
from domain.audit.reads import CaseItem, case_items, decide_record_read, entries_shown, register_items
from domain.audit.record_reads import ReadKind, RecordRead, RecordReadEntry
from domain.audit.replay import DEFAULT_PURPOSE
from domain.clock import local_date
from domain.crisis.partner_view import PartnerCaseView, partner_view
from domain.crisis.state import CaseView
from domain.disclosure import commands as c
from domain.disclosure.model import Decision, DisclosureContext, DossierItem, Outcome
from domain.disclosure.register import CommunicationEntry
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes.model import Frozen
from domain.errors import NotFound
from usecases.audit.replays import ReaderFacts
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes
from usecases.handoff import registered_sendings
from usecases.person_facts import PersonFactsBook


class Reader(Frozen):
    """Who reads, in which capacity, for what (default: the role's usual purpose), and what the decision
    needs that the record does not keep."""

    actor_id: str
    role: Role
    purpose: PurposeKind
    facts: ReaderFacts = Field(default_factory=ReaderFacts)
    born: date | None = None  # the person's birth date given at the read: only while the record holds none

    @classmethod
    def of(cls, actor_id: str, role: Role, purpose: PurposeKind | None = None,
           facts: ReaderFacts | None = None, born: date | None = None) -> Reader:
        return cls(actor_id=actor_id, role=role, purpose=purpose or DEFAULT_PURPOSE[role],
                   facts=facts or ReaderFacts(), born=born)


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


@dataclass(frozen=True)
class OwnRegisterRead:
    decision: Decision
    seen: list[Seen] | None  # None: refused


@dataclass(frozen=True)
class AuditTrail:
    """What an audit export of the accesses and communications holds (metadata only), after its own read."""

    read: RecordRead  # the export itself, as registered in the record-level reads log
    decisions: list[Decision]
    communications: list[CommunicationEntry]
    record_reads: list[RecordRead]
    case_subjects: dict[str, str]  # case code -> subject, for the partner reads


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

    def own_register(self, subject_id: str, reader: Reader, moment: datetime,
                     organisations: Mapping[str, str] | None = None) -> OwnRegisterRead:
        """« Qui a vu mon dossier ? »: the person (or their representative) reads every access to their record and
        every communication of it (`domain.audit.own_register`). A reader who is neither is refused before anything
        (`check_own_register_reader`, nothing recorded); otherwise the read is decided and recorded in the person's
        register first (as `register`), so it is itself the last line of what they see. `organisations`: each
        account's organisation (actor id -> org id, from `Principals.list`), to name each reader's organisation."""
        check_own_register_reader(reader.role)
        read = self.register(subject_id, reader, moment)
        if read.entries is None:
            return OwnRegisterRead(read.decision, None)
        partner = [r for r in self.record_reads() if r.kind is ReadKind.PARTNER_CASE]
        subjects = self._case_subjects(partner)
        return OwnRegisterRead(read.decision, seen_by(
            subject_id, self.disclosures.accesses(subject_id=subject_id), self.disclosures.entries_about(subject_id),
            partner, subjects, organisations))

    def register_of(self, subject_id: str, account_person: str, moment: datetime,
                    organisations: Mapping[str, str] | None = None, *, born: date | None = None,
                    facts: ReaderFacts | None = None) -> OwnRegisterRead:
        """« Qui a vu mon dossier ? » read by a person's own account (`account_person`, their id in the record):
        their own register, or the register of the person the record names them the parent or representative of
        at `moment` (`domain.audit.own_register.register_reader`: the person facts as they stand then; anyone
        else refused `not_the_person_or_representative`, nothing recorded). Then decided by the rules for that
        standing (LRSSS 23-24 for a parent; LSSSS 22 for a representative, whose LRSSS counterpart was not
        located) and recorded in `subject_id`'s register first, as `own_register`."""
        recorded = PersonFactsBook(self.record).facts_at(subject_id, moment)
        role = register_reader(subject_id, account_person, recorded, local_date(moment))
        reader = Reader.of(account_person, role, OWN_REGISTER_READERS[role], facts, born)
        return self.own_register(subject_id, reader, moment, organisations)

    def audit_trail(self, reader: Reader, moment: datetime, *, person: str | None = None,
                    since: datetime | None = None, until: datetime | None = None) -> AuditTrail:
        """Every access decision, communication and read across persons of the period (about `person` only, when
        given), to export as FHIR AuditEvents: itself an export, decided and registered first in the record-level
        reads log (`ReadKind.EXPORT`, scope `format=fhir-auditevent`); refused, it holds nothing else."""
        read = self.across(ReadKind.EXPORT, reader, moment, {
            "format": "fhir-auditevent", "person": person, "since": since, "until": until})
        if not read.allowed:
            return AuditTrail(read, [], [], [], {})
        try:
            decisions = self.disclosures.accesses(subject_id=person, since=since, until=until)
        except NotFound:  # nobody decided anything about this person
            decisions = []
        communications = [
            e for e in (self.disclosures.entries_about(person) if person else self.disclosures.communications())
            if (since is None or e.communicated_at >= since) and (until is None or e.communicated_at < until)]
        # The log itself, as `audit accesses` and the bundle: an export must not lose a row the view skipped.
        reads = self.record_reads(since=since, until=until, from_view=False)
        subjects = self._case_subjects([r for r in reads if r.kind is ReadKind.PARTNER_CASE])
        if person is not None:
            reads = [r for r in reads if r.kind is ReadKind.PARTNER_CASE
                     and subjects.get(r.scope.get("case", "")) == person]
        return AuditTrail(read, decisions, communications, reads, subjects)

    def _case_subjects(self, partner_reads: list[RecordRead]) -> dict[str, str]:
        subjects: dict[str, str] = {}
        for code in sorted({r.scope.get("case", "") for r in partner_reads} - {""}):
            try:
                subjects[code] = self.cases.view(code).subject_id
            except NotFound:
                continue
        return subjects

    def person_read(self, subject_id: str, only: str | None, items: list[DossierItem], reader: Reader,
                    moment: datetime, access_id: str) -> Decision:
        """One read of a person's file (`only` of `items`, or all of them) decided by the disclosure rules and
        recorded in their register: the path of the case reads, which the episode reads take too
        (`usecases.audit.episode_reads`)."""
        return self._decide(subject_id, only, items, reader, moment, access_id)

    def _decide(self, subject_id: str, only: str | None, items: list[DossierItem], reader: Reader,
                moment: datetime, access_id: str) -> Decision:
        # the person facts recorded in the record (issue 11); a --facts file only where it holds none
        status, attested, reference = PersonFactsBook(self.record).decision_facts(
            subject_id, reader.actor_id, moment, reader.facts.subject, reader.born)
        req = c.RequestAccess(
            by=reader.actor_id, command_id=access_id, role=reader.role, subject_id=subject_id,
            items=[only] if only else [i.name for i in items], purpose=reader.purpose, moment=moment,
            attestations=attested, authority_reference=reference,
        )
        ctx = DisclosureContext(subject=status, dossier_items=items, consents=None,
                                authorisations=reader.facts.authorisations,
                                ententes=Ententes(self.record).list(from_view=True))  # which: the view, as routing
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
                     until: datetime | None = None, from_view: bool = True) -> list[RecordRead]:
        """The record-level reads log, filtered as the access log is, by moment. Which reads: an indexed range on
        the listings view (reader and moment, caught up first), each read from its event by its key;
        `from_view=False`, or a store without a view: the notification log's scan, filtered here."""
        if from_view and (listings := caught_up(self.record)) is not None:
            return [RecordRead.model_validate(ev.read)
                    for ev in logged(self.record, listings.view.reads("record", actor_id, since, until))]
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
