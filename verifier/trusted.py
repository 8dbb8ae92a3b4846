"""The checkpoints an auditor trusts, read and their signatures checked before a single row is read.

Two kinds, told apart by their first character:

- a **C2SP checkpoint note** (``domain.audit.note``: origin, tree size, base64 root, extension lines, a blank line,
  signature lines): its signature by one of the given log keys (``<name>+<key ID>+<base64>``) must verify and its
  origin must be that key's name. Its root is compared with the Merkle tree of the bundle's first `size` events;
  its ``arrimage-chain <seq> <notification id> <chain hash hex>`` extension, when present, with the chain there.
- the engine's **JSON checkpoint** (``domain.audit.checkpoint``, formats /1 to /3): its Ed25519 signature over its
  canonical bytes must verify with the public key it names, which must be one the auditor gave (a log key's, the
  same seed signs both, or a raw base64 key). Its chain hash and notification id are compared at `count`, its
  milestones (/3) on the way, which locate a rewrite.

A checkpoint that cannot be read is bad input (`BadInput`); one whose signature fails is a finding
(`SignatureFailure`, reported as ``bad_signature`` naming it).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from domain.audit.checkpoint import Checkpoint, CheckpointError
from domain.audit.note import ED25519, NoteError, VerifierKey, open_note, parse_checkpoint, parse_note
from verifier.rows import BadInput

CHAIN_EXTENSION = "arrimage-chain"


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


class Source(NamedTuple):
    """A trusted checkpoint as given: a name for reports (its file) and its text."""

    name: str
    text: str


class SignatureFailure(Exception):
    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source
        self.message = message


@dataclass(frozen=True)
class Mark:
    """One thing a trusted checkpoint says about the record at a position (1-based; 0: the empty tree)."""

    position: int
    what: str  # "root": the tree of the first `position` events; "chain": the chain hash there; "milestone"
    expected: bytes | str  # a root or chain hash (bytes), or a milestone's 16 hex digits
    notification_id: int | None = None


@dataclass(frozen=True)
class Trusted:
    source: str
    kind: str  # "note" | "json"
    size: int  # the events it covers
    marks: tuple[Mark, ...]
    signed_by: str  # the key that signed it, as the auditor gave it
    origin: str | None = None  # a note's origin (the log's name: arrimage/<store id>)
    store_id: str | None = None  # a JSON checkpoint's store id


@dataclass(frozen=True)
class Keys:
    """What the auditor trusts: log keys (notes; their public key also verifies the engine's JSON checkpoints) and
    raw Ed25519 public keys (JSON checkpoints only)."""

    notes: tuple[VerifierKey, ...]
    raw: tuple[bytes, ...]

    @classmethod
    def parse(cls, values: list[str]) -> Keys:
        notes: list[VerifierKey] = []
        raw: list[bytes] = []
        for value in values:
            text = value.strip()
            decoded = _raw_key(text)
            if decoded is not None:
                raw.append(decoded)
                continue
            try:
                key = VerifierKey.parse(text)
            except NoteError as e:
                raise BadInput(f"key {text!r}: neither the base64 of a 32-byte Ed25519 public key nor a log's "
                               f"verifier key <name>+<key ID>+<base64> ({e.message})") from None
            if key.signature_type != ED25519:
                raise BadInput(f"log key {key.name}: type 0x{key.signature_type:02x} is a witness's, not a log's")
            notes.append(key)
            raw.append(key.public_key)
        return cls(tuple(notes), tuple(raw))


def _raw_key(text: str) -> bytes | None:
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if len(decoded) == 32 else None


def read_trusted(source: Source, keys: Keys) -> Trusted:
    """The checkpoint read (`BadInput` when it cannot be) and its signature checked (`SignatureFailure`)."""
    if source.text.lstrip().startswith("{"):
        return _json(source, keys)
    return _note(source, keys)


def _note(source: Source, keys: Keys) -> Trusted:
    try:
        note = parse_note(source.text)
        head = parse_checkpoint(note.text)
    except NoteError as e:
        raise BadInput(f"{source.name}: not a checkpoint note ({e.message})") from None
    # The signature first: an edited note (its size, root or an extension line) is a forged note, named as such.
    if not keys.notes:
        raise BadInput(f"{source.name}: a checkpoint note is checked with the log's verifier key: give --log-key")
    try:
        opened = open_note(note, keys.notes, ed25519_verify)
    except NoteError as e:  # a known key's signature failed, or no known key signed it
        raise SignatureFailure(source.name, e.message) from None
    signer = next((k for k in opened.verified if k.signature_type == ED25519 and k.name == head.origin), None)
    if signer is None:
        raise SignatureFailure(source.name, f"note: origin {head.origin!r} is not the name of the log key that "
                                            f"signed it ({', '.join(k.name for k in opened.verified)})")
    marks = [Mark(head.size, "root", head.root_hash)]
    for ext in head.extensions:
        if ext.split(" ", 1)[0] != CHAIN_EXTENSION:
            continue
        parts = ext.split(" ")
        try:
            seq, nid, chain = int(parts[1]), int(parts[2]), bytes.fromhex(parts[3])
            if len(parts) != 4 or len(chain) != 32 or not 0 < seq <= head.size:
                raise ValueError(ext)
        except (ValueError, IndexError):
            raise BadInput(f"{source.name}: extension {ext!r} is not '{CHAIN_EXTENSION} <seq> <notification id> "
                           "<chain hash hex>' within the tree") from None
        marks.append(Mark(seq, "chain", chain, nid))
    return Trusted(source.name, "note", head.size, tuple(marks), str(signer), origin=head.origin)


def _json(source: Source, keys: Keys) -> Trusted:
    try:
        cp = Checkpoint.from_json(source.text)
        public = base64.b64decode(cp.public_key, validate=True)
        signature = base64.b64decode(cp.signature, validate=True)
        chain = bytes.fromhex(cp.chain_hash)
    except (CheckpointError, binascii.Error, ValueError) as e:
        raise BadInput(f"{source.name}: not a checkpoint ({getattr(e, 'message', e)})") from None
    who = f"checkpoint signed_at {cp.signed_at} by {cp.key_id!r}"
    if public not in keys.raw:
        raise SignatureFailure(source.name, f"{who}: signed by public key {cp.public_key}, not a key you gave")
    if not ed25519_verify(public, cp.signed_bytes(), signature):
        raise SignatureFailure(source.name, f"{who}: the signature does not verify")
    if len(chain) != 32 or cp.count < 1:
        raise BadInput(f"{source.name}: chain_hash is not 64 hex digits, or count is not positive")
    marks = [Mark(pos, "milestone", prefix) for pos, prefix in cp.milestones or () if pos != cp.count]
    marks.append(Mark(cp.count, "chain", chain, cp.notification_id))
    return Trusted(source.name, "json", cp.count, tuple(marks), cp.public_key, store_id=cp.store_id)
