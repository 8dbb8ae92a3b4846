"""One aggregate from its chained events at full speed (issue 12) reads the same aggregates as the library's way.

The record's load path has three fast parts: the recorders read an aggregate's rows as tuples
(`ChainingSQLiteRecorder.select_events`, `ChainingPostgresRecorder.select_events`), `RecordMapper` looks up once
per topic what depends on the topic alone, and `project_events` applies an ``@event`` method's event inline
(`adapters.record.record._applier`). Each must give what the library's way gives: the library's own
`select_events`, its `Mapper` (here through the record's `PersonalDataMapper` with the topic checks around it, and
the library's `JSONTranscoder`) and each event's own `mutate` (`project_aggregate`). Checked on SQLite and
PostgreSQL on a mixed store: an entente through signature rounds, reminders and a missed deadline; crisis cases
about a person, with sealed parts opened, and one whose person's key was shredded; and the checks the inlined
`mutate` keeps (an event of another aggregate, one out of sequence) still refuse.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import OriginatorIDError, OriginatorVersionError
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, StoredEvent, UUIDAsHex

from adapters.record.record import TOPICS, DateAsISO, Record, _applier, project_events
from adapters.record.sealing import PersonalDataMapper
from domain.audit.erasure import SHREDDED
from domain.crisis import commands as cc
from domain.crisis.aggregate import CrisisCase, case_id
from domain.ententes import commands as c
from domain.ententes.aggregate import Entente, entente_id
from domain.ententes.state import EntentePolicy
from tests import factories
from tests.crisis_builders import T0, TEAM, decline, open_cmd, request, sup
from usecases.audit.trail import shred
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes

AT = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = EntentePolicy(reminder_interval_days=1, max_signature_period_days=30)
MIN = timedelta(minutes=1)


class FormerReading(PersonalDataMapper):
    """The record's reading before issue 12: the library's `Mapper.to_domain_event` with its `JSONTranscoder`,
    sealed parts opened (`PersonalDataMapper`), the record's topic checks around it."""

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        TOPICS.check(stored_event)
        domain_event = super().to_domain_event(stored_event)
        TOPICS.check_named(stored_event, domain_event)
        return domain_event


def former_mapper(record: Record) -> FormerReading:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    return FormerReading(transcoder=transcoder, keys=record.subject_keys)


def library_rows(record: Record, originator_id: UUID | str, **kwargs: Any) -> Any:
    """The rows as the library's own recorder class selects them (the record's recorder overrides it)."""
    cls: Any = next(
        k
        for k in type(record.recorder).__mro__
        if k.__module__.startswith("eventsourcing.") and "select_events" in vars(k)
    )
    return cls.select_events(record.recorder, originator_id, **kwargs)


def the_former_way(record: Record, aggregate_id: UUID) -> Any:
    mapper = former_mapper(record)
    events = [mapper.to_domain_event(row) for row in library_rows(record, aggregate_id)]
    return project_aggregate(None, events)


def state(aggregate: Any) -> tuple[type, dict[str, Any]]:
    return type(aggregate), vars(aggregate)


def mixed_store(record: Record) -> list[UUID]:
    """An entente through two signature rounds (daily reminders, a missed deadline, signatures), three crisis cases
    of two persons with sealed parts (typed reasons), closed, the second person's key shredded."""
    ententes = Ententes(record, POLICY)
    content = factories.service_entente(effective=None, notice_days=0)
    ententes.draft(c.DraftEntente(by="t", code="FAST", content=content, command_id="d"), AT)
    ententes.execute(
        "FAST", c.SubmitForSignature(by="t", command_id="s1", signature_deadline=AT + timedelta(days=5)), AT
    )
    ententes.advance("FAST", AT + timedelta(days=3, hours=1))  # reminders
    ententes.advance("FAST", AT + timedelta(days=6))  # the deadline missed: back to drafting
    ententes.execute(
        "FAST",
        c.SubmitForSignature(by="t", command_id="s2", signature_deadline=AT + timedelta(days=20)),
        AT + timedelta(days=7),
    )
    ententes.advance("FAST", AT + timedelta(days=9, hours=1))
    ententes.execute(
        "FAST",
        c.SignEntente(by="t", party_id=content.party_ids[0], version=1, signatory="A", command_id="sig0"),
        AT + timedelta(days=10),
    )
    cases = CrisisCases(record)
    codes = ["C-FASTPATHAA", "C-FASTPATHBB", "C-FASTPATHCC"]
    for n, code in enumerate(codes):
        subject = "SUBJ-FAST-1" if n < 2 else "SUBJ-FAST-2"
        cases.open(open_cmd(code, command_id=f"o{n}", subject=subject), T0)
        cases.execute(code, request(), T0 + MIN)
        cases.execute(code, decline(reason=f"déjà mobilisée {n}"), T0 + 2 * MIN)
        cases.execute(code, sup(cc.Reassign, team=TEAM, reason=f"connu de l'équipe {n}"), T0 + 3 * MIN)
        cases.execute(code, sup(cc.SupervisorClose, reason=f"fermé {n}"), T0 + 4 * MIN)
    shred(record, "SUBJ-FAST-2", by="t", reason="demande de la personne", now=T0 + 10 * MIN)
    return [entente_id("FAST"), *(case_id(code) for code in codes)]


def test_a_mixed_store_loads_the_same_aggregates_as_the_library_s_way(store_env: dict[str, str]) -> None:
    writer = Record(store_env)
    try:
        ids = mixed_store(writer)
    finally:
        writer.close()
    record = Record(store_env)  # a fresh process's record: nothing kept, every load from the store
    try:
        entente: Any = record.events_only.get(ids[0])
        assert isinstance(entente, Entente) and entente.version >= 9
        assert entente.proposal is not None and entente.proposal.reminders_sent > 0
        for aggregate_id in ids:
            # The rows: the same `StoredEvent`s as the library's `select_events`, by UUID and by text, any range.
            for asked in (aggregate_id, str(aggregate_id)):
                for kwargs in ({}, {"gt": 2}, {"lte": 3}, {"desc": True}, {"gt": 1, "lte": 5, "limit": 2}):
                    assert record.recorder.select_events(asked, **kwargs) == library_rows(record, asked, **kwargs)
            former = the_former_way(record, aggregate_id)
            now: Any
            for now in (
                record.events_only.get(aggregate_id),
                record.repository.get(aggregate_id),
                record.events_only.get(aggregate_id, version=3),
            ):
                expected = (
                    former
                    if now.version == former.version
                    else (project_aggregate(None, list(record.events.get(aggregate_id, lte=3))))
                )
                assert state(now) == state(expected)
        cases: list[Any] = [record.events_only.get(i) for i in ids[1:]]
        assert all(isinstance(case, CrisisCase) for case in cases)
        # The first person's typed reasons opened; the second's read as shredded, alike both ways.
        opened = [vars(e) for e in record.events.get(ids[1]) if "subject_id" in vars(e)]
        assert any("déjà mobilisée 0" in repr(e) for e in opened)
        shredded = list(record.events.get(ids[3]))
        assert vars(shredded[0])["personal"] == SHREDDED
        assert not any("déjà mobilisée 2" in repr(vars(e)) for e in shredded)
    finally:
        record.close()


def test_the_inlined_mutate_keeps_the_library_s_checks(store_env: dict[str, str]) -> None:
    record = Record(store_env)
    try:
        ententes = Ententes(record, POLICY)
        content = factories.service_entente(effective=None, notice_days=0)
        for code in ("ONE", "TWO"):
            ententes.draft(c.DraftEntente(by="t", code=code, content=content, command_id=f"d{code}"), AT)
            ententes.execute(
                code, c.SubmitForSignature(by="t", command_id=f"s{code}", signature_deadline=AT + timedelta(days=5)), AT
            )
            ententes.advance(code, AT + timedelta(days=3, hours=1))
        one, two = (list(record.events.get(entente_id(code))) for code in ("ONE", "TWO"))
        assert _applier(type(one[-1])) is not None  # a reminder: applied inline
        assert _applier(type(one[0])) is None  # the created event: its own `mutate`
        with pytest.raises(OriginatorVersionError):
            project_events(None, [*one[:2], *one[3:]])  # one missing
        with pytest.raises(OriginatorVersionError):
            project_events(None, [*one[:3], one[2]])  # one twice
        with pytest.raises(OriginatorIDError):
            project_events(None, [*one[:3], two[3]])  # another aggregate's
        assert state(project_events(None, one)) == state(project_aggregate(None, one))
    finally:
        record.close()
