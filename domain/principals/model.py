"""What a principal is, as its readers see it, and the one refusal of authentication.

A principal acts for one organisation (`org_id`) in one role (`domain.disclosure.roles.Role`): a partner
organisation's system in the role `organisme_partenaire`, a person in the role given when they were added.
Nothing a request says can change either: the gateway takes both from the principal, never from the body.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from domain.disclosure.roles import Role
from domain.ententes.model import Frozen
from domain.errors import DomainError
from domain.principals.authorisations import GrantedAuthorisation

KEY_PREFIX = "ark"  # every API key starts `ark_<kid>_`: recognisable in a leaked log or a secret scanner


class PrincipalKind(StrEnum):
    PARTNER = "partner"  # a partner organisation's system
    USER = "user"  # a person (supervisor, intervenant, auditor…)


class KeyView(Frozen):
    """One API key, without its secret or its hash."""

    kid: str
    issued_at: datetime
    valid_until: datetime | None = None  # set when the key is rotated out: valid until then (the overlap)
    revoked_at: datetime | None = None

    def valid_at(self, now: datetime) -> bool:
        if self.revoked_at is not None and now >= self.revoked_at:
            return False
        return self.valid_until is None or now < self.valid_until


class OidcIdentity(Frozen):
    """Who an identity provider says a person is (OIDC `iss` and `sub`): a subject is unique only within its
    issuer (`domain.principals.oidc`)."""

    issuer: str
    subject: str


class PrincipalView(Frozen):
    kind: PrincipalKind
    principal_id: str  # the partner's org id, or the person's user id
    org_id: str
    name: str
    role: Role
    registered_at: datetime
    registered_by: str
    authorisations: list[GrantedAuthorisation] = Field(default_factory=list)  # a person's (R-22.1, r. 1, s. 8)
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    keys: list[KeyView] = Field(default_factory=list)
    client_cert: str | None = None  # SHA-256 (hex) of the client certificate its keys need (mutual TLS)
    oidc_subjects: list[OidcIdentity] = Field(default_factory=list)  # who it is at the identity provider

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class Principal(Frozen):
    """The authenticated caller of one request: who acts (`actor`), for which organisation, in which role."""

    kind: PrincipalKind
    principal_id: str
    org_id: str
    role: Role
    kid: str

    @property
    def actor(self) -> str:
        """The `by` of the commands it gives and the reader of its reads: the user id, or the partner's org id."""
        return self.principal_id


class Unauthenticated(DomainError):
    """No key, a malformed key, an unknown one, a wrong secret, or a key or principal no longer valid. The
    caller hears only that (which part failed would help a guesser); `reason` is for the logs."""

    code = "unauthenticated"

    def __init__(self, reason: str) -> None:
        super().__init__("missing, invalid, expired or revoked API key")
        self.reason = reason
