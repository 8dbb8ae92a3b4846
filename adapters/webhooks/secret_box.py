"""Partners' signing secrets: made here, shown once, kept in the record sealed (AES-GCM) under the webhook ring.

The engine signs every delivery with the partner's secret, so it must read it back: a hash would not do. The
record holds `<key id>:<base64 nonce + ciphertext>`, bound to the partner (the associated data names its
organisation, so a sealed secret copied onto another partner's endpoint does not open): a copy of the
database yields no secret.

The ring (`webhook_ring`): ARRIMAGE_WEBHOOK_KEYS when set; otherwise keys derived from each subject KEK with
HKDF-SHA256 under a label of their own. The subject KEKs are already required (and refused when public)
outside development mode, so no deployment gains a setting to forget; the derivation keeps the two uses
apart (a sealed secret is never a ciphertext under a KEK itself), and a ring of its own rotates apart. The
first key seals; the others still open what they sealed.
"""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from adapters.record.keys import KEY_BYTES, KeyRing, parse_key_ring
from domain.errors import DomainError

PREFIX = "whsec_"
LABEL = b"arrimage webhook secrets v1"


class UnreadableSecret(DomainError):
    code = "unreadable_secret"


def new_secret() -> tuple[str, str]:
    """(secret id, the secret): 256 random bits; the id names it in the record and in `partners endpoint`."""
    return secrets.token_hex(6), PREFIX + secrets.token_urlsafe(32)


def webhook_ring(spec: str, subject_keks: KeyRing) -> KeyRing:
    """ARRIMAGE_WEBHOOK_KEYS when set (`KeyConfigError` when malformed), else derived from the subject KEKs."""
    if spec.strip():
        return parse_key_ring(spec)
    return KeyRing(tuple((f"kek-{kid}", _derive(key)) for kid, key in subject_keks.keys))


def _derive(kek: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=LABEL).derive(kek)


class SecretBox:
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def seal(self, org_id: str, secret: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.ring.active).encrypt(nonce, secret.encode(), _aad(org_id))
        return f"{self.ring.active_id}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, org_id: str, sealed: str) -> str:
        kid, _, b64 = sealed.partition(":")
        key = self.ring.get(kid)
        if key is None:
            raise UnreadableSecret(f"the secret of {org_id} was sealed under key {kid!r}, not in ARRIMAGE_WEBHOOK_KEYS")
        raw = base64.b64decode(b64)
        try:
            return AESGCM(key).decrypt(raw[:12], raw[12:], _aad(org_id)).decode()
        except InvalidTag:
            raise UnreadableSecret(f"the secret of {org_id} does not open (altered, or another partner's)") from None


def _aad(org_id: str) -> bytes:
    return f"arrimage webhook secret:{org_id}".encode()
