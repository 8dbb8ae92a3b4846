"""The consent aggregate: one person's consent to one purpose, from its grant to its withdrawal.

Required elements follow LRSSS 6 (and LSSSS 19.1 for research before the
switch): manifest, free and informed; one purpose; recipients; the items
covered; the form (written where required); a limited validity period. A
consent missing any of them has no effect, so it is refused at creation with a
message naming what is missing, and nothing is recorded.

The grantor's capacity is decided at the grant from the person's age on that
day (14 years: LRSSS 6 para 4); the birth date itself is never recorded, only
the capacity decision and the article it relied on. Free text (the purpose as
worded, the document reference) goes in `personal`, which the audit layer
encrypts per person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.clock import local_date
from domain.disclosure import commands as c
from domain.disclosure.legal_bases import Concept, DisclosureConfig, Law
from domain.disclosure.model import ConsentForm, ConsentState, ConsentView, GrantorCapacity
from domain.disclosure.roles import PurposeKind
from domain.errors import RuleViolation

NAMESPACE = UUID("3c9e7d14-52a8-4f0b-b6e1-8d2f4a7c9b35")

# Purposes whose consent must be written. LSSSS 19.1: research consent is written or without
# effect. The LRSSS (s. 6) asks for a manifest consent; written form for research is kept as
# the institution's policy after the switch (an open question for counsel).
WRITTEN_REQUIRED = frozenset({PurposeKind.RESEARCH})


def consent_id(subject_id: str, consent_key: str) -> UUID:
    """Deterministic id from the business key: a retried grant finds the consent it made."""
    return uuid5(NAMESPACE, f"consent:{subject_id}:{consent_key}")


def _refuse(code: str, message: str) -> RuleViolation:
    return RuleViolation(message, code=code)


def check_grant(cmd: c.GrantConsent, at: datetime, config: DisclosureConfig) -> str:
    """Refuse an incomplete or ineffective consent; return the article the capacity decision relies on."""
    day = local_date(at)
    article = config.cite(day, Concept.CONSENT)
    missing = [
        name for name, value in (
            ("purpose", cmd.purpose), ("recipients", cmd.recipients), ("items", cmd.items), ("form", cmd.form),
            ("valid_from", cmd.valid_from), ("valid_until", cmd.valid_until),
        ) if not value
    ]
    if missing:
        raise _refuse("consent_incomplete",
                      f"a consent must name {', '.join(missing)} ({article}: otherwise it has no effect)")
    assert cmd.valid_from is not None and cmd.valid_until is not None  # narrowed by `missing`
    if not cmd.free_and_informed:
        raise _refuse("consent_not_free_informed",
                      f"the consent must be attested manifest, free and informed ({article})")
    if cmd.valid_until <= cmd.valid_from:
        raise _refuse("consent_period", "a consent's validity must end after it begins")
    if cmd.valid_until <= at:
        raise _refuse("consent_period", "a consent that has already expired has no effect")
    if cmd.purpose in WRITTEN_REQUIRED and cmd.form is not ConsentForm.WRITTEN:
        where = "LSSSS-19.1" if config.law_for(day) is Law.LSSSS else "politique (LRSSS-6)"
        raise _refuse("consent_not_written", f"a consent for {cmd.purpose.value} must be written ({where})")
    if cmd.form is ConsentForm.WRITTEN:
        if not cmd.document_ref:
            raise _refuse("consent_document_missing", "a written consent names its signed document")
        if cmd.presented_separately is not True:
            raise _refuse("consent_not_separate",
                          f"a written request for consent is presented apart from any other information ({article})")
    _check_capacity(cmd, day, article)
    return article


def _check_capacity(cmd: c.GrantConsent, day: Any, article: str) -> None:
    if cmd.capacity is GrantorCapacity.HEIR:
        if not cmd.subject_deceased:
            raise _refuse("capacity_heir_alive", "an heir or liquidator consents only for a deceased person")
        if not cmd.capacity_proof_ref:
            raise _refuse("capacity_proof_missing", "an heir or liquidator shows proof of their capacity")
        return
    if cmd.subject_deceased:
        raise _refuse("subject_deceased", "the person is deceased: only an heir or liquidator may consent")
    if cmd.capacity is GrantorCapacity.REPRESENTATIVE:
        if not cmd.capacity_proof_ref:
            raise _refuse("capacity_proof_missing", "a representative shows proof of their capacity")
        return
    if cmd.subject_birth_date is None:
        raise _refuse("age_unknown", f"the person's birth date is needed to decide who consents ({article})")
    b = cmd.subject_birth_date
    age = day.year - b.year - ((day.month, day.day) < (b.month, b.day))
    if cmd.capacity is GrantorCapacity.SELF:
        if cmd.grantor_id != cmd.subject_id:
            raise _refuse("grantor_not_subject", "a consent in one's own name is given by the person")
        if age < 14:
            raise _refuse("capacity_under_14",
                          f"a person under 14 consents through a parent or tutor ({article})")
    elif cmd.capacity is GrantorCapacity.PARENT_OR_TUTOR:
        if cmd.grantor_id == cmd.subject_id:
            raise _refuse("grantor_is_subject", "a parent or tutor consents for someone else")
        if age >= 14:
            raise _refuse("capacity_14_plus", f"a person aged 14 or over consents alone ({article})")


def check_withdraw(view: ConsentView, cmd: c.WithdrawConsent) -> None:
    if view.withdrawn_at is not None:
        raise _refuse("already_withdrawn", f"consent {view.consent_key} was already withdrawn")
    if cmd.withdrawn_at < view.granted_at:
        raise _refuse("withdrawn_before_grant", "a consent cannot be withdrawn before it was given")


class Consent(Aggregate):
    @staticmethod
    def create_id(subject_id: str, consent_key: str, **_: Any) -> UUID:
        return consent_id(subject_id, consent_key)

    @event("Granted")
    def __init__(
        self, subject_id: str, consent_key: str, grantor_id: str, capacity: str, capacity_article: str,
        purpose: str, recipients: list[str], items: list[str], form: str, valid_from: datetime,
        valid_until: datetime, at: datetime, command_id: str, personal: dict[str, Any],
    ) -> None:
        self.subject_id = subject_id
        self.consent_key = consent_key
        self.grantor_id = grantor_id
        self.capacity = GrantorCapacity(capacity)
        self.capacity_article = capacity_article
        self.purpose = PurposeKind(purpose)
        self.recipients = list(recipients)
        self.items = list(items)
        self.form = ConsentForm(form)
        self.valid_from = valid_from
        self.valid_until = valid_until
        self.granted_at = at
        self.withdrawn_at: datetime | None = None
        self.personal = dict(personal)
        self.applied: set[str] = {command_id} if command_id else set()

    @classmethod
    def grant(cls, cmd: c.GrantConsent, at: datetime, config: DisclosureConfig) -> Consent:
        article = check_grant(cmd, at, config)
        # narrowed by check_grant (it refuses a consent missing any of these)
        assert cmd.purpose and cmd.form and cmd.valid_from and cmd.valid_until
        return cls(
            subject_id=cmd.subject_id, consent_key=cmd.consent_key, grantor_id=cmd.grantor_id,
            capacity=cmd.capacity.value, capacity_article=article, purpose=cmd.purpose.value,
            recipients=list(cmd.recipients), items=list(dict.fromkeys(cmd.items)), form=cmd.form.value,
            valid_from=cmd.valid_from, valid_until=cmd.valid_until, at=at, command_id=cmd.command_id,
            personal={
                "purpose_text": cmd.purpose_text, "document_ref": cmd.document_ref,
                "capacity_proof_ref": cmd.capacity_proof_ref, "ethics_committee_ref": cmd.ethics_committee_ref,
            },
        )

    def already(self, cmd: c.Command) -> bool:
        return bool(cmd.command_id) and cmd.command_id in self.applied

    def view(self) -> ConsentView:
        return ConsentView(
            consent_id=str(self.id), subject_id=self.subject_id, consent_key=self.consent_key,
            grantor_id=self.grantor_id, capacity=self.capacity, capacity_article=self.capacity_article,
            purpose=self.purpose, recipients=self.recipients, items=self.items, form=self.form,
            valid_from=self.valid_from, valid_until=self.valid_until, granted_at=self.granted_at,
            withdrawn_at=self.withdrawn_at, event_count=self.version,
        )

    def state_at(self, moment: datetime) -> ConsentState:
        return self.view().state_at(moment)

    def withdraw(self, cmd: c.WithdrawConsent, at: datetime) -> None:
        if self.already(cmd):
            return
        check_withdraw(self.view(), cmd)
        self._withdrawn(subject_id=self.subject_id, withdrawn_at=cmd.withdrawn_at, at=at,
                        command_id=cmd.command_id, personal={"reason": cmd.reason})

    @event("Withdrawn")
    def _withdrawn(
        self, subject_id: str, withdrawn_at: datetime, at: datetime, command_id: str, personal: dict[str, Any]
    ) -> None:
        self.withdrawn_at = withdrawn_at
        if command_id:
            self.applied.add(command_id)
