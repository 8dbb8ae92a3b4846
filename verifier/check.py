"""The checks, in the order an auditor's own verifier should make them (verifier/README.md says why each).

1. Every trusted checkpoint read and its signature verified (`verifier.trusted`), before any row.
2. The rows streamed in order; for each: it is chained (has a position and hashes) and its event is stored; its
   position is the next one (1, 2, 3 … no gap, no repeat) and its notification id larger than the last; its event
   hash recomputed from the stored bytes; its aggregate back-pointer the notification of the same aggregate's last
   event (0 for the first) and its aggregate hash recomputed from that event's; its chain hash recomputed from the
   previous one. The first row that fails stops the pass, named (position, notification, aggregate, version,
   topic, what failed).
3. Its event hash appended as a leaf of the RFC 9162 Merkle tree (a compact range: O(log n) memory); at each
   position a trusted checkpoint speaks of, the tree's root and the chain hash compared with what it signed. A
   checkpoint not met does not stop the pass: the next ones narrow where the change lies, and one met further on
   shows the checkpoint not met is of another tree (a fork, or a split view).
4. At the end, a checkpoint beyond the last row: the record was cut (`truncated`).

Memory stays flat: the running hashes, the compact range, and the last (notification id, aggregate hash) of
recently seen aggregates, the others spilled to a temporary SQLite file (`AggregateHeads`).
"""

from __future__ import annotations

import base64
import sqlite3
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from domain.audit.hashing import ZERO, aggregate_hash, chain_hash, event_hash, originator_from_key
from domain.audit.merkle import EMPTY_ROOT, CompactRange, leaf_hash
from verifier.rows import BadInput, Malformed, Row, bundle_rows, open_copy
from verifier.segments import CACHE, MIN_SEGMENT, Start, default_jobs, fold, run_segments, stack_root
from verifier.since import Since, SinceRefused, chain_head, read_since
from verifier.trusted import Keys, Mark, SignatureFailure, Source, Trusted, read_trusted

MILESTONE_HEX = 16


class Kind(StrEnum):
    MALFORMED = "malformed"  # a row that cannot be read as the format says
    INSERTED = "inserted"  # a stored event the chain never recorded, or a position that comes again
    REMOVED = "removed"  # a chained event no longer stored, or positions missing
    REORDERED = "reordered"  # notification ids not ascending, or another event stored where the chain recorded one
    ALTERED = "altered"  # the stored event no longer hashes to the event hash chained
    CHAIN_ALTERED = "chain_altered"  # the events hash, but an aggregate link or chain hash was edited
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # the record differs from what a trusted checkpoint signed
    TRUNCATED = "truncated"  # the record ends before a trusted checkpoint's size
    BAD_SIGNATURE = "bad_signature"  # a trusted checkpoint whose signature fails, or by a key not given


@dataclass(frozen=True)
class Problem:
    kind: Kind
    detail: str
    seq: int | None = None
    notification_id: int | None = None
    aggregate_id: str | None = None
    version: int | None = None
    topic: str | None = None
    checkpoint: str | None = None
    between: tuple[int, int] | None = None
    """For a checkpoint not met with no event failing on its own: the change lies after the first position and at
    or before the second."""

    def describe(self) -> str:
        where = f"position {self.seq}" if self.seq is not None else (
            f"checkpoint {self.checkpoint}" if self.checkpoint else "the record")
        if self.notification_id is not None:
            where += f" (notification {self.notification_id}, aggregate {self.aggregate_id} v{self.version}, " \
                     f"{self.topic})"
        return f"{self.kind.value} at {where}: {self.detail}"


@dataclass(frozen=True)
class CheckpointResult:
    source: str
    kind: str  # note | json
    size: int
    status: str  # met | not_met | beyond (the record ends before it) | not_reached (a row failed before it)
    detail: str


@dataclass(frozen=True)
class Report:
    ok: bool
    events: int
    """Rows that passed every check, in order (the tree's size)."""
    root: str
    """Hex of the Merkle root of those rows' event hashes."""
    head: tuple[int, int, str] | None
    """(position, notification id, chain hash hex) of the last row that passed."""
    problem: Problem | None = None
    checkpoints: tuple[CheckpointResult, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    since: int = 0
    """An incremental pass (`--since`): the size of the trusted checkpoint it resumed from; positions up to it
    were not read (0: a full pass)."""

    @property
    def events_per_second(self) -> float:
        return (self.events - self.since) / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.problem is not None:
            d["problem"]["kind"] = self.problem.kind.value
        d["checkpoints"] = [asdict(c) for c in self.checkpoints]
        d["notes"] = list(self.notes)
        return d


class AggregateHeads:
    """(notification id, aggregate hash) of each aggregate's last event: the recent ones in memory, the others in
    a temporary SQLite file, so a record of millions of aggregates keeps memory flat."""

    def __init__(self, cache: int = 100_000) -> None:
        self.cache: OrderedDict[bytes, tuple[int, bytes]] = OrderedDict()
        self.size = cache
        self.spill: sqlite3.Connection | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def get(self, okey: bytes) -> tuple[int, bytes]:
        found = self.cache.get(okey)
        if found is not None:
            self.cache.move_to_end(okey)
            return found
        if self.spill is not None:
            row = self.spill.execute("SELECT nid, agg FROM heads WHERE okey = ?", (okey,)).fetchone()
            if row is not None:
                return int(row[0]), bytes(row[1])
        return 0, ZERO

    def put(self, okey: bytes, nid: int, agg: bytes) -> None:
        self.cache[okey] = (nid, agg)
        self.cache.move_to_end(okey)
        if len(self.cache) > self.size:
            old, (onid, oagg) = self.cache.popitem(last=False)
            if self.spill is None:
                self._dir = tempfile.TemporaryDirectory(prefix="verifier-")
                self.spill = sqlite3.connect(Path(self._dir.name) / "heads.sqlite")
                self.spill.execute("CREATE TABLE heads (okey BLOB PRIMARY KEY, nid INTEGER, agg BLOB)")
            self.spill.execute("INSERT OR REPLACE INTO heads VALUES (?, ?, ?)", (old, onid, oagg))

    def close(self) -> None:
        if self.spill is not None:
            self.spill.close()
        if self._dir is not None:
            self._dir.cleanup()


def _at(kind: Kind, row: Row, detail: str, seq: int | None = None) -> Problem:
    return Problem(kind, detail, seq if seq is not None else row.seq, row.notification_id, row.aggregate,
                   row.version, row.topic)


class Heads(Protocol):
    def get(self, okey: bytes) -> tuple[int, bytes]:
        """(notification id, aggregate hash) of the aggregate's last event before this row; (0, ZERO) if none."""


def row_problem(row: Row, position: int, last_nid: int, heads: Heads, prev_chain: bytes,
                following: Row | Malformed | None) -> tuple[Problem | None, bytes, bytes]:
    """The first check this row fails (None) and its recomputed (aggregate hash, chain hash)."""
    none = (b"", b"")
    if row.seq is None or row.event_hash is None or row.aggregate_hash is None or row.chain_hash is None \
            or row.prev_nid is None:
        return _at(Kind.INSERTED, row, "the chain never recorded this event (no chain row for it)", position), *none
    if row.seq > position and isinstance(following, Row) and following.seq == position:
        return _at(Kind.REORDERED, row, f"position {row.seq} comes before position {position} (rows swapped)",
                   position), *none
    if row.seq > position:
        gone = f"position {position}" if row.seq == position + 1 else f"positions {position} to {row.seq - 1}"
        return _at(Kind.REMOVED, row, f"expected position {position}, found {row.seq}: {gone} missing "
                                      "(events removed, or moved further on)", position), *none
    if row.seq < position:
        return _at(Kind.INSERTED, row, f"expected position {position}, found {row.seq} again (a row inserted or "
                                       "moved)", position), *none
    if row.notification_id <= last_nid:
        return _at(Kind.REORDERED, row, f"notification {row.notification_id} comes after notification {last_nid} "
                                        "(notification ids must ascend)"), *none
    if row.chained is not None:
        return _at(Kind.REORDERED, row, f"the chain recorded aggregate {originator_from_key(row.chained[0])} "
                                        f"v{row.chained[1]} at this notification; another event is stored there"), *none
    if row.state is None:
        return _at(Kind.REMOVED, row, "the chain recorded this event; it is no longer stored"), *none
    eh = event_hash(row.okey, row.version, row.topic, row.state)
    if eh != row.event_hash:
        return _at(Kind.ALTERED, row, f"its stored bytes hash to {eh.hex()}, the chain recorded {row.event_hash.hex()} "
                                      "(state, topic or identity edited)"), *none
    prev_nid, prev_agg = heads.get(row.okey)
    if row.prev_nid != prev_nid:
        return _at(Kind.CHAIN_ALTERED, row, f"its aggregate's previous event is recorded as notification "
                                            f"{row.prev_nid}; in this record it is {prev_nid or 'none (0)'}"), *none
    agg = aggregate_hash(prev_agg, eh)
    if agg != row.aggregate_hash:
        return _at(Kind.CHAIN_ALTERED, row, f"aggregate hash recomputed {agg.hex()}, recorded "
                                            f"{row.aggregate_hash.hex()}"), *none
    ch = chain_hash(prev_chain, position, row.notification_id, row.prev_nid, eh, agg)
    if ch != row.chain_hash:
        return _at(Kind.CHAIN_ALTERED, row, f"chain hash recomputed {ch.hex()}, recorded {row.chain_hash.hex()}"), \
            *none
    return None, agg, ch


@dataclass
class _Tally:
    """What each trusted checkpoint's marks gave, and every mark met or not, in position order."""

    trusted: Sequence[Trusted]
    failed: dict[str, tuple[Mark, str]] = field(default_factory=dict)  # source -> first mark not met, why
    met: list[tuple[int, str]] = field(default_factory=list)  # (position, source) of marks met
    missed: list[tuple[int, str, Row | None]] = field(default_factory=list)  # (position, source, row there)

    def check(self, position: int, marks: list[tuple[Trusted, Mark]], root: bytes, chain: bytes,
              row: Row | None) -> None:
        for t, mark in marks:
            why = _mark_problem(mark, root, chain, row)
            if why is None:
                self.met.append((position, t.source))
            else:
                self.missed.append((position, t.source, row))
                self.failed.setdefault(t.source, (mark, why))


def _mark_problem(mark: Mark, root: bytes, chain: bytes, row: Row | None) -> str | None:
    expected = mark.expected.hex() if isinstance(mark.expected, bytes) else mark.expected
    if mark.what == "root":
        return None if root == mark.expected else (
            f"the Merkle root of the first {mark.position} events is {root.hex()}; it signed "
            f"{expected}")
    if mark.what == "milestone":
        return None if chain.hex()[:MILESTONE_HEX] == expected else (
            f"its milestone at position {mark.position} is {expected}…; the chain there is "
            f"{chain.hex()[:MILESTONE_HEX]}…")
    nid = row.notification_id if row is not None else 0
    if mark.notification_id is not None and nid != mark.notification_id:
        return f"it signed notification {mark.notification_id} at position {mark.position}; the record has {nid}"
    return None if chain == mark.expected else (
        f"the chain hash at position {mark.position} is {chain.hex()}; it signed {expected}")


def _schedule(trusted: Sequence[Trusted]) -> dict[int, list[tuple[Trusted, Mark]]]:
    schedule: dict[int, list[tuple[Trusted, Mark]]] = {}
    for t in trusted:
        for mark in t.marks:
            schedule.setdefault(mark.position, []).append((t, mark))
    return schedule


def check_rows(rows: Iterable[Row], trusted: Sequence[Trusted] = (), *, cache: int = 100_000) -> Report:
    """Steps 2 to 4 over rows in order, against checkpoints whose signatures were verified; `cache`: aggregates
    kept in memory (the others spilled to disk)."""
    schedule = _schedule(trusted)
    tally = _Tally(trusted)
    compact = CompactRange()
    heads = AggregateHeads(cache)
    if 0 in schedule:
        tally.check(0, schedule[0], EMPTY_ROOT, ZERO, None)
    position, last_nid, prev = 0, 0, ZERO
    head: tuple[int, int, str] | None = None
    problem: Problem | None = None
    try:
        stream = _guarded(rows)
        following = next(stream, None)
        while following is not None:
            row, following = following, next(stream, None)
            if isinstance(row, Malformed):
                problem = Problem(Kind.MALFORMED, str(row), position + 1)
                break
            found, agg, ch = row_problem(row, position + 1, last_nid, heads, prev, following)
            if found is not None:
                problem = found
                break
            position += 1
            heads.put(row.okey, row.notification_id, agg)
            last_nid, prev = row.notification_id, ch
            compact.append_leaf_hash(leaf_hash(row.event_hash or b""))
            if position in schedule:
                tally.check(position, schedule[position], compact.root(), ch, row)
    finally:
        heads.close()
    if position:
        head = (position, last_nid, prev.hex())
    results, first = _results(trusted, tally, position, problem)
    return Report(ok=problem is None and first is None, events=position, root=compact.root().hex(), head=head,
                  problem=first or problem, checkpoints=results)


def _guarded(rows: Iterable[Row]) -> Iterator[Row | Malformed]:
    """The rows, a malformed one handed over as a value (its line named) instead of raised past the loop."""
    it = iter(rows)
    while True:
        try:
            row = next(it)
        except StopIteration:
            return
        except Malformed as e:
            yield e
            return
        yield row


def _results(trusted: Sequence[Trusted], tally: _Tally, events: int, problem: Problem | None,
             since: int = 0) -> tuple[tuple[CheckpointResult, ...], Problem | None]:
    """Each checkpoint's verdict, and the checkpoint problem to report when no row failed before it."""
    out: list[CheckpointResult] = []
    stop = problem.seq if problem is not None and problem.seq is not None else None
    for t in trusted:
        if t.size < since and t.source not in tally.failed:
            out.append(CheckpointResult(t.source, t.kind, t.size, "before_since",
                                        f"it covers {t.size} events, fewer than the --since checkpoint's {since}: "
                                        "not checked by an incremental pass"))
        elif t.source in tally.failed:
            _mark, why = tally.failed[t.source]
            out.append(CheckpointResult(t.source, t.kind, t.size, "not_met", why))
        elif stop is not None and t.size >= stop:
            out.append(CheckpointResult(t.source, t.kind, t.size, "not_reached",
                                        f"a row fails at position {stop}, before its size {t.size}"))
        elif t.size > events:
            out.append(CheckpointResult(t.source, t.kind, t.size, "beyond",
                                        f"it covers {t.size} events; the record ends after {events}"))
        else:
            said = "root" + (" and chain" if any(m.what == "chain" for m in t.marks) else "") if t.kind == "note" \
                else "chain head" + (" and milestones" if len(t.marks) > 1 else "")
            out.append(CheckpointResult(t.source, t.kind, t.size, "met", f"{said} as signed"))
    first: Problem | None = None
    if tally.missed:
        b, source, row = min(tally.missed, key=lambda m: m[0])
        if problem is None or (problem.seq is not None and b < problem.seq):
            first = _mismatch(b, source, row, tally)
    if first is None and problem is None:
        beyond = [r for r in out if r.status == "beyond"]
        if beyond:
            r = min(beyond, key=lambda r: r.size)
            first = Problem(Kind.TRUNCATED, f"checkpoint {r.source} covers {r.size} events; the record ends after "
                                            f"{events}: events {events + 1} to {r.size} were cut",
                            checkpoint=r.source)
    return tuple(out), first


def _mismatch(b: int, source: str, row: Row | None, tally: _Tally) -> Problem:
    _, why = tally.failed[source]
    a = max((p for p, _ in tally.met if p < b), default=0)
    later = sorted({s for p, s in tally.met if p >= b and s != source})
    where = (f"the change is at position {b}" if a == b - 1 else
             f"the change lies after position {a} ({'the last position a checkpoint met' if a else 'the start'}) "
             f"and at or before position {b}; more checkpoints (--against) narrow it")
    detail = f"{why}. No row fails on its own (hashes recomputed consistently): {where}"
    if later:
        detail += (f". Yet {', '.join(later)}, at or past position {b}, is met: this checkpoint is of another tree "
                   "than theirs (the log signed a fork, or showed a split view)")
    exact = row is not None and a == b - 1
    return Problem(Kind.CHECKPOINT_MISMATCH, detail, b if exact else None,
                   row.notification_id if exact and row else None, row.aggregate if exact and row else None,
                   row.version if exact and row else None, row.topic if exact and row else None,
                   checkpoint=source, between=(a, b))


def _trusted(against: Sequence[str | Source], keys: Keys) -> tuple[list[Trusted], Problem | None]:
    out: list[Trusted] = []
    for i, item in enumerate(against, 1):
        source = item if isinstance(item, Source) else Source(f"#{i}", item)
        try:
            out.append(read_trusted(source, keys))
        except SignatureFailure as e:
            return out, Problem(Kind.BAD_SIGNATURE, e.message, checkpoint=e.source)
    return out, None


def verify(rows: Iterable[Row], against: Sequence[str | Source], log_keys: Sequence[str]) -> Report:
    """Step 1, then the rows. `BadInput` for a key or checkpoint that cannot be read."""
    started = time.perf_counter()
    trusted, refused = _trusted(against, Keys.parse(list(log_keys)))
    if refused is not None:
        return Report(ok=False, events=0, root=EMPTY_ROOT.hex(), head=None, problem=refused)
    report = check_rows(rows, trusted)
    notes = () if trusted else ("no trusted checkpoint given: the record is only shown consistent with itself, "
                                "which anyone who rewrites it and recomputes every hash can achieve",)
    return Report(**{**report.__dict__, "notes": notes, "seconds": time.perf_counter() - started})


def verify_bundle(directory: str | Path, against: Sequence[str | Source], log_keys: Sequence[str]) -> Report:
    """An export bundle's record.jsonl checked against trusted checkpoints (note or JSON texts, or `Source`s)."""
    return verify(bundle_rows(Path(directory)), against, log_keys)


def since_note(since: str | Source, keys: Keys) -> tuple[Source, Trusted | Problem]:
    """The checkpoint note `--since` names (a database copy's or a bundle's), read: its signature checked (a
    `BAD_SIGNATURE` problem when it fails) and its chain head read; `BadInput` when it is not such a note."""
    source = since if isinstance(since, Source) else Source("--since", since)
    try:
        old = read_trusted(source, keys)
    except SignatureFailure as e:
        return source, Problem(Kind.BAD_SIGNATURE, e.message, checkpoint=e.source)
    if old.kind != "note":
        raise BadInput(f"{source.name}: --since takes a checkpoint note (its signed root gives the tree)")
    try:
        chain_head(old)
    except ValueError as e:
        raise BadInput(str(e)) from None
    return source, old


def verify_database(path: str | Path, against: Sequence[str | Source], log_keys: Sequence[str], *,
                    text_ids: bool = False, jobs: int | None = None, since: str | Source | None = None,
                    cache: int = CACHE, min_segment: int = MIN_SEGMENT) -> Report:
    """A SQLite copy of the record (tables stored_events and audit_chain) checked the same way, in `jobs` segments
    of notification ids (`verifier.segments`; default: the cores, at most 4) with the same verdicts as one pass.
    `since`: a checkpoint note verified before; only the events after its size are checked (`verifier.since`).
    `cache`: aggregates a segment keeps in memory; `min_segment`: notification ids a segment process is given at
    least (fewer jobs on a short range)."""
    started = time.perf_counter()
    keys = Keys.parse(list(log_keys))
    trusted, refused = _trusted(against, keys)
    if refused is not None:
        return Report(ok=False, events=0, root=EMPTY_ROOT.hex(), head=None, problem=refused)
    resume: Since | None = None
    conn = open_copy(Path(path))
    try:
        if since is not None:
            source, old = since_note(since, keys)
            if isinstance(old, Problem):
                return Report(ok=False, events=0, root=EMPTY_ROOT.hex(), head=None, problem=old)
            try:
                resume = read_since(conn, old)
            except ValueError as e:
                raise BadInput(str(e)) from None
            except SinceRefused as e:
                return Report(ok=False, events=0, root=EMPTY_ROOT.hex(), head=None,
                              problem=Problem(Kind.CHECKPOINT_MISMATCH, str(e), checkpoint=source.name))
    finally:
        conn.close()
    report = check_database(Path(path), trusted, text_ids=text_ids, jobs=jobs or default_jobs(), since=resume,
                            cache=cache, min_segment=min_segment)
    notes = [] if trusted else ["no trusted checkpoint given: the record is only shown consistent with itself, "
                                "which anyone who rewrites it and recomputes every hash can achieve"]
    if resume is not None:
        notes.append(f"incremental: events 1 to {resume.size:,} were not read; they are as {resume.source} "
                     f"signed them when it was verified (frontier {resume.how})")
    return Report(**{**report.__dict__, "notes": tuple(notes), "seconds": time.perf_counter() - started})


def check_database(path: Path, trusted: Sequence[Trusted] = (), *, text_ids: bool = False, jobs: int = 1,
                   since: Since | None = None, cache: int = CACHE, min_segment: int = MIN_SEGMENT) -> Report:
    """Steps 2 to 4 over a database copy, in segments (`verifier.segments`), from the start or from `since`."""
    schedule = _schedule(trusted)
    tally = _Tally(trusted)
    if since is None:
        start, stack = Start(0, 0, ZERO), []
        if 0 in schedule:
            tally.check(0, schedule[0], EMPTY_ROOT, ZERO, None)
    else:
        start, stack = Start(since.size, since.notification_id, since.chain), list(since.frontier)
        tally.met.append((since.size, since.source))  # where a later checkpoint's change can begin
        if since.size in schedule:
            head = Row(0, since.size, since.notification_id, b"", 0, "", None, None, None, None, since.chain)
            tally.check(since.size, schedule[since.size], since.root, since.chain, head)
    marks = frozenset(p for p in schedule if p > start.position)
    problem: Problem | None = None
    segments = run_segments(path, text_ids, start, marks, jobs, cache, min_segment)
    for seg in segments:
        for m in seg.marks:
            at = list(stack)
            for node in m.stack:
                fold(at, node)
            tally.check(m.position, schedule[m.position], stack_root(at), m.chain, m.row)
        for node in seg.stack:
            fold(stack, node)
        if seg.problem is not None:
            problem = seg.problem
            break
    last = segments[-1]
    position, last_nid, prev = last.position, last.last_nid, last.chain
    results, first = _results(trusted, tally, position, problem, since.size if since is not None else 0)
    return Report(ok=problem is None and first is None, events=position, root=stack_root(stack).hex(),
                  head=(position, last_nid, prev.hex()) if position else None,
                  problem=first or problem, checkpoints=results, since=since.size if since is not None else 0)


def render(report: Report, what: str) -> list[str]:
    """The report in words, one finding a line."""
    lines: list[str] = []
    if report.ok:
        root = base64.b64encode(bytes.fromhex(report.root)).decode()
        which = f"{report.events:,} events" if not report.since else \
            f"events {report.since + 1:,} to {report.events:,} ({report.events - report.since:,} new)"
        lines.append(f"verified {which} of {what} ({report.events_per_second:,.0f}/s); "
                     f"Merkle root {root} (as a checkpoint note writes it)")
    elif report.problem is not None:
        lines.append(f"TAMPERING {report.problem.describe()}")
    for c in report.checkpoints:
        lines.append(f"checkpoint {c.source} ({c.kind}, size {c.size:,}): {c.status.replace('_', ' ')}: {c.detail}")
    lines.extend(report.notes)
    return lines
