"""An identity provider as the tests simulate it: a real HTTP server on loopback serving an OIDC discovery
document and a JWKS, and signing tokens with its own keys (RSA and P-256, made in the test). `publish` sets
which keys the JWKS holds (a rotation); `token` signs claims with any key, published or not; `requests`
counts what the gateway asked for."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "arrimage-gateway"


@dataclass
class SigningKey:
    kid: str
    private: Any
    alg: str

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        codec = RSAAlgorithm if self.alg in ("RS256", "PS256") else ECAlgorithm
        found: dict[str, Any] = json.loads(codec.to_jwk(public))
        return {**found, "kid": self.kid, "use": "sig"}

    def public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        pem: bytes = self.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        return pem


def rsa_key(kid: str, alg: str = "RS256") -> SigningKey:
    return SigningKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048), alg)


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, ec.generate_private_key(ec.SECP256R1()), "ES256")


@dataclass
class Issuer:
    port: int = 0
    published: list[SigningKey] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/realms/sante"

    def publish(self, *keys: SigningKey) -> None:
        self.published = list(keys)

    def claims(self, sub: str, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": self.url, "aud": AUDIENCE, "sub": sub, "iat": now, "exp": now + 300, **extra}

    def token(self, key: SigningKey, sub: str, *, alg: str | None = None, header: dict[str, Any] | None = None,
              **claims: Any) -> str:
        return jwt.encode(self.claims(sub, **claims), key.private, algorithm=alg or key.alg,
                          headers={"kid": key.kid, **(header or {})})

    def handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                issuer.requests[path] += 1
                base = "/realms/sante"
                if path == f"{base}/.well-known/openid-configuration":
                    body: dict[str, Any] = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/certs",
                                            "id_token_signing_alg_values_supported": ["RS256", "ES256", "PS256"]}
                elif path == f"{base}/certs":
                    body = {"keys": [k.jwk() for k in issuer.published]}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


@contextmanager
def serving(*keys: SigningKey) -> Iterator[Issuer]:
    """The issuer on a free loopback port, publishing `keys`, until the block ends."""
    issuer = Issuer(published=list(keys))
    server = ThreadingHTTPServer(("127.0.0.1", 0), issuer.handler())
    issuer.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def forged(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A token made by hand, as an attacker would: `secret` None signs nothing (alg none), else HMAC-SHA256
    with `secret` (the provider's public key, for the algorithm-confusion attack)."""
    import hashlib
    import hmac

    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if secret is None:
        return signing_input + "."
    return signing_input + "." + _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
