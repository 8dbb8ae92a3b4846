"""The engine's own metrics, through the OpenTelemetry metrics API (a no-op until a meter provider is installed).

What they count is read off what the record appends (`observe_saved`, called by `Record.save`: a webhook attempt
is an event of its delivery log) and off `audit verify`: nothing in the workflows or the activities. Attributes
are kinds, stages, standards and outcomes; never a case code, a subject id or a text.

- `arrimage.events.appended` {aggregate}: events appended to the record;
- `arrimage.cases.opened`, `arrimage.cases.stage_entered` {stage}, `arrimage.cases.closed` {closure};
- `arrimage.deadlines.missed` {standard};
- `arrimage.handoff.latency` {answer} (seconds, histogram): from a team asked to its answer;
- `arrimage.webhooks.deliveries` {outcome, channel}, `arrimage.webhooks.failures` {outcome, channel}: each
  attempt (channel: `webhook`, a partner's endpoint; `fhir_subscription`, a FHIR subscription's);
- `arrimage.audit.verify_runs` {result}.

With the Prometheus option the same figures are mirrored on the Temporal runtime's meter (`mirror`), so the one
endpoint serves the SDK's metrics and the engine's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from opentelemetry import metrics
from opentelemetry.metrics import Meter, MeterProvider

Attributes = Mapping[str, str]

# The crisis case's events after which its stage is a new one (domain.crisis.aggregate).
STAGE_EVENTS = frozenset({"TeamAsked", "HandoffAccepted", "Escalated", "OutcomeRecorded", "HandedBack",
                          "FollowUpStarted", "ReferralSent", "PersonReachedService", "CaseClosed", "Reassigned"})
# The events that end one HTTP attempt to a partner: its webhooks, and the FHIR subscriptions' handshakes and
# notifications; by channel.
WEBHOOK_ATTEMPTS = {
    ("DeliveryLog", "Attempted"): "webhook",
    ("Subscription", "HandshakeAttempted"): "fhir_subscription",
    ("Subscription", "NotificationAttempted"): "fhir_subscription",
}
HANDOFF_ANSWERS = {"HandoffAccepted": "accepted", "HandoffDeclined": "declined", "HandoffTimedOut": "timed_out"}


class Mirror(Protocol):
    """Where the figures are also written (the Temporal runtime's meter under the Prometheus option)."""

    def add(self, name: str, value: int, attributes: Attributes) -> None: ...

    def record(self, name: str, value: float, attributes: Attributes) -> None: ...


COUNTERS = {
    "arrimage.events.appended": "events appended to the record, by aggregate kind",
    "arrimage.cases.opened": "crisis cases opened",
    "arrimage.cases.stage_entered": "crisis cases entering a stage",
    "arrimage.cases.closed": "crisis cases closed, by closure kind",
    "arrimage.deadlines.missed": "deadlines missed, by access standard",
    "arrimage.webhooks.deliveries": "webhook delivery attempts, by outcome",
    "arrimage.webhooks.failures": "webhook delivery attempts that did not deliver, by outcome",
    "arrimage.audit.verify_runs": "audit verify runs, by result",
}
HISTOGRAMS = {"arrimage.handoff.latency": ("s", "from a team asked to its answer, by answer")}


class EngineMetrics:
    """`enabled` False (the process's default until `install`): `observe_saved` returns at once, so a save in a
    process that exports no metrics (the CLI, `up` by default, benchmarks) pays nothing for them."""

    def __init__(self, meter: Meter, mirror: Mirror | None = None, *, enabled: bool = True) -> None:
        self.mirror = mirror
        self.enabled = enabled
        self._counters = {name: meter.create_counter(name, unit="1", description=d) for name, d in COUNTERS.items()}
        self._histograms = {name: meter.create_histogram(name, unit=u, description=d)
                            for name, (u, d) in HISTOGRAMS.items()}

    def add(self, name: str, value: int = 1, **attributes: str) -> None:
        self._counters[name].add(value, attributes)
        if self.mirror is not None:
            self.mirror.add(name, value, attributes)

    def record(self, name: str, value: float, **attributes: str) -> None:
        self._histograms[name].record(value, attributes)
        if self.mirror is not None:
            self.mirror.record(name, value, attributes)

    # ------------------------------------------------------------------ what the record appended
    def observe_saved(self, aggregates: Iterable[Any], events: Iterable[Any]) -> None:
        """Count what one save appended: `events` (domain events), of `aggregates` (by id, for their state)."""
        if not self.enabled:
            return
        by_id = {getattr(a, "id", None): a for a in aggregates}
        kinds: dict[str, int] = {}
        for ev in events:
            kind, _, name = type(ev).__qualname__.rpartition(".")
            kind = kind or "event"
            kinds[kind] = kinds.get(kind, 0) + 1
            if kind == "CrisisCase":
                self._crisis(name, ev, by_id.get(getattr(ev, "originator_id", None)))
            elif (kind, name) in WEBHOOK_ATTEMPTS:  # one attempt's end (domain.delivery, domain.fhir.subscriptions)
                outcome, channel = str(getattr(ev, "outcome", "")), WEBHOOK_ATTEMPTS[kind, name]
                self.add("arrimage.webhooks.deliveries", outcome=outcome, channel=channel)
                if outcome != "delivered":
                    self.add("arrimage.webhooks.failures", outcome=outcome, channel=channel)
        for kind, n in kinds.items():
            self.add("arrimage.events.appended", n, aggregate=kind)

    def _crisis(self, name: str, ev: Any, case: Any) -> None:
        if name == "Opened":
            self.add("arrimage.cases.opened")
        if name == "CaseClosed":
            self.add("arrimage.cases.closed", closure=str(getattr(ev, "kind", "")))
        if name == "DeadlineMissed" and case is not None:
            deadline = getattr(case, "deadlines", {}).get(getattr(ev, "deadline_id", None))
            self.add("arrimage.deadlines.missed", standard=str(getattr(deadline, "standard_id", "unknown")))
        if name in STAGE_EVENTS and case is not None and getattr(case, "stage", None) is not None:
            self.add("arrimage.cases.stage_entered", stage=str(case.stage))
        if name in HANDOFF_ANSWERS and case is not None:
            number = getattr(ev, "number", 0)
            attempts = getattr(case, "attempts", [])
            if 0 < number <= len(attempts):
                latency = (ev.at - attempts[number - 1].asked_at).total_seconds()
                self.record("arrimage.handoff.latency", max(latency, 0.0), answer=HANDOFF_ANSWERS[name])


_engine = EngineMetrics(metrics.get_meter("arrimage"), enabled=False)


def engine() -> EngineMetrics:
    """The process's engine metrics (on the global meter provider until `install` names one)."""
    return _engine


def install(provider: MeterProvider | None = None, mirror: Mirror | None = None) -> EngineMetrics:
    """Record the engine's metrics on `provider` (default: the global one), mirrored on `mirror`; returns the
    previous ones (a test puts them back)."""
    global _engine
    previous = _engine
    meter = (provider.get_meter("arrimage") if provider is not None else metrics.get_meter("arrimage"))
    _engine = EngineMetrics(meter, mirror)
    return previous


def restore(previous: EngineMetrics) -> None:
    global _engine
    _engine = previous
