"""An OIDC provider's tokens verified with PyJWT (a maintained library): discovery, the JWKS cache, the checks.

Discovery (`<issuer>/.well-known/openid-configuration`) is read on the first token, not at start (a gateway
starts while the provider is down; partners' API keys keep working); the document must name the configured
issuer itself (OIDC Discovery 1.0, section 4.3). Its `jwks_uri` is read and kept `max_age` seconds; a token
naming a key id the set does not hold makes it read again at once (the provider rotated its keys), but at most
once every `refresh_after` seconds, so tokens with made-up key ids cannot make the gateway hammer the
provider. Both URLs must be https (plain http to this machine only).

A token is refused unless: its `alg` is one of `domain.principals.oidc.ALGORITHMS` (checked before any key
is looked at: `none` and HS* never reach the library), its key id names a signing key of the set whose type
fits the algorithm (an RSA key for RS256/PS256, a P-256 key for ES256; a key's own `alg` when it states one),
the signature verifies, and `iss`, `aud`, `exp`, `iat` (and `nbf` when present) hold with
`LEEWAY_SECONDS` of leeway, every claim of `REQUIRED_CLAIMS` present. Which person it names is the domain's
decision (`domain.principals.oidc.identity_of`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from jwt import PyJWK

from domain.principals.oidc import (
    LEEWAY_SECONDS,
    REQUIRED_CLAIMS,
    OidcIdentity,
    TokenRefused,
    check_algorithm,
    check_provider_url,
    identity_of,
)

TIMEOUT = httpx.Timeout(5.0, connect=3.0)
MAX_DOCUMENT_BYTES = 512 * 1024  # a discovery document or a key set larger than this is not one
KEY_TYPES = {"RS256": ("RSA", None), "PS256": ("RSA", None), "ES256": ("EC", "P-256")}  # one per ALGORITHMS


class ProviderUnavailable(Exception):
    """The provider's discovery document or key set could not be read (or is not one): no token can be
    checked now. The gateway answers 503; API keys are not affected."""


@dataclass
class OidcProvider:
    issuer: str
    audience: str
    refresh_after: float = 10.0  # seconds between two reads of the key set for an unknown key id, at least
    max_age: float = 300.0  # the key set is read again after this (keys the provider withdrew stop verifying)
    clock: Callable[[], float] = time.monotonic
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=TIMEOUT, follow_redirects=False))
    _jwks_uri: str | None = None
    _keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    _fetched_at: float | None = None
    _tried_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    fetches: int = 0  # reads of the key set (the tests count them)

    def __post_init__(self) -> None:
        check_provider_url(self.issuer)

    # ------------------------------------------------------------------ verification
    def verify(self, token: str) -> OidcIdentity:
        """The person a token names, once every check of the module holds; `TokenRefused` otherwise,
        `ProviderUnavailable` when the provider's keys cannot be read."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as err:
            raise TokenRefused(f"not a JWS: {err}") from None
        alg = check_algorithm(header)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRefused("no key id (kid) in the token's header")
        key = self._signing_key(kid, alg)
        try:
            claims = jwt.decode(
                token, key=key, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS), "verify_signature": True, "verify_exp": True,
                         "verify_nbf": True, "verify_iat": True, "verify_iss": True, "verify_aud": True,
                         "strict_aud": False},
            )
        except jwt.PyJWTError as err:
            raise TokenRefused(f"{type(err).__name__}: {err}") from None
        return identity_of(claims)

    def _signing_key(self, kid: str, alg: str) -> PyJWK:
        jwk = self._known(kid)
        if jwk is None:
            raise TokenRefused(f"unknown key id {kid!r}")
        kty, crv = KEY_TYPES[alg]
        if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
            raise TokenRefused(f"key {kid!r} ({jwk.get('kty')}) cannot verify {alg}")
        if jwk.get("alg") not in (None, alg) or jwk.get("use") not in (None, "sig"):
            raise TokenRefused(f"key {kid!r} is for {jwk.get('alg') or jwk.get('use')}, not {alg} signatures")
        try:
            return PyJWK({k: v for k, v in jwk.items() if k != "alg"}, algorithm=alg)
        except jwt.PyJWTError as err:
            raise TokenRefused(f"key {kid!r} unusable: {err}") from None

    # ------------------------------------------------------------------ the key set
    def _known(self, kid: str) -> dict[str, Any] | None:
        """The key `kid` of the set. The set is read again when older than `max_age` or when it lacks `kid`
        (the provider rotated), but never twice within `refresh_after` seconds, failed reads included (made-up
        key ids, or a provider down, do not turn every request into a request to the provider)."""
        with self._lock:
            t = self.clock()
            due = self._fetched_at is None or t - self._fetched_at >= self.max_age or kid not in self._keys
            if due and (self._tried_at is None or t - self._tried_at >= self.refresh_after):
                self._tried_at = t
                self._keys = self._read_keys()
                self._fetched_at = t
            elif self._fetched_at is None:
                raise ProviderUnavailable("the provider's keys could not be read (tried again shortly)")
            return self._keys.get(kid)

    def _read_keys(self) -> dict[str, dict[str, Any]]:
        if self._jwks_uri is None:
            found = self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if found.get("issuer") != self.issuer:
                raise ProviderUnavailable(f"the discovery document names issuer {found.get('issuer')!r}, not "
                                          f"{self.issuer!r}")
            uri = found.get("jwks_uri")
            if not isinstance(uri, str):
                raise ProviderUnavailable("the discovery document has no jwks_uri")
            try:
                self._jwks_uri = check_provider_url(uri, "a jwks_uri")
            except ValueError as err:
                raise ProviderUnavailable(str(err)) from None
        keys = self._get_json(self._jwks_uri).get("keys")
        if not isinstance(keys, list):
            raise ProviderUnavailable("the key set has no keys")
        self.fetches += 1
        return {k["kid"]: k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)}

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self.client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as err:
            raise ProviderUnavailable(f"{url}: {type(err).__name__}") from None
        if response.status_code != 200 or len(response.content) > MAX_DOCUMENT_BYTES:
            raise ProviderUnavailable(f"{url}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise ProviderUnavailable(f"{url}: not JSON") from None
        if not isinstance(data, dict):
            raise ProviderUnavailable(f"{url}: not a JSON object")
        return data

    def close(self) -> None:
        self.client.close()
