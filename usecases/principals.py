"""Use cases of the principals: add, list, rotate a key, revoke, and authenticate a request. Thin.

A new key is returned once (`Issued.key`) and recorded only as its hash (`adapters.record.api_keys`).
`authenticate` reads the key and its account from the record on every call: a revocation or the end of a
rotation's overlap, recorded by any process, refuses the very next request (no cache to invalidate).

People get local keys the same way (the embedded default). OIDC is the production path for people: with a
provider configured, `authenticate_bearer` takes a bearer that is a JWT to the provider's verifier (`oidc`,
`adapters.oidc`: "a token in, an `OidcIdentity` out"), then to the user registered here under that subject
(`SubjectLink`), whose organisation and role are the ones registered, never the token's
(`domain.principals.oidc`). A partner bound to a client certificate (mutual TLS) is accepted only over a
connection presenting it (`domain.principals.tls`).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from adapters.record.api_keys import KeyHasher, kid_of, new_key
from adapters.record.listings import caught_up
from adapters.record.record import Record
from domain.crisis.state import CaseView
from domain.disclosure.model import AccessAuthorisation
from domain.disclosure.roles import Role
from domain.ententes.state import EntenteView
from domain.errors import DomainError, NotFound, RuleViolation
from domain.principals import aggregate as rules
from domain.principals.aggregate import Account, ApiKey, account_id, key_id
from domain.principals.model import OidcIdentity, Principal, PrincipalKind, PrincipalView, Unauthenticated
from domain.principals.oidc import (
    SubjectLink,
    SubjectNotRegistered,
    TokenRefused,
    check_subject,
    looks_like_jwt,
    principal_of,
    subject_link_id,
)
from domain.principals.standing import NoEntenteInForce, check_entente_in_force, named_ententes, needs_entente
from domain.principals.tls import check_client_certificate, fingerprint_text
from usecases.crisis import candidate_ententes
from usecases.ententes import Ententes


@dataclass(frozen=True)
class Issued:
    """A principal and the key just made for it: `key` is shown once, never stored."""

    principal: PrincipalView
    key: str
    kid: str


class Principals:
    def __init__(self, record: Record, hasher: KeyHasher | None = None, ententes: Ententes | None = None,
                 oidc: Callable[[str], OidcIdentity] | None = None) -> None:
        self.record = record
        self.oidc = oidc  # the identity provider's verifier (None: no OIDC, local keys only)
        self.hasher = hasher or KeyHasher()
        self.ententes = ententes or Ententes(record)

    # ------------------------------------------------------------------ commands
    def add_partner(self, org_id: str, name: str, *, by: str, at: datetime) -> Issued:
        return self._add(PrincipalKind.PARTNER, org_id, org_id, name, Role.PARTNER_ORG, by=by, at=at)

    def add_user(self, user_id: str, org_id: str, role: Role, *, name: str = "", by: str, at: datetime,
                 subject: OidcIdentity | None = None) -> Issued:
        """A person with a local token; with `subject`, also signed in by the identity provider as that."""
        return self._add(PrincipalKind.USER, user_id, org_id, name or user_id, role, by=by, at=at, subject=subject)

    def _add(self, kind: PrincipalKind, principal_id: str, org_id: str, name: str, role: Role, *, by: str,
             at: datetime, subject: OidcIdentity | None = None) -> Issued:
        if account_id(kind, principal_id) in self.record.repository:
            raise DomainError(f"{kind.value} {principal_id} already exists", code="duplicate_principal")
        account = Account(kind=kind.value, principal_id=principal_id, org_id=org_id, name=name, role=role.value,
                          by=by, at=at)
        key, token = self._issue(account, at)
        links = [self._link(account, subject, by, at)] if subject is not None else []
        self.record.save(account, key, *links)
        return Issued(self._view(account), token, key.kid)

    def link_subject(self, user_id: str, subject: OidcIdentity, *, by: str, at: datetime) -> PrincipalView:
        """The person signed in by the identity provider as `subject` from now on (one user per subject)."""
        account = self._account(PrincipalKind.USER, user_id)
        link = self._link(account, subject, by, at)
        self.record.save(account, link)
        return self._view(account)

    def _link(self, account: Account, subject: OidcIdentity, by: str, at: datetime) -> SubjectLink:
        check_subject(subject)
        if subject_link_id(subject.issuer, subject.subject) in self.record.repository:
            raise DomainError(f"{subject.subject} of {subject.issuer} is already linked to a user",
                              code="subject_already_linked")
        account.link_subject(subject.issuer, subject.subject, by, at)
        return SubjectLink(issuer=subject.issuer, subject=subject.subject, user_id=account.principal_id, by=by,
                           at=at)

    def bind_client_cert(self, org_id: str, fingerprint: str | None, *, by: str, at: datetime) -> PrincipalView:
        """The partner's keys accepted only over a connection presenting this certificate (None: any)."""
        account = self._account(PrincipalKind.PARTNER, org_id)
        account.bind_client_cert(fingerprint_text(fingerprint) if fingerprint is not None else None, by, at)
        self.record.save(account)
        return self._view(account)

    def rotate_key(self, kind: PrincipalKind, principal_id: str, overlap: timedelta, *, at: datetime) -> Issued:
        """A new key; every key still valid stays valid `overlap` longer, then is refused."""
        rules.check_overlap(overlap)
        account = self._account(kind, principal_id)
        account.check_active()
        old = [self._key(kid) for kid in account.kids]
        for key in old:
            key.retire(at + overlap, at)
        new, token = self._issue(account, at)
        self.record.save(account, new, *old)
        return Issued(self._view(account), token, new.kid)

    def revoke(self, kind: PrincipalKind, principal_id: str, reason: str, *, by: str, at: datetime) -> PrincipalView:
        """Revoked now, with all its keys: the next request with any of them is refused."""
        account = self._account(kind, principal_id)
        account.revoke(reason, by, at)
        keys = [self._key(kid) for kid in account.kids]
        for key in keys:
            key.revoke(at)
        self.record.save(account, *keys)
        return self._view(account)

    # ------------------------------------------------------------------ access authorisations
    def authorise(self, user_id: str, terms: AccessAuthorisation, *, by: str, at: datetime) -> PrincipalView:
        """Record an access authorisation the person holds (R-22.1, r. 1, s. 8): from the next request their
        reads are decided with it."""
        account = self._account(PrincipalKind.USER, user_id)
        account.authorise(terms, by, at)
        self.record.save(account)
        return self._view(account)

    def withdraw_authorisation(self, user_id: str, number: int, reason: str, *, by: str,
                               at: datetime) -> PrincipalView:
        """End the person's authorisation `number` at `at`: their next read is refused without another."""
        account = self._account(PrincipalKind.USER, user_id)
        account.withdraw_authorisation(number, reason, by, at)
        self.record.save(account)
        return self._view(account)

    def authorisations(self, principal: Principal) -> builtins.list[AccessAuthorisation]:
        """The access authorisations a principal's reads are decided with, read from the record now, as the
        rules read them (a withdrawal ends one): a person's registered ones; a partner's system holds none."""
        if principal.kind is not PrincipalKind.USER:
            return []
        return [g.in_effect() for g in self._account(PrincipalKind.USER, principal.principal_id).authorisations]

    def reader_authorisations(
        self, user_id: str, given: builtins.list[AccessAuthorisation],
    ) -> builtins.list[AccessAuthorisation]:
        """The access authorisations (R-22.1, r. 1, s. 8) a local read by `user_id` is decided with: those
        registered on their user account, read from the record now (`authorisations`), as the gateway and
        `audit replay` decide. `given` (a `--facts` file) only for a reader without an account (older records);
        for one with an account it is refused (`facts_in_record`, before anything is recorded), since a file
        given at the read would contradict the record."""
        try:
            account = self._account(PrincipalKind.USER, user_id)
        except NotFound:
            return given
        if given:
            raise RuleViolation(
                f"the record holds the access authorisations of {user_id} (registered on their account): "
                "--facts authorisations would contradict it; leave them out (`arrimage users authorise` records "
                "one)", code="facts_in_record")
        return [g.in_effect() for g in account.authorisations]

    def _issue(self, account: Account, at: datetime) -> tuple[ApiKey, str]:
        kid, token = new_key()
        key = ApiKey(kid=kid, kind=account.kind.value, principal_id=account.principal_id,
                     key_hash=self.hasher.hash(token), at=at)
        account.add_key(kid)
        return key, token

    # ------------------------------------------------------------------ authentication
    def authenticate(self, token: str, now: datetime, *, client_cert: str | None = None) -> Principal:
        """The principal the API key `token` proves at `now`, read from the record now, on a connection that
        presented the client certificate of SHA-256 `client_cert` (None: none); `Unauthenticated` otherwise."""
        kid = kid_of(token)
        try:
            key: ApiKey = self.record.repository.get(key_id(kid))
            account: Account = self.record.repository.get(account_id(key.kind, key.principal_id))
        except AggregateNotFoundError:
            raise Unauthenticated(f"key {kid}: unknown") from None
        who = rules.authenticate(key, account, verified=self.hasher.verify(token, key.key_hash), now=now)
        check_client_certificate(who, account.client_cert, client_cert)
        return who

    def authenticate_bearer(self, token: str, now: datetime, *, client_cert: str | None = None) -> Principal:
        """A gateway request's bearer: the identity provider's token (a JWT) for a person, or an API key."""
        if not looks_like_jwt(token):
            return self.authenticate(token, now, client_cert=client_cert)
        if self.oidc is None:
            raise TokenRefused("a JWT, but no OIDC provider is configured (ARRIMAGE_OIDC_ISSUER)")
        identity = self.oidc(token)
        try:
            link: SubjectLink = self.record.repository.get(subject_link_id(identity.issuer, identity.subject))
            account: Account = self.record.repository.get(account_id(PrincipalKind.USER, link.user_id))
        except AggregateNotFoundError:
            raise SubjectNotRegistered(
                f"{identity.subject} of {identity.issuer} is registered under no user") from None
        return principal_of(link, account, identity, now)

    # ------------------------------------------------------------------ standing
    def check_case_standing(self, principal: Principal, case: CaseView, now: datetime) -> None:
        """`NoEntenteInForce` unless the principal's organisation is the case's CSSS, an entente that lets it
        act on the case is in force at `now`, or it holds the case, taken while such an entente was in force
        (`domain.principals.standing`), read from the record now: a revocation or an expiry holds from the
        next request for everything but the cases the organisation holds."""
        if not needs_entente(principal, case):
            return
        named = named_ententes(case, principal.org_id)
        if named:
            check_entente_in_force(principal, case, [v for v in map(self._entente, sorted(named)) if v is not None],
                                   now)
            return
        # The ententes that may be in force first (`candidate_ententes`), those with both organisations as parties
        # of the version in force (`letting_ententes` looks at no other): admitted on them is admitted on every
        # entente (the rule only looks for one that lets it act); refused, the decision and its reason are taken
        # on every entente of the record (an ended one may still let it hold a case, and the refusal names them).
        with suppress(NoEntenteInForce):
            check_entente_in_force(principal, case, candidate_ententes(
                self.ententes, parties=(principal.org_id, case.responsible_org)), now)
            return
        check_entente_in_force(principal, case, self.ententes.list(from_view=True), now)

    def _entente(self, code: str) -> EntenteView | None:
        try:
            return self.ententes.view(code)
        except NotFound:
            return None

    # ------------------------------------------------------------------ queries
    def get(self, kind: PrincipalKind, principal_id: str) -> PrincipalView:
        return self._view(self._account(kind, principal_id))

    def list(self, kind: PrincipalKind | None = None, *, from_view: bool = True) -> builtins.list[PrincipalView]:
        """Every principal (of `kind`), in the order they were added, each loaded from its chained events. Which
        ones: an indexed query on the listings view (`adapters.record.listings`, caught up first: the same
        accounts as the scan); `from_view=False`, or a store without a view: the notification log's scan."""
        if from_view and (listings := caught_up(self.record)) is not None:
            accounts = listings.view.principals(kind.value if kind is not None else None)
            return [self._view(self.record.repository.get(i)) for i in accounts]
        registered = Account.Registered  # type: ignore[attr-defined]
        ids: dict[UUID, None] = {}
        for ev in self.record.events_of(registered):
            if kind is None or ev.kind == kind.value:
                ids[ev.originator_id] = None
        return [self._view(self.record.repository.get(i)) for i in ids]

    def _account(self, kind: PrincipalKind, principal_id: str) -> Account:
        try:
            account: Account = self.record.repository.get(account_id(kind, principal_id))
        except AggregateNotFoundError:
            raise NotFound(f"no {kind.value} {principal_id}") from None
        return account

    def _key(self, kid: str) -> ApiKey:
        key: ApiKey = self.record.repository.get(key_id(kid))
        return key

    def _view(self, account: Account) -> PrincipalView:
        return account.view([self._key(kid).view() for kid in account.kids])
