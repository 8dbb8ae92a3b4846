"""Copies of an aggregate's state for the record's committed states (`adapters.record.record.CommittedStates`),
without pickling.

A state kept for later loads must never be reached by what a caller does to the copy it was given, nor by what
the caller does to the events it saved. Pickling gives that (a wholly new object graph) but costs what a load
saves: an entente of 5 events, ~50 µs to unpickle and ~55 µs to pickle, on every command. Most of a state is
values that nobody changes in place: strings, numbers, dates, enums, UUIDs, and the domain's frozen pydantic
models (value objects, replaced, never edited). Only the containers around them (lists, dicts, sets, tuples) need
copying, a few µs. `fresh` copies those and shares the values; anything else (an object of a class it does not
know to be a value) raises `Unsafe`, and the caller falls back to pickling that aggregate.

The domain's convention this relies on: a frozen model's own list or dict fields are never changed in place
(a frozen model is a value; a change is a new model).
"""

from __future__ import annotations

import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from pydantic import BaseModel


class Unsafe(TypeError):
    """A value of a type not known to be immutable: the aggregate is copied by pickling instead."""


_SCALARS: frozenset[type] = frozenset(
    {str, int, float, bool, bytes, type(None), date, datetime, time, timedelta, UUID, Decimal})
_VALUE, _LIST, _DICT, _SET, _TUPLE, _UNSAFE = range(6)
_KINDS: dict[type, int] = {
    **dict.fromkeys(_SCALARS, _VALUE),
    list: _LIST, dict: _DICT, set: _SET, tuple: _TUPLE, frozenset: _TUPLE,
}


def _kind(cls: type) -> int:
    kind = _KINDS.get(cls)
    if kind is None:  # decided once per class
        frozen = issubclass(cls, BaseModel) and bool(cls.model_config.get("frozen"))
        kind = _VALUE if frozen or issubclass(cls, Enum) else _UNSAFE
        _KINDS[cls] = kind
    return kind


def _fresh(value: Any) -> Any:
    kind = _kind(type(value))
    if kind == _VALUE:
        return value
    if kind == _LIST:
        return [_fresh(v) for v in value]
    if kind == _DICT:
        return {_fresh(k): _fresh(v) for k, v in value.items()}
    if kind == _SET:
        return {_fresh(v) for v in value}
    if kind == _TUPLE:
        return type(value)(_fresh(v) for v in value)
    raise Unsafe(f"{type(value).__qualname__} is not known to be immutable")


def fresh(aggregate: Any) -> Any:
    """A new aggregate of the same class whose attributes are `aggregate`'s: containers copied (all the way
    down), values shared. `Unsafe` if an attribute holds anything else (nothing is changed then)."""
    cls = type(aggregate)
    if _slotted(cls):  # attributes outside `__dict__` would be left behind
        raise Unsafe(f"{cls.__qualname__} keeps attributes in slots")
    copy = object.__new__(cls)
    copy.__dict__.update({name: _fresh(value) for name, value in aggregate.__dict__.items()})
    return copy


_SLOTTED: dict[type, bool] = {}


def _slotted(cls: type) -> bool:
    slotted = _SLOTTED.get(cls)
    if slotted is None:
        slotted = _SLOTTED[cls] = any(vars(c).get("__slots__") for c in cls.__mro__[:-1]) or not hasattr(
            cls, "__dict__")
    return slotted


def memory_size(aggregate: Any) -> int:
    """Bytes the aggregate's object graph holds in memory (`sys.getsizeof` of every object reached through
    containers, `__dict__`s and pydantic models' fields, each counted once): what keeping it costs. An entente's
    graph is ~5.8x its pickle, so a bound counted in pickled bytes would hold ~6x the memory it names."""
    seen: set[int] = set()
    total = 0
    stack: list[Any] = [aggregate]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or type(obj) is bool or isinstance(obj, Enum):
            continue  # singletons, held by everyone
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        kind = type(obj)
        if kind is dict:
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif kind in (list, tuple, set, frozenset):
            stack.extend(obj)
        elif kind in _SCALARS:
            continue  # nothing inside
        else:
            attrs = getattr(obj, "__dict__", None)
            if attrs is not None:  # its names are the class's, one copy for every instance: not counted
                seen.add(id(attrs))
                total += sys.getsizeof(attrs)
                stack.extend(attrs.values())
            if isinstance(obj, BaseModel):
                for extra in (obj.__pydantic_fields_set__, obj.__pydantic_extra__, obj.__pydantic_private__):
                    if extra is not None:
                        stack.append(extra)
    return total
