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

This module is the checkpoint itself and the exact bytes a signature covers
(`Checkpoint.signed_bytes`). Pure: signing and verifying are
``adapters.record.signing`` (keys from ``ARRIMAGE_CHECKPOINT_KEYS``), the store
keeps copies, the CLI writes files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

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

