"""Use cases of outbound delivery: register a partner's endpoint, rotate its secret, queue what a step asks of a
partner, record each attempt, read a subject's log. Thin: what a message says is decided from the record (the
case's attempt and its answer deadline, the handoff's sharing decision as `HandoffDisclosures` registered it;
the referral and its decision deadline; the entente's version, signature deadline and review due); the rules
of the log are the aggregates' (`domain.delivery.aggregate`).

Only a registered partner (`arrimage partners add`) has an endpoint, and only while it is not revoked: a
revoked partner gets nothing more. Its signing secret is made here, returned once, and kept sealed
(`adapters.webhooks.secret_box`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import RecordConflictError

from adapters.record.record import Record
from adapters.webhooks.secret_box import SecretBox, new_secret
from domain.clock import start_of
from domain.crisis.model import CandidateKind
from domain.delivery.aggregate import DeliveryLog, Endpoint, check_overlap, check_url, endpoint_id, event_id, log_id
from domain.delivery.model import Attempt, EndpointView, Message, MessageType, SubjectKind
from domain.errors import NotFound, RuleViolation
from domain.principals.aggregate import Account, account_id
from domain.principals.model import PrincipalKind
from usecases.ententes import Ententes
from usecases.handoff import HandoffDisclosures

if TYPE_CHECKING:
    from usecases.fhir_subscriptions import Subscriptions

T = TypeVar("T")
CONFLICT_TRIES = 5  # two messages about one subject recorded at once: reload and apply again


@dataclass(frozen=True)
class Registered:
    """An endpoint and, when one was just made, its signing secret: shown once, never again."""

    endpoint: EndpointView
    secret: str | None


@dataclass(frozen=True)
class Target:
    """Where and with what a message is sent: read when sending, never carried in Temporal's history."""

    url: str
    secrets: tuple[str, ...]  # the current secret, then the one rotated out while its overlap runs


class Deliveries:
    def __init__(self, record: Record, box: SecretBox, handoffs: HandoffDisclosures) -> None:
        self.record = record
        self.box = box
        self.handoffs = handoffs
        self.ententes = Ententes(record)

    @cached_property
    def subscriptions(self) -> Subscriptions:
        """FHIR Task subscriptions (the R4 backport): notifications signed with the same partners' secrets."""
        from usecases.fhir_subscriptions import Subscriptions  # it builds on this module

        return Subscriptions(self.record, self)

    # ------------------------------------------------------------------ endpoints
    def register(self, org_id: str, url: str, *, rotate_secret: bool = False, by: str, at: datetime) -> Registered:
        """The partner's endpoint: registered with a new secret the first time; later a new URL, and a new secret
        only with `rotate_secret` (the old one stops signing at once)."""
        check_url(url)
        self._partner(org_id)
        try:
            endpoint: Endpoint = self.record.repository.get(endpoint_id(org_id))
        except AggregateNotFoundError:
            secret_id, secret = new_secret()
            endpoint = Endpoint(org_id=org_id, url=url, secret_id=secret_id,
                                sealed_secret=self.box.seal(org_id, secret), by=by, at=at)
            self.record.save(endpoint)
            return Registered(endpoint.view(), secret)
        if not rotate_secret:
            endpoint.change(url, None, None, by, at)
            self.record.save(endpoint)
            return Registered(endpoint.view(), None)
        secret_id, secret = new_secret()
        endpoint.change(url, secret_id, self.box.seal(org_id, secret), by, at)
        self.record.save(endpoint)
        return Registered(endpoint.view(), secret)

    def rotate_secret(self, org_id: str, overlap: timedelta, *, by: str, at: datetime) -> Registered:
        """A new signing secret (returned once); the current one signs beside it for `overlap`, then stops."""
        check_overlap(overlap)
        self._partner(org_id)
        endpoint = self._endpoint(org_id)
        if endpoint is None:
            raise NotFound(f"partner {org_id} has no endpoint registered (arrimage partners endpoint)")
        secret_id, secret = new_secret()
        endpoint.rotate(secret_id, self.box.seal(org_id, secret), overlap, by, at)
        self.record.save(endpoint)
        return Registered(endpoint.view(), secret)

    def endpoint(self, org_id: str) -> EndpointView:
        found = self._endpoint(org_id)
        if found is None:
            raise NotFound(f"partner {org_id} has no endpoint registered")
        return found.view()

    def with_endpoint(self, org_ids: Iterable[str]) -> list[str]:
        """The organisations among `org_ids` that arrimage delivers to: an endpoint and a partner not revoked."""
        return [org for org in dict.fromkeys(org_ids) if self._endpoint(org) is not None and self._active(org)]

    def target(self, org_id: str, at: datetime) -> Target:
        """Where a delivery made at `at` goes, and the secrets it is signed with then."""
        endpoint = self._endpoint(org_id)
        if endpoint is None or not self._active(org_id):
            raise RuleViolation(f"partner {org_id} has no endpoint, or is revoked", code="no_endpoint")
        return Target(endpoint.url, tuple(self.box.open(org_id, s) for s in endpoint.signing_secrets(at)))

    # ------------------------------------------------------------------ messages
    def handoff_requested(self, case_code: str, attempt: int) -> Message:
        """The message asking the team of `attempt` to take the handoff: the case code, the attempt, when the
        answer is due, and the sharing decision registered for that team (what it may read of the intake
        through the gateway), never the intake itself. Queued once (its event id comes from the attempt)."""
        view = self.handoffs.cases.view(case_code)
        asked = next((a for a in view.attempts if a.number == attempt), None)
        if asked is None:
            raise NotFound(f"crisis case {case_code} has no attempt {attempt}")
        team = asked.candidate.team
        deadline = view.deadline(asked.answer_deadline)
        if asked.candidate.kind is CandidateKind.COMMUNITY_ORG:
            sent = self.handoffs.send(case_code, attempt)  # registered once per attempt: found, not decided again
            sharing: dict[str, Any] = {"basis": sent.basis, "items": list(sent.allowed_items)}
        else:  # the CSSS's own team: the care team, nothing is communicated outside the establishment
            sharing = {"basis": "care_team", "items": []}
        data = {"case_code": case_code, "attempt": attempt, "team_id": team.team_id, "org_id": team.org_id,
                "answer_by": deadline.due_at.isoformat() if deadline else None, "sharing": sharing,
                "read": f"/v1/cases/{case_code}"}
        return self._queue(SubjectKind.CASE, case_code, f"handoff:{attempt}", MessageType.HANDOFF_REQUESTED,
                           team.org_id, data, asked.asked_at)

    def referral_sent(self, case_code: str, number: int) -> Message:
        """The message telling the receiving service of referral `number` that it is sent to it: what to decide
        (accept, naming its intake worker, or refuse with a reason) and by when; queued once per referral."""
        view = self.handoffs.cases.view(case_code)
        referral = next((r for r in view.referrals if r.number == number), None)
        if referral is None:
            raise NotFound(f"crisis case {case_code} has no referral {number}")
        deadline = view.deadline(referral.decision_deadline)
        data = {"case_code": case_code, "referral": number, "org_id": referral.receiving.org_id,
                "service": referral.receiving.service.value, "measure": referral.measure.value,
                "channel": referral.channel.value, "referred_by": referral.referred_by,
                "decide_by": deadline.due_at.isoformat() if deadline else None,
                "read": f"/v1/cases/{case_code}", "task": f"/fhir/Task/{case_code}-r{number}"}
        return self._queue(SubjectKind.CASE, case_code, f"referral:{number}", MessageType.REFERRAL_SENT,
                           referral.receiving.org_id, data, referral.sent_at)

    def signature_reminder(self, code: str, version: int, reminder: int, party_id: str, at: datetime) -> Message:
        """Reminder `reminder` (recorded at `at`) to `party_id`, which has still not signed `version`: nothing is
        queued once it signed or the version left signature (a reminder that would be wrong)."""
        view = self.ententes.view(code)
        proposal = view.proposal
        if (proposal is None or proposal.version != version or proposal.submitted_at is None
                or proposal.reminders_sent < reminder or proposal.signed_by(party_id)):
            raise RuleViolation(f"{party_id} has nothing left to sign in version {version} of entente {code}",
                                code="not_in_signature")
        fingerprint = next((v.fingerprint for v in view.versions if v.number == version), None)
        data = {"entente_code": code, "version": version, "fingerprint": fingerprint, "party_id": party_id,
                "reminder": reminder,
                "sign_by": proposal.signature_deadline.isoformat() if proposal.signature_deadline else None,
                "read": f"/v1/ententes/{code}"}
        return self._queue(SubjectKind.ENTENTE, code, f"reminder:{version}:{reminder}:{party_id}",
                           MessageType.SIGNATURE_REMINDER, party_id, data, at)

    def review_due(self, code: str, due_on: date, party_id: str) -> Message:
        """The annual review of the comité de suivi due on `due_on`, to a party: queued while it is pending."""
        view = self.ententes.view(code)
        if view.review_pending != due_on:
            raise RuleViolation(f"no review of entente {code} is pending for {due_on}", code="review_not_pending")
        data = {"entente_code": code, "version": view.in_force_version, "party_id": party_id,
                "due_on": due_on.isoformat(), "review_interval_months": view.content.follow_up.review_interval_months,
                "read": f"/v1/ententes/{code}"}
        return self._queue(SubjectKind.ENTENTE, code, f"review:{due_on.isoformat()}:{party_id}",
                           MessageType.REVIEW_DUE, party_id, data, start_of(due_on))

    def signature_requested(self, code: str, version: int, party_id: str) -> Message:
        """The message asking `party_id` to sign `version` of the entente (its fingerprint: what it signs)."""
        view = self.ententes.view(code)
        proposal = view.proposal
        if proposal is None or proposal.version != version or proposal.submitted_at is None:
            raise RuleViolation(f"version {version} of entente {code} is not in signature", code="not_in_signature")
        fingerprint = next((v.fingerprint for v in view.versions if v.number == version), None)
        data = {"entente_code": code, "version": version, "fingerprint": fingerprint, "party_id": party_id,
                "sign_by": proposal.signature_deadline.isoformat() if proposal.signature_deadline else None,
                "read": f"/v1/ententes/{code}"}
        return self._queue(SubjectKind.ENTENTE, code, f"signature:{version}:{party_id}",
                           MessageType.SIGNATURE_REQUESTED, party_id, data, proposal.submitted_at)

    def attempted(self, kind: SubjectKind, subject: str, message_id: str, attempt: Attempt) -> Message:
        return self._change(kind, subject, lambda log: log.attempted(message_id, attempt))

    def log(self, kind: SubjectKind, subject: str) -> list[Message]:
        """Every message about the subject and every attempt, in the order they were queued (empty: none)."""
        try:
            found: DeliveryLog = self.record.repository.get(log_id(kind, subject))
        except AggregateNotFoundError:
            return []
        return found.view()

    # ------------------------------------------------------------------ helpers
    def _queue(self, kind: SubjectKind, subject: str, key: str, message_type: MessageType, org_id: str,
               data: dict[str, Any], at: datetime) -> Message:
        url = self.target(org_id, at).url
        message_id = event_id(kind, subject, key)
        return self._change(kind, subject, lambda log: log.queue(message_id, message_type, org_id, url, data, at))

    def _change(self, kind: SubjectKind, subject: str, change: Callable[[DeliveryLog], T]) -> T:
        for tries in range(1, CONFLICT_TRIES + 1):
            try:
                log: DeliveryLog = self.record.repository.get(log_id(kind, subject))
            except AggregateNotFoundError:
                log = DeliveryLog(kind=kind.value, subject=subject)
            result = change(log)
            try:
                self.record.save(log)
                return result
            except RecordConflictError:
                if tries == CONFLICT_TRIES:
                    raise
        raise AssertionError("unreachable")

    def _endpoint(self, org_id: str) -> Endpoint | None:
        try:
            found: Endpoint = self.record.repository.get(endpoint_id(org_id))
        except AggregateNotFoundError:
            return None
        return found

    def _partner(self, org_id: str) -> Account:
        try:
            account: Account = self.record.repository.get(account_id(PrincipalKind.PARTNER, org_id))
        except AggregateNotFoundError:
            raise NotFound(f"no partner {org_id}: add it first (arrimage partners add)") from None
        account.check_active()
        return account

    def _active(self, org_id: str) -> bool:
        try:
            return self._partner(org_id) is not None
        except (NotFound, RuleViolation):
            return False
