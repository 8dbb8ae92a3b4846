"""An export bundle checked incrementally (`--bundle DIR --since OLD.note`): only the lines after the note's size.

`record.jsonl` has one line per row in ascending notification id, so a line is found by bisecting the file's
bytes (O(log n) short reads: seek, skip to the next line start, read its `seq` or `notification_id`), not by
reading what comes before it. What is read, and from where (verifier/README.md §7 says what it trusts):

- from **the note** (signature verified by the log key, `arrimage-chain` at its size): the size m, its root, and
  the notification id and chain hash the first new event chains from;
- the **frontier** of the tree at m (one subtree hash per set bit of m): the subtrees of 2^10 leaves and more from
  the bundle's `tree.json` (written by `arrimage audit export`: every perfect subtree of level >= 10, untrusted),
  the smaller ones from the event hashes of the at most 1,023 lines before the note's position. Without
  `tree.json`, or if those nodes do not fold to the note's root, every leaf 1..m is recomputed from the lines'
  recorded event hashes (a scan of the file's prefix, no content decoded). Either is used only if it folds to
  the note's signed root (another frontier that does would be a SHA-256 collision);
- the bundle's line at position m must hold the note's notification id and chain hash, else it was rewritten at
  or before it;
- the new lines, each checked as in a full pass (`check.row_problem`: the same checks, in the same order, in the
  same words); an aggregate's previous event before the note is the line at the notification id the new row
  names (found by bisection), its aggregate hash as stored.

Limits (beyond those of the database's `--since`): the bundle has no index of aggregates, so a new row that says
its aggregate had no earlier event, or names an earlier event of it that is not its last, is taken at its word
for events before the note: such a rewrite (hashes recomputed) changes the chain head, which a newer trusted
checkpoint (`--against`) then does not meet. Lines are numbered from the note's position (line k holds position k
in any bundle that verified in full up to the note).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import IO, Any

from domain.audit.hashing import ZERO
from domain.audit.merkle import EMPTY_ROOT, CompactRange
from verifier.check import (
    AggregateHeads,
    Kind,
    Problem,
    Report,
    _guarded,
    _results,
    _schedule,
    _Tally,
    _trusted,
    row_problem,
    since_note,
)
from verifier.rows import RECORD, BadInput, Malformed, Row, _hash, _okey, parse_line
from verifier.segments import Subtree, fold, frontier, stack_root
from verifier.since import SinceRefused, chain_head
from verifier.trusted import Keys, Source, Trusted

TREE = "tree.json"
TREE_FORMAT = "arrimage-tree-nodes/1"
TREE_LEVEL = 10  # tree.json holds the subtrees of 2^10 leaves and more: n/512 hashes for n events

_SEQ = re.compile(rb'"seq"\s*:\s*(\d+)')
_NID = re.compile(rb'"notification_id"\s*:\s*(\d+)')
_EVENT_HASH = re.compile(rb'"event_hash"\s*:\s*"([0-9a-f]{64})"')
_CHAIN_HASH = re.compile(rb'"chain_hash"\s*:\s*"([0-9a-f]{64})"')


def tree_nodes(event_hashes: Iterable[bytes], level: int = TREE_LEVEL) -> dict[str, Any]:
    """The content of `tree.json` for the leaves of these event hashes (in position order): every perfect aligned
    subtree of `level` leaves or more, by level, in order of start (the i-th of level l starts at leaf i * 2^l)."""
    compact = CompactRange()
    nodes: dict[str, list[str]] = {}
    for eh in event_hashes:
        for node in compact.append_leaf_hash(sha256(b"\x00" + eh).digest()):
            if node.level >= level:
                nodes.setdefault(str(node.level), []).append(node.hash.hex())
    return {"format": TREE_FORMAT, "level": level, "size": compact.size, "nodes": nodes}


def record_event_hashes(lines: Iterable[bytes]) -> Iterator[bytes]:
    """The event hashes of the chained lines of record.jsonl, in order (for `tree_nodes` at export)."""
    for line in lines:
        found = _EVENT_HASH.search(line)
        if found is not None:
            yield bytes.fromhex(found.group(1).decode())


@dataclass(frozen=True)
class Resume:
    size: int
    notification_id: int
    chain: bytes
    root: bytes
    stack: tuple[Subtree, ...]
    offset: int  # where the first new line starts
    how: str


class _File:
    """record.jsonl read in binary, bisected on a key of its lines (both ascend in a bundle as exported)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.f = handle
        self.end = os.fstat(handle.fileno()).st_size

    def _probe(self, offset: int, key: re.Pattern[bytes]) -> tuple[int, int, int] | None:
        """(start, end, key value) of the first line starting at or after `offset` that holds the key."""
        f = self.f
        if offset > 0:
            f.seek(offset - 1)
            f.readline()  # to the next line start (`offset` itself when a line starts there)
        else:
            f.seek(0)
        while True:
            start = f.tell()
            line = f.readline()
            if not line:
                return None
            found = key.search(line)
            if found is not None:
                return start, start + len(line), int(found.group(1))

    def find(self, key: re.Pattern[bytes], target: int) -> tuple[int, bytes] | None:
        """(start, text) of the first line whose key is >= target, if its key is the target."""
        lo, hi = 0, self.end
        while lo < hi:
            mid = (lo + hi) // 2
            p = self._probe(mid, key)
            if p is None or p[2] >= target:
                hi = mid
            else:
                lo = p[1]
        p = self._probe(lo, key)
        if p is None or p[2] != target:
            return None
        self.f.seek(p[0])
        return p[0], self.f.readline()


class _BundleHeads(AggregateHeads):
    """The aggregates seen since the note (in memory, spilled to disk past `cache`), else the line at the
    notification id the row names, if it is at or before the note's and of the same aggregate."""

    def __init__(self, file: _File, before: int) -> None:
        super().__init__()
        self.file, self.before = file, before
        self.claim = 0

    def get(self, okey: bytes) -> tuple[int, bytes]:
        nid, agg = super().get(okey)
        if nid or not self.claim or self.claim > self.before:
            return nid, agg
        found = self.file.find(_NID, self.claim)
        if found is None:
            return 0, ZERO
        try:  # its identity and aggregate hash only: the state of an event before the note is not decoded
            obj = json.loads(found[1])
            if type(obj) is not dict or obj.get("seq") is None or _okey(obj, 0) != okey:
                return 0, ZERO
            return self.claim, _hash(obj, "aggregate_hash", 0)
        except (ValueError, Malformed):
            return 0, ZERO


def _read_tree(directory: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((directory / TREE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if type(doc) is not dict or doc.get("format") != TREE_FORMAT or type(doc.get("level")) is not int \
            or type(doc.get("nodes")) is not dict or doc["level"] < 1:
        return None
    return doc


def _from_tree(doc: dict[str, Any], size: int) -> list[Subtree] | None:
    """The frontier's subtrees of level >= the file's level (they cover leaves [0, size rounded down))."""
    out: list[Subtree] = []
    for start, level in frontier(size):
        if level < doc["level"]:
            break
        column = doc["nodes"].get(str(level))
        i = start >> level
        if type(column) is not list or i >= len(column) or type(column[i]) is not str:
            return None
        try:
            h = bytes.fromhex(column[i])
        except ValueError:
            return None
        if len(h) != 32:
            return None
        out.append((start, level, h))
    return out


def resume(file: _File, directory: Path, t: Trusted) -> Resume:
    """Where the new lines start, and the tree's frontier at the note's size; `SinceRefused` when the bundle does
    not hold the note's head, or no frontier read from it folds to the note's root."""
    root = next(m.expected for m in t.marks if m.what == "root")
    assert isinstance(root, bytes)
    nid, chain = chain_head(t)
    m = t.size
    if m == 0:
        return Resume(0, 0, ZERO, root, (), 0, "the empty tree")
    doc = _read_tree(directory)
    tries: list[tuple[list[Subtree], int, str]] = []
    if doc is not None:
        high = _from_tree(doc, m)
        if high:  # none when m < 2^level: the fallback below is then the same read
            tries.append((high, m >> doc["level"] << doc["level"], f"{TREE} and the last lines before it"))
    tries.append(([], 0, "recomputed from the lines' recorded event hashes"))
    for stack, a, how in tries:
        b = min(a, m - 1)  # the line at position m is read even when the file's nodes cover every leaf
        first = file.find(_SEQ, b + 1)
        if first is None:
            continue
        file.f.seek(first[0])
        stack = list(stack)
        head: bytes | None = None
        for position in range(b + 1, m + 1):
            line = file.f.readline()
            s, eh = _SEQ.search(line), _EVENT_HASH.search(line)
            if s is None or eh is None or int(s.group(1)) != position:
                break
            if position > a:
                fold(stack, (position - 1, 0, sha256(b"\x00" + bytes.fromhex(eh.group(1).decode())).digest()))
            if position == m:
                head = line
        if head is None or stack_root(stack) != root:
            continue
        at_nid, at_chain = _NID.search(head), _CHAIN_HASH.search(head)
        held = (int(at_nid.group(1)) if at_nid else None, at_chain.group(1).decode() if at_chain else None)
        if held != (nid, chain.hex()):
            raise SinceRefused(
                f"it signs position {m} and chain hash {chain.hex()} at notification {nid}; the bundle holds "
                f"notification {held[0]}, chain hash {held[1]} at position {m}: the record was rewritten at or "
                "before it (a full pass names where)")
        return Resume(m, nid, chain, root, tuple(stack), file.f.tell(), how)
    raise SinceRefused(
        f"the event hashes its lines record for the first {m} events do not give its signed root {root.hex()}: "
        "a line below it was edited or is missing, or the note is of another tree")


def _lines(handle: IO[bytes], offset: int, first_line: int) -> Iterator[Row]:
    handle.seek(offset)
    for n, text in enumerate(handle, first_line):
        if not text.endswith(b"\n"):
            raise Malformed(n, "the last line does not end with a newline (the file was cut)")
        yield parse_line(text, n)


def check_since(file: _File, lines: IO[bytes], start: Resume, trusted: Sequence[Trusted], source: str) -> Report:
    """Steps 2 to 4 of a full pass (`check.check_rows`) over the lines after `start`, from its chain head and
    frontier."""
    schedule = _schedule(trusted)
    tally = _Tally(trusted)
    tally.met.append((start.size, source))  # where a later checkpoint's change can begin
    if start.size in schedule:
        head_row = Row(0, start.size, start.notification_id, b"", 0, "", None, None, None, None, start.chain)
        tally.check(start.size, schedule[start.size], start.root, start.chain, head_row)
    stack = list(start.stack)
    heads = _BundleHeads(file, start.notification_id)
    position, last_nid, prev = start.size, start.notification_id, start.chain
    problem: Problem | None = None
    try:
        stream = _guarded(_lines(lines, start.offset, start.size + 1))
        following = next(stream, None)
        while following is not None:
            row, following = following, next(stream, None)
            if isinstance(row, Malformed):
                problem = Problem(Kind.MALFORMED, str(row), position + 1)
                break
            heads.claim = row.prev_nid or 0
            found, agg, ch = row_problem(row, position + 1, last_nid, heads, prev, following)
            if found is not None:
                problem = found
                break
            heads.put(row.okey, row.notification_id, agg)
            fold(stack, (position, 0, sha256(b"\x00" + (row.event_hash or b"")).digest()))
            position += 1
            last_nid, prev = row.notification_id, ch
            if position in schedule:
                tally.check(position, schedule[position], stack_root(stack), ch, row)
    finally:
        heads.close()
    results, first = _results(trusted, tally, position, problem, start.size)
    return Report(ok=problem is None and first is None, events=position, root=stack_root(stack).hex(),
                  head=(position, last_nid, prev.hex()) if position else None, problem=first or problem,
                  checkpoints=results, since=start.size)


def verify_bundle_since(directory: str | Path, against: Sequence[str | Source], log_keys: Sequence[str],
                        since: str | Source) -> Report:
    """An export bundle checked from a checkpoint note verified before: only the lines after its size are read
    (besides O(log n) bisection reads, `tree.json`'s frontier nodes and at most 1,023 lines before it)."""
    started = time.perf_counter()
    keys = Keys.parse(list(log_keys))
    trusted, refused = _trusted(against, keys)
    if refused is not None:
        return Report(ok=False, events=0, root=EMPTY_ROOT.hex(), head=None, problem=refused)
    source, old = since_note(since, keys)
    if isinstance(old, Problem):
        return Report(ok=False, events=0, root=EMPTY_ROOT.hex(), head=None, problem=old)
    directory = Path(directory)
    path = directory / RECORD
    try:
        handle, lines = path.open("rb"), path.open("rb")  # bisection reads, and the new lines streamed
    except OSError as e:
        raise BadInput(f"{path}: cannot be read ({e.strerror or e})") from None
    with handle, lines:
        file = _File(handle)
        try:
            start = resume(file, directory, old)
        except SinceRefused as e:
            return Report(ok=False, events=0, root=EMPTY_ROOT.hex(), head=None,
                          problem=Problem(Kind.CHECKPOINT_MISMATCH, str(e), checkpoint=source.name))
        report = check_since(file, lines, start, trusted, source.name)
    notes = [] if trusted else ["no trusted checkpoint given: the record is only shown consistent with itself, "
                                "which anyone who rewrites it and recomputes every hash can achieve"]
    notes.append(f"incremental: events 1 to {start.size:,} were not read; they are as {source.name} signed them "
                 f"when it was verified (frontier {start.how})")
    return Report(**{**report.__dict__, "notes": tuple(notes), "seconds": time.perf_counter() - started})
