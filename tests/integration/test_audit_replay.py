"""Replay on a real record (SQLite and PostgreSQL), at the use-case level: `--as-of` is the *recorded* timestamp of the
events, inclusive, and each replay is one decision in the person's register."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.record.record import Record
from domain.audit.replay import AggregateRef
from domain.crisis import commands as cc
from domain.crisis.model import InterventionOutcome
from domain.disclosure.roles import Role
from tests.audit_builders import CASE, CSSS, PERSON, T0, open_case
from tests.crisis_builders import TEAM, request
from usecases.audit.replays import Replays
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_as_of_is_inclusive_of_the_event_recorded_at_that_moment(store_env: dict[str, str]) -> None:
    """Rebuild up to the last event recorded at or before the moment (repository.get(id, version=n)):
    the moment of event 2 itself gives version 2; one microsecond earlier gives version 1."""
    record = Record(store_env)
    cases = CrisisCases(record)
    open_case(cases)
    cases.execute(CASE, request(), T0)
    replays = Replays(record)
    ref = AggregateRef.parse(f"case:{CASE}")
    second = replays.events(ref)[1].recorded_at
    at = replays.replay(ref, role=Role.AUDITOR, actor_id="a-1", moment=NOW, as_of=second)
    just_before = replays.replay(ref, role=Role.AUDITOR, actor_id="a-1", moment=NOW,
                                 as_of=second - timedelta(microseconds=1))
    assert (at.version, at.items[0].value["stage"]) == (2, "transfert")
    assert (just_before.version, just_before.items[0].value["stage"]) == (1, "accueil")
    assert [d.decision_id for d in Disclosures(record).accesses(subject_id=PERSON)] == [at.access_id,
                                                                                     just_before.access_id]
    record.close()


def test_personal_content_of_later_events_is_laid_out_per_event(store_env: dict[str, str]) -> None:
    """Each key of each event's `personal` part is one item of the decision; a supervisor reading for an
    audit gets the metadata (POL-AUDIT) and none of it."""
    record = Record(store_env)
    cases = CrisisCases(record)
    open_case(cases)
    cases.execute(CASE, request(), T0)
    cases.execute(CASE, cc.AcceptHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id), T0)
    cases.execute(CASE, cc.RecordArrival(by="eq-1", actor_org=CSSS), T0)
    cases.execute(CASE, cc.RecordOutcome(by="eq-1", actor_org=CSSS, outcome=InterventionOutcome.CRISIS_RESOLVED,
                                         subject_id=PERSON, personal={"notes": "apaisé"}), T0)
    r = Replays(record).replay(AggregateRef.parse(f"case:{CASE}"), role=Role.SUPERVISOR, actor_id="s-1", moment=NOW)
    assert [(i.name, i.status.value, i.code) for i in r.items] == [
        ("etat du dossier", "shown", None), ("journal des evenements", "shown", None),
        ("reason", "withheld", "metadata_only"), ("person_ref", "withheld", "metadata_only"),
        ("notes", "withheld", "metadata_only"),
    ]
    assert r.events is not None
    assert r.events[-1].payload["personal"] == {"notes": {"withheld": "metadata_only", "article": "POL-AUDIT"}}
    record.close()
