"""The entente aggregate: every fact of an agreement's life is one of its events.

Public methods check the rules (on the same view the workflow validates with),
then call a private `@event` method whose body only changes state: that body
runs again on every replay, so it computes nothing that could differ (ids,
timestamps and fingerprints are computed beforehand and passed in).

Every command carries a `command_id`; an id already applied is a no-op, so a
retried activity records nothing twice.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from types import MemberDescriptorType
from typing import Any, cast
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, Snapshot, event
from eventsourcing.utils import register_topic

from domain.clock import add_months, local_date, start_of
from domain.ententes import commands as c
from domain.ententes import rules
from domain.ententes.model import EntenteContent, EntenteKind
from domain.ententes.state import (
    EntentePolicy,
    EntenteStatus,
    EntenteView,
    Proposal,
    ProposalPurpose,
    ProposalStage,
    ReviewOutcome,
    ReviewRecord,
    Revocation,
    Signature,
    VersionInfo,
)
from domain.errors import RuleViolation

NAMESPACE = UUID("6b1f3a52-8d0e-4c51-9a37-2f0c8e4d1a10")


@lru_cache(maxsize=65_536)  # computed at every command (a SHA-1, ~5 µs): kept, ~0.2 KB an entry
def entente_id(code: str) -> UUID:
    """Deterministic id from the business key: a retried 'draft' finds what it made."""
    return uuid5(NAMESPACE, f"entente:{code}")


class EntenteSnapshot(Snapshot):
    """An entente's state in plain JSON types, so the generic transcoder can store it.

    Ententes carry no personal content, so their snapshots may be stored; crisis cases
    and registers are never snapshotted (their `personal` content is sealed per person
    in events only). Snapshots are not hash-chained: audit replays rebuild from the
    chained events and ignore them; they only speed up the engine's own loads.
    """

    @classmethod
    def take(cls, aggregate: Any) -> EntenteSnapshot:
        snapshot = super().take(aggregate)
        object.__setattr__(snapshot, "state", _encode_state(snapshot.state))
        return snapshot

    def mutate(self, _: None) -> Any:
        decoded = type(self)(
            originator_id=self.originator_id,
            originator_version=self.originator_version,  # pyright: ignore[reportCallIssue]
            timestamp=self.timestamp,  # pyright: ignore[reportCallIssue]
            topic=self.topic,  # pyright: ignore[reportCallIssue]
            state=_decode_state(self.state),  # pyright: ignore[reportCallIssue]
        )
        return Snapshot.mutate(decoded, None)


_DATES = ("activated_on", "next_review_due", "review_pending", "ended_on")


def _encode_state(state: dict[str, Any]) -> dict[str, Any]:
    out = dict(state)
    out["contents"] = [[k, v.model_dump(mode="json")] for k, v in state["contents"].items()]
    out["version_infos"] = [v.model_dump(mode="json") for v in state["version_infos"]]
    out["proposal"] = state["proposal"].model_dump(mode="json") if state["proposal"] else None
    out["reviews"] = [r.model_dump(mode="json") for r in state["reviews"]]
    out["revocation"] = state["revocation"].model_dump(mode="json") if state["revocation"] else None
    out["kind"] = state["kind"].value
    out["status"] = state["status"].value
    for key in _DATES:
        out[key] = state[key].isoformat() if state[key] else None
    out["applied"] = sorted(state["applied"])
    return out


def _decode_state(state: dict[str, Any]) -> dict[str, Any]:
    out = dict(state)
    out["contents"] = {int(k): EntenteContent.model_validate(v) for k, v in state["contents"]}
    out["version_infos"] = [VersionInfo.model_validate(v) for v in state["version_infos"]]
    out["proposal"] = Proposal.model_validate(state["proposal"]) if state["proposal"] else None
    out["reviews"] = [ReviewRecord.model_validate(r) for r in state["reviews"]]
    out["revocation"] = Revocation.model_validate(state["revocation"]) if state["revocation"] else None
    out["kind"] = EntenteKind(state["kind"])
    out["status"] = EntenteStatus(state["status"])
    for key in _DATES:
        out[key] = date.fromisoformat(state[key]) if state[key] else None
    out["applied"] = set(state["applied"])
    return out


class Entente(Aggregate):
    Snapshot = EntenteSnapshot

    # ------------------------------------------------------------------ creation
    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return entente_id(code)

    @event("Drafted")
    def __init__(
        self, code: str, content: dict[str, Any], fingerprint: str, by: str, at: datetime, command_id: str
    ) -> None:
        parsed = EntenteContent.model_validate(content)
        self.code = code
        self.kind: EntenteKind = parsed.kind
        self.contents: dict[int, EntenteContent] = {1: parsed}
        self.version_infos: list[VersionInfo] = [
            VersionInfo(number=1, author=by, reason="version initiale", at=at, fingerprint=fingerprint)
        ]
        self.in_force_version: int | None = None
        self.proposal: Proposal | None = Proposal(
            version=1, purpose=ProposalPurpose.INITIAL, stage=ProposalStage.DRAFTING
        )
        self.status = EntenteStatus.DRAFT
        self.activated_on: date | None = None
        self.next_review_due: date | None = None
        self.review_pending: date | None = None
        self.review_escalations = 0
        self.reviews: list[ReviewRecord] = []
        self.revocation: Revocation | None = None
        self.ended_on: date | None = None
        self.end_reason: str | None = None
        self.applied: set[str] = {command_id}

    @classmethod
    def draft(cls, cmd: c.DraftEntente, at: datetime) -> Entente:
        return cls(
            code=cmd.code,
            content=cmd.content.model_dump(mode="json"),
            fingerprint=cmd.content.fingerprint(),
            by=cmd.by,
            at=at,
            command_id=cmd.command_id,
        )

    # ------------------------------------------------------------------ reading
    @property
    def latest_version(self) -> int:
        return max(self.contents)

    def view(self) -> EntenteView:
        current = self.contents[self.in_force_version or self.latest_version]
        proposed = self.contents[self.proposal.version] if self.proposal else None
        return EntenteView(
            agreement_id=str(self.id),
            code=self.code,
            kind=self.kind,
            title=current.title,
            status=self.status,
            latest_version=self.latest_version,
            versions=list(self.version_infos),
            in_force_version=self.in_force_version,
            content=current,
            proposal=self.proposal,
            proposed_content=proposed,
            activated_on=self.activated_on,
            next_review_due=self.next_review_due,
            review_pending=self.review_pending,
            review_escalations=self.review_escalations,
            reviews=list(self.reviews),
            revocation=self.revocation,
            ended_on=self.ended_on,
            end_reason=self.end_reason,
            event_count=self.version,
        )

    def content_of(self, version: int) -> EntenteContent:
        return self.contents[version]

    def already(self, cmd: c.Command) -> bool:
        return bool(cmd.command_id) and cmd.command_id in self.applied

    # ------------------------------------------------------------------ drafting
    def execute(self, cmd: c.Command, at: datetime, policy: EntentePolicy) -> None:
        """Any command given a drafted entente: the one dispatch its use case calls."""
        match cmd:
            case c.ReviseDraft():
                self.revise(cmd, at)
            case c.SubmitForSignature():
                self.submit(cmd, at, policy)
            case c.SignEntente():
                self.sign(cmd, at)
            case c.RefuseSignature():
                self.refuse(cmd, at)
            case c.WithdrawFromEntente():
                self.withdraw(cmd, at)
            case c.ProposeAmendment():
                self.amend(cmd, at)
            case c.ProposeRenewal():
                self.renew(cmd, at, policy)
            case c.RecordReview():
                self.record_review(cmd, at, policy)
            case c.GiveRevocationNotice():
                self.give_revocation_notice(cmd, at, policy)
            case _:
                raise RuleViolation(
                    f"{type(cmd).__name__} is not a command of a drafted entente", code="unknown_command"
                )

    def revise(self, cmd: c.ReviseDraft, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_revise(self.view(), cmd)
        self._revised(
            version=self.latest_version + 1,
            content=cmd.content.model_dump(mode="json"),
            fingerprint=cmd.content.fingerprint(),
            reason=cmd.reason,
            by=cmd.by,
            at=at,
            command_id=cmd.command_id,
        )

    @event("DraftRevised")
    def _revised(
        self, version: int, content: dict[str, Any], fingerprint: str, reason: str | None, by: str,
        at: datetime, command_id: str,
    ) -> None:
        # A change after any signature voids the signatures collected so far:
        # the new version goes back to drafting and must be submitted again.
        assert self.proposal is not None
        self._add_version(version, content, fingerprint, by, reason, at)
        self.proposal = Proposal(version=version, purpose=self.proposal.purpose, stage=ProposalStage.DRAFTING)
        self._sync_status()
        self.applied.add(command_id)

    def _add_version(
        self, version: int, content: dict[str, Any], fingerprint: str, by: str, reason: str | None, at: datetime
    ) -> None:
        self.contents[version] = EntenteContent.model_validate(content)
        self.version_infos.append(
            VersionInfo(number=version, author=by, reason=reason, at=at, fingerprint=fingerprint)
        )

    def submit(self, cmd: c.SubmitForSignature, at: datetime, policy: EntentePolicy) -> None:
        if self.already(cmd):
            return
        rules.check_submit(self.view(), cmd, at, policy)
        deadline = cmd.signature_deadline or rules.default_signature_deadline(at, policy)
        self._submitted(deadline=deadline, by=cmd.by, at=at, command_id=cmd.command_id)

    @event("SubmittedForSignature")
    def _submitted(self, deadline: datetime, by: str, at: datetime, command_id: str) -> None:
        assert self.proposal is not None
        self.proposal = self.proposal.model_copy(
            update={"stage": ProposalStage.IN_SIGNATURE, "submitted_at": at, "signature_deadline": deadline}
        )
        self._sync_status()
        self.applied.add(command_id)

    # ------------------------------------------------------------------ signatures
    def sign(self, cmd: c.SignEntente, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_sign(self.view(), cmd)
        self._signed(
            party_id=cmd.party_id,
            version=cmd.version,
            fingerprint=self.contents[cmd.version].fingerprint(),
            signatory=cmd.signatory,
            title=cmd.title,
            by=cmd.by,
            at=at,
            command_id=cmd.command_id,
        )

    @event("Signed")
    def _signed(
        self, party_id: str, version: int, fingerprint: str, signatory: str, title: str | None, by: str,
        at: datetime, command_id: str,
    ) -> None:
        assert self.proposal is not None
        sig = Signature(
            party_id=party_id, version=version, fingerprint=fingerprint, signatory=signatory, title=title, at=at
        )
        signatures = [*self.proposal.signatures, sig]
        parties = set(self.contents[version].party_ids)
        stage = ProposalStage.SIGNED if {s.party_id for s in signatures} >= parties else ProposalStage.IN_SIGNATURE
        self.proposal = self.proposal.model_copy(update={"signatures": signatures, "stage": stage})
        self._sync_status()
        self.applied.add(command_id)

    def refuse(self, cmd: c.RefuseSignature, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_refuse(self.view(), cmd)
        self._refused(party_id=cmd.party_id, version=cmd.version, reason=cmd.reason, by=cmd.by, at=at,
                      command_id=cmd.command_id)

    @event("SignatureRefused")
    def _refused(self, party_id: str, version: int, reason: str, by: str, at: datetime, command_id: str) -> None:
        # A refusal sends the version back to the negotiating table; signatures are void.
        assert self.proposal is not None
        self.proposal = Proposal(version=version, purpose=self.proposal.purpose, stage=ProposalStage.DRAFTING)
        self._sync_status()
        self.applied.add(command_id)

    def withdraw(self, cmd: c.WithdrawFromEntente, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_withdraw(self.view(), cmd)
        self._withdrawn(party_id=cmd.party_id, reason=cmd.reason, by=cmd.by, at=at, command_id=cmd.command_id)

    @event("PartyWithdrew")
    def _withdrawn(self, party_id: str, reason: str, by: str, at: datetime, command_id: str) -> None:
        if self.in_force_version is None:
            # Never took effect: the entente is abandoned.
            self.proposal = None
            self.status = EntenteStatus.ABANDONED
            self.ended_on = local_date(at)
            self.end_reason = f"retrait de {party_id}: {reason}"
        else:
            # Withdrawing from a proposed amendment abandons the amendment only.
            self.proposal = None
        self.applied.add(command_id)

    # ------------------------------------------------------------------ amendment, renewal
    def amend(self, cmd: c.ProposeAmendment, at: datetime) -> None:
        if self.already(cmd):
            return
        rules.check_amend(self.view(), cmd)
        self._amendment_proposed(
            version=self.latest_version + 1, purpose=ProposalPurpose.AMENDMENT.value,
            content=cmd.content.model_dump(mode="json"), fingerprint=cmd.content.fingerprint(),
            reason=cmd.reason, by=cmd.by, at=at, command_id=cmd.command_id,
        )

    def renew(self, cmd: c.ProposeRenewal, at: datetime, policy: EntentePolicy) -> None:
        if self.already(cmd):
            return
        rules.check_renew(self.view(), cmd, at, policy)
        current = self.contents[self.in_force_version or self.latest_version]
        renewed = current.model_copy(
            update={"duration": current.duration.model_copy(update={"end_date": cmd.end_date})}
        )
        self._amendment_proposed(
            version=self.latest_version + 1, purpose=ProposalPurpose.RENEWAL.value,
            content=renewed.model_dump(mode="json"), fingerprint=renewed.fingerprint(),
            reason=cmd.reason, by=cmd.by, at=at, command_id=cmd.command_id,
        )

    @event("AmendmentProposed")
    def _amendment_proposed(
        self, version: int, purpose: str, content: dict[str, Any], fingerprint: str, reason: str, by: str,
        at: datetime, command_id: str,
    ) -> None:
        self._add_version(version, content, fingerprint, by, reason, at)
        self.proposal = Proposal(version=version, purpose=ProposalPurpose(purpose), stage=ProposalStage.DRAFTING)
        self.applied.add(command_id)

    # ------------------------------------------------------------------ review, revocation
    def record_review(self, cmd: c.RecordReview, at: datetime, policy: EntentePolicy) -> None:
        if self.already(cmd):
            return
        rules.check_review(self.view(), cmd, at, policy)
        assert self.next_review_due is not None
        due = self.review_pending or self.next_review_due
        interval = self.contents[self.in_force_version or 1].follow_up.review_interval_months
        self._reviewed(
            due_on=due.isoformat(), next_due=add_months(due, interval).isoformat(), outcome=cmd.outcome.value,
            notes=cmd.notes, by=cmd.by, at=at, command_id=cmd.command_id,
        )

    @event("ReviewRecorded")
    def _reviewed(
        self, due_on: str, next_due: str, outcome: str, notes: str | None, by: str, at: datetime, command_id: str
    ) -> None:
        self.reviews.append(
            ReviewRecord(due_on=date.fromisoformat(due_on), outcome=ReviewOutcome(outcome), decided_at=at, by=by,
                         notes=notes)
        )
        self.review_pending = None
        self.review_escalations = 0
        self.next_review_due = date.fromisoformat(next_due)
        self.applied.add(command_id)

    def give_revocation_notice(
        self, cmd: c.GiveRevocationNotice, at: datetime, policy: EntentePolicy
    ) -> None:
        if self.already(cmd):
            return
        rules.check_revoke(self.view(), cmd, at, policy)
        self._revocation_noticed(
            party_id=cmd.party_id, reason=cmd.reason, effective_date=cmd.effective_date.isoformat(), by=cmd.by,
            at=at, command_id=cmd.command_id,
        )

    @event("RevocationNoticeGiven")
    def _revocation_noticed(
        self, party_id: str, reason: str, effective_date: str, by: str, at: datetime, command_id: str
    ) -> None:
        self.revocation = Revocation(
            party_id=party_id, reason=reason, noticed_at=at, effective_date=date.fromisoformat(effective_date)
        )
        self.applied.add(command_id)

    # ------------------------------------------------------------------ the calendar
    def advance(self, now: datetime, policy: EntentePolicy) -> int:
        """Record every transition the calendar makes due at `now`; returns how many.

        Idempotent: once recorded, a transition is no longer due. Time only moves forward in the
        record: each transition is dated at the moment it fell due, but never before the latest
        moment the record already holds (what caused it), so a late wake-up or an effective date
        already past records nothing that claims to predate the entente or its signatures.
        """
        recorded = 0
        floor = rules.latest_moment(self.view())
        while (step := self._next_transition(now, policy)) is not None:
            due, record = step
            at = max(due, floor)
            record(at)
            floor = at
            recorded += 1
        return recorded

    def _next_transition(
        self, now: datetime, policy: EntentePolicy
    ) -> tuple[datetime, Callable[[datetime], None]] | None:
        """The next transition due at `now`, as (the moment it fell due, how to record it at a moment)."""
        if self.status.ended:
            return None
        view = self.view()
        p = self.proposal
        if p is not None and p.stage is ProposalStage.IN_SIGNATURE:
            assert p.signature_deadline is not None
            if now >= p.signature_deadline:
                return p.signature_deadline, lambda at: self._deadline_missed(version=p.version, at=at)
            reminder = rules.reminder_moment(view, policy)
            if reminder is not None and now >= reminder:
                pending = [x for x in self.contents[p.version].party_ids if not p.signed_by(x)]
                return reminder, lambda at: self._reminded(version=p.version, parties=pending, at=at)
        effective = rules.effective_moment(view)
        if p is not None and effective is not None and now >= effective:
            if self.in_force_version is None:
                interval = self.contents[p.version].follow_up.review_interval_months
                return effective, lambda at: self._activated(
                    version=p.version, on=local_date(at).isoformat(),
                    next_review=add_months(local_date(at), interval).isoformat(), at=at,
                )
            return effective, lambda at: self._amendment_in_force(
                version=p.version, on=local_date(at).isoformat(), at=at
            )
        if self.status is EntenteStatus.ACTIVE:
            if self.revocation is not None:
                # Never before the notice itself (a notice of 0 days may take effect today).
                moment = max(start_of(self.revocation.effective_date), self.revocation.noticed_at)
                if now >= moment:
                    return moment, lambda at: self._revoked(at=at)
            expiry = rules.expiry_moment(view.content)
            if expiry is not None and now >= expiry:
                return expiry, lambda at: self._expired(at=at)
            if self.review_pending is None and self.next_review_due is not None:
                moment = start_of(self.next_review_due)
                if now >= moment:
                    due = self.next_review_due
                    return moment, lambda at: self._review_due(due_on=due.isoformat(), at=at)
            escalation = rules.escalation_moment(view, policy)
            if escalation is not None and now >= escalation:
                return escalation, lambda at: self._review_escalated(level=self.review_escalations + 1, at=at)
        return None

    @event("SignatureReminderSent")
    def _reminded(self, version: int, parties: list[str], at: datetime) -> None:
        assert self.proposal is not None
        self.proposal = _reminder_counted(self.proposal, at)

    @event("SignatureDeadlineMissed")
    def _deadline_missed(self, version: int, at: datetime) -> None:
        # Unsigned at the deadline: back to drafting, signatures void, the parties renegotiate.
        assert self.proposal is not None
        self.proposal = Proposal(version=version, purpose=self.proposal.purpose, stage=ProposalStage.DRAFTING)
        self._sync_status()

    @event("Activated")
    def _activated(self, version: int, on: str, next_review: str, at: datetime) -> None:
        self.in_force_version = version
        self.proposal = None
        self.activated_on = date.fromisoformat(on)
        self.next_review_due = date.fromisoformat(next_review)
        self.status = EntenteStatus.ACTIVE

    @event("AmendmentInForce")
    def _amendment_in_force(self, version: int, on: str, at: datetime) -> None:
        # The amended version replaces the one in force; the review calendar is unchanged.
        self.in_force_version = version
        self.proposal = None

    @event("ReviewDue")
    def _review_due(self, due_on: str, at: datetime) -> None:
        self.review_pending = date.fromisoformat(due_on)

    @event("ReviewEscalated")
    def _review_escalated(self, level: int, at: datetime) -> None:
        self.review_escalations = level

    @event("Revoked")
    def _revoked(self, at: datetime) -> None:
        assert self.revocation is not None
        self.status = EntenteStatus.REVOKED
        self.proposal = None
        self.ended_on = self.revocation.effective_date
        self.end_reason = f"révocation par {self.revocation.party_id}: {self.revocation.reason}"

    @event("Expired")
    def _expired(self, at: datetime) -> None:
        self.status = EntenteStatus.EXPIRED
        self.proposal = None
        self.ended_on = local_date(at)
        self.end_reason = "fin de la durée de l'entente"

    # ------------------------------------------------------------------ helpers
    def _sync_status(self) -> None:
        if self.in_force_version is not None or self.status.ended or self.proposal is None:
            return
        self.status = {
            ProposalStage.DRAFTING: EntenteStatus.DRAFT,
            ProposalStage.IN_SIGNATURE: EntenteStatus.IN_SIGNATURE,
            ProposalStage.SIGNED: EntenteStatus.SIGNED,
        }[self.proposal.stage]


_REMINDER_FIELDS = frozenset({"reminders_sent", "last_reminder_at"})
_set = object.__setattr__


def _slot_setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    """What ``object.__setattr__(obj, name, value)`` calls for an instance of `cls`: the setter of the slot `name`
    of one of its bases (pydantic's `BaseModel` keeps `__pydantic_fields_set__`, `__pydantic_extra__` and
    `__pydantic_private__` in slots), bound once, without the look-up of `name` on every call; where `name` is
    not a slot, ``object.__setattr__`` itself."""
    found = inspect.getattr_static(cls, name)
    if isinstance(found, MemberDescriptorType):
        return cast("Callable[[Any, Any], None]", found.__set__)
    return lambda obj, value: _set(obj, name, value)


_set_fields_set = _slot_setter(Proposal, "__pydantic_fields_set__")
_set_extra = _slot_setter(Proposal, "__pydantic_extra__")
_set_private = _slot_setter(Proposal, "__pydantic_private__")


def _reminder_counted(proposal: Proposal, at: datetime) -> Proposal:
    """`proposal.model_copy(update={"reminders_sent": proposal.reminders_sent + 1, "last_reminder_at": at})`,
    the same new frozen object (same fields, same fields set, no extra, no private attributes: `Proposal` has
    none), made without pydantic's generic `__copy__` (three `copy.copy` of its parts): a daily reminder is most
    of a long signature period's events, and this copy was a third of rebuilding such an entente. The proposal
    it replaces is left as it was, so whoever holds it (a view, an earlier state) sees no change."""
    state = proposal.__dict__.copy()
    state["reminders_sent"] = proposal.reminders_sent + 1
    state["last_reminder_at"] = at
    counted = object.__new__(Proposal)
    _set(counted, "__dict__", state)
    _set_fields_set(counted, proposal.__pydantic_fields_set__ | _REMINDER_FIELDS)
    _set_extra(counted, None)
    _set_private(counted, None)
    return counted


# Events recorded before the package was named `ententes` carry topics under `domain.agreements`:
# they resolve to this module (the record is never rewritten).
register_topic("domain.agreements.aggregate", sys.modules[__name__])
