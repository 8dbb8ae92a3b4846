"""Signed checkpoints in the standard formats of transparency logs (issue 13): C2SP signed notes, tlog
checkpoints, witness cosignatures, and split views found when two checkpoints meet.

Three specifications, read at https://c2sp.org (the same formats as ``golang.org/x/mod/sumdb/note``, Go's
checksum database, and Sigstore's logs):

- **signed-note**: a text ending in a newline, a blank line, then one or more lines
  ``— <key name> base64(key ID (4 bytes, big-endian) || signature)``. A key is named by its *verifier key*
  ``<name>+<hex key ID>+base64(<signature type> || <public key>)``; the key ID of an Ed25519 key is the first 4
  bytes of SHA-256(name || 0x0A || 0x01 || public key). A reader keeps signatures by keys it does not know,
  refuses the whole note when a known key's signature fails, and refuses it when no known key signed.
- **tlog-checkpoint**: the note text of a log's tree head: ``<origin>\\n<tree size>\\n<base64 root hash>\\n``
  and optional non-empty extension lines.
- **tlog-cosignature** (Ed25519, type 0x04): a witness's statement that, as of a time, this is the largest
  consistent tree it has seen for that origin. The signature is 8 bytes of POSIX time (big-endian) and an
  Ed25519 signature over ``cosignature/v1\\ntime <t>\\n`` followed by the checkpoint's note text; its key ID is
  SHA-256(name || 0x0A || 0x04 || public key)[:4].

Pure: no clock (a cosignature's time is given), no key generated, no Ed25519 computed here (the domain loads no
``cryptography``: ``tool.importlinter`` contract ``domain-pure``). Signing is a callable from the bytes to sign to
the 64-byte signature and checking is `Ed25519Verify`; ``adapters.record.note_signing`` builds both from keys.

Where this is stricter than the specifications (and Go): base64 must be canonical (the one encoding of its
bytes, padding and unused bits included), so that one signature has one line; a key ID in a verifier key must be
lowercase hex, as the spec writes it. Where it is as lenient: a note's text may hold empty lines (the signatures
start after the last one); a checkpoint's may not.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from hashlib import sha256

from domain.errors import DomainError

ED25519 = 0x01
"""Signature type of Ed25519 signatures over the note text (signed-note)."""
COSIGNATURE_V1 = 0x04
"""Signature type of timestamped Ed25519 checkpoint cosignatures (tlog-cosignature)."""
SIGNATURE_TYPES = {ED25519: "Ed25519", COSIGNATURE_V1: "Ed25519 cosignature/v1"}

MAX_SIGNATURES = 100
"""At most this many signature lines in a note (the spec asks a reader to accept at least 16; Go stops at 100)."""
MAX_NOTE_BYTES = 1 << 20
"""A note longer than this (1 MiB) is refused before it is read: 100 post-quantum signatures fit."""
MAX_TIMESTAMP = 2**63 - 1
MAX_TREE_SIZE = 2**64 - 1
HASH_SIZE = 32  # SHA-256, the RFC 6962 Merkle tree hash of a checkpoint's root
EMPTY_ROOT = sha256(b"").digest()  # RFC 6962: the hash of the tree of no leaves

_SIG_PREFIX = "— "  # em dash, space
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_COSIGNATURE_HEADER = "cosignature/v1\n"
_ED25519_KEY = 32
_ED25519_SIGNATURE = 64
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")

Ed25519Verify = Callable[[bytes, bytes, bytes], bool]
"""(public key, message, signature) → whether the signature verifies; ``adapters.record.note_signing``."""


class NoteError(DomainError, ValueError):
    """A note, key or checkpoint that is malformed or does not verify. The message says which rule it breaks."""

    code = "bad_note"


class UnverifiedNote(NoteError):
    """A well-formed note that no known key signed. `note` is what it says, not to be believed."""

    code = "unverified_note"

    def __init__(self, message: str, note: Note) -> None:
        super().__init__(message)
        self.note = note


# ---------------------------------------------------------------------------------------------- names and keys
def valid_name(name: str) -> bool:
    """A key name (or signer) as signed-note wants it: not empty, no Unicode space, no plus, no control character."""
    return bool(name) and "+" not in name and not any(ch.isspace() or ord(ch) < 0x20 or ch == "\x7f" for ch in name)


def key_id(name: str, signature_type: int, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || signature type || public key)[:4], big-endian: the ID every note signature starts
    with (signed-note "Signatures"; tlog-cosignature for type 0x04)."""
    digest = sha256(name.encode() + b"\n" + bytes([signature_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes | None:
    """The bytes of canonical standard base64 (RFC 4648 §4), or None: one encoding per byte string."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if _b64(raw) == text else None


def _check_key(signature_type: int, public_key: bytes, what: str) -> None:
    if signature_type not in SIGNATURE_TYPES:
        raise NoteError(
            f"{what}: unknown signature type 0x{signature_type:02x} (known: 0x01 Ed25519, 0x04 Ed25519 cosignature/v1)"
        )
    if len(public_key) != _ED25519_KEY:
        raise NoteError(f"{what}: an Ed25519 public key is {_ED25519_KEY} bytes, got {len(public_key)}")


@dataclass(frozen=True)
class VerifierKey:
    """A public key that may sign notes, by name and key ID: ``name+hex(key ID)+base64(type || public key)``."""

    name: str
    signature_type: int
    public_key: bytes

    def __post_init__(self) -> None:
        if not valid_name(self.name):
            raise NoteError(f"verifier key: key name {self.name!r} is empty or has a space, plus or control character")
        _check_key(self.signature_type, self.public_key, "verifier key")

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.signature_type, self.public_key)

    def __str__(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{_b64(bytes([self.signature_type]) + self.public_key)}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """A verifier key read back; its key ID must be the one its name, type and key give."""
        parts = text.split("+", 2)  # base64 holds '+': the name cannot, so the first two '+' split
        if len(parts) != 3:
            raise NoteError("verifier key: expected <name>+<8 hex digits>+<base64 key>")
        name, id_hex, key64 = parts
        return cls._decoded(name, id_hex, key64, "verifier key")

    @classmethod
    def _decoded(cls, name: str, id_hex: str, key64: str, what: str) -> VerifierKey:
        if not valid_name(name):
            raise NoteError(f"{what}: key name {name!r} is empty or has a space, plus or control character")
        if not _KEY_ID_HEX.fullmatch(id_hex):
            raise NoteError(f"{what}: key ID {id_hex!r} is not 8 lowercase hex digits")
        raw = _unb64(key64)
        if not raw:
            raise NoteError(f"{what}: key {key64!r} is not canonical base64 of a signature type and a key")
        key = cls(name, raw[0], raw[1:])
        if key.key_id != int(id_hex, 16):
            raise NoteError(f"{what}: key ID {id_hex} does not match the key, whose ID is {key.key_id:08x}")
        return key


@dataclass(frozen=True)
class SignerKey:
    """A private key that signs notes: ``PRIVATE+KEY+name+hex(key ID)+base64(type || 32-byte Ed25519 seed)``
    (Go's signer key). The seed is secret: it is not in `repr`."""

    name: str
    signature_type: int
    seed: bytes = field(repr=False)
    public_key: bytes

    @property
    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, self.signature_type, self.public_key)

    def __str__(self) -> str:
        return (
            f"{_PRIVATE_PREFIX}{self.name}+{self.verifier.key_id:08x}+{_b64(bytes([self.signature_type]) + self.seed)}"
        )

    @classmethod
    def make(cls, name: str, signature_type: int, seed: bytes, public_key_of: Callable[[bytes], bytes]) -> SignerKey:
        """`public_key_of` derives the Ed25519 public key from the seed (``adapters.record.note_signing``)."""
        if len(seed) != _ED25519_KEY:
            raise NoteError(f"signer key: an Ed25519 seed is {_ED25519_KEY} bytes, got {len(seed)}")
        public = public_key_of(seed)
        VerifierKey(name, signature_type, public)  # the name and type checked
        return cls(name, signature_type, seed, public)

    @classmethod
    def parse(cls, text: str, public_key_of: Callable[[bytes], bytes]) -> SignerKey:
        """A signer key read back; the key ID is checked against the public key derived from the seed."""
        if not text.startswith(_PRIVATE_PREFIX):
            raise NoteError("signer key: does not start with PRIVATE+KEY+")
        parts = text[len(_PRIVATE_PREFIX) :].split("+", 2)
        if len(parts) != 3:
            raise NoteError("signer key: expected PRIVATE+KEY+<name>+<8 hex digits>+<base64 key>")
        name, id_hex, key64 = parts
        if not _KEY_ID_HEX.fullmatch(id_hex):
            raise NoteError(f"signer key: key ID {id_hex!r} is not 8 lowercase hex digits")
        raw = _unb64(key64)
        if not raw:
            raise NoteError("signer key: key is not canonical base64 of a signature type and a seed")
        if raw[0] not in SIGNATURE_TYPES:
            raise NoteError(f"signer key: unknown signature type 0x{raw[0]:02x}")
        key = cls.make(name, raw[0], raw[1:], public_key_of)
        if key.verifier.key_id != int(id_hex, 16):
            raise NoteError(
                f"signer key: key ID {id_hex} does not match the key, whose ID is {key.verifier.key_id:08x}"
            )
        return key


@dataclass(frozen=True)
class NoteSigner:
    """What signs: a key's name, type and ID, and `sign` (message → 64-byte Ed25519 signature) holding its seed."""

    name: str
    signature_type: int
    key_id: int
    sign: Callable[[bytes], bytes] = field(repr=False, compare=False)


# ------------------------------------------------------------------------------------------------ signed notes
@dataclass(frozen=True)
class Signature:
    """One signature line: the key's name and ID, and the signature bytes that follow the ID."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        return f"{_SIG_PREFIX}{self.name} {_b64(self.key_id.to_bytes(4, 'big') + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A note as written: its text (with the final newline) and every signature line, in order, none verified."""

    text: str
    signatures: tuple[Signature, ...] = ()

    def __str__(self) -> str:
        return format_note(self)


def _check_text(text: str, what: str) -> None:
    if not text.endswith("\n"):
        raise NoteError(f"{what}: the text must end with a newline")
    for i, ch in enumerate(text):
        if (ord(ch) < 0x20 and ch != "\n") or "\ud800" <= ch <= "\udfff":
            raise NoteError(f"{what}: character U+{ord(ch):04X} at position {i} (no control character but the newline)")


def format_note(note: Note) -> str:
    """The note's text, the blank line, its signature lines."""
    _check_text(note.text, "note")
    if not note.signatures:
        raise NoteError("note: a signed note has at least one signature")
    if len(note.signatures) > MAX_SIGNATURES:
        raise NoteError(f"note: more than {MAX_SIGNATURES} signatures")
    for sig in note.signatures:
        if not valid_name(sig.name):
            raise NoteError(f"note: signer name {sig.name!r} is empty or has a space, plus or control character")
        if not 0 <= sig.key_id < 2**32 or not sig.signature:
            raise NoteError(f"note: signature by {sig.name}: a 32-bit key ID and at least one byte of signature")
    out = note.text + "\n" + "".join(sig.line() for sig in note.signatures)
    if len(out.encode()) > MAX_NOTE_BYTES:
        raise NoteError(f"note: longer than {MAX_NOTE_BYTES} bytes")
    return out


def parse_note(data: bytes | str) -> Note:
    """A signed note read, signatures *not* verified (`open_note` does): every rule of the format checked."""
    if len(data) > MAX_NOTE_BYTES:
        raise NoteError(f"note: longer than {MAX_NOTE_BYTES} bytes")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise NoteError(f"note: not valid UTF-8 (byte {e.start})") from None
    else:
        text = data
    if len(text.encode("utf-8", "surrogatepass")) > MAX_NOTE_BYTES:
        raise NoteError(f"note: longer than {MAX_NOTE_BYTES} bytes")
    for i, ch in enumerate(text):
        if (ord(ch) < 0x20 and ch != "\n") or "\ud800" <= ch <= "\udfff":
            raise NoteError(f"note: character U+{ord(ch):04X} at position {i} (no control character but the newline)")
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("note: no blank line between the text and the signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block:
        raise NoteError("note: no signature line after the blank line")
    if not block.endswith("\n"):
        raise NoteError("note: the last signature line does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note: more than {MAX_SIGNATURES} signatures ({len(lines)})")
    return Note(body, tuple(_signature(n, line) for n, line in enumerate(lines, 1)))


def _signature(n: int, line: str) -> Signature:
    if not line.startswith(_SIG_PREFIX):
        raise NoteError(f"note: signature line {n} does not start with an em dash and a space")
    name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    if not valid_name(name):
        raise NoteError(f"note: signature line {n}: key name {name!r} is empty or has a space or plus")
    raw = _unb64(b64)
    if raw is None or len(raw) < 5:
        raise NoteError(f"note: signature line {n}: not canonical base64 of a 4-byte key ID and a signature")
    return Signature(name, int.from_bytes(raw[:4], "big"), raw[4:])


@dataclass(frozen=True)
class Cosignature:
    """A verified witness cosignature: who, with which key, as of which POSIX time."""

    name: str
    key_id: int
    timestamp: int


@dataclass(frozen=True)
class OpenedNote:
    """A note whose known signatures all verified (at least one). `verified` are the keys that signed (one entry
    per key, duplicates dropped), `cosignatures` those of type 0x04 with their times, `unverified` the lines by
    unknown keys, kept as they were (identical lines once)."""

    note: Note
    verified: tuple[VerifierKey, ...]
    cosignatures: tuple[Cosignature, ...]
    unverified: tuple[Signature, ...]

    @property
    def text(self) -> str:
        return self.note.text


def cosignature_message(text: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: the header line, the time line, then the checkpoint's whole note text."""
    _check_timestamp(timestamp)
    return f"{_COSIGNATURE_HEADER}time {timestamp}\n{text}".encode()


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature: time {timestamp} is not within 0 … 2^63-1 seconds")


def _known(keys: Iterable[VerifierKey]) -> dict[tuple[str, int], list[VerifierKey]]:
    table: dict[tuple[str, int], list[VerifierKey]] = {}
    for key in keys:
        found = table.setdefault((key.name, key.key_id), [])
        if key not in found:
            found.append(key)
    return table


def open_note(data: bytes | str | Note, known: Iterable[VerifierKey], verify: Ed25519Verify) -> OpenedNote:
    """The note parsed and its signatures checked against the known keys (signed-note "Signatures").

    A line whose (name, key ID) is not a known key's is kept unverified, even if it shares one of the two with a
    known key. A known key's signature that fails refuses the whole note (`NoteError` naming the key); two known
    keys with the same name and ID refuse it as ambiguous; no known key at all raises `UnverifiedNote`."""
    note = data if isinstance(data, Note) else parse_note(data)
    format_note(note)  # a Note built by hand meets the same rules as one read
    table = _known(known)
    text = note.text.encode()
    verified: list[VerifierKey] = []
    cosignatures: list[Cosignature] = []
    unverified: list[Signature] = []
    for sig in note.signatures:
        keys = table.get((sig.name, sig.key_id))
        if keys is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if len(keys) > 1:
            raise NoteError(f"note: ambiguous key {sig.name}+{sig.key_id:08x} (two known keys share it)")
        key = keys[0]
        if key in verified:
            continue
        timestamp = _verify_one(key, sig, note.text, text, verify)
        verified.append(key)
        if timestamp is not None:
            cosignatures.append(Cosignature(key.name, key.key_id, timestamp))
    if not verified:
        raise UnverifiedNote("note: no signature by a known key", note)
    return OpenedNote(note, tuple(verified), tuple(cosignatures), tuple(unverified))


def _verify_one(key: VerifierKey, sig: Signature, text: str, raw: bytes, verify: Ed25519Verify) -> int | None:
    invalid = f"note: invalid signature for key {key.name}+{key.key_id:08x}"
    if key.signature_type == ED25519:
        if len(sig.signature) != _ED25519_SIGNATURE or not verify(key.public_key, raw, sig.signature):
            raise NoteError(invalid)
        return None
    # COSIGNATURE_V1: 8 bytes of time, then Ed25519 over the cosigned message
    if len(sig.signature) != 8 + _ED25519_SIGNATURE:
        raise NoteError(invalid)
    timestamp = int.from_bytes(sig.signature[:8], "big")
    if timestamp > MAX_TIMESTAMP or not verify(key.public_key, cosignature_message(text, timestamp), sig.signature[8:]):
        raise NoteError(invalid)
    return timestamp


def _signed_by(signer: NoteSigner, signature: bytes) -> Signature:
    if not valid_name(signer.name):
        raise NoteError(f"signer {signer.name!r}: name is empty or has a space, plus or control character")
    if len(signature) != _ED25519_SIGNATURE:
        raise NoteError(f"signer {signer.name}: an Ed25519 signature is 64 bytes, got {len(signature)}")
    return Signature(signer.name, signer.key_id, signature)


def _replaced(note: Note, new: Sequence[Signature]) -> Note:
    """The note with `new` signatures after its others, dropping any earlier line by the same key (as Go does)."""
    mine = {(sig.name, sig.key_id) for sig in new}
    kept = tuple(sig for sig in note.signatures if (sig.name, sig.key_id) not in mine)
    result = Note(note.text, kept + tuple(new))
    format_note(result)  # every rule checked before the note is handed back
    return result


def sign_note(note: Note | str, signers: Sequence[NoteSigner]) -> Note:
    """The note signed by each signer (Ed25519, type 0x01, over the text). A key that had signed is re-signed."""
    base = Note(note) if isinstance(note, str) else note
    _check_text(base.text, "note")
    for signer in signers:
        if signer.signature_type != ED25519:
            raise NoteError(
                f"signer {signer.name}: signature type 0x{signer.signature_type:02x} does not sign a "
                "note's text (a witness cosigns: `cosign`)"
            )
    return _replaced(base, [_signed_by(s, s.sign(base.text.encode())) for s in signers])


# --------------------------------------------------------------------------------------------------- checkpoints
@dataclass(frozen=True)
class TreeHead:
    """The note text of a tlog checkpoint: the log's origin, its tree size and RFC 6962 root hash, and optional
    extension lines (opaque: a witness makes no statement about them)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise NoteError("checkpoint: the origin is an empty line or more than one line")
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise NoteError(f"checkpoint: tree size {self.size} is not within 0 … 2^64-1")
        if len(self.root_hash) != HASH_SIZE:
            raise NoteError(f"checkpoint: root hash is {len(self.root_hash)} bytes, not {HASH_SIZE} (SHA-256)")
        if self.size == 0 and self.root_hash != EMPTY_ROOT:
            raise NoteError("checkpoint: tree size 0 with a root hash other than the empty tree's, SHA-256 of nothing")
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise NoteError("checkpoint: an extension line is empty or more than one line")
        _check_text(self.text(), "checkpoint")

    def text(self) -> str:
        lines = [self.origin, str(self.size), _b64(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> TreeHead:
    """A checkpoint's note text read back: at least three non-empty lines, each ending in a newline; the size in
    decimal without leading zeros, the root hash canonical base64 of 32 bytes."""
    if not text.endswith("\n"):
        raise NoteError("checkpoint: the text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError(
            f"checkpoint: {len(lines)} line{'s' if len(lines) > 1 else ''}, expected origin, tree size and root hash"
        )
    for n, line in enumerate(lines, 1):
        if not line:
            raise NoteError(f"checkpoint: line {n} is empty")
    origin, size, root, *extensions = lines
    if not _DECIMAL.fullmatch(size):
        raise NoteError(f"checkpoint: tree size {size!r} is not a decimal number without leading zeros")
    if int(size) > MAX_TREE_SIZE:
        raise NoteError(f"checkpoint: tree size {size} is more than 2^64-1")
    raw = _unb64(root)
    if raw is None:
        raise NoteError(f"checkpoint: root hash {root!r} is not canonical base64")
    return TreeHead(origin, int(size), raw, tuple(extensions))


def sign_checkpoint(head: TreeHead, log: NoteSigner) -> Note:
    """The log's signed checkpoint. Its key name should be the origin (tlog-checkpoint "Signatures"), which a
    reader checks by default (`open_checkpoint`)."""
    return sign_note(Note(head.text()), [log])


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint whose log signature verified, and the witnesses whose cosignatures verified."""

    head: TreeHead
    opened: OpenedNote

    @property
    def cosignatures(self) -> tuple[Cosignature, ...]:
        return self.opened.cosignatures

    def witnessed_by(self, witnesses: Iterable[VerifierKey]) -> tuple[Cosignature, ...]:
        """The verified cosignatures among these witnesses (for a policy such as "2 of these 3")."""
        wanted = {(w.name, w.key_id) for w in witnesses}
        return tuple(c for c in self.cosignatures if (c.name, c.key_id) in wanted)


def open_checkpoint(
    data: bytes | str | Note,
    *,
    log: VerifierKey,
    verify: Ed25519Verify,
    witnesses: Iterable[VerifierKey] = (),
    origin: str | None = None,
) -> VerifiedCheckpoint:
    """A checkpoint of the log whose key is `log`: its signature must verify (a witness's alone is not enough),
    its text be a checkpoint of `origin` (by default the key's name, as tlog-checkpoint recommends; some logs'
    origins hold spaces, which a key name cannot); the witnesses' cosignatures are verified too, any failing one
    refusing the whole note."""
    if log.signature_type != ED25519:
        raise NoteError(f"checkpoint: the log's key {log.name} is not an Ed25519 note key (type 0x01)")
    cosigners = list(witnesses)
    for w in cosigners:
        if w.signature_type != COSIGNATURE_V1:
            raise NoteError(f"checkpoint: witness key {w.name} is not of signature type 0x04 (cosignature/v1)")
    opened = open_note(data, [log, *cosigners], verify)
    if log not in opened.verified:
        raise UnverifiedNote(f"checkpoint: not signed by the log's key {log}", opened.note)
    head = parse_checkpoint(opened.text)
    expected = log.name if origin is None else origin
    if head.origin != expected:
        raise NoteError(f"checkpoint: origin {head.origin!r} is not the log's {expected!r}")
    return VerifiedCheckpoint(head, opened)


def cosign(checkpoint: VerifiedCheckpoint, witness: NoteSigner, timestamp: int) -> Note:
    """The checkpoint's note with the witness's cosignature/v1 as of `timestamp` (POSIX seconds, given: no clock),
    replacing an earlier one by the same witness. Only a checkpoint whose log signature verified is cosigned;
    whether it is consistent with what the witness saw before is `witness_cosign`."""
    if witness.signature_type != COSIGNATURE_V1:
        raise NoteError(
            f"witness {witness.name}: a cosignature is signature type 0x04, not 0x{witness.signature_type:02x}"
        )
    text = checkpoint.opened.text
    signed = _signed_by(witness, witness.sign(cosignature_message(text, timestamp)))
    line = Signature(witness.name, witness.key_id, timestamp.to_bytes(8, "big") + signed.signature)
    return _replaced(checkpoint.opened.note, [line])


# -------------------------------------------------------------------------------------------------- split views
class Agreement(StrEnum):
    SAME = "same"  # the same tree head
    EXTENDS = "extends"  # the larger tree was proven to extend the smaller (a consistency proof checked)
    SPLIT = "split"  # two trees that cannot both be the log's: a split view (or a fork)
    UNPROVEN = "unproven"  # different sizes and no proof was given: nothing is known yet


@dataclass(frozen=True)
class ViewComparison:
    """Two verified checkpoints of one log compared, smaller tree first. A SPLIT is evidence to show others:
    both notes carry the log's signature."""

    agreement: Agreement
    smaller: VerifiedCheckpoint
    larger: VerifiedCheckpoint
    reason: str


ExtensionProof = Callable[[int, bytes, int, bytes], bool]
"""(size m, root at m, size n, root at n) with m < n → whether a consistency proof (RFC 9162 §2.1.4) shows the
tree of size n extends that of size m; the caller binds the proof the log served
(``domain.audit.merkle.verify_consistency``, a failure being False)."""


def compare_views(a: VerifiedCheckpoint, b: VerifiedCheckpoint, proves: ExtensionProof | None = None) -> ViewComparison:
    """Whether two checkpoints of the same log can both be true (tlog-checkpoint: "Two checkpoints are
    inconsistent if a consistency proof can't be constructed from one to the other").

    Same size, different roots is a split view with no proof needed. Different sizes need `proves`: a proof that
    fails is a split view, none given leaves the answer UNPROVEN. A tree of size 0 is extended by every tree."""
    if a.head.origin != b.head.origin:
        raise NoteError(
            f"split view: checkpoints of two logs ({a.head.origin!r}, {b.head.origin!r}) are not comparable"
        )
    small, large = (a, b) if a.head.size <= b.head.size else (b, a)
    m, n = small.head, large.head
    if m.size == n.size:
        if m.root_hash == n.root_hash:
            return ViewComparison(Agreement.SAME, small, large, f"both at size {m.size} with the same root")
        return ViewComparison(
            Agreement.SPLIT, small, large, f"two roots at size {m.size}: {_b64(m.root_hash)} and {_b64(n.root_hash)}"
        )
    if m.size == 0:
        return ViewComparison(Agreement.EXTENDS, small, large, "every tree extends the empty tree")
    if proves is None:
        return ViewComparison(
            Agreement.UNPROVEN, small, large, f"sizes {m.size} and {n.size}: no consistency proof given"
        )
    if proves(m.size, m.root_hash, n.size, n.root_hash):
        return ViewComparison(Agreement.EXTENDS, small, large, f"size {n.size} proven to extend size {m.size}")
    return ViewComparison(
        Agreement.SPLIT, small, large, f"no consistency proof from size {m.size} to size {n.size}: the trees diverge"
    )


def witness_cosign(
    latest: VerifiedCheckpoint | None,
    candidate: VerifiedCheckpoint,
    witness: NoteSigner,
    timestamp: int,
    proves: ExtensionProof | None = None,
) -> Note:
    """A witness's decision (tlog-cosignature: "the consistent tree head with the largest size the cosigner has
    observed"): the candidate is cosigned only if it is the same as, or proven to extend, the latest checkpoint the
    witness cosigned for that log (`latest`, None for the first). A smaller tree, a split view or a larger tree
    without a proof is refused, with the reason; the caller keeps the candidate as its new latest."""
    if latest is not None:
        if candidate.head.origin != latest.head.origin:
            raise NoteError(
                f"witness: checkpoint of {candidate.head.origin!r}, the latest seen is of {latest.head.origin!r}"
            )
        if candidate.head.size < latest.head.size:
            raise NoteError(
                f"witness: tree size {candidate.head.size} is smaller than {latest.head.size}, already cosigned"
            )
        found = compare_views(latest, candidate, proves)
        if found.agreement in (Agreement.SPLIT, Agreement.UNPROVEN):
            raise NoteError(f"witness: not cosigned ({found.agreement}): {found.reason}")
    return cosign(candidate, witness, timestamp)
