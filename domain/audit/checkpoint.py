"""Signed checkpoints of the chain head, to be kept outside the database.

A checkpoint says "on <signed_at>, the chain of store <store_id> had <count>
events, ended at notification <notification_id> with hash <chain_hash>", signed
with Ed25519. The store id is created once with the record and kept in it
(``audit_store``): a checkpoint of another store is refused even when its head
happens to match. Checkpoints made before store ids (format ``/1``, no
``store_id``) still verify: their signature never covered one, and verify says
that only their chain head was compared. Ed25519 rather than an HMAC because the verifying half (the public
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

FORMAT = "arrimage-audit-checkpoint/2"
LEGACY_FORMAT = "arrimage-audit-checkpoint/1"  # before store ids: no `store_id`, not covered by the signature


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
    store_id: str | None = None  # None only in a checkpoint of format /1 (made before store ids)

    def _body(self) -> dict[str, Any]:
        body = asdict(self)
        if self.store_id is None:
            del body["store_id"]  # a /1 checkpoint: its bytes are those it was signed with
        return body

    def signed_bytes(self) -> bytes:
        """What the signature covers: every field but the signature (the store id included), canonical JSON."""
        body = self._body()
        del body["signature"]
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def to_json(self) -> str:
        return json.dumps(self._body(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        """A checkpoint read back; what is wrong with it is said in its own terms (`missing field count`)."""
        missing = [name for name in _FIELDS if name not in data]
        if missing:
            raise CheckpointError(f"missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        values: dict[str, Any] = {}
        for name, kind in _FIELDS.items():
            value = data[name]
            if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise CheckpointError(f"field {name}: not a whole number")
            if kind is str and not isinstance(value, str):
                raise CheckpointError(f"field {name}: not text")
            values[name] = value
        fmt = data.get("format", LEGACY_FORMAT)
        if fmt not in (FORMAT, LEGACY_FORMAT):
            raise CheckpointError(f"unknown format {fmt!r} (expected {FORMAT} or {LEGACY_FORMAT})")
        store = data.get("store_id")
        if fmt == FORMAT and not (isinstance(store, str) and store):
            raise CheckpointError("missing field store_id")
        if fmt == LEGACY_FORMAT and store is not None:
            raise CheckpointError(f"field store_id: not part of format {LEGACY_FORMAT}")
        return cls(**values, format=fmt, store_id=store)

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CheckpointError(f"not valid JSON: line {e.lineno} column {e.colno}: {e.msg}") from e
        if not isinstance(data, dict):
            raise CheckpointError("not a JSON object")
        return cls.from_dict(data)


# What a checkpoint file must hold, with its kind (the signature covers every one of them and `format`).
_FIELDS: dict[str, type] = {"notification_id": int, "count": int, "chain_hash": str, "signed_at": str,
                            "key_id": str, "public_key": str, "signature": str}

