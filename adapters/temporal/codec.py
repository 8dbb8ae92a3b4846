"""The Temporal payload codec: nothing personal in Temporal's history in clear.

Every payload the SDK sends (workflow and activity inputs and results, updates,
signals, queries, memos, and — with the failure converter below — error
messages and stack traces) is serialised by the pydantic converter, then
encrypted here: AES-256-GCM, a fresh 12-byte nonce per payload, the key id as
associated data. The encrypted payload's metadata is ``encoding:
binary/encrypted`` and ``encryption-key-id: <kid>``; its data is nonce ‖
ciphertext of the whole original ``Payload`` message (so the original
metadata, e.g. the JSON encoding, is hidden too).

Keys come from configuration (``ARRIMAGE_PAYLOAD_KEYS="kid1:<b64>,kid0:<b64>"``):
the first encrypts, all decrypt, so rotating is "put the new key first, keep
the old ones until no open workflow or retained history uses them". With
nothing configured, a public DEVELOPMENT key is used (``adapters.record.keys``).

Decoding a payload without the encrypted encoding is refused
(`PlaintextPayloadRefused`) outside development mode: a payload in clear proves
nothing about who wrote it (anyone reaching the server can signal or update a
workflow with one). In development mode (`allow_plaintext=True`) it passes
through unchanged, so histories recorded before the codec existed still replay. Search attributes
and workflow ids are not payloads the codec sees: they must carry opaque codes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from adapters.record.keys import KeyRing

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE = 12


class PayloadDecryptionError(ValueError):
    """A payload this process cannot decrypt (unknown key id, or altered ciphertext)."""


class PlaintextPayloadRefused(PayloadDecryptionError):
    """A payload without the encrypted encoding, outside development mode."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, ring: KeyRing, *, allow_plaintext: bool = False) -> None:
        self.ring = ring
        self.allow_plaintext = allow_plaintext
        self._aead = {kid: AESGCM(key) for kid, key in ring.keys}

    @property
    def key_id(self) -> str:
        return self.ring.active_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        kid = self.ring.active_id
        aead = self._aead[kid]
        out = []
        for p in payloads:
            nonce = os.urandom(_NONCE)
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: kid.encode()},
                    data=nonce + aead.encrypt(nonce, p.SerializeToString(), kid.encode()),
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding", b"") != ENCODING:
                if not self.allow_plaintext:
                    encoding = p.metadata.get("encoding", b"").decode(errors="replace") or "none"
                    raise PlaintextPayloadRefused(
                        f"payload not encrypted (encoding {encoding!r}) refused outside development mode"
                    )
                out.append(p)
                continue
            kid = p.metadata.get(KEY_ID, b"").decode()
            aead = self._aead.get(kid)
            if aead is None:
                raise PayloadDecryptionError(f"payload encrypted with key id {kid!r}, not in the configured keys")
            try:
                clear = aead.decrypt(p.data[:_NONCE], p.data[_NONCE:], kid.encode())
            except InvalidTag:
                raise PayloadDecryptionError(f"payload under key id {kid!r} does not decrypt (altered)") from None
            out.append(Payload.FromString(clear))
        return out
