"""Ed25519 signatures of checkpoints (``domain.audit.checkpoint``): sign the chain head, check a signature.

Ed25519 rather than an HMAC because the verifying half (the public key, printed
in the file) can be handed to an auditor or another organisation who can check
the file without being able to forge one. Signing keys come from configuration
(``ARRIMAGE_CHECKPOINT_KEYS``, the same ``kid:<base64 32-byte seed>`` ring syntax
as the other keys, ``adapters.record.keys``; the first signs, all verify).
"""

from __future__ import annotations

import base64
from dataclasses import replace

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from adapters.record.keys import KeyRing
from domain.audit.checkpoint import Checkpoint


def _private(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_b64(seed: bytes) -> str:
    raw = _private(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def sign_checkpoint(ring: KeyRing, *, notification_id: int, count: int, chain_hash: str, signed_at: str) -> Checkpoint:
    seed = ring.active
    unsigned = Checkpoint(
        notification_id=notification_id,
        count=count,
        chain_hash=chain_hash,
        signed_at=signed_at,
        key_id=ring.active_id,
        public_key=public_key_b64(seed),
        signature="",
    )
    signature = _private(seed).sign(unsigned.signed_bytes())
    return replace(unsigned, signature=base64.b64encode(signature).decode())


def trusted_public_keys(ring: KeyRing, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Key id → base64 public key: those of the configured seeds, plus any given (auditors' copies)."""
    keys = {kid: public_key_b64(seed) for kid, seed in ring.keys}
    keys.update(extra or {})
    return keys


def signature_problem(cp: Checkpoint, trusted: dict[str, str]) -> str | None:
    """None when the checkpoint is signed by a trusted key; otherwise why not.

    The public key printed in the file is *not* trusted on its own word: it must
    be the one configured for that key id, or anyone could sign a forged head.
    """
    expected = trusted.get(cp.key_id)
    if expected is None:
        return f"key id {cp.key_id!r} is not a trusted checkpoint key"
    if expected != cp.public_key:
        return f"public key in the checkpoint is not the trusted key {cp.key_id!r}"
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(expected)).verify(
            base64.b64decode(cp.signature), cp.signed_bytes()
        )
    except (InvalidSignature, ValueError):
        return "signature does not verify"
    return None
