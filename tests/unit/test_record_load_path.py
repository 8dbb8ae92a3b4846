"""The load path's shortcuts of 2026-12-02 (issue 12) give what the library's way gives, at their edges.

`project_events` reads and sets an aggregate's id, version and modified time in its `__dict__` only where its class
keeps the library's properties, and takes the event's attributes a body names at once, a missing one sending the
event to the library's filter by keyword; `new_stored_event` makes the `StoredEvent` its `__init__` makes; a load
turns the cyclic garbage collector off for its duration only, and never back on when it was off already.
(`tests/integration/test_replay_fast_path.py` compares whole stores both ways on SQLite and PostgreSQL.)
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent

from adapters.record.record import _plain_attributes, _uncollected, new_stored_event, project_events


class Note(Aggregate):
    def __init__(self, title: str) -> None:
        self.title = title
        self.lines: list[str] = []

    @event("Noted")
    def note(self, line: str, weight: int = 1) -> None:
        self.lines.append(f"{line}×{weight}")


class Watched(Aggregate):
    """An aggregate whose `version` is its own property: set through it, never behind it."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.lines: list[str] = []
        self.sets: list[int] = []

    @event("Noted")
    def note(self, line: str, weight: int = 1) -> None:
        self.lines.append(f"{line}×{weight}")

    @property
    def version(self) -> int:
        return self._version

    @version.setter
    def version(self, version: int) -> None:
        if "sets" in self.__dict__:  # not while the created event makes it
            self.sets.append(version)
        self._version = version


def events_of(cls: type[Note | Watched]) -> list[Any]:
    note = cls(title="t")
    for n in range(4):
        note.note(line=f"l{n}", weight=n)
    return list(note.collect_events())


def state(aggregate: Any) -> dict[str, Any]:
    return vars(aggregate)


def test_an_event_missing_an_attribute_its_body_names_is_applied_as_the_library_applies_it() -> None:
    events = events_of(Note)
    del events[3].__dict__["weight"]  # as stored before the method had that parameter: its default applies
    assert state(project_events(None, events)) == state(project_aggregate(None, events))
    assert project_events(None, events).lines == ["l0×0", "l1×1", "l2×1", "l3×3"]


def test_an_aggregate_with_its_own_version_property_is_moved_on_through_it() -> None:
    events = events_of(Watched)
    assert _plain_attributes(Note(title="t")) is not None
    assert _plain_attributes(Watched(title="t")) is None
    ours, library = project_events(None, events), project_aggregate(None, events)
    assert state(ours) == state(library)
    assert ours.sets == [2, 3, 4, 5]


def test_a_stored_event_made_for_a_row_is_the_one_its_init_makes() -> None:
    oid = uuid4()
    made = new_stored_event(StoredEvent)
    made.__dict__.update(originator_id=oid, originator_version=3, topic="m:C", state=b"{}")
    expected = StoredEvent(oid, 3, "m:C", b"{}")
    assert made == expected and vars(made) == vars(expected) and type(made) is StoredEvent
    assert hash(made) == hash(expected)


def test_the_collector_is_off_for_a_load_only_and_stays_off_when_it_was() -> None:
    was = gc.isenabled()
    try:
        gc.enable()
        with _uncollected():
            assert not gc.isenabled()
        assert gc.isenabled()
        try:
            with _uncollected():
                raise RuntimeError
        except RuntimeError:
            pass
        assert gc.isenabled()
        gc.disable()
        with _uncollected():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()


def test_a_timestamp_is_the_modified_time() -> None:
    events = events_of(Note)
    events[-1].__dict__["timestamp"] = at = datetime(2030, 1, 1, tzinfo=UTC)
    assert project_events(None, events).modified_on == at
