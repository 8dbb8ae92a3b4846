"""The Temporal payload codec: nothing personal in Temporal's history in clear, and nothing of a person left
readable there once their key is destroyed.

Every payload the SDK sends (workflow and activity inputs and results, updates, signals, queries, memos,
and — with the failure converter of ``adapters.temporal.client`` — error messages and stack traces) is
serialised by the pydantic converter, then encrypted here with AES-256-GCM and a fresh random 12-byte
nonce. The data is nonce ‖ ciphertext of the whole original ``Payload`` message (its metadata, e.g. the
JSON encoding, is hidden too). Metadata: ``encoding: binary/arrimage-aead/2``, ``encryption-key-id: <kid>``,
``key-scope`` and, for a payload of a workflow, ``workflow-id`` (the codec server, ``gateway.codec_server``, reads it to
know whose payload it is: Temporal's UI sends payloads without their workflow; the id is authenticated by the
associated data below, so a payload claiming another workflow does not open; payloads encoded before it carry none
and stay encoded there):

- ``subject``: the payload belongs to a crisis case's workflow (``case-<CODE>``) whose person the record
  knows (the case client binds the case to its person before starting the workflow:
  ``adapters.temporal.case_keys``). The key is derived from **that person's own data key** (the record's
  key table, ``adapters.record.sealing``): ``arrimage audit shred`` destroys it, and with it every
  payload of every history of that person's cases, on the server, in its archives and its backups.
  Decoding one then raises `PayloadErased` ("erased: the person's key was destroyed").
- ``payload``: everything else (ententes, a case with no person bound — one opened before this codec):
  the key is derived from the shared ring (``ARRIMAGE_PAYLOAD_KEYS``, the first key encrypts, all decrypt).

Either way the AES key is HKDF-SHA256(master, info = ``arrimage/temporal/2|<scope>|<workflow id>|<kid>``)
and the associated data is the same string: the payload's identity. A payload copied into another
workflow's history does not open there, and each workflow has keys of its own. The workflow id comes from
the SDK's serialization context (`with_context`); a payload encoded without one (none of the workflow's
own) is bound to the empty workflow id.

Nonce bound, the reason for the per-workflow keys. Random 96-bit nonces collide with probability about
n²/2⁹⁷ after n messages under one key; NIST SP 800-38D caps n at 2³² (collision ≤ 2⁻³³). One payload key
for every workflow reached 2³² payloads in about 1.4 years at the benchmark's rate (~97 payloads/s). Now
n counts one workflow's payloads per key id: a run's history is capped by Temporal at 51,200 events (a few
payloads each: ≤ 2¹⁹), and a crisis case lives a few weeks with tens to a few thousand payloads, queries
included (n ≈ 2¹², collision ≈ 2⁻⁷³). Even a workflow encrypting 97 payloads/s for ten years (n ≈ 2³⁵)
stays below 2⁻²⁷. Rotation of the shared ring by key id (``ARRIMAGE_PAYLOAD_KEY_MAX_AGE_DAYS``,
``workers.doctor``) limits what one master key protects, not nonces.

Still decoded: ``binary/encrypted`` (v1: the shared key itself, the key id alone as associated data), so
histories recorded before this version replay. A payload without an encrypted encoding is refused
(`PlaintextPayloadRefused`) outside development mode: a payload in clear proves nothing about who wrote it.
Search attributes and workflow ids are not payloads the codec sees: they carry opaque codes.
"""

from __future__ import annotations

import asyncio
import copy
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext

from adapters.record.keys import KeyRing
from domain.audit.erasure import SubjectErased

ENCODING = b"binary/arrimage-aead/2"
LEGACY_ENCODING = b"binary/encrypted"  # v1, decoded only
KEY_ID = "encryption-key-id"
KEY_SCOPE = "key-scope"
WORKFLOW_ID = "workflow-id"  # the workflow whose key sealed it (none outside a workflow, or before this field)
PAYLOAD_SCOPE = b"payload"
SUBJECT_SCOPE = b"subject"
_NONCE = 12


class PayloadDecryptionError(ValueError):
    """A payload this process cannot decrypt (unknown key id, another workflow's, or altered ciphertext)."""


class PlaintextPayloadRefused(PayloadDecryptionError):
    """A payload without the encrypted encoding, outside development mode."""


class PayloadErased(PayloadDecryptionError):
    """A payload sealed with the key of a person since shredded: nobody can read it any more."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"erased: the person's key was destroyed (workflow {workflow_id})")
        self.workflow_id = workflow_id


class CaseKeys(Protocol):
    """The person of a workflow and their keys, from the record (``adapters.temporal.case_keys``)."""

    def subject_of(self, workflow_id: str) -> str | None:
        """The person a crisis case's workflow is bound to, or None (not a case, or none bound)."""

    def may_name_a_person(self, workflow_id: str) -> bool:
        """Whether a workflow with this id can be bound to a person at all (a case's, an épisode's): no I/O."""

    def key_for_writing(self, subject_id: str) -> tuple[str, bytes]:
        """(key id, key) of the person; `SubjectErased` after a shred."""

    def key(self, subject_id: str, key_id: str) -> bytes | None:
        """The person's key with that id; None when destroyed (or not theirs)."""

    def current_key_id(self, subject_id: str) -> str | None:
        """The person's live key id; None once destroyed."""

    def kept(self, subject_id: str) -> tuple[str, bytes] | None:
        """(key id, key) of the person's live key if answered without I/O (on the event loop); else None."""


def identity(scope: bytes, workflow_id: str, key_id: str) -> bytes:
    """What a payload is bound to: the HKDF info and the associated data."""
    return b"arrimage/temporal/2|" + scope + f"|{workflow_id}|{key_id}".encode()


def workflow_of(payload: Payload) -> str | None:
    """The workflow a payload of this codec says it belongs to (its ``workflow-id``), or None: not ours, v1, encoded
    outside a workflow or before the field. Authenticated only by opening it under that workflow's key."""
    if payload.metadata.get("encoding", b"") != ENCODING:
        return None
    return payload.metadata.get(WORKFLOW_ID, b"").decode(errors="replace") or None


def derive(master: bytes, scope: bytes, workflow_id: str, key_id: str) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                       info=identity(scope, workflow_id, key_id)).derive(master))


@lru_cache(maxsize=4096)
def _shared_derived(master: bytes, workflow_id: str, key_id: str) -> AESGCM:
    # Only the shared ring's keys are cached here: a person's key comes from the record's key store each time, which
    # keeps a row at most `adapters.record.sql.KEY_ROW_SECONDS` and whose shred waits that out: once a shred
    # returns, no process holds the person's key.
    return derive(master, PAYLOAD_SCOPE, workflow_id, key_id)


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """`cases`: how to reach the record's case bindings and person keys, asked on the first case payload
    (a process with no record never asks); None: every payload under the shared ring."""

    def __init__(self, ring: KeyRing, *, allow_plaintext: bool = False,
                 cases: Callable[[], CaseKeys] | None = None) -> None:
        self.ring = ring
        self.allow_plaintext = allow_plaintext
        self.workflow_id = ""  # set by `with_context`
        self._cases = cases
        self._subjects: dict[str, str] = {}  # workflow id -> person: a binding never changes
        self._legacy = {kid: AESGCM(key) for kid, key in ring.keys}

    @property
    def key_id(self) -> str:
        return self.ring.active_id

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        """This codec for the payloads of one workflow (its own, or those of the activities it runs)."""
        bound = copy.copy(self)
        bound.workflow_id = getattr(context, "workflow_id", None) or ""
        return bound

    def for_workflow(self, workflow_id: str) -> EncryptionCodec:
        """This codec for one workflow's payloads, outside the SDK (the codec server)."""
        bound = copy.copy(self)
        bound.workflow_id = workflow_id
        return bound

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        scope, kid, aead = await self._writing_key()
        aad = identity(scope, self.workflow_id, kid)
        metadata = {"encoding": ENCODING, KEY_ID: kid.encode(), KEY_SCOPE: scope}
        if self.workflow_id:
            metadata[WORKFLOW_ID] = self.workflow_id.encode()
        out = []
        for p in payloads:
            nonce = os.urandom(_NONCE)
            out.append(Payload(metadata=metadata, data=nonce + aead.encrypt(nonce, p.SerializeToString(), aad)))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        opened: dict[tuple[bytes, str], AESGCM] = {}  # one look-up per key in a batch
        for p in payloads:
            encoding = p.metadata.get("encoding", b"")
            if encoding == ENCODING:
                out.append(await self._open(p, opened))
            elif encoding == LEGACY_ENCODING:
                out.append(self._open_legacy(p))
            elif self.allow_plaintext:
                out.append(p)
            else:
                raise PlaintextPayloadRefused(
                    f"payload not encrypted (encoding {encoding.decode(errors='replace') or 'none'!r}) refused "
                    "outside development mode"
                )
        return out

    # ------------------------------------------------------------------ keys
    async def _writing_key(self) -> tuple[bytes, str, AESGCM]:
        subject = await self._subject()
        if subject is None:
            kid = self.ring.active_id
            return PAYLOAD_SCOPE, kid, _shared_derived(self.ring.active, self.workflow_id, kid)
        keys = self._case_keys()
        kept = keys.kept(subject)  # a row the store read within its horizon: no thread, no I/O
        try:
            kid, master = kept if kept is not None else await asyncio.to_thread(keys.key_for_writing, subject)
        except SubjectErased:
            raise PayloadErased(self.workflow_id) from None
        return SUBJECT_SCOPE, kid, derive(master, SUBJECT_SCOPE, self.workflow_id, kid)

    async def _reading_key(self, scope: bytes, kid: str) -> AESGCM:
        if scope == PAYLOAD_SCOPE:
            master = self.ring.get(kid)
            if master is None:
                raise PayloadDecryptionError(f"payload encrypted with key id {kid!r}, not in the configured keys")
            return _shared_derived(master, self.workflow_id, kid)
        if scope != SUBJECT_SCOPE:
            raise PayloadDecryptionError(f"payload with unknown key scope {scope.decode(errors='replace')!r}")
        subject = await self._subject()
        if subject is None:
            raise PayloadDecryptionError(
                f"payload of workflow {self.workflow_id or '(none)'} is sealed with a person's key and this "
                "process knows no person for it (no record open here, or no case bound)"
            )
        keys = self._case_keys()
        kept = keys.kept(subject)
        key = kept[1] if kept is not None and kept[0] == kid else await asyncio.to_thread(keys.key, subject, kid)
        if key is None:
            if await asyncio.to_thread(keys.current_key_id, subject) is None:
                raise PayloadErased(self.workflow_id)
            raise PayloadDecryptionError(f"payload of workflow {self.workflow_id} is not under its person's key")
        return derive(key, SUBJECT_SCOPE, self.workflow_id, kid)

    async def _subject(self) -> str | None:
        if self._cases is None or not self.workflow_id:
            return None
        found = self._subjects.get(self.workflow_id)
        if found is None:
            keys = self._case_keys()
            if not keys.may_name_a_person(self.workflow_id):  # an entente's: no thread hop to learn it
                return None
            found = await asyncio.to_thread(keys.subject_of, self.workflow_id)
            if found is not None:
                self._subjects[self.workflow_id] = found
        return found

    def _case_keys(self) -> CaseKeys:
        if self._cases is None:  # `_subject` asks only when there is a way
            raise PayloadDecryptionError("this process has no access to the record's case keys")
        return self._cases()  # asked each time: the record it reaches may have been reopened

    # ------------------------------------------------------------------ opening
    async def _open(self, p: Payload, opened: dict[tuple[bytes, str], AESGCM]) -> Payload:
        scope, kid = p.metadata.get(KEY_SCOPE, b""), p.metadata.get(KEY_ID, b"").decode()
        aead = opened.get((scope, kid))
        if aead is None:
            aead = opened[scope, kid] = await self._reading_key(scope, kid)
        try:
            clear = aead.decrypt(p.data[:_NONCE], p.data[_NONCE:], identity(scope, self.workflow_id, kid))
        except InvalidTag:
            raise PayloadDecryptionError(
                f"payload under key id {kid!r} does not open in workflow {self.workflow_id or '(none)'!r} "
                "(altered, or copied from another workflow's history)"
            ) from None
        return Payload.FromString(clear)

    def _open_legacy(self, p: Payload) -> Payload:
        kid = p.metadata.get(KEY_ID, b"").decode()
        aead = self._legacy.get(kid)
        if aead is None:
            raise PayloadDecryptionError(f"payload encrypted with key id {kid!r}, not in the configured keys")
        try:
            clear = aead.decrypt(p.data[:_NONCE], p.data[_NONCE:], kid.encode())
        except InvalidTag:
            raise PayloadDecryptionError(f"payload under key id {kid!r} does not open (altered)") from None
        return Payload.FromString(clear)
