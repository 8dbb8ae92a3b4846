"""Client certificates (mutual TLS) as the gateway and `arrimage partners tls` name them: the SHA-256 of the
certificate's DER encoding, 64 hex digits (what `openssl x509 -noout -fingerprint -sha256` prints, without the
colons)."""

from __future__ import annotations

import hashlib

from cryptography import x509


def fingerprint_der(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def fingerprint_pem(pem: bytes) -> str:
    """The fingerprint of the first certificate of a PEM file; `ValueError` when it holds none."""
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ValueError("not a PEM certificate (-----BEGIN CERTIFICATE-----)") from None
    return fingerprint_der(cert.public_bytes(Encoding.DER))
