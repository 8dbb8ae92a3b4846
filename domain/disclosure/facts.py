"""The facts a disclosure decision rests on, as events of the record (issue 11): one small aggregate per person.

A decision depends on who the person was at that moment (their age, a death, a youth-protection file, a
refusal they wrote) and on who stood for them (a representative, a parent, a mandate, a court order, a
researcher's authorisation). These were a `--facts` file given at each read; they are now `PersonFacts`
events, so that a replay as of T (`usecases.audit.replays`) decides with the facts as they stood at T, and a
fact changes the decisions from the moment it is recorded on.

Everything about the fact is personal content: its kind beside the subject id already says something about
the person (a death, a youth-protection file), so the whole fact is the event's sealed ``personal`` part
(``domain.audit.erasure.SEALED_PARTS``, ``adapters.record.sealing``); in clear stay the subject id, the fact
number, who recorded it and when. After erasure each fact reads back as `SHREDDED` and is ignored.

What each fact gives the decision (`rules.decide`, pure):
- the person's status (`subject_status`): LSSSS 20-21 / LRSSS 21, 23-24 (age on the request date),
  LSSSS 23 / LRSSS 8, 30 (death, cause-of-death refusal), LSSSS 21 / LRSSS 23-24 (youth protection,
  harm determined, the minor's refusal);
- a reader's standing (`standing`): the condition of the basis the fact proves, and the reference of the
  document, for the holder it names while it is in force: PARENT -> PARENTAL_AUTHORITY (LSSSS 21 / LRSSS 23,
  24), REPRESENTATIVE -> CAPACITY_PROVEN (LSSSS 22 [S]), MANDATE -> WRITTEN_MANDATE (LSSSS 27.1 / LRSSS 77),
  COURT_ORDER -> ORDER_IN_HAND (LSSSS 19 par. 1), RESEARCH_AUTHORISATION -> RESEARCH_AUTHORISATION
  (LSSSS 19.2 / LRSSS 47). The other conditions of a basis (the power exercised, the minimum necessary…)
  are about the request, not the person: a fact never attests them.
- who may read the person's own register in their name (`represented_as`): the holder a live PARENT or
  REPRESENTATIVE fact names. A holder who is a person is named by their opaque id in the record, which is also
  the user id of their own `usager` account (`domain.principals.person`): so that account, and no other, acts
  for the person while the standing is in force, as the disclosure rules for that standing decide.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from pydantic import ValidationError, model_validator

from domain.audit.erasure import SHREDDED
from domain.disclosure.commands import Command
from domain.disclosure.legal_bases import Condition
from domain.disclosure.model import SubjectStatus
from domain.disclosure.roles import Role
from domain.ententes.model import Frozen, ShortText
from domain.errors import RuleViolation
from domain.values import OpaqueId as Code


class FactKind(StrEnum):
    BIRTH_DATE = "date_naissance"  # `on`: the birth date
    DEATH = "deces"  # `on`: the date of death
    YOUTH_PROTECTION = "protection_jeunesse"  # YPA intervention or decision / LRSSS 23 cases
    PARENTAL_HARM = "prejudice_parent_determine"  # LSSSS: institution after the DPJ; LRSSS: the DPJ
    MINOR_REFUSED_PARENT = "refus_du_mineur"  # LSSSS 21 al. 3: the minor, consulted, refused
    CAUSE_OF_DEATH_REFUSAL = "refus_cause_deces"  # LSSSS 23 al. 2 written refusal / LRSSS 8 par. 2
    PARENT = "autorite_parentale"  # holder: the parent or tutor
    REPRESENTATIVE = "representant"  # holder: tutor, curator, mandatary, person who may consent to care
    MANDATE = "mandat"  # holder: the mandatary or contractor organisation
    COURT_ORDER = "ordonnance"  # holder: the court, coroner, inspector or investigator
    RESEARCH_AUTHORISATION = "autorisation_recherche"  # holder: the researcher


DATED = frozenset({FactKind.BIRTH_DATE, FactKind.DEATH})
FLAGS = frozenset({FactKind.YOUTH_PROTECTION, FactKind.PARENTAL_HARM, FactKind.MINOR_REFUSED_PARENT,
                   FactKind.CAUSE_OF_DEATH_REFUSAL})
STANDING: dict[FactKind, Condition] = {
    FactKind.PARENT: Condition.PARENTAL_AUTHORITY,
    FactKind.REPRESENTATIVE: Condition.CAPACITY_PROVEN,
    FactKind.MANDATE: Condition.WRITTEN_MANDATE,
    FactKind.COURT_ORDER: Condition.ORDER_IN_HAND,
    FactKind.RESEARCH_AUTHORISATION: Condition.RESEARCH_AUTHORISATION,
}
# The standings that act in the person's name, and the role their holder reads in: a parent or tutor of a minor
# (LSSSS 21 al. 2-3 / LRSSS 23-24), a tutor, curator, mandatary or person who may consent to care (LSSSS 22;
# its LRSSS counterpart was not located: `legal_bases`). First listed, first chosen when one holder has both.
REPRESENTING: dict[FactKind, Role] = {FactKind.PARENT: Role.PARENT, FactKind.REPRESENTATIVE: Role.REPRESENTATIVE}


class PersonFact(Frozen):
    """One fact. `on` for a date fact; `holds` to set (True) or lift (False) a flag or a standing; `holder_id`,
    `reference` and the validity dates for a standing."""

    kind: FactKind
    on: date | None = None
    holds: bool = True
    holder_id: Code | None = None
    reference: ShortText | None = None  # the judgment, mandate, order or authorisation number
    valid_from: date | None = None
    valid_until: date | None = None  # last day in force

    @model_validator(mode="after")
    def _shape(self) -> PersonFact:
        if self.kind in DATED and self.on is None:
            raise ValueError(f"{self.kind.value}: the date (`on`) is required")
        if self.kind in STANDING and not self.holder_id:
            raise ValueError(f"{self.kind.value}: the holder (`holder_id`) is required")
        if self.kind in STANDING and self.holds and not self.reference:
            raise ValueError(f"{self.kind.value}: the reference of the document (`reference`) is required")
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self

    def in_force_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day <= self.valid_until)


class RecordFact(Command):
    type: Literal["record_fact"] = "record_fact"
    subject_id: Code
    fact: PersonFact


class RecordedFact(Frozen):
    number: int
    fact: PersonFact
    by: str
    at: datetime


NAMESPACE = UUID("5d0f8a0c-7c1e-4f51-a7a6-2f1e9b3c4d71")


def facts_id(subject_id: str) -> UUID:
    return uuid5(NAMESPACE, f"facts:{subject_id}")


class PersonFacts(Aggregate):
    @staticmethod
    def create_id(subject_id: str, **_: Any) -> UUID:
        return facts_id(subject_id)

    @event("Opened")
    def __init__(self, subject_id: str) -> None:
        self.subject_id = subject_id
        self.facts: list[RecordedFact] = []
        self.by_command: dict[str, int] = {}  # a retried command finds the fact it recorded

    def record(self, cmd: RecordFact, at: datetime) -> RecordedFact:
        if cmd.subject_id != self.subject_id:
            raise RuleViolation("this fact is about another person", code="wrong_subject")
        done = self.by_command.get(cmd.command_id) if cmd.command_id else None
        if done is not None:
            found = [f for f in self.facts if f.number == done]
            if found:
                return found[0]
            raise RuleViolation("this fact was recorded and since erased", code="subject_erased")
        self._fact_recorded(subject_id=self.subject_id, number=len(self.facts) + 1, by=cmd.by, at=at,
                            command_id=cmd.command_id, personal=cmd.fact.model_dump(mode="json"))
        return self.facts[-1]

    @event("FactRecorded")
    def _fact_recorded(self, subject_id: str, number: int, by: str, at: datetime, command_id: str,
                       personal: dict[str, Any]) -> None:
        if command_id:
            self.by_command[command_id] = number
        if personal == SHREDDED:
            return  # erased: the fact no longer says anything
        try:
            fact = PersonFact.model_validate(personal)
        except ValidationError:  # pragma: no cover - only ever written from a validated command
            return
        self.facts.append(RecordedFact(number=number, fact=fact, by=by, at=at))


def subject_status(facts: list[RecordedFact], base: SubjectStatus | None = None) -> SubjectStatus:
    """The person's status from the facts (each later fact of a kind replaces the earlier one)."""
    status = (base or SubjectStatus()).model_dump()
    for f in sorted(facts, key=lambda x: x.number):
        k = f.fact
        if k.kind is FactKind.BIRTH_DATE:
            status["birth_date"] = k.on if k.holds else None
        elif k.kind is FactKind.DEATH:
            status["deceased_on"] = k.on if k.holds else None
        elif k.kind is FactKind.YOUTH_PROTECTION:
            status["youth_protection"] = k.holds
        elif k.kind is FactKind.PARENTAL_HARM:
            status["parental_harm_determined"] = k.holds
        elif k.kind is FactKind.MINOR_REFUSED_PARENT:
            status["minor_refused_parent_access"] = k.holds
        elif k.kind is FactKind.CAUSE_OF_DEATH_REFUSAL:
            status["cause_of_death_refusal"] = k.holds
    return SubjectStatus.model_validate(status)


def _live(facts: list[RecordedFact], holder_id: str, day: date) -> list[PersonFact]:
    """The standings of `holder_id` in force on `day`: a later fact of the same kind and holder replaces the
    earlier one (`holds=False` lifts it), and one is in force between its validity dates."""
    latest: dict[FactKind, PersonFact] = {}
    for f in sorted(facts, key=lambda x: x.number):
        if f.fact.kind in STANDING and f.fact.holder_id == holder_id:
            latest[f.fact.kind] = f.fact
    return [f for f in latest.values() if f.holds and f.in_force_on(day)]


def standing(facts: list[RecordedFact], holder_id: str, day: date) -> tuple[list[Condition], str | None]:
    """What the facts prove for `holder_id` on `day`: the conditions, and the reference of the latest document."""
    live = _live(facts, holder_id, day)
    conditions = [STANDING[f.kind] for f in live]
    reference = live[-1].reference if live else None
    return conditions, reference


def represented_as(facts: list[RecordedFact], holder_id: str, day: date) -> Role | None:
    """The role in which `holder_id` acts in the person's name on `day` (`REPRESENTING`), None when no such
    standing of theirs is in force then (never recorded, lifted, not yet or no longer valid)."""
    kinds = {f.kind for f in _live(facts, holder_id, day)}
    return next((role for kind, role in REPRESENTING.items() if kind in kinds), None)


def recorded_birth_date(facts: list[RecordedFact]) -> date | None:
    """The birth date the facts hold (the latest one recorded, unless lifted)."""
    return subject_status(facts).birth_date
