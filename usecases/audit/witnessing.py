"""Publishing the record's tree checkpoint to its witnesses (issue 13, c2sp.org/tlog-witness, the log's side).

`publish` signs the current tree checkpoint, sends it to every configured witness with the consistency proof
from the size that witness last cosigned (kept in the record: ``adapters.record.witnessed``), sends once more
from the size a witness reports on a 409 (a witness that lost track of the log, or a first contact after the
record's own state was lost), collects the cosignatures into one note and keeps it. A witness that refuses, or
does not answer, is reported and does not stop the others: what one witness refuses (a 409 on the same size with
another root, a 422 on a proof) is the evidence of a split view the operators must look at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from adapters.record.keys import KeyRing
from adapters.record.note_signing import ed25519_verify
from adapters.record.record import Record
from adapters.record.witnessed import witnessed_store
from adapters.witness.client import WitnessUnreachable, post_add_checkpoint
from domain.audit.note import Note, NoteError, Signature, parse_checkpoint
from domain.audit.witnessing import (
    MAX_PROOF_LINES,
    AddCheckpoint,
    Answer,
    Outcome,
    ReadAnswer,
    WitnessEndpoint,
    read_answer,
    with_cosignatures,
)
from usecases.audit import proofs
from usecases.audit.proofs import NotProvable, sign_tree_checkpoint

SignCheckpoint = Callable[[Record, KeyRing | None, datetime], Note]
Consistency = Callable[[Record, int, int], Sequence[bytes]]
Post = Callable[[str, bytes], Answer]


@dataclass(frozen=True)
class WitnessReport:
    """What one witness did: `outcome` cosigned, refused or unreachable, in words (`detail`); `old_size` the
    size the last request was sent from."""

    witness: str
    url: str
    outcome: Outcome
    detail: str
    old_size: int


@dataclass(frozen=True)
class Publication:
    size: int
    note: str  # the checkpoint with every cosignature collected
    reports: tuple[WitnessReport, ...]

    @property
    def all_cosigned(self) -> bool:
        return all(r.outcome is Outcome.COSIGNED for r in self.reports)


def _default_sign(record: Record, ring: KeyRing | None, now: datetime) -> Note:
    return sign_tree_checkpoint(record, ring, now=now)


def publish(
    record: Record,
    ring: KeyRing | None,
    witnesses: Sequence[WitnessEndpoint],
    now: datetime,
    *,
    sign: SignCheckpoint = _default_sign,
    consistency: Consistency = proofs.consistency,
    post: Post = post_add_checkpoint,
) -> Publication:
    """Sign, send to each witness, collect, keep. Never raises for a witness's answer: each is reported."""
    note = sign(record, ring, now)
    size = parse_checkpoint(note.text).size
    store = witnessed_store(record)
    at = now.isoformat()
    reports: list[WitnessReport] = []
    collected: list[Signature] = []

    def request(old: int) -> bytes:
        proof = tuple(consistency(record, old, size)) if 0 < old < size else ()
        if len(proof) > MAX_PROOF_LINES:
            raise NoteError(f"a proof of {len(proof)} hashes, the protocol carries {MAX_PROOF_LINES}")
        return AddCheckpoint(old, proof, note).body()

    for w in witnesses:
        name = str(w.key)
        old = store.last_size(name) or 0
        if old > size:  # the witness cosigned more than this record holds: a rollback, ask it what it has
            old = 0
        report = WitnessReport(name, w.url, Outcome.REFUSED, "no answer read", old)
        for _attempt in range(2):
            try:
                body = request(old)
            except (NotProvable, NoteError) as e:  # the record cannot prove from where the witness is
                report = WitnessReport(name, w.url, Outcome.REFUSED, f"no proof from size {old}: {e}", old)
                break
            try:
                answer = post(w.add_checkpoint_url, body)
            except WitnessUnreachable as e:
                report = WitnessReport(name, w.url, Outcome.UNREACHABLE, str(e), old)
                break
            read = read_answer(answer, note, w.key, ed25519_verify)
            if read.outcome is Outcome.CONFLICT and read.known_size is not None and _attempt == 0:
                if read.known_size > size:
                    report = WitnessReport(name, w.url, Outcome.REFUSED,
                                           f"the witness cosigned size {read.known_size}, more than this record's "
                                           f"{size}: the record was rolled back or forked", old)
                    break
                old = read.known_size
                continue
            if read.outcome is Outcome.CONFLICT:
                read = ReadAnswer(Outcome.REFUSED, f"409 again: {read.detail}")
            if read.outcome is Outcome.COSIGNED:
                store.cosigned(name, size, at)
                collected.extend(read.cosignatures)
            report = WitnessReport(name, w.url, read.outcome, read.detail, old)
            break
        reports.append(report)
    cosigned = with_cosignatures(note, collected)
    store.keep(size, str(cosigned), at, len(collected))
    return Publication(size, str(cosigned), tuple(reports))


def kept_notes(record: Record) -> list[str]:
    """The cosigned notes kept by `publish`, oldest first."""
    return witnessed_store(record).notes()
