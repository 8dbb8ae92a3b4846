"""Use cases of disclosure: a thin list, each loading, deciding, saving.

No rule lives here: `rules.decide` decides, the aggregates record. `at` is the
business moment of recording given by the caller (the workflow's clock); the
moment of an access is the request's own `moment`.

The crisis handoff calls `emergency_disclosure` when it sends information to a
mobile team without consent; the CLI's `arrimage audit register|accesses|
exceptions` call `entries_about` / `register`, `accesses`, `exceptions`.

Which consents a person has, which registers there are and which hold an entry of a kind in a period are read from
the listings view (`adapters.record.listings`, caught up first: exactly what the scan of the notification log
finds, at the cost of an indexed query); each consent and register is then loaded from its hash-chained events,
and every decision and report is made on those. `from_view=False` (and a store without a view) scans instead.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from datetime import datetime

from eventsourcing.application import AggregateNotFoundError

from adapters.record.listings import ListingsView, caught_up
from adapters.record.record import Record
from domain.disclosure import commands as c
from domain.disclosure import rules
from domain.disclosure.consent import Consent, consent_id
from domain.disclosure.exceptions import ExceptionReport, exception_report, uses_consent
from domain.disclosure.legal_bases import DisclosureConfig, default_config
from domain.disclosure.model import ConsentView, Decision, DisclosureContext
from domain.disclosure.register import (
    CommunicationEntry,
    DisclosureRegister,
    EmergencyDisclosureView,
    RegisterView,
    register_id,
)
from domain.errors import DomainError, NotFound


class Disclosures:
    def __init__(self, record: Record, config: DisclosureConfig | None = None, *, from_view: bool = True) -> None:
        self.record = record
        self.config = config or default_config()
        self.from_view = from_view

    def _listings(self) -> ListingsView | None:
        """The listings view caught up with the record, or None: scan (asked, or no view on this store)."""
        listings = caught_up(self.record) if self.from_view else None
        return listings.view if listings is not None else None

    # ------------------------------------------------------------------ consent
    def grant_consent(self, cmd: c.GrantConsent, at: datetime) -> ConsentView:
        """Record a consent; a retry (same key, same command) returns what it made."""
        try:
            existing = self._consent(cmd.subject_id, cmd.consent_key)
        except NotFound:
            consent = Consent.grant(cmd, at, self.config)
            self.record.save(consent)
            return consent.view()
        if existing.already(cmd):
            return existing.view()
        raise DomainError(f"consent {cmd.consent_key} already exists for this person", code="duplicate_consent")

    def withdraw_consent(self, cmd: c.WithdrawConsent, at: datetime) -> ConsentView:
        consent = self._consent(cmd.subject_id, cmd.consent_key)
        consent.withdraw(cmd, at)
        self.record.save(consent)
        return consent.view()

    def consent(self, subject_id: str, consent_key: str) -> ConsentView:
        return self._consent(subject_id, consent_key).view()

    def consents_for(self, subject_id: str) -> builtins.list[ConsentView]:
        """The person's consents, in the order they were granted, each loaded from its chained events."""
        return [self.consent(subject_id, k) for k in self.consent_keys(subject_id)]

    def consent_keys(self, subject_id: str) -> builtins.list[str]:
        """The keys of the person's consents, in the order they were granted: an indexed query on the view."""
        if (view := self._listings()) is not None:
            return view.consent_keys(subject_id)
        granted = self.record.events_of(Consent.Granted, sealed=True)  # type: ignore[attr-defined]
        return [ev.consent_key for ev in granted if ev.subject_id == subject_id]

    def _consent(self, subject_id: str, consent_key: str) -> Consent:
        try:
            found: Consent = self.record.repository.get(consent_id(subject_id, consent_key))
        except AggregateNotFoundError:
            raise NotFound(f"no consent {consent_key} for this person") from None
        return found

    # ------------------------------------------------------------------ decisions
    def decide(self, req: c.RequestAccess, ctx: DisclosureContext) -> Decision:
        """The decision without recording it (an update validator's preview)."""
        return rules.decide(req, self._with_consents(req.subject_id, ctx), self.config)

    def decide_and_record(self, req: c.RequestAccess, ctx: DisclosureContext, at: datetime | None = None) -> Decision:
        """Decide and record the decision, allowed or refused; a retried request returns the first decision."""
        register = self._register(req.subject_id)
        done = register.decision(rules.decision_id(req))
        if done is not None:
            return done
        decision = self.decide(req, ctx)
        register.record(decision, req, at or req.moment)
        self.record.save(register)
        return decision

    def emergency_disclosure(
        self, cmd: c.DiscloseInEmergency, ctx: DisclosureContext, at: datetime
    ) -> EmergencyDisclosureView:
        """LSSSS 19.0.1 / LRSSS 74. Refused (nothing recorded) unless every condition is attested."""
        req = rules.emergency_request(cmd, self.config)
        register = self._register(cmd.subject_id)
        done = register.emergencies.get(rules.decision_id(req))
        if done is not None:
            return done
        decision = self.decide(req, ctx)
        due = rules.emergency_review_due(cmd, self.config)
        view = register.record_emergency(decision, req, cmd, at, review_due=due)
        self.record.save(register)
        return view

    def review_emergency(self, cmd: c.ReviewEmergencyDisclosure, at: datetime) -> EmergencyDisclosureView:
        register = self._existing_register(cmd.subject_id)
        view = register.review(cmd, at)
        self.record.save(register)
        return view

    def _with_consents(self, subject_id: str, ctx: DisclosureContext) -> DisclosureContext:
        if ctx.consents is not None:
            return ctx
        return ctx.model_copy(update={"consents": self.consents_for(subject_id)})

    def _register(self, subject_id: str) -> DisclosureRegister:
        try:
            return self._existing_register(subject_id)
        except NotFound:
            return DisclosureRegister(subject_id=subject_id)

    def _existing_register(self, subject_id: str, version: int | None = None) -> DisclosureRegister:
        try:
            found: DisclosureRegister = self.record.repository.get(register_id(subject_id), version=version)
        except AggregateNotFoundError:
            raise NotFound("no disclosure register for this person") from None
        return found

    # ------------------------------------------------------------------ the register
    def register(self, subject_id: str, *, as_of_event: int | None = None) -> RegisterView:
        return self._existing_register(subject_id, as_of_event).view()

    def entries_about(self, subject_id: str) -> builtins.list[CommunicationEntry]:
        """The person's right to obtain the register entries about them (LRSSS 265 with s. 18; LSSSS 27.2)."""
        try:
            return self.register(subject_id).communications
        except NotFound:
            return []

    def subjects(self) -> builtins.list[str]:
        """The subject of every register, in the order the registers were opened (ids only, nothing opened)."""
        if (view := self._listings()) is not None:
            return view.register_subjects()
        opened = DisclosureRegister.Opened  # type: ignore[attr-defined]
        return [ev.subject_id for ev in self.record.events_of(opened, sealed=True)]

    def registers(self, subjects: Iterable[str] | None = None) -> Iterator[RegisterView]:
        for subject in self.subjects() if subjects is None else subjects:
            yield self.register(subject)

    def _holding(self, kinds: tuple[str, ...], since: datetime | None = None,
                 until: datetime | None = None) -> builtins.list[str]:
        """The subjects, in register order, whose register may hold an entry of `kinds` in [since, until): from the
        view, those that do; scanning, every register (the callers filter the entries they load)."""
        if (view := self._listings()) is None:
            return self.subjects()
        holding = view.subjects_with(kinds, since, until)
        return [s for s in view.register_subjects() if s in holding]

    def accesses(
        self, *, subject_id: str | None = None, actor_id: str | None = None, since: datetime | None = None,
        until: datetime | None = None,
    ) -> builtins.list[Decision]:
        """Every decision on reading or sending content: who, what, when, purpose, basis."""
        views = [self.register(subject_id)] if subject_id else list(
            self.registers(self._holding(("access",), since, until)))
        return _accesses(views, actor_id, since, until)

    def communications(self) -> builtins.list[CommunicationEntry]:
        return sorted((e for v in self.registers(self._holding(("communication",))) for e in v.communications),
                      key=lambda e: e.communicated_at)

    def pending_reviews(self) -> builtins.list[EmergencyDisclosureView]:
        return [e for v in self.registers(self._holding(("emergency",))) for e in v.emergencies if e.pending]

    def exceptions(self, now: datetime, *, since: datetime | None = None,
                   until: datetime | None = None) -> ExceptionReport:
        """The exception report of the period (`domain.disclosure.exceptions`); `now` from the caller. Only the
        registers with an access, an emergency disclosure or a refusal in the period are loaded (the others add
        nothing to the report)."""
        views = list(self.registers(self._holding(("access", "emergency", "refusal"), since, until)))
        decisions = _accesses(views, None, since, until)
        consents = {s: self.consents_for(s) for s in sorted({d.subject_id for d in decisions if uses_consent(d)})}
        return exception_report(views, decisions, consents, now, since=since, until=until)


def _accesses(views: Iterable[RegisterView], actor_id: str | None, since: datetime | None,
              until: datetime | None) -> builtins.list[Decision]:
    """The decisions of `views` by `actor_id` (any when None) in [since, until), by moment."""
    out = [
        d for v in views for d in v.accesses
        if (actor_id is None or d.actor_id == actor_id)
        and (since is None or d.moment >= since) and (until is None or d.moment < until)
    ]
    return sorted(out, key=lambda d: d.moment)
