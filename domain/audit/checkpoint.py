"""Signed checkpoints of the chain head, to be kept outside the database.

A checkpoint says "on <signed_at>, the chain of store <store_id> had <count>
events, ended at notification <notification_id> with hash <chain_hash>", signed
with Ed25519. Since format /3 it also carries milestones (the chain hash every
`milestone_step(count)` events, at most 1,024): a store rewritten and
rechained later is located at the first milestone it no longer meets, not only
at the head. The store id is created once with the record and kept in it
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

FORMAT = "arrimage-audit-checkpoint/3"
STORE_ID_FORMAT = "arrimage-audit-checkpoint/2"  # store id, no milestones: verified, a rewrite located at the head
LEGACY_FORMAT = "arrimage-audit-checkpoint/1"  # before store ids: no `store_id`, not covered by the signature
MILESTONES_MAX = 1024
"""At most this many milestones in a checkpoint (about 30 KB of JSON): every event of a store of up to 1,024
events, then one every 2, 4, 8… events (`milestone_step`)."""
MILESTONE_HEX = 16  # 64 bits of the chain hash: enough to locate, the head's full hash is what is signed for


def milestone_step(count: int) -> int:
    """The spacing of milestones for a chain of `count` events: the smallest power of two that keeps them
    within MILESTONES_MAX."""
    step = 1
    while count // step > MILESTONES_MAX:
        step *= 2
    return step


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
    milestones: tuple[tuple[int, str], ...] | None = None
    """(position, first MILESTONE_HEX hex digits of the chain hash there), every `milestone_step(count)`
    events (format /3): a store rewritten and rechained since is then located at the first milestone it no
    longer meets, not only at the head. None in formats /1 and /2."""

    def _body(self) -> dict[str, Any]:
        body = asdict(self)
        if self.store_id is None:
            del body["store_id"]  # a /1 checkpoint: its bytes are those it was signed with
        if self.milestones is None:
            del body["milestones"]  # /1 and /2: their bytes are those they were signed with
        else:
            body["milestones"] = [[seq, h] for seq, h in self.milestones]
        return body

    def milestone_at(self) -> dict[int, str]:
        return dict(self.milestones or ())

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
        if fmt not in (FORMAT, STORE_ID_FORMAT, LEGACY_FORMAT):
            raise CheckpointError(f"unknown format {fmt!r} (expected {FORMAT}, {STORE_ID_FORMAT} or {LEGACY_FORMAT})")
        store = data.get("store_id")
        if fmt != LEGACY_FORMAT and not (isinstance(store, str) and store):
            raise CheckpointError("missing field store_id")
        if fmt == LEGACY_FORMAT and store is not None:
            raise CheckpointError(f"field store_id: not part of format {LEGACY_FORMAT}")
        milestones = _milestones(data.get("milestones"), values["count"]) if fmt == FORMAT else None
        if fmt != FORMAT and "milestones" in data:
            raise CheckpointError(f"field milestones: not part of format {fmt}")
        return cls(**values, format=fmt, store_id=store, milestones=milestones)

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise CheckpointError(f"not valid JSON: line {e.lineno} column {e.colno}: {e.msg}") from e
        if not isinstance(data, dict):
            raise CheckpointError("not a JSON object")
        return cls.from_dict(data)


def _milestones(value: object, count: int) -> tuple[tuple[int, str], ...]:
    if not isinstance(value, list):
        raise CheckpointError("missing field milestones" if value is None else "field milestones: not a list")
    if len(value) > MILESTONES_MAX:
        raise CheckpointError(f"field milestones: more than {MILESTONES_MAX}")
    out: list[tuple[int, str]] = []
    for item in value:
        ok = (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int)
              and not isinstance(item[0], bool) and isinstance(item[1], str) and len(item[1]) == MILESTONE_HEX
              and all(ch in "0123456789abcdef" for ch in item[1]))
        if not ok or not (0 < item[0] <= count) or (out and item[0] <= out[-1][0]):
            raise CheckpointError("field milestones: each must be [position, 16 hex digits], in ascending "
                                  "positions within the count")
        out.append((item[0], item[1]))
    return tuple(out)


# What a checkpoint file must hold, with its kind (the signature covers every one of them and `format`).
_FIELDS: dict[str, type] = {"notification_id": int, "count": int, "chain_hash": str, "signed_at": str,
                            "key_id": str, "public_key": str, "signature": str}

