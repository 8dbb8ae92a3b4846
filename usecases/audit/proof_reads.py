"""The record's Merkle proofs as reads (issue 13): the signed tree checkpoint, an inclusion proof and a consistency
proof for a caller in a role (the gateway's ``/v1/audit/checkpoint`` and ``/v1/audit/proofs/*``), over
`usecases.audit.proofs`.

Who: the readers of audit metadata across persons (auditors and supervisors, for an audit), as for an export
(`domain.audit.reads.decide_record_read`, ``ReadKind.MERKLE_PROOF``). A refusal is registered in the record-level
reads log, as every refused read of the record is. An allowed inclusion proof is registered too: it reveals only
hashes, but it names one event (its aggregate id, version, position), metadata about a person's record. An allowed
checkpoint or consistency proof is not: it names no event, only sizes and hashes of the whole log (and registering
it would append an event to the log at every poll of a monitor). Input refused (422) and an event not in the tree
(404) register nothing: they are checked after the role, so that a caller in another role learns nothing of the
tree, and before any registration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from adapters.record.keys import KeyRing
from adapters.record.record import Record
from domain.audit.note import Note, VerifierKey
from domain.audit.record_reads import ReadKind, RecordRead
from usecases.audit import proofs
from usecases.audit.proofs import EventRef, InclusionProof, NotProvable
from usecases.audit.reads import Reader, Reads

MAX_ID = 2**63 - 1  # a notification id, a version or a size the stores' 64-bit integers can hold


class ProofRefused(Exception):
    """The rules refused this reader: the refusal as registered (`read`)."""

    def __init__(self, read: RecordRead) -> None:
        super().__init__(read.reason)
        self.read = read


class BadProofRequest(ValueError):
    """A parameter that names no event or no tree of this log: `field` and what is wrong (nothing registered)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


class NotInTree(Exception):
    """The event is not in the record, or not in the tree of the size asked (nothing registered)."""


@dataclass(frozen=True)
class SignedCheckpoint:
    note: Note  # the C2SP checkpoint, signed by the log key
    log_key: VerifierKey  # the key that opens it (an auditor pins theirs: this is the engine's word for it)


@dataclass(frozen=True)
class IncludedRead:
    read: RecordRead  # the read, as registered (allowed)
    proof: InclusionProof  # verified against its root before it is returned


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    proof: tuple[bytes, ...]


class ProofReads:
    def __init__(self, record: Record, reads: Reads, ring: KeyRing) -> None:
        self.record, self.reads, self.ring = record, reads, ring

    def _allowed(self, reader: Reader, moment: datetime, scope: Mapping[str, object]) -> None:
        """`ProofRefused` (registered) unless the rules let this reader read the log's proofs."""
        if not self.reads.may(ReadKind.MERKLE_PROOF, reader, moment):
            raise ProofRefused(self.reads.across(ReadKind.MERKLE_PROOF, reader, moment, scope))

    def _size(self, field: str, size: int) -> int:
        """The current tree's size, `size` within it (`BadProofRequest` otherwise)."""
        current = proofs.tree_head(self.record).size
        if not 0 <= size <= current:
            raise BadProofRequest(field, f"the log's tree holds {current:,} events: it has no tree of size {size:,}")
        return current

    def checkpoint(self, reader: Reader, moment: datetime) -> SignedCheckpoint:
        """The C2SP checkpoint of the whole tree, signed now after a verify from the last note the engine kept
        (`proofs.sign_tree_checkpoint`, incremental: the events since; `CheckpointError` when the store is empty
        or does not verify)."""
        self._allowed(reader, moment, {"proof": "checkpoint"})
        return SignedCheckpoint(proofs.sign_tree_checkpoint(self.record, self.ring, now=moment),
                                proofs.log_verifier(self.record, self.ring))

    def inclusion(self, event: str, tree_size: int, reader: Reader, moment: datetime) -> IncludedRead:
        """The proof that `event` (a notification id, or ``<aggregate uuid>@<version>``) is in the tree of
        `tree_size` events, registered as a read of that event before it is handed out."""
        ref = parse_event(event)
        scope = {"proof": "inclusion", "event": str(ref), "tree_size": tree_size}
        self._allowed(reader, moment, scope)
        self._size("tree_size", tree_size)
        leaf = proofs.leaf_of(self.record.audit_tree(), ref)
        if leaf is None:
            raise NotInTree(f"the log holds no event {ref}")
        if leaf.index >= tree_size:
            raise NotInTree(f"event {ref} is at position {leaf.index + 1:,}, after the tree of size {tree_size:,} "
                            "(a later checkpoint holds it)")
        proof = proofs.inclusion(self.record, ref, tree_size)  # NotProvable: the store does not prove what it holds
        read = self.reads.across(ReadKind.MERKLE_PROOF, reader, moment, {
            **scope, "notification_id": proof.notification_id, "aggregate": proof.aggregate_id,
            "version": proof.version})
        if not read.allowed:  # the rule changed between the two decisions (a new day's rules)
            raise ProofRefused(read)
        return IncludedRead(read, proof)

    def consistency(self, first: int, second: int, reader: Reader, moment: datetime) -> ConsistencyProof:
        """PROOF(first, D[second]) (RFC 9162 2.1.4): that the tree of `second` events extends the tree of `first`."""
        self._allowed(reader, moment, {"proof": "consistency", "first": first, "second": second})
        if first > second:
            raise BadProofRequest("first", f"first ({first:,}) is after second ({second:,})")
        self._size("second", second)
        return ConsistencyProof(first, second, tuple(proofs.consistency(self.record, first, second)))


def parse_event(text: str) -> EventRef:
    """`EventRef.parse`, within the stores' 64-bit ids; `BadProofRequest` says what is wrong."""
    try:
        ref = EventRef.parse(text)
    except ValueError as err:
        raise BadProofRequest("event", str(err)) from None
    if max(ref.notification_id or 0, ref.version or 0) > MAX_ID:
        raise BadProofRequest("event", f"event {text!r}: a notification id or a version is at most {MAX_ID}")
    return ref


__all__ = ["BadProofRequest", "ConsistencyProof", "IncludedRead", "NotInTree", "NotProvable", "ProofReads",
           "ProofRefused", "SignedCheckpoint", "parse_event"]
