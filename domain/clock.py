"""Calendar arithmetic in the network's own time zone.

Agreement dates (effective date, anniversaries, end date) are civil dates in
Québec: a date "takes effect" at local midnight, America/Montreal.
Rules never read the wall clock; callers pass `now`.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

QUEBEC = ZoneInfo("America/Montreal")


def start_of(day: date) -> datetime:
    """The UTC instant at which a Québec civil date begins."""
    return datetime.combine(day, time(0, 0), tzinfo=QUEBEC).astimezone(UTC)


# The zone as Québec writes it: heure normale / avancée de l'Est.
_ZONE_LABELS = {"EST": "HNE", "EDT": "HAE"}


def quebec_text(moment: datetime) -> str:
    """A moment as people here read it, in every table and message: Québec time to the minute,
    with its zone (`2026-11-23 21:15 HNE`, `2026-07-01 09:00 HAE`). A naive moment is taken as UTC,
    as the record keeps it."""
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(QUEBEC)
    name = local.tzname() or ""
    return f"{local:%Y-%m-%d %H:%M} {_ZONE_LABELS.get(name, local.strftime('%z'))}"


def local_date(moment: datetime) -> date:
    """The Québec civil date of an instant."""
    return moment.astimezone(QUEBEC).date()


def add_months(day: date, months: int) -> date:
    """Same day `months` later; the 29-31 of a shorter month falls on its last day."""
    month0 = day.month - 1 + months
    year = day.year + month0 // 12
    month = month0 % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


def add_days(day: date, days: int) -> date:
    return day + timedelta(days=days)
