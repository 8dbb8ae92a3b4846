"""Ranges of one store read in parallel processes: what `audit verify --jobs N` runs on (issue 12).

One Python process verifies ~145,000 events/s here at best (reading rows and three SHA-256 per event, both under
the interpreter's lock), so a faster pass needs processes. The caller (``usecases.audit.trail.verify``) opens
its snapshot, cuts the store into ranges and gives a `check` of one range; `in_ranges` runs the first range in
this process, on that snapshot, and each other in a process forked for it, on a connection of its own
(`Dialect.range_snapshot`): on PostgreSQL in the very snapshot of the caller (``pg_export_snapshot``), on SQLite
in a read transaction of its own, each range bounded by notification ids the caller read in its snapshot (the
record is append-only: what is appended meanwhile lies beyond the last range's end). A process is forked, not
spawned: it starts in milliseconds with everything imported, and touches nothing of its parent's but the
`check` (never a pooled connection); it hands back its result and the rows it read through a pipe.

Results come back in the ranges' order; once one says stop (a problem found), the ranges after it are not
waited for: their processes are ended. Without ``fork`` (not Linux) or for an in-memory store, every range
runs here, one after the other, with the same result.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from adapters.record.sql import Dialect, Snapshot

T = TypeVar("T")


def can_fork(dialect: Dialect) -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and dialect.parallel_reads()


def in_ranges(
    dialect: Dialect, snap: Snapshot, count: int, check: Callable[[Snapshot, int], T], *, stop: Callable[[T], bool]
) -> tuple[list[T], int]:
    """`check(snapshot, i)` for ranges 0..count-1, in parallel processes; the results in order up to the first
    that `stop`s (included), and the rows the other processes read (this one's are in `snap.rows_read`)."""
    if count <= 1 or not can_fork(dialect):
        results: list[T] = []
        for i in range(count):
            results.append(check(snap, i))
            if stop(results[-1]):
                break
        return results, 0
    exported = snap.exported()
    context = multiprocessing.get_context("fork")
    children: list[tuple[Any, Connection]] = []
    try:
        for i in range(1, count):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=_range,
                args=(dialect, snap.page, exported, i, check, send),
                name=f"verify-range-{i}",
                daemon=True,
            )
            process.start()
            send.close()
            children.append((process, receive))
        results = [check(snap, 0)]
        rows = 0
        for process, receive in children:
            if stop(results[-1]):
                break
            try:
                status, value, read = receive.recv()
            except EOFError:
                raise RuntimeError(f"{process.name} ended without a result (exit code {process.exitcode})") from None
            if status != "ok":
                raise RuntimeError(f"{process.name} failed: {value}")
            results.append(value)
            rows += read
        return results, rows
    finally:
        for process, receive in children:
            if process.is_alive():
                process.terminate()
            process.join()
            receive.close()


def _range(
    dialect: Dialect, page: int, exported: str | None, i: int, check: Callable[[Snapshot, int], Any], send: Connection
) -> None:
    """In the forked process: range `i` on a connection of its own, its result sent back."""
    try:
        with dialect.range_snapshot(page, exported) as snap:
            result = check(snap, i)
            send.send(("ok", result, snap.rows_read))
    except Exception as e:  # said to the parent, which raises it
        send.send(("error", f"{type(e).__name__}: {e}", 0))
    finally:
        send.close()
