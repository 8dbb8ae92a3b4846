"""The register: one aggregate per person, holding every disclosure decision about them.

Events (the legal record of disclosure):
- `AccessDecided`: every decision on reading or sending content, allowed or not:
  who, what, when, purpose, basis (LRSSS 103 once in force; our policy before).
- `CommunicationRegistered`: a communication outside the care team, with the
  nature of the information, the recipient, intended use, purpose and
  justification (LSSSS 27.2 / LRSSS 265). The person obtains these entries.
- `EmergencyDisclosureRecorded` / `EmergencyDisclosureReviewed`: a disclosure
  to prevent an act of violence, including suicide (LSSSS 19.0.1 / LRSSS 74),
  with its record note, queued for a supervisor's review.
- `RefusalIssued`: a reasoned refusal, its article, recourse and deadline (LSSSS 27).

Convention for the audit layer: every event carries the opaque `subject_id`
in clear, and anything about the person in words inside `personal`, which is
encrypted per person (and shredded with that person's key). Roles, item names,
basis codes and timestamps are metadata, in clear.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.disclosure import commands as c
from domain.disclosure import rules
from domain.disclosure.model import Decision, EmergencyParticulars
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes.model import Frozen
from domain.errors import NotFound, RuleViolation

NAMESPACE = UUID("a4d81f60-7c2e-4b9a-8e15-2f6b3c9d0e47")


def register_id(subject_id: str) -> UUID:
    return uuid5(NAMESPACE, f"register:{subject_id}")


class CommunicationEntry(Frozen):
    """One entry of the register of communications, as the person or an auditor obtains it."""

    decision_id: str
    subject_id: str
    recipient_id: str
    role: Role
    nature: list[str]  # the items communicated: nature and type of the information
    purpose: PurposeKind
    basis_code: str
    consent_id: str | None
    register_article: str | None
    communicated_at: datetime
    intended_use: str | None = None  # personal
    justification: str | None = None  # personal
    purpose_text: str | None = None  # personal


class EmergencyReview(Frozen):
    reviewer_id: str
    conforming: bool
    at: datetime
    notes: str | None = None


class EmergencyDisclosureView(Frozen):
    disclosure_id: str
    subject_id: str
    discloser_id: str
    recipient_id: str
    recipient_role: Role
    basis_code: str
    conditions: list[str]
    items: list[str]
    particulars: EmergencyParticulars
    recorded_at: datetime
    review_due: datetime
    review: EmergencyReview | None = None

    @property
    def pending(self) -> bool:
        return self.review is None


class RefusalEntry(Frozen):
    decision_id: str
    subject_id: str
    actor_id: str
    role: Role
    article: str
    code: str
    reason: str
    recourse_article: str
    recourse_bodies: list[str]
    notified_at: datetime
    recourse_deadline: date


class RegisterView(Frozen):
    subject_id: str
    accesses: list[Decision]
    communications: list[CommunicationEntry]
    emergencies: list[EmergencyDisclosureView]
    refusals: list[RefusalEntry]
    event_count: int


class DisclosureRegister(Aggregate):
    @staticmethod
    def create_id(subject_id: str, **_: Any) -> UUID:
        return register_id(subject_id)

    @event("Opened")
    def __init__(self, subject_id: str) -> None:
        self.subject_id = subject_id
        self.decisions: dict[str, Decision] = {}
        self.communications: list[CommunicationEntry] = []
        self.emergencies: dict[str, EmergencyDisclosureView] = {}
        self.refusals: list[RefusalEntry] = []
        self.applied: set[str] = set()

    # ------------------------------------------------------------------ reading
    def view(self) -> RegisterView:
        return RegisterView(
            subject_id=self.subject_id, accesses=list(self.decisions.values()),
            communications=list(self.communications), emergencies=list(self.emergencies.values()),
            refusals=list(self.refusals), event_count=self.version,
        )

    def decision(self, decision_id: str) -> Decision | None:
        return self.decisions.get(decision_id)

    # ------------------------------------------------------------------ decisions
    def record(self, decision: Decision, req: c.RequestAccess, at: datetime) -> Decision:
        """Record a decision (and its register entry, its refusal). A decision already recorded
        under the same id is returned as it was: a retried activity records nothing twice."""
        if decision.decision_id in self.decisions:
            return self.decisions[decision.decision_id]
        self._access_decided(
            subject_id=self.subject_id, decision=decision.model_dump(mode="json"), at=at,
            personal={"purpose_text": req.purpose_text, "authority_reference": req.authority_reference},
        )
        if decision.communication:
            assert decision.basis is not None  # a communication is of allowed content
            self._communication_registered(
                subject_id=self.subject_id, decision_id=decision.decision_id, recipient_id=decision.recipient_id,
                role=decision.role.value, nature=[i for i in decision.allowed], purpose=decision.purpose.value,
                basis_code=decision.basis.code, consent_id=decision.basis.consent_id,
                register_article=decision.register_article, communicated_at=decision.moment, at=at,
                personal={"intended_use": req.intended_use, "justification": req.justification,
                          "purpose_text": req.purpose_text},
            )
        if decision.refusal is not None:
            r = decision.refusal
            self._refusal_issued(
                subject_id=self.subject_id, decision_id=decision.decision_id, actor_id=decision.actor_id,
                role=decision.role.value, article=r.article, code=r.code, reason=r.reason,
                recourse_article=r.recourse_article, recourse_bodies=list(r.recourse_bodies),
                notified_at=r.notified_at, recourse_deadline=r.recourse_deadline.isoformat(), at=at,
            )
        return decision

    @event("AccessDecided")
    def _access_decided(self, subject_id: str, decision: dict[str, Any], at: datetime,
                        personal: dict[str, Any]) -> None:
        parsed = Decision.model_validate(decision)
        self.decisions[parsed.decision_id] = parsed

    @event("CommunicationRegistered")
    def _communication_registered(
        self, subject_id: str, decision_id: str, recipient_id: str, role: str, nature: list[str], purpose: str,
        basis_code: str, consent_id: str | None, register_article: str | None, communicated_at: datetime,
        at: datetime, personal: dict[str, Any],
    ) -> None:
        self.communications.append(CommunicationEntry(
            decision_id=decision_id, subject_id=subject_id, recipient_id=recipient_id, role=Role(role),
            nature=nature, purpose=PurposeKind(purpose), basis_code=basis_code, consent_id=consent_id,
            register_article=register_article, communicated_at=communicated_at,
            intended_use=personal.get("intended_use"), justification=personal.get("justification"),
            purpose_text=personal.get("purpose_text"),
        ))

    @event("RefusalIssued")
    def _refusal_issued(
        self, subject_id: str, decision_id: str, actor_id: str, role: str, article: str, code: str, reason: str,
        recourse_article: str, recourse_bodies: list[str], notified_at: datetime, recourse_deadline: str,
        at: datetime,
    ) -> None:
        self.refusals.append(RefusalEntry(
            decision_id=decision_id, subject_id=subject_id, actor_id=actor_id, role=Role(role), article=article,
            code=code, reason=reason, recourse_article=recourse_article, recourse_bodies=recourse_bodies,
            notified_at=notified_at, recourse_deadline=date.fromisoformat(recourse_deadline),
        ))

    # ------------------------------------------------------------------ emergency disclosures
    def record_emergency(
        self, decision: Decision, req: c.RequestAccess, cmd: c.DiscloseInEmergency, at: datetime,
        review_due: datetime,
    ) -> EmergencyDisclosureView:
        if decision.decision_id in self.emergencies:
            return self.emergencies[decision.decision_id]
        rules.check_emergency(decision)
        assert decision.basis is not None  # check_emergency refuses a decision without a basis
        self.record(decision, req, at)
        p = cmd.particulars
        clear = {"occurred_at", "recipient_capacity", "mode", "directive_version"}
        self._emergency_recorded(
            subject_id=self.subject_id, disclosure_id=decision.decision_id, discloser_id=cmd.by,
            recipient_id=cmd.recipient_id, recipient_role=cmd.recipient_role.value, basis_code=decision.basis.code,
            conditions=[x.value for x in cmd.attestations],
            items=[i for i in decision.allowed], occurred_at=p.occurred_at,
            recipient_capacity=p.recipient_capacity.value, mode=p.mode.value, directive_version=p.directive_version,
            review_due=review_due, at=at,
            personal=p.model_dump(mode="json", exclude=clear),
        )
        return self.emergencies[decision.decision_id]

    @event("EmergencyDisclosureRecorded")
    def _emergency_recorded(
        self, subject_id: str, disclosure_id: str, discloser_id: str, recipient_id: str, recipient_role: str,
        basis_code: str, conditions: list[str], items: list[str], occurred_at: datetime, recipient_capacity: str,
        mode: str, directive_version: str | None, review_due: datetime, at: datetime, personal: dict[str, Any],
    ) -> None:
        particulars = EmergencyParticulars.model_validate({
            **personal, "occurred_at": occurred_at, "recipient_capacity": recipient_capacity, "mode": mode,
            "directive_version": directive_version,
        })
        self.emergencies[disclosure_id] = EmergencyDisclosureView(
            disclosure_id=disclosure_id, subject_id=subject_id, discloser_id=discloser_id, recipient_id=recipient_id,
            recipient_role=Role(recipient_role), basis_code=basis_code, conditions=conditions, items=items,
            particulars=particulars, recorded_at=at, review_due=review_due,
        )

    def review(self, cmd: c.ReviewEmergencyDisclosure, at: datetime) -> EmergencyDisclosureView:
        found = self.emergencies.get(cmd.disclosure_id)
        if found is not None and cmd.command_id and cmd.command_id in self.applied:
            return found
        if found is None:
            raise NotFound(f"no emergency disclosure {cmd.disclosure_id} in this register")
        rules.check_review(cmd.reviewer_role, cmd.by, found.discloser_id, found.review is not None)
        self._emergency_reviewed(
            subject_id=self.subject_id, disclosure_id=cmd.disclosure_id, reviewer_id=cmd.by,
            reviewer_role=cmd.reviewer_role.value, conforming=cmd.conforming, at=at, command_id=cmd.command_id,
            personal={"notes": cmd.notes},
        )
        return self.emergencies[cmd.disclosure_id]

    @event("EmergencyDisclosureReviewed")
    def _emergency_reviewed(
        self, subject_id: str, disclosure_id: str, reviewer_id: str, reviewer_role: str, conforming: bool,
        at: datetime, command_id: str, personal: dict[str, Any],
    ) -> None:
        done = self.emergencies[disclosure_id]
        review = EmergencyReview(reviewer_id=reviewer_id, conforming=conforming, at=at, notes=personal.get("notes"))
        self.emergencies[disclosure_id] = done.model_copy(update={"review": review})
        if command_id:
            self.applied.add(command_id)


def for_reader(payload: dict[str, Any], role: Role) -> dict[str, Any]:
    """An event's payload as a reader of the audit trail may see it (`arrimage audit replay --role`).

    Auditors and supervisors read every audit event's metadata; the `personal` part is
    withheld from auditors always (never content through that role), and shown to a
    supervisor only on emergency-disclosure events, which they review. Other roles
    do not read the audit trail: they read the record through `decide`.
    """
    if role not in (Role.AUDITOR, Role.SUPERVISOR):
        raise RuleViolation(f"the role {role.value} does not read the audit trail", code="not_an_audit_reader")
    out = dict(payload)
    if "personal" in out:
        emergency = "particulars" in out or "recipient_capacity" in out or "reviewer_role" in out
        if role is Role.AUDITOR or not emergency:
            out["personal"] = "<retenu>"
    return out
