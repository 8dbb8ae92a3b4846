"""Dates, moments and durations as a person types them on the command line, read in one place.

A date alone is a Québec calendar day; a date-time without an offset is Québec time. Each parser
names the option in its error (exit 2, one line), as the person typed it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from cli.errors import bad_input, fail
from domain.clock import QUEBEC, start_of


def code_argument(code_type: Any, metavar: str, expected: str) -> Callable[[str], str]:
    """A Typer callback that gives an identity code as the record spells it (`ent-lav-2026-01` is
    `ENT-LAV-2026-01`), for every verb: a malformed code is refused there, in one line, before anything
    is read or sent."""
    adapter: TypeAdapter[str] = TypeAdapter(code_type)

    def normalise(value: str) -> str:
        try:
            return adapter.validate_python(value)
        except ValidationError:
            fail(bad_input(f"{metavar} {value!r}: expected {expected}"))

    return normalise


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=QUEBEC)


def day(option: str, value: str) -> date:
    """A calendar date (`--from 2026-11-24`)."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise bad_input(f"{option} {value!r}: expected a date (2026-11-24)") from None


def moment(value: str, option: str, *, day_end: bool = False, inclusive: bool = False,
           example: str = "2026-11-23") -> datetime:
    """An ISO date-time (naive: Québec time), or a date: its start, or with `day_end` the next day's start
    (with `inclusive`, the last microsecond of the day itself)."""
    try:
        found = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        if not day_end:
            return start_of(found)
        return start_of(found + timedelta(days=1)) - (timedelta(microseconds=1) if inclusive else timedelta())
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad_input(f"{option} {value!r}: expected a date ({example}) or a date-time") from None
    return _aware(parsed)


def since(value: str) -> datetime:
    """`cases list --since`: a date (from 00:00 Québec time) or a date-time."""
    return moment(value, "--since", example="2026-11-24")


def deadline(value: str) -> datetime:
    """`ententes submit --deadline`: a date means "signatures accepted through that day" (Québec time); a
    date-time is taken as given."""
    return moment(value, "--deadline", day_end=True, example="2025-07-31")


_RELATIVE = re.compile(r"^\+(\d+)(min|m|h|d)$")
_UNITS = {"min": "minutes", "m": "minutes", "h": "hours", "d": "days"}


def later(value: str, now: datetime, option: str = "--until") -> datetime:
    """`+90m`, `+2h`, `+1d` from now, or a date-time (Québec time when no offset is given)."""
    found = _RELATIVE.match(value.strip())
    if found:
        return now + timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise bad_input(f"{option} {value!r}: expected +90m, +2h, +1d or a date-time (2026-11-24T18:00)") from None
    return _aware(parsed)
