"""The engine's own metrics (issue 12, adapters.telemetry.metrics): read off what the record appends, through the
OpenTelemetry SDK's in-memory reader; attributes are standards, stages, answers and outcomes, never a case code or
a subject id. The cases are driven through the use cases on a record, as activities drive them (seed 001's
standards: aaor.analyse L784-785, crise.reponse_equipe)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from adapters.record.record import Record
from adapters.telemetry import metrics
from domain.crisis import commands as c
from domain.crisis.model import IntakeService, UrgencyLevel
from domain.crisis.state import CaseStage
from domain.delivery.aggregate import DeliveryLog
from domain.delivery.model import Attempt, MessageType, Outcome, SubjectKind
from domain.fhir.subscriptions import Subscription
from domain.standards import config as s
from tests.audit_builders import open_case
from tests.crisis_builders import CSSS, DAY, MIN, SUBJECT, T0, TEAM, request
from tests.crisis_world import CODE, World
from usecases.audit.trail import verify
from usecases.crisis import CrisisCases

Points = dict[str, dict[tuple[tuple[str, Any], ...], Any]]


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    found = InMemoryMetricReader()
    previous = metrics.install(MeterProvider(metric_readers=[found]))
    yield found
    metrics.restore(previous)


def points(reader: InMemoryMetricReader) -> Points:
    """Each metric's value (a histogram: its count and sum) by its attributes."""
    data = reader.get_metrics_data()
    found: Points = {}
    for rm in data.resource_metrics if data is not None else []:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    key = tuple(sorted((p.attributes or {}).items()))
                    found.setdefault(m.name, {})[key] = (
                        p.value if isinstance(p, NumberDataPoint) else (getattr(p, "count", 0), getattr(p, "sum", 0)))
    return found


def test_a_missed_deadline_counts_by_its_standard(reader: InMemoryMetricReader) -> None:
    """aaor.analyse (L784-785): ten days without a decision, DeadlineMissed and an escalation."""
    w = World()
    w.open(service=IntakeService.AAOR, urgency=UrgencyLevel.NONE, face=False)
    w.cases.advance(CODE, T0 + 10 * DAY)
    found = points(reader)
    assert found["arrimage.deadlines.missed"] == {(("standard", s.AAOR_ANALYSE),): 1}
    assert found["arrimage.cases.opened"] == {(): 1}
    assert found["arrimage.events.appended"][(("aggregate", "CrisisCase"),)] == len(w.events())


def test_handoff_latency_from_the_ask_to_each_answer(reader: InMemoryMetricReader) -> None:
    """A team declines a minute after it was asked; the next candidate, asked at once, lets its 10 minutes run
    out (crise.reponse_equipe): the case escalates to a supervisor (as test_crisis_case's escalation test)."""
    w = World()
    w.open()
    w.do(request(), T0)
    w.do(c.DeclineHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id, reason="occupée"), T0 + MIN)
    view = w.cases.advance(CODE, T0 + 11 * MIN)
    assert view.stage is CaseStage.SUPERVISOR and view.attempts[-1].asked_at == T0 + MIN
    found = points(reader)
    latency = found["arrimage.handoff.latency"]
    assert latency[(("answer", "declined"),)] == (1, 60.0)
    assert latency[(("answer", "timed_out"),)] == (1, 600.0)
    stages = found["arrimage.cases.stage_entered"]
    assert stages[(("stage", "transfert"),)] >= 1 and stages[(("stage", "escalade"),)] == 1
    for name, by in found.items():
        for attributes in by:
            assert all(SUBJECT not in str(v) and CODE not in str(v) for _, v in attributes), (name, attributes)


def test_webhook_attempts_and_failures_by_outcome(reader: InMemoryMetricReader) -> None:
    """Each attempt's end is an event: of the subject's delivery log (a 503 retried, then delivered), of a FHIR
    subscription (its handshake refused)."""
    record = Record(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    log = DeliveryLog(kind=SubjectKind.CASE.value, subject=CODE)
    at = datetime(2026, 3, 2, 14, tzinfo=UTC)
    log.queue("evt-1", MessageType.HANDOFF_REQUESTED, "cc-laval", "https://cc.example/hook", {}, at)
    log.attempted("evt-1", Attempt(attempt=1, at=at, outcome=Outcome.RETRYING, status=503))
    record.save(log)
    log.attempted("evt-1", Attempt(attempt=2, at=at, outcome=Outcome.DELIVERED, status=200))
    record.save(log)
    subscription = Subscription(  # a FHIR subscription's handshake, refused by the partner: the other channel
        subscription_id=str(uuid4()), org_id="cc-laval", topic="Task", owner="cc-laval",
        endpoint="https://cc.example/fhir-hook", base="https://arrimage.example/fhir", reason="", end=None,
        by="cc-laval", at=at)
    subscription.handshake_attempted(Attempt(attempt=1, at=at, outcome=Outcome.REFUSED, status=404))
    record.save(subscription)
    found = points(reader)
    assert found["arrimage.webhooks.deliveries"] == {(("channel", "webhook"), ("outcome", "retrying")): 1,
                                                     (("channel", "webhook"), ("outcome", "delivered")): 1,
                                                     (("channel", "fhir_subscription"), ("outcome", "refused")): 1}
    assert found["arrimage.webhooks.failures"] == {(("channel", "webhook"), ("outcome", "retrying")): 1,
                                                   (("channel", "fhir_subscription"), ("outcome", "refused")): 1}
    assert found["arrimage.events.appended"] == {(("aggregate", "DeliveryLog"),): 4,
                                                 (("aggregate", "Subscription"),): 2}


def test_audit_verify_runs_by_result(reader: InMemoryMetricReader, tmp_path: Path) -> None:
    record = Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "r.db")})
    try:
        open_case(CrisisCases(record))
        assert verify(record).ok
        assert verify(record).ok
    finally:
        record.close()
    assert points(reader)["arrimage.audit.verify_runs"] == {(("result", "ok"),): 2}
