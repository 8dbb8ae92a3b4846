"""The audit trail's use cases: verify, checkpoint, shred. Thin, over one `Record`.

These are what the CLI (``arrimage audit verify|checkpoint|shred``) calls; they
format nothing. Keys arrive as `KeyRing`s built from settings at the entry
point; the development defaults of ``adapters.record.keys`` apply when none is
given (and the result says so in ``notes``). The moment of a signature or an
erasure comes from the caller (``now``): nothing here reads the wall clock but
the stopwatch of ``verify``'s throughput.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from adapters.record.keys import DEV_CHECKPOINT_KEYS, KeyRing, is_development
from adapters.record.listings import caught_up
from adapters.record.ranges import can_fork, in_ranges
from adapters.record.record import Record
from adapters.record.signing import (
    document_problem,
    sign_checkpoint,
    sign_document,
    signature_problem,
    trusted_public_keys,
)
from adapters.record.signing import pinned_key as pinned_key  # re-exported: the CLI imports no adapter
from adapters.record.sql import Dialect, Snapshot
from adapters.telemetry.metrics import engine as engine_metrics
from domain.audit.checkpoint import Checkpoint, CheckpointError
from domain.audit.erasure import SubjectErasure, check_erasable, erasure_id
from domain.audit.merkle import CompactRange
from domain.audit.verify import (
    ChainHead,
    Problem,
    ProblemKind,
    RangePass,
    Subtree,
    VerifyReport,
    good_before,
    merge_ranges,
    verify_joined,
    verify_range,
)
from domain.crisis.aggregate import CrisisCase
from domain.crisis.state import CaseStage
from domain.disclosure.register import register_id
from domain.episodes.aggregate import ServiceEpisode
from domain.errors import NotFound
from usecases.crisis import CrisisCases


@dataclass(frozen=True)
class Resume:
    """Where an incremental pass resumes that the caller already trusts (a C2SP note whose signature it checked,
    `usecases.audit.proofs`): the chain head the note names, the tree's frontier at its size (stored nodes that
    fold to its signed root) and how to name it in a problem."""

    head: ChainHead
    frontier: tuple[bytes, ...]
    who: str

    def subtrees(self) -> list[Subtree]:
        return [(n.start, n.level, n.hash) for n in CompactRange(self.head.seq, list(self.frontier)).nodes()]


def stored_checkpoints(record: Record) -> list[Checkpoint]:
    return [Checkpoint.from_json(body) for body in record.audit_store().stored_checkpoints()]


def store_id(record: Record) -> str | None:
    """The store's id, made once with the record and kept in it; every checkpoint of it names it."""
    return record.audit_store().store_id()


ENGINE_KEY_ONLY = (
    "checkpoint signatures checked against the engine's own key only (its configuration): "
    "pin the public key with --trusted-key"
)


def trust_basis(pinned_keys: Collection[str]) -> str:
    """The line that says what a checkpoint's signature was checked against."""
    n = len(set(pinned_keys))
    if not n:
        return ENGINE_KEY_ONLY
    return f"checkpoint signatures checked against {n} pinned public key{'s' if n > 1 else ''}"


def verify(
    record: Record,
    checkpoints: Sequence[Checkpoint] = (),
    *,
    checkpoint_keys: KeyRing | None = None,
    trusted_keys: Mapping[str, str] | None = None,
    pinned_keys: Collection[str] = (),
    include_stored: bool = True,
    page: int = 10_000,
    since: Checkpoint | None = None,
    jobs: int | None = None,
    min_range: int = 50_000,
    tree: bool = False,
    resume: Resume | None = None,
    capture: int | None = None,
) -> VerifyReport:
    """Recompute the whole chain; check it against the given and the stored signed checkpoints.

    ``since``: an incremental verify from that signed checkpoint (the last one a full verify passed, kept
    elsewhere). Its signature and store id are checked as any other's, then the chain row it signed must
    still be stored with its position and hash, and only the events after it are read and hashed (the
    report's `rows_read`, `since`). An event altered *before* the checkpoint is not seen by this pass: that
    is the full verify's job, to run on its own schedule.

    ``pinned_keys`` (base64 Ed25519 public keys the reader holds, `adapters.record.signing.pinned_key`): when
    given, a checkpoint is accepted only if one of them signed it, and nothing of the engine's configuration
    is trusted. Without them, the configured ring's public keys (plus ``trusted_keys``, key id → base64) are
    trusted, and `trust` says the signatures were checked against the engine's own key only.
    A checkpoint naming another store is refused (`other_store`); one made before store ids is compared by
    its head alone, with a line in `trust`.

    ``jobs`` (None: this machine's cores): the store is cut into that many ranges of notification ids, each
    verified in a process of its own from the chain row before it as stored (`verify_range`), and the ranges
    merged in notification order (`merge_ranges`): the report is the one pass's, the same first problem and
    counts. Ranges are no shorter than ``min_range`` notification ids (fewer ranges, or one pass, on a small
    store: a process is not worth it there); 1, an in-memory store or a system without ``fork``: one pass.

    ``tree``: the pass also folds the verified event hashes into the Merkle tree's frontier at the head (the
    report's `frontier`, `tree_root`), in the same read. ``resume``: an incremental pass from a head the caller
    trusts (`Resume`, instead of ``since``), the tree continuing from the frontier it gives. ``capture`` (with
    ``tree``): the report's `frontier_at` also gives the tree of the first ``capture`` events this pass verified.
    """
    if since is not None and resume is not None:
        raise ValueError("resume from a JSON checkpoint or from a note, not both")
    if tree and since is not None:
        raise ValueError("a JSON checkpoint holds no tree frontier: resume from a note (`Resume`) for the tree")
    ring = checkpoint_keys or DEV_CHECKPOINT_KEYS
    pinned = frozenset(pinned_keys)
    trusted = trusted_public_keys(ring, dict(trusted_keys or {}))
    all_cps = list(checkpoints) + (stored_checkpoints(record) if include_stored else [])
    sid = store_id(record)
    trust = [trust_basis(pinned)]
    for cp in ([since] if since is not None else []) + all_cps:
        who = f"checkpoint signed_at {cp.signed_at} by {cp.key_id!r}"
        why = signature_problem(cp, trusted, pinned)
        if why is not None:
            return _refused(ProblemKind.BAD_SIGNATURE, cp, f"{who}: {why}", trust, sid)
        if cp.store_id is None:
            trust.append(f"checkpoint {cp.key_id}@{cp.signed_at} names no store (made before store ids): "
                         "only its chain head was compared")
        elif cp.store_id != sid:
            return _refused(ProblemKind.OTHER_STORE, cp, f"{who} is of store {cp.store_id}; this store is {sid}",
                            trust, sid)
    started = time.perf_counter()
    audit = record.audit_store(page=page)
    with audit.snapshot() as snap:
        start: ChainHead | None = None
        anchor: Problem | None = None
        if since is not None:
            start = ChainHead(since.notification_id, since.count, since.chain_hash)
            anchor = _anchor_problem(start, f"signed checkpoint {since.key_id}@{since.signed_at}",
                                     snap.chain_head_at(since.notification_id))
        elif resume is not None:
            start = resume.head
            anchor = _anchor_problem(start, resume.who, snap.chain_head_at(start.notification_id))
        if start is not None and anchor is not None:
            return _count_run(VerifyReport(ok=False, events_checked=0, head=None, problem=anchor,
                                           trust=tuple(trust), store_id=sid, since=start))
        after = start.notification_id if start is not None else 0
        wanted = jobs if jobs is not None else os.cpu_count() or 1
        end, cuts = _cuts(snap, after, wanted, min_range) if wanted > 1 and can_fork(audit.dialect) else (0, [])
        first: list[Subtree] | None = (resume.subtrees() if resume is not None else []) if tree else None
        if not cuts:
            passes = _range_passes(snap, start, None, checkpoints=all_cps, good=(0, 0), final=True,
                                   milestones=start is None, subtrees=first, capture=capture)
            report = merge_ranges(passes, start=start, capture=capture)
            read = snap.rows_read
        else:
            report, others = _in_ranges(audit.dialect, snap, start, cuts, end, all_cps, first, capture)
            read = snap.rows_read + others
    notes = ("checkpoint keys are the public DEVELOPMENT default",) if is_development(ring) else ()
    _count_run(report)
    return replace(report, seconds=time.perf_counter() - started, notes=notes, trust=tuple(trust), store_id=sid,
                   rows_read=read)


def _cuts(snap: Snapshot, after: int, jobs: int, min_range: int) -> tuple[int, list[ChainHead]]:
    """Where ranges start, after the first: chain rows as stored, about evenly spaced in notification ids after
    `after` and no closer than `min_range`; with the last notification id of the snapshot (where the last ends)."""
    end = snap.last_nid()
    n = min(jobs, (end - after) // max(min_range, 1))
    cuts: list[ChainHead] = []
    for j in range(1, n):
        row = snap.chain_row_at_or_before(after + (end - after) * j // n)
        if row is not None and row[0] > (cuts[-1].notification_id if cuts else after):
            cuts.append(ChainHead(row[0], row[1], row[2].hex()))
    return end, cuts


def _in_ranges(dialect: Dialect, snap: Snapshot, start: ChainHead | None, cuts: list[ChainHead], end: int,
               checkpoints: Sequence[Checkpoint], first: list[Subtree] | None = None,
               capture: int | None = None) -> tuple[VerifyReport, int]:
    """The pass in ranges (`adapters.record.ranges`): range i from starts[i] up to the next cut (the last, to
    `end`), each given what the one pass would carry there (`good_before`); merged in notification order."""
    starts: list[ChainHead | None] = [start, *cuts]
    until = [c.notification_id for c in cuts] + [end]
    goods = [(0, 0)] + [good_before(checkpoints, c, since=start, nid_at=snap.nid_at_seq) for c in cuts]

    def check(s: Snapshot, i: int) -> list[RangePass]:
        return _range_passes(s, starts[i], until[i], checkpoints=checkpoints, good=goods[i], final=i == len(cuts),
                             milestones=start is None,
                             subtrees=None if first is None else first if i == 0 else [], capture=capture)

    parts, others = in_ranges(dialect, snap, len(starts), check, stop=lambda ps: ps[-1].problem is not None)
    return merge_ranges([p for ps in parts for p in ps], start=start, capture=capture), others


def _range_passes(s: Snapshot, lo: ChainHead | None, until: int | None, *, checkpoints: Sequence[Checkpoint],
                  good: tuple[int, int], final: bool, milestones: bool, subtrees: list[Subtree] | None,
                  capture: int | None) -> list[RangePass]:
    """One range, after `lo` up to `until` (None: the last), as `verify_range` checks it: the stored events joined
    with their chain rows (`verify_joined`, one stream), then, from the first row that does not pass, the two
    streams merged (`verify_range`, which names the problem). If the chain holds more rows than the events passed
    up to there (a chain row with no event: not in the join), the whole range is checked by `verify_range`.
    The range's passes in order, for `merge_ranges` (a range in two parts merges as two ranges)."""
    after = lo.notification_id if lo is not None else 0
    key = s.dialect.okey
    fast = verify_joined(s.joined_rows(after, until), s, start=lo, checkpoints=checkpoints, good=good, final=final,
                         milestones=milestones, key=key, subtrees=subtrees, capture=capture)
    part = fast.part
    passed = part.seq - (lo.seq if lo is not None else 0)
    if passed and s.chain_count(after, until if fast.done else part.last_nid) == passed:
        if fast.done:
            return [part]
        assert part.last_nid is not None
        head = ChainHead(part.last_nid, part.seq, part.chain_hash)
        rest = verify_range(s.event_rows(head.notification_id, until), s.chain_rows(head.notification_id, until), s,
                            start=head, checkpoints=checkpoints, good=fast.good, final=final, milestones=milestones,
                            key=key, subtrees=None if subtrees is None else [], capture=capture)
        return [part, rest]
    return [verify_range(s.event_rows(after, until), s.chain_rows(after, until), s, start=lo,
                         checkpoints=checkpoints, good=good, final=final, milestones=milestones, key=key,
                         subtrees=subtrees, capture=capture)]


def _anchor_problem(since: ChainHead, who: str, stored: tuple[int, bytes] | None) -> Problem | None:
    """An incremental verify resumes from the checkpoint's head only if the store still holds it as signed."""
    if stored is None:
        return Problem(ProblemKind.REMOVED, since.notification_id, None, None, None,
                       f"the event {who} ends at (notification {since.notification_id}) is no longer in the store")
    seq, chain_hash = stored
    if seq != since.seq or chain_hash.hex() != since.chain_hash:
        return Problem(ProblemKind.CHECKPOINT_MISMATCH, since.notification_id, None, None, None,
                       f"{who} says chain {since.chain_hash[:16]}… count {since.seq}; the store holds "
                       f"{chain_hash.hex()[:16]}… count {seq} there: events up to here were rewritten")
    return None


def _count_run(report: VerifyReport) -> VerifyReport:
    """One `audit verify` run in the engine's metrics, by result: ok, or the kind of the first problem."""
    result = "ok" if report.ok else str(report.problem.kind) if report.problem is not None else "failed"
    engine_metrics().add("arrimage.audit.verify_runs", result=result)
    return report


def _refused(kind: ProblemKind, cp: Checkpoint, detail: str, trust: list[str], sid: str | None) -> VerifyReport:
    return _count_run(VerifyReport(
        ok=False, events_checked=0, head=None, problem=Problem(kind, cp.notification_id, None, None, None, detail),
        trust=tuple(trust), store_id=sid,
    ))


def checkpoint(
    record: Record,
    *,
    now: datetime,
    checkpoint_keys: KeyRing | None = None,
    against: Sequence[Checkpoint] = (),
    pinned_keys: Collection[str] = (),
) -> Checkpoint:
    """Verify the whole store, then sign its head, keep a copy in the database and return it.

    Refuses (CheckpointError) to sign a store that does not verify or is empty:
    a signature must never bless tampering. ``against``: the last trusted
    checkpoints, kept elsewhere (checked with ``pinned_keys`` when given): the
    head is signed only if the store extends them, so a store rewritten and
    rechained since is refused, naming the checkpoint it no longer meets.
    ``now`` is the signature's moment.
    """
    return checkpoint_report(record, now=now, checkpoint_keys=checkpoint_keys, against=against,
                             pinned_keys=pinned_keys)[0]


def checkpoint_report(
    record: Record,
    *,
    now: datetime,
    checkpoint_keys: KeyRing | None = None,
    against: Sequence[Checkpoint] = (),
    pinned_keys: Collection[str] = (),
    tree: bool = False,
    capture: int | None = None,
    check: Callable[[VerifyReport], None] | None = None,
) -> tuple[Checkpoint, VerifyReport]:
    """`checkpoint`, with the report of the full verify it signed after (``tree``: with the tree's frontier,
    ``capture``: and at that size); ``check`` may refuse the report (raising) before anything is signed."""
    ring = checkpoint_keys or DEV_CHECKPOINT_KEYS
    report = verify(record, against, checkpoint_keys=ring, pinned_keys=pinned_keys, tree=tree, capture=capture)
    if not report.ok or report.head is None:
        why = report.problem.describe() if report.problem else "the store is empty"
        raise CheckpointError(f"will not sign this store's head: {why}")
    if check is not None:
        check(report)
    sid = report.store_id
    if sid is None:
        raise CheckpointError("will not sign this store's head: the store has no id (its audit_store row is gone)")
    head: ChainHead = report.head
    cp = sign_checkpoint(
        ring,
        notification_id=head.notification_id,
        count=head.seq,
        chain_hash=head.chain_hash,
        signed_at=now.isoformat(),
        store_id=sid,
        milestones=report.milestones,
    )
    record.audit_store().save_checkpoint(cp)
    return cp, report


def sign_manifest(ring: KeyRing | None, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """An export's manifest (JSON values) with its Ed25519 `signature`, by the checkpoint key."""
    return sign_document(ring or DEV_CHECKPOINT_KEYS, manifest)


def manifest_problem(
    manifest: Mapping[str, Any], ring: KeyRing | None = None, pinned_keys: Collection[str] = ()
) -> str | None:
    """None when the manifest's signature verifies by a pinned key (when any), else by the engine's own ring."""
    return document_problem(manifest, trusted_public_keys(ring or DEV_CHECKPOINT_KEYS), frozenset(pinned_keys))


@dataclass(frozen=True)
class ShredResult:
    subject_id: str
    erasure_id: str
    key_id: str | None
    already_recorded: bool
    residue: tuple[str, ...] = ()
    """What still holds a copy of the destroyed key in the store (a reader kept the log or a dead row version):
    one sentence each; empty when nothing the engine controls does. Shredding again finishes the job."""


def shred(
    record: Record, subject_id: str, by: str, reason: str, *, now: datetime, patience: float = 5.0
) -> ShredResult:
    """Erase a person's content: record ``SubjectShredded``, then destroy the key.

    The event comes first, so an erasure is never done without its record; a
    crash between the two leaves the key in place, and running shred again
    (idempotent: the erasure's id comes from the subject id) finishes the job.
    ``now`` is the moment the key store notes for the destruction.

    Then the store drops every copy of the key it holds (SQLite's write-ahead log, checkpointed and truncated;
    PostgreSQL's dead row version, vacuumed), waiting up to ``patience`` seconds for readers that hold an
    older version; what is left is in ``residue``. What the engine does not control — backups, WAL archives,
    replicas, file-system blocks — keeps the key until it expires (the README's backup horizon).
    """
    eid = erasure_id(subject_id)
    try:
        erasure: SubjectErasure = record.repository.get(eid)
        already = True
        key_id = erasure.key_id
    except AggregateNotFoundError:
        already = False
        key_id = record.subject_keys.current_key_id(subject_id)
        if not knows(record, subject_id):
            # An erasure is a fact about a person of the record: none is recorded for an id it never held
            # (a typo would otherwise leave a false erasure in the legal record, for decades).
            raise NotFound(f"the record holds nothing about person {subject_id}") from None
        check_erasable(subject_id, _open_cases(record, subject_id), _open_episodes(record, subject_id))
        record.save(SubjectErasure(subject_id=subject_id, key_id=key_id, by=by, reason=reason))
    record.subject_keys.destroy(subject_id, now.isoformat())
    residue = record.subject_keys.erase_traces(subject_id, patience=patience)
    return ShredResult(subject_id=subject_id, erasure_id=str(eid), key_id=key_id, already_recorded=already,
                       residue=residue)


def _open_cases(record: Record, subject_id: str, *, from_view: bool = True) -> list[str]:
    """The codes of the person's crisis cases not closed yet, from the record (their `Opened` events name the
    person in clear; the cases are loaded with the person's key, still alive). Which cases: the person's open ones
    on the listings view (`_person_open`); `from_view=False`, or no view: every `Opened` event scanned."""
    cases = CrisisCases(record)
    if (codes := _person_open(record, subject_id, "cases", from_view)) is not None:
        return [code for code in codes if cases.view(code).stage is not CaseStage.CLOSED]
    codes = [ev.case_code for ev in record.events_of(CrisisCase.Opened, sealed=True)  # type: ignore[attr-defined]
             if ev.subject_id == subject_id]
    return [code for code in codes if cases.view(code).stage is not CaseStage.CLOSED]


def _open_episodes(record: Record, subject_id: str, *, from_view: bool = True) -> list[str]:
    """The codes of the person's épisodes de services not closed yet (their `Opened` events name the person in
    clear; `EpisodeClosed` events say which are closed: nothing is loaded, nobody's content opened). From the
    listings view as `_open_cases`; `from_view=False`, or no view: the scan."""
    if (codes := _person_open(record, subject_id, "episodes", from_view)) is not None:
        return codes
    opened = ServiceEpisode.Opened  # type: ignore[attr-defined]
    closed = {ev.originator_id for ev in record.events_of(ServiceEpisode.EpisodeClosed, sealed=True)}  # type: ignore[attr-defined]
    return [ev.episode_code for ev in record.events_of(opened, sealed=True)
            if ev.subject_id == subject_id and ev.originator_id not in closed]


def _person_open(record: Record, subject_id: str, kind: str, from_view: bool) -> list[str] | None:
    """The person's cases (or épisodes) not closed, from the listings view caught up first: its rows keep each
    one's person from the `Opened` event (in clear, as the scan reads it) and a closed flag set by its closing
    event, so this is the scan's answer by an index on the person. The view rather than `case_subjects`: that
    table is written by the workflow client only (not for a case opened otherwise), is outside the hash chain,
    and knows neither épisodes' closing nor cases' closing. None: no view (asked, or none on this store)."""
    listings = caught_up(record) if from_view else None
    return listings.view.open_of(subject_id, kind) if listings is not None else None


@dataclass(frozen=True)
class RewrapResult:
    rewrapped: int
    residue: tuple[str, ...] = ()


def rewrap(record: Record, *, patience: float = 5.0) -> RewrapResult:
    """KEK rotation: every per-person key still wrapped by an older key-encryption key is wrapped by the
    active one (the first of ``ARRIMAGE_SUBJECT_KEKS``), and the old wrappings are dropped from the
    store's files as a shred's are. Afterwards the record opens with the new KEK alone: the old one may be
    removed from the ring (and destroyed once the backups that need it have expired). Idempotent."""
    count, residue = record.subject_keys.rewrap(patience=patience)
    return RewrapResult(rewrapped=count, residue=residue)


def knows(record: Record, subject_id: str) -> bool:
    """Whether the record holds anything about the person: content sealed with their key, their register of
    communications, or their erasure. What `audit register`, `accesses --person` and `shred` answer
    "not found" on."""
    if record.subject_keys.current_key_id(subject_id) is not None:
        return True
    for aggregate_id in (erasure_id(subject_id), register_id(subject_id)):
        try:
            record.repository.get(aggregate_id)
        except AggregateNotFoundError:
            continue
        return True
    return False
