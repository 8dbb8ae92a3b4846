"""The principals as aggregates of the record: one `Account` per partner or person, one `ApiKey` per key.

An account holds who the principal is (organisation, role) and whether it is revoked; a key holds its hash
(made by the adapter, never the key itself), when it was issued, until when it is valid once rotated out,
and whether it is revoked. A key is found from its key id (`ark_<kid>_<secret>`: the id of its aggregate is
derived from the kid), so authenticating loads two small aggregates, whatever the number of principals.

Rotation issues a new key and gives every key still valid an end (`valid_until`, the overlap) in one save;
revoking an account revokes it and all its keys at that moment. Every request reads both aggregates again,
so a revocation made by another process is refused on the next request, without restart.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.disclosure.model import AccessAuthorisation
from domain.disclosure.roles import Role
from domain.errors import DomainError, RuleViolation
from domain.principals.authorisations import GrantedAuthorisation, check_terms, find
from domain.principals.model import KeyView, OidcIdentity, Principal, PrincipalKind, PrincipalView, Unauthenticated

NAMESPACE = UUID("3f2a9d61-7b0e-4c8e-9a41-5d6e2b7c0f13")
MAX_OVERLAP = timedelta(days=90)  # an old key valid longer than this after rotation is a forgotten key


def account_id(kind: PrincipalKind, principal_id: str) -> UUID:
    return uuid5(NAMESPACE, f"principal:{kind.value}:{principal_id}")


def key_id(kid: str) -> UUID:
    return uuid5(NAMESPACE, f"api-key:{kid}")


class Account(Aggregate):
    @staticmethod
    def create_id(kind: str, principal_id: str, **_: Any) -> UUID:
        return account_id(PrincipalKind(kind), principal_id)

    @event("Registered")
    def __init__(self, kind: str, principal_id: str, org_id: str, name: str, role: str, by: str,
                 at: datetime) -> None:
        self.kind = PrincipalKind(kind)
        self.principal_id = principal_id
        self.org_id = org_id
        self.name = name
        self.role = Role(role)
        self.registered_by = by
        self.registered_at = at
        self.authorisations: list[GrantedAuthorisation] = []  # a person's access authorisations
        self.kids: list[str] = []
        self.revoked_at: datetime | None = None
        self.revoked_reason: str | None = None
        self.client_cert: str | None = None  # mutual TLS: its keys are accepted only with this certificate
        self.oidc_subjects: list[OidcIdentity] = []  # a person signed in by the identity provider as these

    def check_active(self) -> None:
        if self.revoked_at is not None:
            raise RuleViolation(f"{self.kind.value} {self.principal_id} is revoked", code="principal_revoked")

    def add_key(self, kid: str) -> None:
        self.check_active()
        self._key_added(kid=kid)

    @event("KeyAdded")
    def _key_added(self, kid: str) -> None:
        self.kids.append(kid)

    def bind_client_cert(self, fingerprint: str | None, by: str, at: datetime) -> None:
        """Its keys accepted only over a connection presenting the certificate of this SHA-256 fingerprint
        (None: any connection again)."""
        self.check_active()
        if fingerprint != self.client_cert:
            self._client_cert_bound(fingerprint=fingerprint, by=by, at=at)

    @event("ClientCertBound")
    def _client_cert_bound(self, fingerprint: str | None, by: str, at: datetime) -> None:
        self.client_cert = fingerprint

    def link_subject(self, issuer: str, subject: str, by: str, at: datetime) -> None:
        """A person known to the identity provider as `subject` of `issuer` (`domain.principals.oidc`)."""
        self.check_active()
        if self.kind is not PrincipalKind.USER:
            raise DomainError(f"{self.principal_id} is a partner: only a person signs in with OIDC",
                              code="not_a_user")
        self._subject_linked(issuer=issuer, subject=subject, by=by, at=at)

    @event("SubjectLinked")
    def _subject_linked(self, issuer: str, subject: str, by: str, at: datetime) -> None:
        self.oidc_subjects.append(OidcIdentity(issuer=issuer, subject=subject))

    def revoke(self, reason: str, by: str, at: datetime) -> None:
        self.check_active()
        self._revoked(reason=reason, by=by, at=at)

    @event("Revoked")
    def _revoked(self, reason: str, by: str, at: datetime) -> None:
        self.revoked_at = at
        self.revoked_reason = reason

    def authorise(self, terms: AccessAuthorisation, by: str, at: datetime) -> GrantedAuthorisation:
        """Record an access authorisation the person holds (`domain.principals.authorisations`); the same terms
        still in effect are found, not recorded twice (a retried command)."""
        self.check_active()
        if self.kind is not PrincipalKind.USER:
            raise DomainError(f"{self.principal_id} is a partner: an access authorisation is a person's",
                              code="not_a_user")
        check_terms(self.principal_id, terms)
        same = next((g for g in self.authorisations if g.authorisation == terms and g.withdrawn_at is None), None)
        if same is not None:
            return same
        self._authorised(terms=terms.model_dump(mode="json"), by=by, at=at)
        return self.authorisations[-1]

    @event("Authorised")
    def _authorised(self, terms: dict[str, Any], by: str, at: datetime) -> None:
        self.authorisations.append(GrantedAuthorisation(
            number=len(self.authorisations) + 1, authorisation=AccessAuthorisation.model_validate(terms),
            recorded_by=by, recorded_at=at))

    def withdraw_authorisation(self, number: int, reason: str, by: str, at: datetime) -> GrantedAuthorisation:
        """Withdraw authorisation `number` from `at`: a read after it is refused."""
        find(self.authorisations, number)
        self._authorisation_withdrawn(number=number, reason=reason, by=by, at=at)
        return self.authorisations[number - 1]

    @event("AuthorisationWithdrawn")
    def _authorisation_withdrawn(self, number: int, reason: str, by: str, at: datetime) -> None:
        self.authorisations = [
            g.model_copy(update={"withdrawn_at": at, "withdrawn_by": by, "withdrawal_reason": reason})
            if g.number == number else g for g in self.authorisations]

    def view(self, keys: list[KeyView]) -> PrincipalView:
        return PrincipalView(
            kind=self.kind, principal_id=self.principal_id, org_id=self.org_id, name=self.name, role=self.role,
            registered_at=self.registered_at, registered_by=self.registered_by, revoked_at=self.revoked_at,
            revoked_reason=self.revoked_reason, keys=keys, client_cert=self.client_cert,
            oidc_subjects=list(self.oidc_subjects), authorisations=list(self.authorisations),
        )


class ApiKey(Aggregate):
    @staticmethod
    def create_id(kid: str, **_: Any) -> UUID:
        return key_id(kid)

    @event("Issued")
    def __init__(self, kid: str, kind: str, principal_id: str, key_hash: str, at: datetime) -> None:
        self.kid = kid
        self.kind = PrincipalKind(kind)
        self.principal_id = principal_id
        self.key_hash = key_hash  # the adapter's KDF output: the key itself is never recorded
        self.issued_at = at
        self.valid_until: datetime | None = None
        self.revoked_at: datetime | None = None

    def view(self) -> KeyView:
        return KeyView(kid=self.kid, issued_at=self.issued_at, valid_until=self.valid_until,
                       revoked_at=self.revoked_at)

    def retire(self, until: datetime, at: datetime) -> None:
        """Rotated out: valid until `until` (the overlap), never longer than it already was."""
        if self.revoked_at is not None or (self.valid_until is not None and self.valid_until <= until):
            return
        self._retiring(until=until, at=at)

    @event("Retiring")
    def _retiring(self, until: datetime, at: datetime) -> None:
        self.valid_until = until

    def revoke(self, at: datetime) -> None:
        if self.revoked_at is None:
            self._revoked(at=at)

    @event("Revoked")
    def _revoked(self, at: datetime) -> None:
        self.revoked_at = at


def check_overlap(overlap: timedelta) -> None:
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise DomainError(f"the overlap of a rotation lies between 0 and {MAX_OVERLAP.days} days",
                          code="invalid_overlap")


def authenticate(key: ApiKey, account: Account, *, verified: bool, now: datetime) -> Principal:
    """The principal a key proves, at `now`: refused (`Unauthenticated`) unless the secret matched the
    key's hash (`verified`, the adapter's check), the key is valid at `now` and its account is not revoked."""
    if not verified:
        raise Unauthenticated(f"key {key.kid}: wrong secret")
    if not key.view().valid_at(now):
        raise Unauthenticated(f"key {key.kid}: revoked or rotated out")
    if account.revoked_at is not None and now >= account.revoked_at:
        raise Unauthenticated(f"{account.kind.value} {account.principal_id}: revoked")
    if key.kid not in account.kids:
        raise Unauthenticated(f"key {key.kid}: not a key of {account.principal_id}")
    return Principal(kind=account.kind, principal_id=account.principal_id, org_id=account.org_id,
                     role=account.role, kid=key.kid)
