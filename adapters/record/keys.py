"""Key rings from configuration: ``"kid1:<base64 32 bytes>,kid0:<base64 32 bytes>"``.

One syntax for every key the audit trail and the payload codec use (payload
keys, subject-key wrapping keys, checkpoint signing keys): the first entry is
the *active* key (new ciphertexts, new signatures), the others are kept only to
read what older keys produced, which is how keys rotate without re-encrypting
history. Key ids travel with every ciphertext and signature.

Rotation on a schedule: a key id may end with the date the key came into use
(``p2026-12-01``, ``payload-2026-12-01``: `key_start`), so that the active key's age
is known without any other setting; ``arrimage doctor`` and the worker's start-up
warn when the active payload key is older than ``ARRIMAGE_PAYLOAD_KEY_MAX_AGE_DAYS``.

Each ring has a DEVELOPMENT default, used only when nothing is configured. It
is published in this file, so it protects nothing: it exists so that tests, the
embedded stack and a fresh checkout work. Outside development mode
(``ARRIMAGE_MODE``) no process starts without every ring configured
(``workers.bootstrap.require_keys``).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import date

from domain.errors import DomainError

KEY_BYTES = 32


class KeyConfigError(DomainError, ValueError):
    """A key ring in the configuration cannot be used."""

    code = "key_config"


@dataclass(frozen=True)
class KeyRing:
    """Named 32-byte keys; ``active`` is the one new material is made with."""

    keys: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyConfigError("a key ring needs at least one key")
        ids = [kid for kid, _ in self.keys]
        if len(set(ids)) != len(ids):
            raise KeyConfigError(f"duplicate key id in ring: {ids}")

    @property
    def active_id(self) -> str:
        return self.keys[0][0]

    @property
    def active(self) -> bytes:
        return self.keys[0][1]

    def get(self, key_id: str) -> bytes | None:
        for kid, key in self.keys:
            if kid == key_id:
                return key
        return None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(kid for kid, _ in self.keys)


def parse_key_ring(spec: str) -> KeyRing:
    """Parse ``"kid:<base64>,kid:<base64>"``; every key must decode to exactly 32 bytes."""
    keys: list[tuple[str, bytes]] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        kid, sep, b64 = item.partition(":")
        kid = kid.strip()
        if not sep or not kid:
            raise KeyConfigError(f"key entry must be '<key id>:<base64 key>', got {kid or item[:8]!r}…")
        try:
            key = base64.b64decode(b64.strip(), validate=True)
        except (binascii.Error, ValueError) as e:
            raise KeyConfigError(f"key {kid!r} is not valid base64") from e
        if len(key) != KEY_BYTES:
            raise KeyConfigError(f"key {kid!r} must be {KEY_BYTES} bytes, got {len(key)}")
        keys.append((kid, key))
    return KeyRing(tuple(keys))


_START = re.compile(r"(\d{4}-\d{2}-\d{2})$")


def key_start(key_id: str) -> date | None:
    """The date a key id ends with (when the key came into use), or None when it names none."""
    found = _START.search(key_id)
    if found is None:
        return None
    try:
        return date.fromisoformat(found.group(1))
    except ValueError:
        return None


def format_key_ring(ring: KeyRing) -> str:
    return ",".join(f"{kid}:{base64.b64encode(key).decode()}" for kid, key in ring.keys)


def _dev(label: str) -> KeyRing:
    # Deterministic and public on purpose: see the module docstring.
    from hashlib import sha256

    return KeyRing(((f"dev-{label}", sha256(f"arrimage DEVELOPMENT ONLY {label} key".encode()).digest()),))


DEV_PAYLOAD_KEYS = _dev("payload")
"""Temporal payload codec key when ARRIMAGE_PAYLOAD_KEYS is empty. Not a secret."""
DEV_SUBJECT_KEKS = _dev("subject-kek")
"""Wraps per-subject keys when ARRIMAGE_SUBJECT_KEKS is empty. Not a secret."""
DEV_CHECKPOINT_KEYS = _dev("checkpoint")
"""Ed25519 seed for checkpoints when ARRIMAGE_CHECKPOINT_KEYS is empty. Not a secret."""


def ring_or_default(spec: str | None, default: KeyRing) -> KeyRing:
    return parse_key_ring(spec) if spec and spec.strip() else default


def is_development(ring: KeyRing) -> bool:
    return any(kid.startswith("dev-") for kid in ring.ids)
