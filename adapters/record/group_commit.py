"""Group commit: concurrent saves share one transaction, so they share one flush to disk.

Each activity saves one command's events; alone, every save pays a commit and its
fsync (most of a save's cost on SQLite, and the table lock on PostgreSQL). When
several activity threads save at once, the first becomes the leader and inserts
what the others queued meanwhile in the same transaction; the others wait for
that commit. Nothing is acknowledged before it is durable: a caller returns only
after the transaction holding its events has committed, as before.

If the combined insert fails (two saves of the same aggregate at the same
version, or any database error), each save of that group is retried alone, so
only the culprit sees its error, exactly as without grouping. Alone, a save goes
straight through: no waiting is ever added. An error of the connection (the
store's `transient` ones, `adapters.record.sql.Retrying`) is no one save's: the
insert has already waited for the store as long as it may, so every save of the
group gets that error at once instead of each waiting that long again alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.persistence import StoredEvent

Insert = Callable[..., Sequence[int] | None]


@dataclass
class _Pending:
    events: list[StoredEvent]
    done: bool = False
    result: Sequence[int] | None = None
    error: BaseException | None = None
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.events)


class GroupCommit:
    """Wraps a recorder's `insert_events`; install with `GroupCommit.install(recorder)`."""

    def __init__(
        self, insert: Insert, max_batch: int = 256, transient: tuple[type[BaseException], ...] = ()
    ) -> None:
        self._insert = insert
        self.max_batch = max_batch
        self.transient = transient
        self._cond = threading.Condition()
        self._queue: list[_Pending] = []
        self._busy = False
        self.saves = 0
        self.transactions = 0

    @classmethod
    def install(cls, recorder: Any, max_batch: int = 256) -> GroupCommit:
        retrying = getattr(getattr(recorder, "dialect", None), "retrying", None)  # SQL stores (adapters.record.sql)
        group = cls(recorder.insert_events, max_batch, retrying.transient if retrying is not None else ())
        recorder.insert_events = group.insert_events  # the event store calls the instance's attribute
        return group

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if any(v is not None for v in kwargs.values()) or not stored_events:
            # Tracking records (process applications) keep their own transaction semantics.
            return self._insert(stored_events, **kwargs)
        item = _Pending(list(stored_events))
        with self._cond:
            self._queue.append(item)
            self.saves += 1
            while not item.done:
                if self._busy:
                    self._cond.wait()
                    continue
                self._busy = True
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                self._cond.release()
                try:
                    self._commit(batch)
                finally:
                    self._cond.acquire()
                    self._busy = False
                    self._cond.notify_all()
        if item.error is not None:
            raise item.error
        return item.result

    def _commit(self, batch: list[_Pending]) -> None:
        """Never raises: each item gets its result or its error."""
        if len(batch) > 1:
            try:
                ids = self._insert([e for item in batch for e in item.events])
            except self.transient as err:  # the store, not one of them: each caller gets it now
                for item in batch:
                    item.error = err
                    item.done = True
                return
            except Exception:  # one of them failed: find which, alone
                pass
            else:
                self.transactions += 1
                start = 0
                for item in batch:
                    item.result = list(ids[start : start + item.size]) if ids is not None else None
                    item.done = True
                    start += item.size
                return
        for item in batch:
            try:
                item.result = self._insert(item.events)
                self.transactions += 1
            except BaseException as err:  # handed to the caller that owns it
                item.error = err
            item.done = True
