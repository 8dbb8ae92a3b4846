"""Signed checkpoints of the chain head, to be kept outside the database.

A checkpoint says "on <signed_at>, the chain of this store had <count> events,
ended at notification <notification_id> with hash <chain_hash>", signed with
Ed25519. Ed25519 rather than an HMAC because the verifying half (the public
key, printed in the file) can be handed to an auditor or another organisation
who can check the file without being able to forge one.

A checkpoint kept elsewhere (a file mailed to the records officer, a WORM
bucket, another institution) is what turns internal consistency into
tamper-evidence: someone with write access to the database can recompute the
whole chain table after editing an event, or cut the tail of both tables, but
cannot make the recomputed chain meet a head signed before the edit.

Signing keys come from configuration (``ARRIMAGE_CHECKPOINT_KEYS``, the same
``kid:<base64 32-byte seed>`` ring syntax as the other keys; the first signs,
all verify). Pure: no I/O here; the store keeps copies, the CLI writes files.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from domain.audit.keys import KeyRing
from domain.errors import DomainError

FORMAT = "arrimage-audit-checkpoint/1"


class CheckpointError(DomainError, ValueError):
    """A checkpoint file that cannot be read."""

    code = "bad_checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    notification_id: int
    count: int
    chain_hash: str
    signed_at: str
    key_id: str
    public_key: str
    signature: str
    format: str = FORMAT

    def signed_bytes(self) -> bytes:
        """What the signature covers: every field but the signature, canonical JSON."""
        body = asdict(self)
        del body["signature"]
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        try:
            cp = cls(
                notification_id=int(data["notification_id"]),
                count=int(data["count"]),
                chain_hash=str(data["chain_hash"]),
                signed_at=str(data["signed_at"]),
                key_id=str(data["key_id"]),
                public_key=str(data["public_key"]),
                signature=str(data["signature"]),
                format=str(data.get("format", FORMAT)),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"not a checkpoint: {e}") from e
        if cp.format != FORMAT:
            raise CheckpointError(f"unknown checkpoint format {cp.format!r}")
        return cp

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CheckpointError(f"checkpoint is not JSON: {e}") from e
        if not isinstance(data, dict):
            raise CheckpointError("checkpoint must be a JSON object")
        return cls.from_dict(data)


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
