"""Personal content sealed with a key per person, so that erasure is key destruction.

Convention (for every aggregate of the record): an event that carries a
``subject_id`` attribute has each of its sealed parts (``domain.audit.erasure.SEALED_PARTS``:
``personal``, the words typed about the person, and ``characterisation``, what
the intake says of them in codes) encrypted, at the Mapper seam, with that
subject's data key (AES-256-GCM, 96-bit random nonce). Everything else in the
event stays in clear: ids, codes, dates, statuses, who did what.

Seals are bound to where they are (``arrimage.sealed/2``): the associated data
names the subject, the key id, the event (originator id and version) and the
part, so a ciphertext moved onto another person's event, another event of the
same person, or another part does not open. Seals of ``arrimage.sealed/1``
(``personal`` only, bound to subject and key id) are still read.

Why the Mapper: the hash chain covers the *stored* bytes (``domain.audit.hashing``),
which hold the ciphertext; destroying the key later changes no stored byte, so
every hash still verifies after shredding. Reading an event whose subject key
is gone does not fail: each sealed part comes back as ``{"shredded": True}``
(``domain.audit.erasure.SHREDDED``), and aggregates must accept that value when
they replay.

What is stored as a sealed value was always made here: a sealed part is sealed
whatever its shape, one that looks like a sealed value included (the
command models refuse its reserved keys, ``domain.crisis.model.RESERVED_PERSONAL_KEYS``,
at the boundary as well). A stored sealed value that is malformed or does not
open raises `UnsealableContent` (a `ValueError`) naming the event; readers over many aggregates skip
and name that one aggregate (``usecases.crisis.CrisisCases.views``).

Subject keys are themselves stored wrapped by a key-encryption key from
configuration (``ARRIMAGE_SUBJECT_KEKS``), so a copy of the database alone does
not open anything. Writing new personal content for a subject whose key was
destroyed is refused (``SubjectErased``): an erasure is not silently undone by
the next event.
"""

from __future__ import annotations

import base64
import os
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Cipher, Compressor, Mapper, StoredEvent, Transcoder

from adapters.record.keys import KeyRing
from domain.audit.erasure import SEALED_PARTS, SHREDDED
from domain.errors import UnreadableRecord

SEALED = "arrimage.sealed/2"  # what is written: bound to the event and the part
SEALED_V1 = "arrimage.sealed/1"  # `personal` of older events: bound to the subject and key only


class UnsealableContent(UnreadableRecord, ValueError):
    """A stored `personal` part that is not a seal this engine made for that person, or does not open with their
    key (moved from another event, edited, or stored by a version that kept sealed-looking input as is)."""
_NONCE = 12


class SubjectKeyStore(Protocol):
    def key_for_writing(self, subject_id: str) -> tuple[str, bytes]:
        """(key id, key) of the subject, made on first use. Raises SubjectErased after shredding."""

    def key(self, subject_id: str, key_id: str) -> bytes | None:
        """The subject's key with that id, or None when it was destroyed (or never existed)."""

    def current_key_id(self, subject_id: str) -> str | None:
        """The id of the subject's live key, or None (no key yet, or destroyed)."""

    def kept(self, subject_id: str) -> tuple[str, bytes] | None:
        """(key id, key) of the subject's live key when it is answered without reaching the store (no I/O: an
        event loop may ask); None otherwise — then ask `key_for_writing` or `key`, off the loop."""

    def destroy(self, subject_id: str, at: str) -> str | None:
        """Destroy the subject's key; the destroyed key id, or None if there was none."""

    def erase_traces(self, subject_id: str, *, patience: float = 5.0) -> tuple[str, ...]:
        """After `destroy`: no copy of the destroyed key left where the store keeps bytes (a log, a dead row
        version); what could not be erased yet, one sentence each (then run again later)."""

    def rewrap(self, *, patience: float = 5.0) -> tuple[int, tuple[str, ...]]:
        """Wrap every live key with the active key-encryption key (rotation); (number re-wrapped, what is left
        of the old wrappings in the store's files)."""


def _aad(kind: str, subject_id: str, key_id: str) -> bytes:
    return f"arrimage/{kind}/1|{subject_id}|{key_id}".encode()


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap_key(kek: KeyRing, subject_id: str, key_id: str, key: bytes) -> tuple[str, bytes]:
    nonce = os.urandom(_NONCE)
    return kek.active_id, nonce + AESGCM(kek.active).encrypt(nonce, key, _aad("subject-key", subject_id, key_id))


def unwrap_key(kek: KeyRing, kek_id: str, subject_id: str, key_id: str, wrapped: bytes) -> bytes:
    wrapping = kek.get(kek_id)
    if wrapping is None:
        raise KeyError(f"subject key wrapped with unknown key-encryption key {kek_id!r}")
    return AESGCM(wrapping).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _aad("subject-key", subject_id, key_id))


def is_sealed(value: object) -> bool:
    return isinstance(value, dict) and value.get("sealed") in (SEALED, SEALED_V1)


class Place(NamedTuple):
    """Where a sealed part sits: the event (its aggregate and version) and the part's name."""

    originator_id: UUID | str
    originator_version: int
    part: str

    def aad(self, subject_id: str, key_id: str) -> bytes:
        # One spelling of the id whichever way the store hands it back (a UUID, its text or its hex).
        oid = UUID(str(self.originator_id))
        return f"arrimage/sealed/2|{subject_id}|{key_id}|{oid}|{self.originator_version}|{self.part}".encode()


def seal(key_id: str, key: bytes, subject_id: str, plaintext: bytes, place: Place) -> dict[str, str]:
    nonce = os.urandom(_NONCE)
    ct = AESGCM(key).encrypt(nonce, plaintext, place.aad(subject_id, key_id))
    return {"sealed": SEALED, "kid": key_id, "ct": base64.b64encode(nonce + ct).decode()}


def open_sealed(key: bytes, subject_id: str, sealed: dict[str, str], place: Place) -> bytes:
    blob = base64.b64decode(sealed["ct"])
    if sealed["sealed"] == SEALED_V1:
        if place.part != "personal":  # version 1 sealed nothing else
            raise InvalidTag
        aad = _aad("personal", subject_id, sealed["kid"])
    else:
        aad = place.aad(subject_id, sealed["kid"])
    return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], aad)


def _well_formed(sealed: dict[str, Any]) -> bool:
    if set(sealed) != {"sealed", "kid", "ct"} or not isinstance(sealed["kid"], str) or not isinstance(
            sealed["ct"], str):
        return False
    try:
        return len(base64.b64decode(sealed["ct"], validate=True)) > _NONCE + 16
    except ValueError:
        return False


def subject_of(state: dict[str, Any]) -> str | None:
    subject = state.get("subject_id")
    if subject is None:
        return None
    return str(subject) if isinstance(subject, UUID | str) else None


class PersonalDataMapper(Mapper[UUID]):
    """eventsourcing's Mapper, plus: the sealed parts sealed per subject on the way in, opened on the way out."""

    def __init__(
        self,
        transcoder: Transcoder,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
        *,
        keys: SubjectKeyStore,
    ) -> None:
        super().__init__(transcoder=transcoder, compressor=compressor, cipher=cipher)
        self.keys = keys

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        state = vars(domain_event)
        subject = subject_of(state)
        # Whatever its shape: a mapping that looks like a sealed value (input forged or pasted) is content
        # like any other, sealed, so that what is stored as a seal was always made by `seal` here.
        parts = [p for p in SEALED_PARTS if _to_seal(state.get(p))] if subject is not None else []
        if subject is None or not parts:
            return super().to_stored_event(domain_event)
        key_id, key = self.keys.key_for_writing(subject)
        sealed_state = dict(state)
        for part in parts:
            place = Place(domain_event.originator_id, domain_event.originator_version, part)
            sealed_state[part] = seal(key_id, key, subject, self.transcoder.encode(state[part]), place)
        clone = object.__new__(type(domain_event))
        object.__setattr__(clone, "__dict__", sealed_state)
        return super().to_stored_event(clone)

    def to_domain_event_sealed(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """The event with its sealed parts left as stored: for reads that need only the facts in clear
        (which cases were opened, when), so that they neither open anyone's content nor fail on it."""
        return super().to_domain_event(stored_event)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        return self.opened(stored_event, super().to_domain_event(stored_event))

    def opened(
        self, stored_event: StoredEvent, domain_event: DomainEventProtocol[UUID]
    ) -> DomainEventProtocol[UUID]:
        """The event read from `stored_event`, its sealed parts opened with its subject's key (or shredded)."""
        state = domain_event.__dict__
        subject = subject_of(state)
        if subject is None:
            return domain_event
        for part in SEALED_PARTS:
            sealed = state.get(part)
            if isinstance(sealed, dict) and is_sealed(sealed):
                place = Place(stored_event.originator_id, stored_event.originator_version, part)
                state[part] = self._open(stored_event, subject, sealed, place)
        return domain_event

    def _open(self, stored_event: StoredEvent, subject: str, sealed: dict[str, Any], place: Place) -> Any:
        where = f"{_content(place.part)} of {stored_event.originator_id} v{stored_event.originator_version}"
        if not _well_formed(sealed):
            raise UnsealableContent(f"{where} is not a sealed value this engine made")
        key = self.keys.key(subject, sealed["kid"])
        if key is None:
            if self.keys.current_key_id(subject) is not None:
                # The subject's key is alive but is not the one this was sealed with:
                # the ciphertext was moved here from someone else's event.
                raise UnsealableContent(f"{where} does not open with its subject's key")
            return dict(SHREDDED)
        try:
            return self.transcoder.decode(open_sealed(key, subject, sealed, place))
        except InvalidTag:
            # A ciphertext that does not open with the subject's own key, for this event and part, was
            # moved or edited; the hash chain names the row, reading must not pretend.
            raise UnsealableContent(f"{where} does not open with its subject's key") from None


def _to_seal(value: object) -> bool:
    """A part holding something about the person. One whose fields are all empty (e.g. an access decided after
    erasure, whose free-text fields are empty) is stored as is, so recording it does not need the destroyed key."""
    return isinstance(value, dict) and value != SHREDDED and not all(v is None for v in value.values())


def _content(part: str) -> str:
    return "personal content" if part == "personal" else f"sealed {part}"
