"""Ed25519 signatures of checkpoints (``domain.audit.checkpoint``): sign the chain head, check a signature.

Ed25519 rather than an HMAC because the verifying half (the public key, printed
in the file) can be handed to an auditor or another organisation who can check
the file without being able to forge one. Signing keys come from configuration
(``ARRIMAGE_CHECKPOINT_KEYS``, the same ``kid:<base64 32-byte seed>`` ring syntax
as the other keys, ``adapters.record.keys``; the first signs, all verify).

Who is trusted is the reader's choice, not the operator's: an auditor *pins*
the public keys they accept (`pinned_key`, ``--trusted-key FILE|BASE64``), and
then only a checkpoint (or bundle manifest) signed by one of them is accepted,
whatever the engine's configuration says. Without pinned keys, the engine's own
configured ring is trusted, and the caller says so.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from adapters.record.keys import KeyRing
from domain.audit.checkpoint import Checkpoint, CheckpointError


def _private(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_b64(seed: bytes) -> str:
    raw = _private(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def sign_checkpoint(
    ring: KeyRing, *, notification_id: int, count: int, chain_hash: str, signed_at: str, store_id: str,
    milestones: tuple[tuple[int, str], ...] = (),
) -> Checkpoint:
    seed = ring.active
    unsigned = Checkpoint(
        notification_id=notification_id,
        count=count,
        chain_hash=chain_hash,
        signed_at=signed_at,
        key_id=ring.active_id,
        public_key=public_key_b64(seed),
        signature="",
        store_id=store_id,
        milestones=milestones,
    )
    signature = _private(seed).sign(unsigned.signed_bytes())
    return replace(unsigned, signature=base64.b64encode(signature).decode())


def trusted_public_keys(ring: KeyRing, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Key id → base64 public key: those of the configured seeds, plus any given (auditors' copies)."""
    keys = {kid: public_key_b64(seed) for kid, seed in ring.keys}
    keys.update(extra or {})
    return keys


def pinned_key(value: str) -> str:
    """A pinned public key as the auditor gives it: a file or the text itself, either the base64 of the raw
    32-byte Ed25519 key (as checkpoints print it, optionally ``key-id:`` first) or a PEM public key.
    Returns the base64 raw key; `CheckpointError` says what is wrong."""
    text = value
    path = Path(value)
    try:
        if path.is_file():
            text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CheckpointError(f"trusted key {value}: cannot read: {e.strerror or e}") from None
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise CheckpointError(f"trusted key {value}: not an Ed25519 public key")
            return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
        b64 = text.rpartition(":")[2].strip()
        raw = base64.b64decode(b64, validate=True)
    except (ValueError, binascii.Error, TypeError):
        raise CheckpointError(f"trusted key {value}: neither a base64 Ed25519 public key nor a PEM file") from None
    if len(raw) != 32:
        raise CheckpointError(f"trusted key {value}: an Ed25519 public key is 32 bytes, got {len(raw)}")
    return base64.b64encode(raw).decode()


def _verifies(public_key: str, signature: str, body: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key)).verify(base64.b64decode(signature), body)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def signature_problem(cp: Checkpoint, trusted: Mapping[str, str], pinned: Collection[str] = ()) -> str | None:
    """None when the checkpoint is signed by a trusted key; otherwise why not.

    With `pinned` keys (base64), only those are trusted, whatever its key id. Otherwise `trusted` (key id →
    public key, the engine's configured ring): the public key printed in the file is *not* trusted on its
    own word, it must be the one configured for that key id, or anyone could sign a forged head.
    """
    if pinned:
        if cp.public_key not in pinned:
            return f"key {cp.public_key} is not a pinned trusted key"
        expected = cp.public_key
    else:
        found = trusted.get(cp.key_id)
        if found is None:
            return f"key id {cp.key_id!r} is not a trusted checkpoint key"
        if found != cp.public_key:
            return f"public key in the checkpoint is not the trusted key {cp.key_id!r}"
        expected = found
    if not _verifies(expected, cp.signature, cp.signed_bytes()):
        return "signature does not verify"
    return None


# ---------------------------------------------------------------------- signed documents (the bundle's manifest)
SIGNATURE = "signature"


def _canonical(document: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in document.items() if k != SIGNATURE}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sign_document(ring: KeyRing, document: Mapping[str, Any]) -> dict[str, Any]:
    """The document with a `signature` member: key id, public key, Ed25519 over its canonical JSON (every other
    member, sorted keys, no spaces)."""
    seed = ring.active
    value = base64.b64encode(_private(seed).sign(_canonical(document))).decode()
    return {**document, SIGNATURE: {"key_id": ring.active_id, "public_key": public_key_b64(seed), "value": value}}


def document_problem(
    document: Mapping[str, Any], trusted: Mapping[str, str], pinned: Collection[str] = ()
) -> str | None:
    """None when the document's `signature` verifies by a trusted key (pinned ones if given); otherwise why not."""
    sig = document.get(SIGNATURE)
    if not isinstance(sig, dict) or not all(isinstance(sig.get(k), str) for k in ("key_id", "public_key", "value")):
        return "not signed"
    if pinned:
        if sig["public_key"] not in pinned:
            return f"signed by key {sig['public_key']}, which is not a pinned trusted key"
    elif trusted.get(sig["key_id"]) != sig["public_key"]:
        return f"signed by key id {sig['key_id']!r}, which is not a trusted key"
    if not _verifies(sig["public_key"], sig["value"], _canonical(document)):
        return "signature does not verify"
    return None
