"""Ed25519 for signed notes and cosignatures (``domain.audit.note``): the format is pure, the curve is here.

Keys are Go's and the C2SP's text forms: a signer key ``PRIVATE+KEY+<name>+<key ID>+base64(type || seed)`` (kept
secret, like ``ARRIMAGE_CHECKPOINT_KEYS``), a verifier key ``<name>+<key ID>+base64(type || public key)`` handed to
whoever checks. Type 0x01 signs a log's checkpoints, type 0x04 a witness's cosignatures.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from domain.audit.note import ED25519, NoteSigner, SignerKey


def ed25519_public_key(seed: bytes) -> bytes:
    """The 32-byte public key of a 32-byte seed (RFC 8032)."""
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is the Ed25519 signature of `message` by `public_key` (`domain.audit.note.Ed25519Verify`)."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def note_signer(key: SignerKey) -> NoteSigner:
    """What signs with this key: its name, type and ID, and the seed held in the signing function only."""
    private = Ed25519PrivateKey.from_private_bytes(key.seed)
    return NoteSigner(key.name, key.signature_type, key.verifier.key_id, private.sign)


def parse_signer_key(text: str) -> SignerKey:
    """A signer key read from its text; `NoteError` says what is wrong (its key ID checked against the seed)."""
    return SignerKey.parse(text, ed25519_public_key)


def signer_key_from_seed(name: str, seed: bytes, signature_type: int = ED25519) -> SignerKey:
    return SignerKey.make(name, signature_type, seed, ed25519_public_key)


def generate_signer_key(name: str, signature_type: int = ED25519) -> SignerKey:
    """A new key from the system's random source (a log's: type 0x01; a witness's: type 0x04)."""
    return signer_key_from_seed(name, os.urandom(32), signature_type)
