"""People signed in by the organisation's identity provider (OIDC): which tokens are acceptable, and which
registered person a token stands for.

The provider says *who* the person is (its `iss` and `sub`), nothing more: the organisation and the role a
person acts in are those registered here (`arrimage users add … --oidc-subject SUB`), never a claim of the
token (an `org`, `role` or `groups` claim is ignored), so a provider's administrator cannot widen what a
person reads under the LSSSS. A subject is bound to one registered user by a `SubjectLink`, found from the
issuer and the subject alone (one small aggregate to load), and the user's account is read on every request:
a revoked person is refused at the next one, whatever their token's expiry.

Only asymmetric signatures are accepted (RS256, ES256, PS256): `none` would accept anything, and an HS*
token could be "signed" with the provider's *public* key by anyone (the algorithm-confusion attack). The
signature, `iss`, `aud`, `exp`, `nbf` and `iat` are checked by a maintained library (`adapters.oidc`) under
this policy; the mapping below is pure.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError
from domain.principals.aggregate import NAMESPACE, Account
from domain.principals.model import OidcIdentity, Principal, PrincipalKind, Unauthenticated

ALGORITHMS = ("RS256", "ES256", "PS256")  # asymmetric only: never `none`, never HS* (see the module)
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat")
LEEWAY_SECONDS = 60  # clocks of the provider and the gateway may differ this much (exp, nbf, iat)
OIDC_KID = "oidc"  # a principal's `kid` when a provider's token, not an API key, proved it
_JWT = re.compile(r"^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")  # header.payload.signature (JWS compact)
_SUBJECT = re.compile(r"^[\x21-\x7e]{1,255}$")  # OIDC Core: a case-sensitive ASCII string, at most 255 characters


class TokenRefused(Unauthenticated):
    """A provider's token this gateway does not accept (signature, algorithm, issuer, audience, times, shape).
    The caller hears only that; `reason` is for the logs."""

    def __init__(self, reason: str) -> None:
        DomainError.__init__(self, "missing, invalid or expired token")
        self.reason = reason


class SubjectNotRegistered(DomainError):
    """A valid token of the provider for a person registered under no user here: authenticated, not allowed."""

    code = "subject_not_registered"


def looks_like_jwt(token: str) -> bool:
    """A JWS in compact form (three base64url parts, the first a JSON object): a provider's token, not an
    API key (`ark_…`, which has no dot)."""
    return _JWT.match(token) is not None


def check_algorithm(header: dict[str, Any]) -> str:
    """The token's `alg` if it is one of ALGORITHMS; `TokenRefused` otherwise (before any key is looked at)."""
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise TokenRefused(f"algorithm {alg!r} refused: only {', '.join(ALGORITHMS)}")
    return str(alg)


def identity_of(claims: dict[str, Any]) -> OidcIdentity:
    """The person a token's verified claims name: its `iss` and `sub` (every other claim is ignored)."""
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or not isinstance(subject, str) or not _SUBJECT.match(subject):
        raise TokenRefused("no usable iss or sub claim")
    return OidcIdentity(issuer=issuer, subject=subject)


def subject_link_id(issuer: str, subject: str) -> UUID:
    return uuid5(NAMESPACE, f"oidc-subject:{issuer}\n{subject}")


class SubjectLink(Aggregate):
    """A provider's subject bound to one registered user, found from `(issuer, subject)`."""

    @staticmethod
    def create_id(issuer: str, subject: str, **_: Any) -> UUID:
        return subject_link_id(issuer, subject)

    @event("Linked")
    def __init__(self, issuer: str, subject: str, user_id: str, by: str, at: datetime) -> None:
        self.issuer = issuer
        self.subject = subject
        self.user_id = user_id
        self.linked_by = by
        self.linked_at = at


def check_subject(identity: OidcIdentity) -> None:
    """A subject worth registering (`invalid_subject` otherwise): what a provider may send as `sub`."""
    if not _SUBJECT.match(identity.subject):
        raise DomainError("an OIDC subject is 1 to 255 printable ASCII characters", code="invalid_subject")


def principal_of(link: SubjectLink, account: Account, identity: OidcIdentity, now: datetime) -> Principal:
    """The principal a verified identity stands for at `now`: the user its link names, in the organisation
    and role registered for that user (never the token's); refused when the user is revoked."""
    if link.issuer != identity.issuer or link.subject != identity.subject:
        raise SubjectNotRegistered(f"{identity.subject} of {identity.issuer} is registered under no user")
    if account.kind is not PrincipalKind.USER or account.principal_id != link.user_id:
        raise SubjectNotRegistered(f"{identity.subject} of {identity.issuer} is registered under no user")
    if account.revoked_at is not None and now >= account.revoked_at:
        raise TokenRefused(f"user {account.principal_id}: revoked")
    return Principal(kind=account.kind, principal_id=account.principal_id, org_id=account.org_id,
                     role=account.role, kid=OIDC_KID)


def check_provider_url(url: str, what: str = "an OIDC issuer") -> str:
    """HTTPS, or plain HTTP to this machine only (a provider beside the gateway, the tests): the keys that
    decide who a person is are never fetched in clear over a network. `ValueError` otherwise."""
    lowered = url.lower()
    local = ("http://127.0.0.1", "http://localhost", "http://[::1]")
    if not (lowered.startswith("https://") or any(lowered.startswith(p + s) for p in local for s in (":", "/"))):
        raise ValueError(f"{what} must be https:// (plain http to this machine only), not {url!r}")
    if len(url) > 2048 or any(ch.isspace() for ch in url):
        raise ValueError(f"{what} is one URL of at most 2048 characters")
    return url
