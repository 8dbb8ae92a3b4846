"""`adapters.record.state_copy.fresh`: the copy of a state the record's committed states keep and hand out. Every
container is new, all the way down (what a caller changes in its copy never reaches another), values are shared
(immutable), and anything not known to be a value refuses (`Unsafe`), so that its aggregate is pickled instead."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate, event
from pydantic import BaseModel, ConfigDict

from adapters.record.record import TOPICS, CommittedStates
from adapters.record.state_copy import Unsafe, fresh


class Colour(StrEnum):
    RED = "red"


class Value(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str


class Loose(BaseModel):  # not frozen: may be changed in place
    name: str


class Holder:
    def __init__(self, **attrs: object) -> None:
        self.__dict__.update(attrs)

    def __getattr__(self, name: str) -> Any:  # for the type checker: the attributes are given at construction
        raise AttributeError(name)


def test_containers_are_new_all_the_way_down_and_values_are_shared() -> None:
    value = Value(name="v")
    original = Holder(n=1, s="x", d=date(2026, 1, 1), t=datetime(2026, 1, 1, tzinfo=UTC), u=uuid4(), c=Colour.RED,
                      v=value, lists=[[1], [2]], by={1: {"k": [value]}}, tags={"a"}, pair=(1, [2]))
    copy = fresh(original)
    assert type(copy) is Holder and copy is not original and copy.__dict__ == original.__dict__
    assert copy.v is value and copy.u is original.u  # values shared
    copy.lists[0].append(9)
    copy.by[1]["k"].append(value)
    copy.tags.add("b")
    copy.pair[1].append(3)
    assert (original.lists, original.by, original.tags, original.pair) == ([[1], [2]], {1: {"k": [value]}}, {"a"},
                                                                           (1, [2]))


@pytest.mark.parametrize("odd", [Loose(name="x"), Holder(a=1), bytearray(b"x"), [object()]])
def test_anything_not_known_to_be_a_value_is_refused(odd: object) -> None:
    with pytest.raises(Unsafe):
        fresh(Holder(ok=1, odd=odd))


class Tray(Aggregate):
    """An aggregate holding an object of a class `fresh` does not know: kept pickled."""

    @event("Made")
    def __init__(self) -> None:
        self.inside = Holder(items=[])

    @event("Added")
    def add(self, item: str) -> None:
        self.inside.items.append(item)


TOPICS.allow(Tray)


def test_an_aggregate_fresh_refuses_is_kept_pickled_and_a_copy_of_it_is_still_a_copy() -> None:
    states = CommittedStates(1 << 20)
    tray = Tray()
    tray.add(item="a")
    tray.collect_events()
    states.keep(tray)
    kept = states.get(tray.id)
    assert kept is not None and kept[0] == tray.version == 2
    got: Tray = kept[1]
    got.add(item="b")  # the caller's copy moved on, not saved
    again = states.get(tray.id)
    assert again is not None and again[1].inside.items == ["a"]


class Slotted:
    __slots__ = ("a",)

    def __init__(self) -> None:
        self.a = 1


def test_an_object_keeping_attributes_in_slots_is_refused() -> None:
    with pytest.raises(Unsafe):
        fresh(Slotted())


def test_memory_size_is_what_the_graph_holds() -> None:
    """What the committed states count a kept state at (its bytes in memory, not its pickle's): within 15 % of what
    tracemalloc sees allocated for the same graphs."""
    import tracemalloc

    from adapters.record.state_copy import memory_size

    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    graphs = [Holder(name=f"state {i}", values=[Value(name=f"v{i}-{j}") for j in range(20)],
                     by={f"k{j}": [j * 1000 + i] for j in range(10)}, when=datetime(2026, 1, 1, tzinfo=UTC))
              for i in range(200)]
    allocated = sum(d.size_diff for d in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    counted = sum(memory_size(g) for g in graphs)
    assert 0.85 * allocated <= counted <= 1.15 * allocated, (counted, allocated)
