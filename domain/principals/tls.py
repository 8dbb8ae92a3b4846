"""Mutual TLS for a partner: its keys accepted only over a connection presenting its client certificate.

A partner may be bound to one client certificate (`arrimage partners tls ORG --cert PEM`), kept as the
SHA-256 fingerprint of its DER encoding. The gateway's TLS layer checks the certificate against the client CA
(`ARRIMAGE_GATEWAY_TLS_CLIENT_CA`) during the handshake; this rule then says that a bound partner's key is
refused on a connection that presented no certificate, or another one: a stolen key alone is not enough.
The key's secret is checked first, so the refusal tells nothing to whoever guesses keys.
"""

from __future__ import annotations

import re

from domain.errors import DomainError
from domain.principals.model import Principal, Unauthenticated

_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


class ClientCertificateRequired(Unauthenticated):
    code = "client_certificate_required"

    def __init__(self, reason: str) -> None:
        DomainError.__init__(self, "this key is accepted only over a connection presenting the client certificate "
                                   "registered for it (mutual TLS)")
        self.reason = reason


def fingerprint_text(value: str) -> str:
    """A SHA-256 fingerprint as the record keeps it: 64 lower-case hex digits (colons and case ignored)."""
    text = value.strip().lower().replace(":", "")
    if not _FINGERPRINT.match(text):
        raise DomainError("a client certificate's fingerprint is its SHA-256: 64 hexadecimal digits",
                          code="invalid_fingerprint")
    return text


def check_client_certificate(principal: Principal, bound: str | None, presented: str | None) -> None:
    """Refused (`ClientCertificateRequired`) when the principal is bound to a certificate and the connection
    presented none or another one."""
    if bound is None:
        return
    if presented is None:
        raise ClientCertificateRequired(f"{principal.principal_id}: no client certificate presented")
    if presented != bound:
        raise ClientCertificateRequired(f"{principal.principal_id}: client certificate {presented[:12]} is not "
                                        f"its own ({bound[:12]})")
