"""Use cases of disclosure: a thin list, each loading, deciding, saving.

No rule lives here: `rules.decide` decides, the aggregates record. `at` is the
business moment of recording given by the caller (the workflow's clock); the
moment of an access is the request's own `moment`.

The crisis handoff calls `emergency_disclosure` when it sends information to a
mobile team without consent; the CLI's `arrimage audit register|accesses|
exceptions` call `entries_about` / `register`, `accesses`, `exceptions`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from datetime import datetime

from eventsourcing.application import AggregateNotFoundError

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
    def __init__(self, record: Record, config: DisclosureConfig | None = None) -> None:
        self.record = record
        self.config = config or default_config()

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
        granted = self.record.events_of(Consent.Granted)  # type: ignore[attr-defined]
        keys = [ev.consent_key for ev in granted if ev.subject_id == subject_id]
        return [self.consent(subject_id, k) for k in keys]

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
        return [ev.subject_id for ev in self.record.events_of(DisclosureRegister.Opened)]  # type: ignore[attr-defined]

    def registers(self) -> Iterator[RegisterView]:
        for subject in self.subjects():
            yield self.register(subject)

    def accesses(
        self, *, subject_id: str | None = None, actor_id: str | None = None, since: datetime | None = None,
        until: datetime | None = None,
    ) -> builtins.list[Decision]:
        """Every decision on reading or sending content: who, what, when, purpose, basis."""
        views = [self.register(subject_id)] if subject_id else list(self.registers())
        out = [
            d for v in views for d in v.accesses
            if (actor_id is None or d.actor_id == actor_id)
            and (since is None or d.moment >= since) and (until is None or d.moment < until)
        ]
        return sorted(out, key=lambda d: d.moment)

    def communications(self) -> builtins.list[CommunicationEntry]:
        return sorted((e for v in self.registers() for e in v.communications), key=lambda e: e.communicated_at)

    def pending_reviews(self) -> builtins.list[EmergencyDisclosureView]:
        return [e for v in self.registers() for e in v.emergencies if e.pending]

    def exceptions(self, now: datetime, *, since: datetime | None = None,
                   until: datetime | None = None) -> ExceptionReport:
        """The exception report of the period (`domain.disclosure.exceptions`); `now` from the caller."""
        decisions = self.accesses(since=since, until=until)
        consents = {s: self.consents_for(s) for s in sorted({d.subject_id for d in decisions if uses_consent(d)})}
        return exception_report(list(self.registers()), decisions, consents, now, since=since, until=until)
