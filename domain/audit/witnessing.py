"""The C2SP tlog-witness protocol (https://c2sp.org/tlog-witness), both sides, pure (issue 13).

A log sends ``POST <submission prefix>/add-checkpoint`` with the body ``old <size>\\n``, zero to 63 consistency
proof lines (base64 of one 32-byte hash each), an empty line, then its signed checkpoint note. The witness answers,
checking in the order the spec states:

- 400 a malformed body (or an old size larger than the checkpoint's);
- 404 a checkpoint of an origin it does not know (the spec says 404; an older draft said 403);
- 403 no signature by the log's key, or a signature by that key that fails;
- 409 ``text/x.tlog.size`` with the size it last cosigned for the origin when ``old`` is not that size (0 if none);
- 422 a consistency proof that does not verify (or a proof sent with old 0);
- 409 (plain) the same size with another root: a split view, however the proof looks;
- 200 its cosignature/v1 line(s) for the checkpoint, after it has kept the checkpoint as its latest.

The witness's decision is `add_checkpoint` (reusing `note.witness_cosign`); keeping the latest checkpoint with the
decision, atomically, is the caller's (``adapters.witness.state``). The log's side reads answers with
`read_answer`; configured witnesses are `parse_witnesses` (ARRIMAGE_WITNESSES). Pure: no clock (the cosignature's
time is given), no Ed25519 (`Ed25519Verify`, a `NoteSigner`), no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from domain.audit.merkle import MerkleProofError, verify_consistency
from domain.audit.note import (
    COSIGNATURE_V1,
    ED25519,
    HASH_SIZE,
    MAX_NOTE_BYTES,
    Ed25519Verify,
    Note,
    NoteError,
    NoteSigner,
    Signature,
    TreeHead,
    VerifiedCheckpoint,
    VerifierKey,
    format_note,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_note,
    witness_cosign,
)
from domain.errors import DomainError

ADD_CHECKPOINT = "/add-checkpoint"
SIZE_CONTENT_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
MAX_BODY_BYTES = MAX_NOTE_BYTES + 64 * (MAX_PROOF_LINES + 1)
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


class WitnessRefusal(DomainError):
    """The witness's refusal: the HTTP `status` the spec gives it, the reason, and for a 409 on a stale old size
    the size the witness holds (`known_size`, sent as ``text/x.tlog.size``)."""

    code = "witness_refused"

    def __init__(self, status: int, message: str, known_size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.known_size = known_size


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def parse_hash_lines(lines: Iterable[str], what: str = "proof") -> tuple[bytes, ...]:
    """Consistency proof lines: each canonical base64 of one 32-byte hash (`NoteError` names the first bad one)."""
    out = []
    for n, line in enumerate(lines, 1):
        try:
            raw = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != HASH_SIZE or _b64(raw) != line:
            raise NoteError(f"{what} line {n}: not canonical base64 of a {HASH_SIZE}-byte hash")
        out.append(raw)
    return tuple(out)


def format_hash_lines(proof: Sequence[bytes]) -> str:
    return "".join(_b64(h) + "\n" for h in proof)


def parse_size(text: str, what: str = "size") -> int:
    """A tree size in decimal, no leading zero, within 0 … 2^64-1."""
    if not _DECIMAL.fullmatch(text) or int(text) > 2**64 - 1:
        raise NoteError(f"{what} {text[:30]!r} is not a decimal tree size without leading zeros")
    return int(text)


# ------------------------------------------------------------------------------------------------ the request
@dataclass(frozen=True)
class AddCheckpoint:
    """An add-checkpoint request: the size the log believes the witness holds, the consistency proof from it to
    the checkpoint's size, and the checkpoint note as the log signed it."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: Note

    def body(self) -> bytes:
        if len(self.proof) > MAX_PROOF_LINES:
            raise NoteError(f"add-checkpoint: at most {MAX_PROOF_LINES} proof lines, got {len(self.proof)}")
        return f"old {self.old_size}\n{format_hash_lines(self.proof)}\n{format_note(self.checkpoint)}".encode()


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """The request body read; anything malformed is a 400 naming the rule broken."""
    if len(body) > MAX_BODY_BYTES:
        raise WitnessRefusal(400, f"request body longer than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WitnessRefusal(400, f"request body is not UTF-8 (byte {e.start})") from None
    head, sep, note = text.partition("\n\n")  # the old line and proof lines hold no empty line: the first is it
    if not sep:
        raise WitnessRefusal(400, "request body: no empty line between the proof and the checkpoint")
    old_line, *proof_lines = head.split("\n")
    if not old_line.startswith("old "):
        raise WitnessRefusal(400, "request body: the first line is not 'old <size>'")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise WitnessRefusal(400, f"request body: {len(proof_lines)} proof lines, at most {MAX_PROOF_LINES}")
    try:
        old = parse_size(old_line[4:], "old size")
        proof = parse_hash_lines(proof_lines)
        checkpoint = parse_note(note)
    except NoteError as e:
        raise WitnessRefusal(400, f"request body: {e.message}") from None
    return AddCheckpoint(old, proof, checkpoint)


# --------------------------------------------------------------------------------------- the witness decides
@dataclass(frozen=True)
class Cosigned:
    """What the witness cosigned: the note with its cosignature (to keep as its latest) and the line(s) it
    answers with."""

    head: TreeHead
    note: Note
    lines: tuple[Signature, ...]

    def body(self) -> bytes:
        return "".join(sig.line() for sig in self.lines).encode()


def logs_by_origin(keys: Iterable[VerifierKey]) -> dict[str, VerifierKey]:
    """The logs a witness knows, by origin (a log's key is named after its origin, as tlog-checkpoint
    recommends and ``usecases.audit.proofs`` signs). Two keys for one origin are refused: which would hold?"""
    out: dict[str, VerifierKey] = {}
    for key in keys:
        if key.signature_type != ED25519:
            raise NoteError(f"log key {key.name}: not an Ed25519 note key (type 0x01)")
        if key.name in out and out[key.name] != key:
            raise NoteError(f"two log keys for origin {key.name!r}")
        out[key.name] = key
    return out


def origin_of(request: AddCheckpoint) -> str:
    """The origin the request's checkpoint names (not yet verified): which latest checkpoint to read."""
    try:
        return parse_checkpoint(request.checkpoint.text).origin
    except NoteError as e:
        raise WitnessRefusal(400, f"checkpoint: {e.message}") from None


def add_checkpoint(
    request: AddCheckpoint,
    *,
    logs: Mapping[str, VerifierKey],
    latest: Note | None,
    witness: NoteSigner,
    timestamp: int,
    verify: Ed25519Verify,
) -> Cosigned:
    """The witness's decision on one request, given the latest checkpoint it cosigned for the request's origin
    (`latest`, None for none): the cosigned note, or `WitnessRefusal` with the spec's status. Checks in the
    spec's order; a 409 for a stale old size carries the size held."""
    origin = origin_of(request)
    key = logs.get(origin)
    if key is None:
        raise WitnessRefusal(404, f"unknown log {origin!r}")
    try:
        candidate = open_checkpoint(request.checkpoint, log=key, verify=verify)
    except NoteError as e:
        raise WitnessRefusal(403, f"log signature: {e.message}") from None
    size = candidate.head.size
    if request.old_size > size:
        raise WitnessRefusal(400, f"old size {request.old_size} is larger than the checkpoint's size {size}")
    held: VerifiedCheckpoint | None = None
    if latest is not None:
        held = open_checkpoint(latest, log=key, verify=verify)  # what this witness kept: its own record
    held_size = held.head.size if held is not None else 0
    if request.old_size != held_size:
        raise WitnessRefusal(
            409, f"old size {request.old_size} is not the size {held_size} last cosigned for {origin}", held_size
        )
    if request.old_size == 0 and request.proof:
        raise WitnessRefusal(422, "a consistency proof from size 0 is empty")
    if held is not None and held_size == size and held.head.root_hash != candidate.head.root_hash:
        raise WitnessRefusal(
            409, f"split view: size {size} was cosigned with root {_b64(held.head.root_hash)}, "
                 f"not {_b64(candidate.head.root_hash)}"
        )
    if held is not None:
        try:
            verify_consistency(held_size, size, held.head.root_hash, candidate.head.root_hash, request.proof)
        except MerkleProofError as e:
            raise WitnessRefusal(
                422, f"consistency proof from size {held_size} to {size} does not verify: {e}"
            ) from None
    if timestamp <= 0:
        raise NoteError("witness: a cosignature's time is not zero (tlog-witness)")
    try:
        note = witness_cosign(held, candidate, witness, timestamp, proves=lambda m, a, n, b: True)  # proof checked
    except NoteError as e:  # unreachable after the checks above; kept as the domain's second word
        raise WitnessRefusal(409, e.message) from None
    lines = tuple(s for s in note.signatures if (s.name, s.key_id) == (witness.name, witness.key_id))
    return Cosigned(candidate.head, note, lines)


# ------------------------------------------------------------------------------------------ the log reads it
class Outcome(StrEnum):
    COSIGNED = "cosigned"
    CONFLICT = "conflict"  # 409 with the size the witness holds: send again from that size
    REFUSED = "refused"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class Answer:
    """A witness's HTTP answer as the log received it."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class ReadAnswer:
    outcome: Outcome
    detail: str
    cosignatures: tuple[Signature, ...] = ()
    known_size: int | None = None


def read_answer(answer: Answer, checkpoint: Note, witness: VerifierKey, verify: Ed25519Verify) -> ReadAnswer:
    """What an answer means: 200 with at least one valid cosignature by this witness's key on the checkpoint
    (lines by other keys ignored, as the spec asks; a failing one by this key refused), 409 with the size held,
    or a refusal naming the status and the witness's words."""
    words = answer.body[:300].decode("utf-8", "replace").strip()
    if answer.status == 409 and answer.content_type.split(";")[0].strip() == SIZE_CONTENT_TYPE:
        text = answer.body.decode("ascii", "replace")
        if text.endswith("\n") and "\n" not in text[:-1]:
            try:
                known = parse_size(text[:-1], "witness size")
            except NoteError:
                pass
            else:
                return ReadAnswer(Outcome.CONFLICT, f"the witness holds size {known}", known_size=known)
        return ReadAnswer(Outcome.REFUSED, f"409 with a malformed size {words!r}")
    if answer.status != 200:
        return ReadAnswer(Outcome.REFUSED, f"{answer.status}: {words}" if words else str(answer.status))
    if witness.signature_type != COSIGNATURE_V1:
        raise NoteError(f"witness key {witness.name}: not a cosignature/v1 key (type 0x04)")
    try:
        lines = answer.body.decode("utf-8")
        opened = open_note(checkpoint.text + "\n" + lines, [witness], verify)
    except (UnicodeDecodeError, NoteError) as e:
        return ReadAnswer(Outcome.REFUSED, f"200 without a valid cosignature by {witness}: {e}")
    mine = tuple(s for s in opened.note.signatures if (s.name, s.key_id) == (witness.name, witness.key_id))
    if not opened.cosignatures or any(c.timestamp == 0 for c in opened.cosignatures):
        return ReadAnswer(Outcome.REFUSED, "200 with a cosignature of time zero")
    return ReadAnswer(Outcome.COSIGNED, f"cosigned at {opened.cosignatures[0].timestamp}", mine[:1])


def with_cosignatures(note: Note, cosignatures: Sequence[Signature]) -> Note:
    """The log's note with the witnesses' lines after its own (one line per key, the latest kept)."""
    keys = {(s.name, s.key_id) for s in cosignatures}
    kept = tuple(s for s in note.signatures if (s.name, s.key_id) not in keys)
    merged = Note(note.text, kept + tuple(cosignatures))
    format_note(merged)
    return merged


# ----------------------------------------------------------------------------------- the configured witnesses
@dataclass(frozen=True)
class WitnessEndpoint:
    """One witness the log publishes to: its cosignature/v1 verifier key and its submission prefix."""

    key: VerifierKey
    url: str

    @property
    def add_checkpoint_url(self) -> str:
        return self.url.rstrip("/") + ADD_CHECKPOINT

    def __str__(self) -> str:
        return f"{self.key}={self.url}"


def parse_witnesses(text: str) -> tuple[WitnessEndpoint, ...]:
    """ARRIMAGE_WITNESSES: entries ``<verifier key>=<http(s) URL>`` separated by commas or white space (a
    verifier key holds no '=': 33 bytes are base64 without padding). Every problem is named, one per entry."""
    out: list[WitnessEndpoint] = []
    problems: list[str] = []
    for n, entry in enumerate((e for e in re.split(r"[,\s]+", text.strip()) if e), 1):
        vkey, sep, url = entry.partition("=")
        if not sep:
            problems.append(f"entry {n}: expected <verifier key>=<url>")
            continue
        try:
            key = VerifierKey.parse(vkey)
        except NoteError as e:
            problems.append(f"entry {n}: {e.message}")
            continue
        if key.signature_type != COSIGNATURE_V1:
            problems.append(f"entry {n}: {key.name} is not a witness key (cosignature/v1, type 0x04)")
            continue
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            problems.append(f"entry {n}: {url!r} is not an http(s) URL without query or fragment")
            continue
        if any(w.key == key for w in out):
            problems.append(f"entry {n}: witness {key.name} is listed twice")
            continue
        out.append(WitnessEndpoint(key, url))
    if problems:
        raise NoteError("; ".join(problems))
    return tuple(out)
