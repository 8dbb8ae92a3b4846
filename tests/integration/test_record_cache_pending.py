"""The record's committed states move the state kept on by a save's events at its commit
(`CommittedStates.committed`: applied to a copy, copied again), and each load gets a copy (`state_copy.fresh`).
What must hold, on SQLite and PostgreSQL: what a load returns equals a replay of the store after every command;
whatever the caller does to the events it saved (or to its aggregate) after the commit never reaches what is kept
(the Notebook keeps the event's own list); a save by another record is read at the next load; nothing is ever
ahead.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.domain import Aggregate, event

from adapters.record.record import TOPICS, Record


class Notebook(Aggregate):
    """Its lines are a list taken from the events: what a caller could change in place after the save."""

    @event("Opened")
    def __init__(self, lines: list[str]) -> None:
        self.lines = list(lines)
        self.last: list[str] = []

    @event("Written")
    def write(self, words: list[str]) -> None:
        self.lines.append(" ".join(words))
        self.last = words  # the event's own list, held by the aggregate


TOPICS.allow(Notebook)


@pytest.fixture
def records(store_env: dict[str, str]) -> Iterator[tuple[Record, Record]]:
    first, second = Record(store_env), Record(store_env)
    yield first, second
    first.close()
    second.close()


def state(notebook: Notebook) -> tuple[int, list[str], list[str]]:
    return notebook.version, list(notebook.lines), list(notebook.last)


def test_every_load_equals_the_store_and_a_callers_change_after_the_commit_never_reaches_it(
    records: tuple[Record, Record],
) -> None:
    record, _ = records
    committed = record.committed
    assert committed is not None
    book = Notebook(lines=["first"])
    record.save(book)
    misses = committed.misses
    for i in range(25):
        loaded: Notebook = record.repository.get(book.id)
        loaded.write(words=[f"w{i}", "x"])
        recordings = record.save(loaded)
        # After the commit, the caller changes what it saved: its aggregate and the committed event's list.
        loaded.last.append("changed")
        loaded.lines.append("by hand")
        recordings[0].domain_event.words.append("after")  # type: ignore[attr-defined]
        assert committed.version(book.id) == loaded.version
        again: Notebook = record.repository.get(book.id)
        assert state(again) == state(record.events_only.get(book.id))
        assert again.last == [f"w{i}", "x"] and again.lines[-1] == f"w{i} x"
    assert committed.misses == misses  # every load started from the state kept


def test_a_second_writers_event_after_the_kept_events_is_read_at_the_next_load(
    records: tuple[Record, Record],
) -> None:
    mine, other = records
    book = Notebook(lines=[])
    mine.save(book)
    for words in (["a"], ["b"]):  # two commits moving the kept state on
        loaded: Notebook = mine.repository.get(book.id)
        loaded.write(words=words)
        mine.save(loaded)
    theirs: Notebook = other.repository.get(book.id)
    theirs.write(words=["c"])
    other.save(theirs)
    got: Notebook = mine.repository.get(book.id)
    assert got.lines == ["a", "b", "c"] and got.version == 4
    assert state(got) == state(mine.events_only.get(book.id))
    assert mine.committed is not None and mine.committed.version(book.id) == 4
