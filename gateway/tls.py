"""HTTPS with client certificates for uvicorn: the peer certificate handed to the application.

Uvicorn (0.54, its h11 protocol) verifies a client certificate during the handshake when its SSL context asks
for one, but puts nothing of it in the ASGI scope. `ClientCertProtocol` is uvicorn's own h11 protocol that,
once a connection is made, reads the certificate the TLS layer verified (`ssl_object.getpeercert(
binary_form=True)`) and gives every request of that connection the ASGI TLS extension
(`scope["extensions"]["tls"]`: `client_cert_chain`, the peer certificate as PEM; `tls_version`,
`cipher_suite` unknown, as the ASGI spec allows). Nothing a client sends can set it: it is built from the
connection, not from headers. Behind a proxy that ends TLS, there is no client certificate to see: serve the
gateway's TLS itself for mutual TLS.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from adapters.client_certs import fingerprint_der

TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


class ClientCertProtocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        tls = _tls_extension(transport.get_extra_info("ssl_object"))
        if tls is None:
            return
        app = self.app

        async def with_tls(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})["tls"] = tls
            await app(scope, receive, send)

        self.app = with_tls


def _tls_extension(ssl_object: ssl.SSLObject | None) -> dict[str, Any] | None:
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return {"server_cert": None, "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
            "client_cert_name": None, "client_cert_error": None,
            "tls_version": TLS_VERSIONS.get(ssl_object.version() or ""),
            "cipher_suite": None}


def client_fingerprint(scope: Any) -> str | None:
    """The SHA-256 of the client certificate this request's connection presented (None: none, or no TLS)."""
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain") or []
    return fingerprint_der(ssl.PEM_cert_to_DER_cert(chain[0])) if chain else None


def server_options(cert: str, key: str, client_ca: str | None, required: bool) -> dict[str, Any]:
    """uvicorn.Config's TLS options: the gateway's certificate, and with a client CA, client certificates asked
    for (CERT_OPTIONAL: a partner not bound to one, a person, still connect) or required."""
    options: dict[str, Any] = {"ssl_certfile": cert, "ssl_keyfile": key, "http": ClientCertProtocol}
    if client_ca is not None:
        options.update(ssl_ca_certs=client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL)
    return options
