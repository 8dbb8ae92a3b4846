"""The pure decisions of OIDC sign-in and mutual TLS (domain/principals/oidc.py, tls.py): which algorithms a
token may use, what identifies the person, that the register (never the token) gives the organisation and the
role, that a revoked user is refused, and when a partner's key needs its client certificate. No server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.disclosure.roles import Role
from domain.errors import DomainError
from domain.principals.aggregate import Account
from domain.principals.model import OidcIdentity, Principal, PrincipalKind
from domain.principals.oidc import (
    SubjectLink,
    SubjectNotRegistered,
    TokenRefused,
    check_algorithm,
    identity_of,
    looks_like_jwt,
    principal_of,
)
from domain.principals.tls import ClientCertificateRequired, check_client_certificate, fingerprint_text

NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
ISS = "https://idp.example/realms/sante"


def user(user_id: str = "marie", role: Role = Role.INTERVENANT) -> Account:
    return Account(kind="user", principal_id=user_id, org_id="cisss-laval", name=user_id, role=role.value, by="t",
                   at=NOW - timedelta(days=1))


@pytest.mark.parametrize("alg", [None, "none", "None", "HS256", "HS384", "HS512", "RS384", "EdDSA", ""])
def test_only_asymmetric_algorithms_are_accepted(alg: str | None) -> None:
    with pytest.raises(TokenRefused) as refused:
        check_algorithm({"alg": alg} if alg is not None else {})
    assert refused.value.code == "unauthenticated"
    assert refused.value.reason == f"algorithm {alg!r} refused: only RS256, ES256, PS256"


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256"])
def test_rs256_es256_ps256_pass(alg: str) -> None:
    assert check_algorithm({"alg": alg, "kid": "k"}) == alg


def test_a_jwt_is_told_from_an_api_key_by_its_shape() -> None:
    assert looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
    assert looks_like_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")  # alg none: still a JWT, refused later
    assert not looks_like_jwt("ark_3f9c2a1b7d40_" + "x" * 43)
    assert not looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.e30")  # two parts
    assert not looks_like_jwt("a.b.c.d.e")  # JWE compact: not accepted


def test_the_person_is_the_issuer_and_subject_and_nothing_else() -> None:
    claims = {"iss": ISS, "sub": "5b0c-e1", "org": "cc-autre", "role": "auditeur", "groups": ["admin"]}
    assert identity_of(claims) == OidcIdentity(issuer=ISS, subject="5b0c-e1")
    for bad in ({"iss": ISS}, {"iss": ISS, "sub": ""}, {"iss": ISS, "sub": 42}, {"sub": "x"},
                {"iss": ISS, "sub": "a b"}, {"iss": ISS, "sub": "x" * 256}):
        with pytest.raises(TokenRefused):
            identity_of(bad)


def test_the_register_gives_the_organisation_and_role() -> None:
    account = user(role=Role.AUDITOR)
    link = SubjectLink(issuer=ISS, subject="sub-1", user_id="marie", by="t", at=NOW)
    who = principal_of(link, account, OidcIdentity(issuer=ISS, subject="sub-1"), NOW)
    assert who == Principal(kind=PrincipalKind.USER, principal_id="marie", org_id="cisss-laval", role=Role.AUDITOR,
                            kid="oidc")


def test_a_revoked_user_is_refused_from_its_revocation() -> None:
    account = user()
    link = SubjectLink(issuer=ISS, subject="sub-1", user_id="marie", by="t", at=NOW)
    account.revoke("départ", "t", NOW)
    identity = OidcIdentity(issuer=ISS, subject="sub-1")
    assert principal_of(link, account, identity, NOW - timedelta(seconds=1)).principal_id == "marie"
    with pytest.raises(TokenRefused) as refused:
        principal_of(link, account, identity, NOW)
    assert refused.value.reason == "user marie: revoked"


def test_a_link_names_one_subject_of_one_issuer_and_one_user() -> None:
    link = SubjectLink(issuer=ISS, subject="sub-1", user_id="marie", by="t", at=NOW)
    with pytest.raises(SubjectNotRegistered):  # the same sub from another issuer is another person
        principal_of(link, user(), OidcIdentity(issuer="https://other.example", subject="sub-1"), NOW)
    with pytest.raises(SubjectNotRegistered):
        principal_of(link, user("jean"), OidcIdentity(issuer=ISS, subject="sub-1"), NOW)


def test_only_a_person_is_linked_to_a_subject() -> None:
    partner = Account(kind="partner", principal_id="cps-laval", org_id="cps-laval", name="CPS",
                      role=Role.PARTNER_ORG.value, by="t", at=NOW)
    with pytest.raises(DomainError) as refused:
        partner.link_subject(ISS, "sub-1", "t", NOW)
    assert refused.value.code == "not_a_user"
    marie = user()
    marie.link_subject(ISS, "sub-1", "t", NOW)
    assert marie.view([]).oidc_subjects == [OidcIdentity(issuer=ISS, subject="sub-1")]


def test_a_bound_partner_needs_its_own_certificate() -> None:
    who = Principal(kind=PrincipalKind.PARTNER, principal_id="cps-laval", org_id="cps-laval",
                    role=Role.PARTNER_ORG, kid="k")
    mine, other = "a" * 64, "b" * 64
    check_client_certificate(who, None, None)  # not bound: any connection
    check_client_certificate(who, None, other)
    check_client_certificate(who, mine, mine)
    for presented in (None, other):
        with pytest.raises(ClientCertificateRequired) as refused:
            check_client_certificate(who, mine, presented)
        assert refused.value.code == "client_certificate_required"


def test_a_fingerprint_is_64_hex_digits_colons_and_case_ignored() -> None:
    assert fingerprint_text(":".join(["AB"] * 32)) == "ab" * 32
    for bad in ("", "ab" * 31, "zz" * 32):
        with pytest.raises(DomainError) as refused:
            fingerprint_text(bad)
        assert refused.value.code == "invalid_fingerprint"
