"""Merkle proofs over the record (issue 13): the tree's head, inclusion and consistency proofs, and the signed
C2SP checkpoint (``domain.audit.note``) that a person, a partner or a witness checks them against.

The tree is the record's chain seen as RFC 6962 leaves (`adapters.record.tree`: leaf m = the chain row at
``seq`` m + 1, entry its ``event_hash``), caught up by its follower before each answer. Nothing here reads the
clock: a signature's moment is given (``now``).

The log's note key is derived from the active checkpoint seed (``ARRIMAGE_CHECKPOINT_KEYS``): its name is the
checkpoint's origin ``arrimage/<store id>``, so each store's log has its own key ID and no new secret is kept.
Its verifier key (`log_verifier`) is what auditors and witnesses pin. (The same seed signs the JSON
checkpoints: a note's text starts with its origin line, a JSON checkpoint with ``{``, so neither signature can
pass for the other.)
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from adapters.record.keys import DEV_CHECKPOINT_KEYS, KeyRing
from adapters.record.note_signing import ed25519_public_key, ed25519_verify, note_signer, signer_key_from_seed
from adapters.record.notes import note_store
from adapters.record.record import Record
from adapters.record.tree import Leaf, MerkleHead, TreeError, TreeStore, frontier
from domain.audit import merkle
from domain.audit.checkpoint import Checkpoint, CheckpointError
from domain.audit.hashing import event_hash, originator_key
from domain.audit.note import (
    Note,
    NoteError,
    SignerKey,
    TreeHead,
    VerifiedCheckpoint,
    VerifierKey,
    open_checkpoint,
)
from domain.audit.note import sign_checkpoint as sign_note_checkpoint
from domain.audit.verify import ChainHead, Problem, ProblemKind, VerifyReport
from usecases.audit import trail

T = TypeVar("T")

ORIGIN_PREFIX = "arrimage/"
CHAIN_EXTENSION = "arrimage-chain"  # `arrimage-chain <seq> <notification id> <chain hash hex>`
TIME_EXTENSION = "arrimage-time"  # `arrimage-time <ISO 8601 UTC>`


class ResumeRefused(CheckpointError):
    """A tree checkpoint a pass cannot resume from; `kind` is the verify problem it is (`resume_point`)."""

    def __init__(self, message: str, kind: ProblemKind) -> None:
        super().__init__(message)
        self.kind = kind


class NotProvable(Exception):
    """No proof can be given: the event is not in the record, or not in the tree of that size; the size is
    beyond the tree; or what the store holds does not prove what it should (the message says which)."""


# ----------------------------------------------------------------------------------------------- the log's key
def origin(store_id: str) -> str:
    """The checkpoints' origin line and the log key's name: ``arrimage/<store id>``."""
    return ORIGIN_PREFIX + store_id


def log_key(store_id: str, ring: KeyRing | None = None) -> SignerKey:
    """The log's note key (Ed25519, type 0x01) of this store, from the active checkpoint seed."""
    return signer_key_from_seed(origin(store_id), (ring or DEV_CHECKPOINT_KEYS).active)


def _store_id(record: Record) -> str:
    sid = trail.store_id(record)
    if sid is None:
        raise CheckpointError("the store has no id (its audit_store row is gone): its log has no name")
    return sid


def record_origin(record: Record) -> str:
    """This record's log origin, ``arrimage/<store id>``: what its checkpoints must name."""
    return origin(_store_id(record))


def log_verifier(record: Record, ring: KeyRing | None = None) -> VerifierKey:
    """The verifier key (``<origin>+<key ID>+<base64>``) an auditor pins to check this store's checkpoints."""
    return log_key(_store_id(record), ring).verifier


def open_tree_checkpoint(data: bytes | str | Note, log: VerifierKey) -> VerifiedCheckpoint:
    """A signed tree checkpoint whose log signature verifies by `log` and whose origin is the key's name;
    `domain.audit.note.NoteError` otherwise."""
    return open_checkpoint(data, log=log, verify=ed25519_verify)


# ---------------------------------------------------------------------------------------------------- the tree
def tree_head(record: Record) -> MerkleHead:
    """The tree over every chained event, after the follower caught up: (size, root)."""
    return record.audit_tree().catch_up()


def _caught_up_to(record: Record, size: int) -> MerkleHead:
    if size < 0:
        raise NotProvable(f"no tree of size {size}")
    try:
        head = record.audit_tree().catch_up()
    except TreeError as e:
        raise NotProvable(f"the record's tree cannot follow its chain: {e}") from None
    if size > head.size:
        raise NotProvable(f"the record's tree holds {head.size:,} events: it has no tree of size {size:,}")
    return head


@dataclass(frozen=True)
class EventRef:
    """An event as `verify` names it: a notification id, or an aggregate id and version."""

    notification_id: int | None = None
    aggregate_id: UUID | None = None
    version: int | None = None

    @classmethod
    def parse(cls, text: str) -> EventRef:
        """``<notification id>`` or ``<aggregate uuid>@<version>``; ValueError says what is wrong."""
        text = text.strip()
        if re.fullmatch(r"[0-9]+", text):
            nid = int(text)
            if nid < 1:
                raise ValueError("a notification id is 1 or more")
            return cls(notification_id=nid)
        aggregate, at, version = text.rpartition("@")
        if not at:
            raise ValueError(f"event {text!r}: expected a notification id, or <aggregate uuid>@<version>")
        try:
            aid = UUID(aggregate)
        except ValueError:
            raise ValueError(f"event {text!r}: {aggregate!r} is not an aggregate uuid") from None
        if not re.fullmatch(r"[0-9]+", version) or int(version) < 1:
            raise ValueError(f"event {text!r}: version {version!r} is not a number of 1 or more")
        return cls(aggregate_id=aid, version=int(version))

    def __str__(self) -> str:
        if self.notification_id is not None:
            return f"notification {self.notification_id}"
        return f"{self.aggregate_id}@{self.version}"


@dataclass(frozen=True)
class InclusionProof:
    """The proof that an event is leaf `index` of the tree of `size` leaves whose root is `root` (RFC 9162
    2.1.3): `proof` holds the sibling hashes from the leaf up. Verified before it is handed out."""

    index: int
    size: int
    notification_id: int
    aggregate_id: str
    version: int
    event_hash: bytes
    proof: tuple[bytes, ...]
    root: bytes

    @property
    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.event_hash)

    def verify(self, root: bytes | None = None) -> None:
        """`merkle.MerkleProofError` unless the proof holds against `root` (default: the one computed)."""
        merkle.verify_inclusion(self.index, self.size, self.leaf_hash, self.proof, self.root if root is None else root)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "size": self.size, "notification_id": self.notification_id,
            "aggregate_id": self.aggregate_id, "version": self.version, "event_hash": self.event_hash.hex(),
            "leaf_hash": self.leaf_hash.hex(), "proof": [h.hex() for h in self.proof], "root": self.root.hex(),
        }


def leaf_of(tree: TreeStore, ref: EventRef) -> Leaf | None:
    """The leaf of the event `ref` names (by notification id, or by aggregate and version), as the tree stores it."""
    if ref.notification_id is not None:
        return tree.leaf(notification_id=ref.notification_id)
    assert ref.aggregate_id is not None and ref.version is not None
    return tree.leaf(originator=originator_key(ref.aggregate_id), version=ref.version)


def find_leaf(record: Record, ref: EventRef | int) -> Leaf:
    """The event's leaf, after checking that the stored event still hashes to its chain entry (a proof for an
    entry that no longer matches the event would prove nothing about the event)."""
    ref = EventRef(notification_id=ref) if isinstance(ref, int) else ref
    leaf = leaf_of(record.audit_tree(), ref)
    if leaf is None:
        raise NotProvable(f"the record holds no chained event {ref}")
    with record.audit_store().snapshot() as snap:
        rows = list(snap.event_rows(leaf.notification_id - 1, leaf.notification_id))
    if not rows:
        raise NotProvable(f"event {ref}: its chain entry is stored but the event itself is gone")
    _, oid, version, topic, state = rows[0]
    if event_hash(snap.dialect.okey(oid), int(version), str(topic), bytes(state)) != leaf.event_hash:
        raise NotProvable(f"event {ref} (notification {leaf.notification_id}) no longer hashes to its chain "
                          "entry: the stored event was altered (run `arrimage audit verify`)")
    return leaf


def inclusion(record: Record, ref: EventRef | int, size: int | None = None) -> InclusionProof:
    """The inclusion proof of the event in the tree of `size` leaves (default: the whole tree now), with the
    store's root at that size; `NotProvable` when the event is not in that tree."""
    leaf = find_leaf(record, ref)
    head = _caught_up_to(record, leaf.index + 1 if size is None else size)
    n = head.size if size is None else size
    if leaf.index >= n:
        raise NotProvable(f"event {ref} is at position {leaf.index + 1:,}, after the tree of size {n:,} "
                          "(a later checkpoint holds it)")
    path, root = _read(record, n, lambda lookup: (merkle.inclusion_proof(lookup, leaf.index, n),
                                                  merkle.root_at(lookup, n)))
    proof = InclusionProof(leaf.index, n, leaf.notification_id, leaf.originator_id, leaf.originator_version,
                           leaf.event_hash, tuple(path), root)
    try:
        proof.verify()
    except merkle.MerkleProofError as e:
        raise NotProvable(f"the store's tree does not prove event {ref}: {e}") from None
    return proof


def _read(record: Record, size: int, work: Callable[[merkle.NodeLookup], T]) -> T:
    """`work` over the tree's nodes; a node the store no longer holds is `NotProvable`, named."""
    try:
        return record.audit_tree().read(work)
    except merkle.MissingNode as e:
        if e.level == 0:
            raise NotProvable(f"the chain no longer holds the event at position {e.start + 1}, which the tree of size "
                              f"{size:,} holds: events were removed (run `arrimage audit verify`)") from None
        raise NotProvable(f"the record's tree holds no node for positions {e.start + 1} to {e.start + (1 << e.level)}"
                          f" of the tree of size {size:,}: the tree tables were altered") from None


def root_at(record: Record, size: int) -> bytes:
    """The store's root of the tree of its first `size` events."""
    _caught_up_to(record, size)
    return _read(record, size, lambda lookup: merkle.root_at(lookup, size))


def consistency(record: Record, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 2.1.4 from the store's tree: that the tree of `new_size`
    extends that of `old_size` (checked by the caller against the two roots it trusts)."""
    if not 0 <= old_size <= new_size:
        raise NotProvable(f"no consistency proof from size {old_size:,} to size {new_size:,}")
    _caught_up_to(record, new_size)
    return _read(record, new_size, lambda lookup: merkle.consistency_proof(lookup, old_size, new_size))


# ------------------------------------------------------------------------------------------ signed checkpoints
def chain_head_of(head: TreeHead) -> ChainHead:
    """The chain head a tree checkpoint names (its ``arrimage-chain`` line), at the tree's size; `CheckpointError`
    when it names none or another size."""
    lines = [e for e in head.extensions if e.split(" ", 1)[0] == CHAIN_EXTENSION]
    parts = lines[0].split(" ") if len(lines) == 1 else []
    if (len(parts) != 4 or not parts[1].isdigit() or not parts[2].isdigit()
            or not re.fullmatch(r"[0-9a-f]{64}", parts[3])):
        raise CheckpointError(f"the checkpoint of size {head.size} names no chain head "
                              f"('{CHAIN_EXTENSION} <seq> <notification id> <chain hash hex>', once)")
    if int(parts[1]) != head.size:
        raise CheckpointError(f"the checkpoint of size {head.size} names the chain at position {parts[1]}")
    return ChainHead(int(parts[2]), int(parts[1]), parts[3])


def _log_verifiers(sid: str, ring: KeyRing, pinned_keys: Collection[str]) -> list[VerifierKey]:
    """The log keys a kept note may be signed by: every seed of the ring (a note signed before the active key
    changed still opens), only those a pinned key names when some are pinned."""
    pinned = frozenset(pinned_keys)
    return [log_key(sid, KeyRing(((kid, seed),))).verifier for kid, seed in ring.keys
            if not pinned or base64.b64encode(ed25519_public_key(seed)).decode() in pinned]


def _moment(head: TreeHead) -> str:
    times = [e.split(" ", 1)[1] for e in head.extensions if e.startswith(TIME_EXTENSION + " ")]
    return times[0] if times else "at an unknown time"


def resume_point(record: Record, note: bytes | str | Note, verifiers: Sequence[VerifierKey]) -> trail.Resume:
    """Where a pass resumes after a signed tree checkpoint, once it holds (else `CheckpointError`, naming it):
    its log signature verifies by one of `verifiers`; it names the chain head at its size; the tree caught up to
    at least its size; and the tree's stored frontier at its size folds to its *signed* root (if not, the tree
    was rewritten below it). The chain row it names is checked by the pass itself (`trail.verify`)."""
    opened: VerifiedCheckpoint | None = None
    why = "no log key configured"
    for vkey in verifiers:
        try:
            opened = open_tree_checkpoint(note, vkey)
            break
        except NoteError as e:
            why = str(e)
    if opened is None:
        raise ResumeRefused(f"the checkpoint to resume from does not open with this log's keys: {why}",
                            ProblemKind.BAD_SIGNATURE)
    head = opened.head
    who = f"the tree checkpoint of size {head.size:,} signed {_moment(head)}"
    try:
        chain = chain_head_of(head)
    except CheckpointError as e:
        raise ResumeRefused(f"will not resume from {who}: {e}", ProblemKind.BAD_SIGNATURE) from None
    tree = record.audit_tree()
    try:
        if tree.head().size < head.size:  # else its nodes at that size are read as stored, before any catch-up
            tree.catch_up(until=head.size)
        hashes = tree.read(lambda lookup: [lookup(s, lv) for s, lv in frontier(head.size)])
    except (TreeError, merkle.MissingNode) as e:
        raise ResumeRefused(f"will not resume from {who}: the record's tree does not hold it: {e}",
                            ProblemKind.CHECKPOINT_MISMATCH) from None
    if merkle.CompactRange(head.size, hashes).root() != head.root_hash:
        raise ResumeRefused(f"will not resume from {who}: the tree's stored nodes at that size do not give its "
                            "signed root: the tree was rewritten below it (the tree tables were altered)",
                            ProblemKind.CHECKPOINT_MISMATCH)
    return trail.Resume(chain, tuple(hashes), who)


def verify_since_note(
    record: Record,
    note: bytes | str | Note,
    ring: KeyRing | None = None,
    *,
    against: Sequence[Checkpoint] = (),
    pinned_keys: Collection[str] = (),
    jobs: int | None = None,
) -> VerifyReport:
    """`trail.verify` resumed from a tree checkpoint of this log (``audit verify --since-checkpoint NOTE``): its
    log signature by a key of the ring (a pinned one when ``pinned_keys``: the same Ed25519 key signs the JSON
    checkpoints), the chain from the head its ``arrimage-chain`` line signs, the tree's stored frontier at its
    size folding to its signed root; then only the events after it, their hashes folded on into the tree
    (`tree_root` in the report). A note refused is the report's problem (bad signature, or checkpoint mismatch
    for a tree rewritten below it). Events before it are the full verify's, as with a JSON checkpoint."""
    ring = ring or DEV_CHECKPOINT_KEYS
    try:
        resume = resume_point(record, note, _log_verifiers(_store_id(record), ring, pinned_keys))
    except ResumeRefused as e:
        return VerifyReport(ok=False, events_checked=0, head=None, store_id=trail.store_id(record),
                            problem=Problem(e.kind, None, None, None, None, str(e)),
                            trust=(trail.trust_basis(pinned_keys),))
    return trail.verify(record, against, checkpoint_keys=ring, pinned_keys=pinned_keys, tree=True, resume=resume,
                        jobs=jobs)


def kept_resume_point(record: Record, ring: KeyRing, pinned_keys: Collection[str] = ()) -> trail.Resume | None:
    """`resume_point` from the latest tree checkpoint the engine kept, when it opens with the configured keys;
    None when none is kept or it does not open (a full verify is then due). A kept note that opens but no longer
    holds (chain or tree rewritten below it) is refused, not skipped: the record is bound to what it signed."""
    kept = note_store(record).latest()
    if kept is None:
        return None
    verifiers = _log_verifiers(_store_id(record), ring, pinned_keys)
    if not any(_opens(kept, v) for v in verifiers):
        return None
    return resume_point(record, kept, verifiers)


def _kept_head(record: Record, ring: KeyRing, pinned_keys: Collection[str]) -> TreeHead | None:
    """The latest tree checkpoint the engine kept, when it opens with the configured (or pinned) keys."""
    kept = note_store(record).latest()
    if kept is None:
        return None
    for vkey in _log_verifiers(_store_id(record), ring, pinned_keys):
        try:
            return open_tree_checkpoint(kept, vkey).head
        except NoteError:
            continue
    return None


def _meets_kept(kept: TreeHead, report: VerifyReport) -> None:
    """A full signing is bound to the engine's own last note too: the tree of the first `kept.size` events the
    pass verified must have its signed root (else the history before it was rewritten since: a fork of the
    engine's own log, which only dropping the kept notes would hide)."""
    who = f"the tree checkpoint of size {kept.size:,} signed {_moment(kept)} (kept in the record)"
    seq = report.head.seq if report.head is not None else 0
    if seq < kept.size or report.frontier_at is None:
        raise CheckpointError(f"will not sign this store's tree: it holds {seq:,} events, fewer than {who}: "
                              "the tail was removed")
    root = merkle.CompactRange(kept.size, list(report.frontier_at[1])).root()
    if root != kept.root_hash:
        raise CheckpointError(f"will not sign this store's tree: its first {kept.size:,} verified events give root "
                              f"{root[:8].hex()}…, not the signed root of {who}: the history before it was "
                              "rewritten since (a fork of the engine's own log)")


def _opens(note: str, vkey: VerifierKey) -> bool:
    try:
        open_tree_checkpoint(note, vkey)
    except NoteError:
        return False
    return True


def sign_tree_checkpoint(
    record: Record,
    ring: KeyRing | None = None,
    *,
    now: datetime,
    against: Sequence[Checkpoint] = (),
    pinned_keys: Collection[str] = (),
    since: bytes | str | Note | None = None,
    full: bool = False,
) -> Note:
    """`sign_tree`'s note (see there)."""
    return sign_tree(record, ring, now=now, against=against, pinned_keys=pinned_keys, since=since, full=full).note


@dataclass(frozen=True)
class TreeSigning:
    """A signed tree checkpoint and the verify it was signed after (incremental or not: `report.since`, what it
    read: `report.rows_read`)."""

    note: Note
    report: VerifyReport


def sign_tree(
    record: Record,
    ring: KeyRing | None = None,
    *,
    now: datetime,
    against: Sequence[Checkpoint] = (),
    pinned_keys: Collection[str] = (),
    since: bytes | str | Note | None = None,
    full: bool = False,
) -> TreeSigning:
    """The C2SP checkpoint of the tree over the chain's head, signed by the log key and kept (`note_store`),
    only after:

    1. a verify passes: incremental from ``since`` (a tree checkpoint of this log; default the latest the engine
       kept, when it opens with the configured keys, or a pinned one's when ``pinned_keys``; see
       `resume_point`), else full (none kept, or ``full``): every event after the resume point rehashed, every
       chain link from the signed chain head on, the given and stored JSON checkpoints after it (``against``,
       ``pinned_keys``); the pass folds the verified event hashes into the tree's frontier at the head, the
       incremental one from the stored frontier that gave the resumed note's signed root; an empty store is
       refused;
    2. `_tree_agrees`: the stored tree's frontier at the head is that frontier.

    What an incremental signing does NOT check: the events before the resumed checkpoint (the full verify
    before it, and its signed chain hash and root, vouch for them; an event altered in place there is the
    next full verify's to find), nor inner tree nodes off the frontiers (a proof through one fails against the
    signed root). Its cost is the new events, and O(log n) look-ups.

    Extension lines: ``arrimage-chain <seq> <notification id> <chain hash hex>`` (the verified chain head the
    tree's size ends at) and ``arrimage-time <ISO 8601 UTC>``. `CheckpointError` says why when refused."""
    ring = ring or DEV_CHECKPOINT_KEYS
    resume: trail.Resume | None = None
    if since is not None:
        resume = resume_point(record, since, _log_verifiers(_store_id(record), ring, pinned_keys))
    elif not full:
        resume = kept_resume_point(record, ring, pinned_keys)
    kept = _kept_head(record, ring, pinned_keys) if resume is None else None
    report = trail.verify(record, against, checkpoint_keys=ring, pinned_keys=pinned_keys, tree=True, resume=resume,
                          capture=kept.size if kept is not None else None)
    if not report.ok or report.head is None:
        why = report.problem.describe() if report.problem else "the store is empty"
        raise CheckpointError(f"will not sign this store's tree: {why}")
    if kept is not None:
        _meets_kept(kept, report)
    assert report.frontier is not None
    return TreeSigning(_sign_tree_at(record, ring, now, report.head, report.frontier), report)


def checkpoint_with_note(
    record: Record,
    *,
    now: datetime,
    checkpoint_keys: KeyRing | None = None,
    against: Sequence[Checkpoint] = (),
    pinned_keys: Collection[str] = (),
) -> tuple[Checkpoint, Note]:
    """`trail.checkpoint` (full verify, JSON checkpoint signed and kept) and the tree's C2SP checkpoint at the
    very head it signed, after `_tree_agrees` with the frontier that verify folded: one read for both. (Full,
    not incremental: the JSON checkpoint's milestones are those of a whole pass.)"""
    ring = checkpoint_keys or DEV_CHECKPOINT_KEYS
    kept = _kept_head(record, ring, pinned_keys)

    def check(report: VerifyReport) -> None:
        if kept is not None:
            _meets_kept(kept, report)

    cp, report = trail.checkpoint_report(record, now=now, checkpoint_keys=ring, against=against,
                                         pinned_keys=pinned_keys, tree=True,
                                         capture=kept.size if kept is not None else None, check=check)
    assert report.frontier is not None
    return cp, _sign_tree_at(record, ring, now, ChainHead(cp.notification_id, cp.count, cp.chain_hash),
                             report.frontier)


def _sign_tree_at(record: Record, ring: KeyRing, now: datetime, head: ChainHead, verified: tuple[bytes, ...]) -> Note:
    sid = _store_id(record)
    root = _tree_agrees(record, head, verified)
    moment = now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    text = TreeHead(origin(sid), head.seq, root, (
        f"{CHAIN_EXTENSION} {head.seq} {head.notification_id} {head.chain_hash}",
        f"{TIME_EXTENSION} {moment}",
    ))
    note = sign_note_checkpoint(text, note_signer(log_key(sid, ring)))
    note_store(record).keep(head.seq, str(note), moment)
    return note


def _tree_agrees(record: Record, head: ChainHead, verified: tuple[bytes, ...]) -> bytes:
    """The tree's root at the verified head's size, once these hold (else `CheckpointError`):

    - the follower caught up to at least ``head.seq`` without a gap;
    - the stored frontier at ``head.seq`` (one node per set bit of the size) and the root the tree store serves
      for that size are exactly ``verified``, the frontier the verify pass folded from the event hashes of the
      chain rows it verified (at positions 1 … ``head.seq`` in order, under the verified chain hash), and its
      root: every stored node the root rests on is the one the verified chain gives."""
    tree = record.audit_tree()
    try:
        tree.catch_up(until=head.seq)
    except TreeError as e:
        raise CheckpointError(f"will not sign this store's tree: {e}") from None
    if tree.head().size < head.seq:
        raise CheckpointError(f"will not sign this store's tree: it holds {tree.head().size:,} of the "
                              f"{head.seq:,} verified events")
    try:
        stored_frontier, stored_root = tree.read(
            lambda lookup: ([lookup(s, lv) for s, lv in frontier(head.seq)], merkle.root_at(lookup, head.seq)))
    except merkle.MissingNode as e:
        raise CheckpointError(f"will not sign this store's tree: {e}") from None
    if stored_frontier != list(verified) or stored_root != merkle.CompactRange(head.seq, list(verified)).root():
        raise CheckpointError(f"will not sign this store's tree: its nodes for size {head.seq:,} are not the ones "
                              "the verified chain gives (the tree tables were altered)")
    return stored_root
