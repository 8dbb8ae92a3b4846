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
