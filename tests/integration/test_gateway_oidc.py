"""People signed in by their organisation's identity provider (issue 10: "OIDC (a maintained library) is the
production path"), against a real OIDC issuer on loopback (`tests.oidc_issuer`: discovery, JWKS, RSA and P-256
keys made here). A token the provider signed reads as the user registered under its subject, in the
organisation and role of the register, whatever the token claims; every token the gateway must refuse
(expired, not yet valid, issued in the future, another audience or issuer, `alg: none`, HS256 signed with the
provider's public key, an unknown or withdrawn key, a signature by another key, a missing claim) is 401
`unauthenticated`, an unregistered subject 403 `subject_not_registered`, a revoked user 401 at the next
request; a refusal records nothing. Local `ark_` keys keep working beside it. Real record (SQLite,
PostgreSQL), real HTTP to the issuer; no Temporal (nothing here reaches a workflow)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.oidc.provider import OidcProvider, ProviderUnavailable
from domain.audit.record_reads import RecordReadEntry
from domain.disclosure.roles import Role
from domain.principals.model import OidcIdentity, PrincipalKind
from domain.principals.oidc import TokenRefused
from gateway.app import create_app
from tests.crisis_builders import CSSS
from tests.gateway.api import OTHER, events, problem, recorded_since
from tests.oidc_issuer import AUDIENCE, Issuer, ec_key, forged, rsa_key, serving
from workers.bootstrap import Root, bootstrap
from workers.settings import Settings

RSA, EC, PS = rsa_key("rsa-1"), ec_key("ec-1"), rsa_key("ps-1", "PS256")


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with serving(RSA, EC, PS) as found:
        yield found


class People:
    def __init__(self, root: Root, http: httpx.AsyncClient, issuer: Issuer) -> None:
        self.root, self.http, self.issuer = root, http, issuer

    async def me(self, token: str) -> httpx.Response:
        return await self.http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})


def gateway_root(issuer_url: str, store_env: dict[str, str], tmp_path: Path, **settings: Any) -> Root:
    return bootstrap(Settings(_env_file=None, mode="development", data_dir=tmp_path, oidc_issuer=issuer_url,
                              oidc_audience=AUDIENCE, oidc_jwks_refresh_seconds=0, **settings), record_env=store_env)


@pytest.fixture
async def people(issuer: Issuer, store_env: dict[str, str], tmp_path: Path) -> AsyncIterator[People]:
    """marie (a CISSS intervenant) registered under the provider's subject `sub-marie`; léa (an auditor)
    linked afterwards (`users link`) to `sub-lea`."""
    root = gateway_root(issuer.url, store_env, tmp_path)
    try:
        now = datetime.now(UTC)
        root.principals.add_user("marie", CSSS, Role.INTERVENANT, by="t", at=now,
                                 subject=OidcIdentity(issuer=issuer.url, subject="sub-marie"))
        root.principals.add_user("lea", CSSS, Role.AUDITOR, by="t", at=now)
        root.principals.link_subject("lea", OidcIdentity(issuer=issuer.url, subject="sub-lea"), by="t", at=now)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(root)),
                                     base_url="http://gateway") as http:
            yield People(root, http, issuer)
    finally:
        root.close()


async def test_a_providers_token_reads_as_the_registered_user_whatever_it_claims(people: People) -> None:
    issuer, record = people.issuer, people.root.record
    before = events(record)
    for key, sub, expected in ((RSA, "sub-marie", ("marie", CSSS, "intervenant")),
                               (EC, "sub-lea", ("lea", CSSS, "auditeur")),
                               (PS, "sub-marie", ("marie", CSSS, "intervenant"))):
        # an org, a role and groups claimed by the token are ignored: the register says who acts, and how
        token = issuer.token(key, sub, org=OTHER, role="auditeur", groups=["admin"], arrimage_role="auditeur")
        got = await people.me(token)
        assert got.status_code == 200, got.text
        assert got.json() == {"principal_id": expected[0], "org_id": expected[1], "role": expected[2],
                              "kind": "user"}
    assert events(record) == before  # reading who one is records nothing
    # a read of the record is registered as the user's, in the registered role (not the claimed auditor's)
    listed = await people.http.get("/v1/cases", headers={
        "Authorization": f"Bearer {issuer.token(RSA, 'sub-marie', role='auditeur')}"})
    assert listed.status_code in (200, 403), listed.text
    added = record.recorder.select_notifications(start=before + 1, limit=10)
    assert [n.topic.rsplit(":", 1)[-1] for n in added] == ["RecordReadEntry.Registered"]
    entry: RecordReadEntry = record.repository.get(UUID(str(added[0].originator_id)))
    assert (entry.read.actor_id, entry.read.role) == ("marie", Role.INTERVENANT)
    # the local keys, the embedded default, keep working beside OIDC
    local = people.root.principals.add_user("jean", CSSS, Role.SUPERVISOR, by="t", at=datetime.now(UTC)).key
    assert (await people.me(local)).json()["principal_id"] == "jean"
    assert issuer.requests["/realms/sante/.well-known/openid-configuration"] == 1  # discovery read once


async def test_tokens_the_gateway_must_refuse_record_nothing(people: People) -> None:
    issuer, record = people.issuer, people.root.record
    now = int(time.time())
    public_pem = RSA.public_pem()
    other_issuer = issuer.url.replace("/sante", "/autre")
    claims = issuer.claims("sub-marie")
    refused = {  # why: the token, and the reason the provider gives (for the logs; the caller hears less)
        "expired": (issuer.token(RSA, "sub-marie", iat=now - 7200, exp=now - 3600), "ExpiredSignatureError"),
        "not yet valid": (issuer.token(RSA, "sub-marie", nbf=now + 3600), "ImmatureSignatureError"),
        "issued in the future": (issuer.token(RSA, "sub-marie", iat=now + 3600, exp=now + 7200),
                                 "ImmatureSignatureError"),
        "another audience": (issuer.token(RSA, "sub-marie", aud="another-api"), "InvalidAudienceError"),
        "another issuer": (issuer.token(RSA, "sub-marie", iss=other_issuer), "InvalidIssuerError"),
        "no exp": (jwt_without(issuer, "exp"), "MissingRequiredClaimError"),
        "no sub": (jwt_without(issuer, "sub"), "MissingRequiredClaimError"),
        "alg none": (forged({"alg": "none", "typ": "JWT", "kid": RSA.kid}, claims, None), "algorithm 'none' refused"),
        "alg None, no kid": (forged({"alg": "None"}, claims, None), "algorithm 'None' refused"),
        # the algorithm-confusion attack: HS256 "signed" with the provider's public key, which anyone has
        "HS256 with the public key": (forged({"alg": "HS256", "typ": "JWT", "kid": RSA.kid}, claims, public_pem),
                                      "algorithm 'HS256' refused"),
        "HS256 with the JWK's modulus": (forged({"alg": "HS256", "kid": RSA.kid}, claims, RSA.jwk()["n"].encode()),
                                         "algorithm 'HS256' refused"),
        "an RS256 token naming the EC key": (issuer.token(RSA, "sub-marie", header={"kid": EC.kid}),
                                             "key 'ec-1' (EC) cannot verify RS256"),
        "an ES256 token naming the RSA key": (forged({"alg": "ES256", "kid": RSA.kid}, claims, b"x"),
                                              "key 'rsa-1' (RSA) cannot verify ES256"),
        "signed by another key under a known kid": (issuer.token(rsa_key(RSA.kid), "sub-marie"),
                                                    "InvalidSignatureError"),
        "a key never published": (issuer.token(rsa_key("rsa-unknown"), "sub-marie"), "unknown key id"),
        "tampered payload": (tampered(issuer.token(RSA, "sub-lea")), "InvalidSignatureError"),
    }
    provider = people.root.oidc_provider
    assert provider is not None
    before = events(record)
    for why, (token, reason) in refused.items():
        body = problem(await people.me(token), 401, "unauthenticated")
        assert body["detail"] == "missing, invalid or expired token", (why, body)
        with pytest.raises(TokenRefused) as err:
            provider.verify(token)
        assert err.value.reason.startswith(reason), (why, err.value.reason)
    problem(await people.me("eyJhbGciOiJSUzI1NiJ9.e30"), 401, "unauthenticated")  # neither a JWS nor a key
    # a valid token for a subject registered under no user: authenticated by the provider, not allowed here
    problem(await people.me(issuer.token(RSA, "sub-stranger")), 403, "subject_not_registered")
    assert events(record) == before


async def test_a_revoked_user_is_refused_at_the_next_request(people: People) -> None:
    token = people.issuer.token(RSA, "sub-marie")  # valid for five more minutes
    assert (await people.me(token)).status_code == 200
    people.root.principals.revoke(PrincipalKind.USER, "marie", "départ", by="t", at=datetime.now(UTC))
    before = events(people.root.record)
    problem(await people.me(token), 401, "unauthenticated")
    assert events(people.root.record) == before


async def test_a_rotated_key_is_read_from_the_provider_when_a_token_names_it(people: People) -> None:
    issuer = people.issuer
    new = rsa_key("rsa-2")
    token = issuer.token(new, "sub-marie")
    assert (await people.me(issuer.token(RSA, "sub-marie"))).status_code == 200
    fetched = issuer.requests["/realms/sante/certs"]
    problem(await people.me(token), 401, "unauthenticated")  # not published yet: read again, still unknown
    assert issuer.requests["/realms/sante/certs"] == fetched + 1
    issuer.publish(new, EC)  # the provider rotates: rsa-1 withdrawn, rsa-2 in
    got = await people.me(token)
    assert got.status_code == 200, got.text
    assert got.json()["principal_id"] == "marie"
    assert issuer.requests["/realms/sante/certs"] == fetched + 2


def test_unknown_key_ids_read_the_key_set_at_most_once_per_interval(issuer: Issuer) -> None:
    """Made-up key ids do not turn every request into a request to the provider (`refresh_after`)."""
    clock = [1000.0]
    provider = OidcProvider(issuer.url, AUDIENCE, refresh_after=10.0, clock=lambda: clock[0])
    try:
        assert provider.verify(issuer.token(RSA, "sub-x")) == OidcIdentity(issuer=issuer.url, subject="sub-x")
        for n in range(5):
            with pytest.raises(TokenRefused) as refused:
                provider.verify(issuer.token(rsa_key(f"made-up-{n}"), "sub-x"))
            assert refused.value.reason == f"unknown key id 'made-up-{n}'"
        assert provider.fetches == 1
        clock[0] += 10.0
        with pytest.raises(TokenRefused) as refused:
            provider.verify(issuer.token(rsa_key("made-up-late"), "sub-x"))
        assert refused.value.reason == "unknown key id 'made-up-late'"
        assert provider.fetches == 2
    finally:
        provider.close()


def test_a_discovery_document_naming_another_issuer_is_not_trusted(issuer: Issuer) -> None:
    provider = OidcProvider(issuer.url + "/", AUDIENCE)  # the document says issuer.url, without the slash
    try:
        with pytest.raises(ProviderUnavailable, match="names issuer"):
            provider.verify(issuer.token(RSA, "sub-x"))
    finally:
        provider.close()


async def test_a_provider_down_is_503_and_api_keys_still_work(store_env: dict[str, str], tmp_path: Path) -> None:
    with serving(RSA) as gone:
        url, token = gone.url, gone.token(RSA, "sub-marie")
    root = gateway_root(url, store_env, tmp_path)  # its port now closed
    try:
        key = root.principals.add_partner("cps-laval", "CPS", by="t", at=datetime.now(UTC)).key
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(root)),
                                     base_url="http://gateway") as http:
            before = events(root.record)
            problem(await http.get("/v1/me", headers={"Authorization": f"Bearer {token}"}), 503,
                    "identity_provider_unavailable")
            assert (await http.get("/v1/me", headers={"Authorization": f"Bearer {key}"})).status_code == 200
            assert recorded_since(root.record, before) == []
    finally:
        root.close()


def test_settings_refuse_half_an_oidc_configuration(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="go together"):
        Settings(_env_file=None, oidc_issuer="https://idp.example/realms/sante")
    with pytest.raises(ValueError, match="https://"):
        Settings(_env_file=None, oidc_issuer="http://idp.example/realms/sante", oidc_audience="a")
    assert Settings(_env_file=None, oidc_issuer="https://idp.example/r", oidc_audience="a").oidc


def jwt_without(issuer: Issuer, claim: str) -> str:
    import jwt

    claims = {k: v for k, v in issuer.claims("sub-marie").items() if k != claim}
    return jwt.encode(claims, RSA.private, algorithm="RS256", headers={"kid": RSA.kid})


def tampered(token: str) -> str:
    """The payload of a valid token replaced (marie's subject in léa's token), its signature kept."""
    import base64
    import json

    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "sub-marie"
    raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{head}.{raw}.{signature}"
