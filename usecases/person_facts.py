"""Use cases of the person facts (`domain.disclosure.facts`): record one, read them as they stood at a moment.

"As they stood at T" is what was *recorded* at or before T (the events' recorded timestamps, like
`audit replay --as-of`), never a later correction: a decision taken at T could only rest on those.
"""

from __future__ import annotations

import builtins
from datetime import date, datetime

from eventsourcing.application import AggregateNotFoundError

from adapters.record.record import Record
from domain.clock import local_date
from domain.disclosure.facts import (
    PersonFacts,
    RecordedFact,
    RecordFact,
    facts_id,
    recorded_birth_date,
    standing,
    subject_status,
)
from domain.disclosure.legal_bases import Condition
from domain.disclosure.model import SubjectStatus
from domain.errors import RuleViolation


class PersonFactsBook:
    def __init__(self, record: Record) -> None:
        self.record = record

    def record_fact(self, cmd: RecordFact, at: datetime) -> RecordedFact:
        try:
            facts: PersonFacts = self.record.repository.get(facts_id(cmd.subject_id))
        except AggregateNotFoundError:
            facts = PersonFacts(subject_id=cmd.subject_id)
        done = facts.record(cmd, at)
        self.record.save(facts)
        return done

    def holds_any(self, subject_id: str) -> bool:
        """Whether the record holds facts about the person (then a `--facts` file is refused)."""
        return next(iter(self.record.stream(facts_id(subject_id), lte=1)), None) is not None

    def facts_at(self, subject_id: str, as_of: datetime | None = None) -> builtins.list[RecordedFact]:
        """The facts recorded at or before `as_of` (every fact when None)."""
        seq = [ev.originator_version for ev in self.record.stream(facts_id(subject_id))
               if as_of is None or ev.timestamp <= as_of]  # type: ignore[attr-defined]
        if not seq:
            return []
        found: PersonFacts = self.record.events_only.get(facts_id(subject_id), version=seq[-1])
        return list(found.facts)

    def decision_facts(
        self, subject_id: str, holder_id: str, at: datetime, given: SubjectStatus | None = None,
        born: date | None = None,
    ) -> tuple[SubjectStatus, builtins.list[Condition], str | None]:
        """What a decision as of `at` rests on: the person's status and the reader's standing from the facts
        recorded then. `given` (a `--facts` file) is taken only for a person about whom the record holds no
        fact; otherwise it is refused (`facts_in_record`), nothing recorded. `born` (a birth date given at the
        read: `my-register --born`) is taken only while the record holds no birth date of the person; given
        when it holds one, it is refused (`facts_in_record`), nothing recorded."""
        if given is not None and given != SubjectStatus() and self.holds_any(subject_id):
            raise RuleViolation(
                f"the record holds the facts about person {subject_id} (age, death, standing…): a --facts file "
                "would contradict the record; leave it out, or record a new fact (`arrimage audit fact`)",
                code="facts_in_record")
        recorded = self.facts_at(subject_id, at)
        if born is not None and (held := recorded_birth_date(recorded)) is not None:
            raise RuleViolation(
                f"the record holds the birth date of person {subject_id} ({held.isoformat()}): a birth date given "
                "at the read would contradict it; leave --born out, or record a correction "
                "(`arrimage audit fact --kind date_naissance`)", code="facts_in_record")
        status = subject_status(recorded) if recorded else (given or SubjectStatus())
        if born is not None:
            status = status.model_copy(update={"birth_date": born})
        attested, reference = standing(recorded, holder_id, local_date(at))
        return status, attested, reference
