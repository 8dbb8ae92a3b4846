"""When a service serves: declared opening hours, and whether a moment falls in them (pure, Québec time).

Some services must serve at every moment: Info-Social « est disponible 24 heures par jour, 7 jours par
semaine et 365 jours par année » (seed 001 L1013-1014), and so is the mobile crisis intervention (« L'accès
au service d'intervention de crise dans le milieu 24/7 est assuré 24 heures par jour, 7 jours par semaine et
365 jours par année », L1259-1260); the AAOR is reached by telephone and in person « au moins 70 heures par
semaine » (L767-770). An entente's service offer and a CSSS team declare when they serve (`ServiceHours`):
weekly windows in Québec local time and the civil dates they are closed (holidays). Nothing declared means
always serving: an entente signed before hours were declared keeps routing as it did.
"""

from __future__ import annotations

from datetime import date, datetime, time

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.clock import QUEBEC

WEEK_MINUTES = 7 * 24 * 60
DAY_MINUTES = 24 * 60
MAX_WINDOWS = 28
MAX_CLOSED_DATES = 60


class Window(BaseModel):
    """Open on each of `days` (ISO weekday, 1 = Monday) from `opens` to `closes`, Québec time. `closes` at or
    before `opens` runs past midnight into the next day (22:00–06:00); equal times mean the whole day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: list[int] = Field(min_length=1, max_length=7)
    opens: time
    closes: time

    @model_validator(mode="after")
    def _days(self) -> Window:
        if any(not 1 <= d <= 7 for d in self.days):
            raise ValueError("days are ISO weekdays, 1 (Monday) to 7 (Sunday)")
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("opening hours are Québec local times, without a zone")
        return self

    def minutes(self) -> list[tuple[int, int]]:
        """The week-minute intervals [start, end) it covers (Monday 00:00 = 0), wrapped at the week's end."""
        start = self.opens.hour * 60 + self.opens.minute
        end = self.closes.hour * 60 + self.closes.minute
        length = end - start if end > start else end - start + DAY_MINUTES
        found = []
        for day in sorted(set(self.days)):
            a = (day - 1) * DAY_MINUTES + start
            b = a + length
            if b <= WEEK_MINUTES:
                found.append((a, b))
            else:
                found += [(a, WEEK_MINUTES), (0, b - WEEK_MINUTES)]
        return found


class ServiceHours(BaseModel):
    """When a service serves: its weekly windows, and the Québec civil dates it is closed (holidays)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    windows: list[Window] = Field(min_length=1, max_length=MAX_WINDOWS)
    closed_on: list[date] = Field(default_factory=list, max_length=MAX_CLOSED_DATES)


ALWAYS = ServiceHours(windows=[Window(days=[1, 2, 3, 4, 5, 6, 7], opens=time(0), closes=time(0))])


def _week_minute(local: datetime) -> int:
    return (local.isoweekday() - 1) * DAY_MINUTES + local.hour * 60 + local.minute


def serving_at(hours: ServiceHours | None, moment: datetime) -> bool:
    """Is a service with these hours serving at `moment`? None (not declared) serves always. A closed date
    closes the whole Québec civil day, whatever the windows say."""
    if hours is None:
        return True
    local = moment.astimezone(QUEBEC)
    if local.date() in hours.closed_on:
        return False
    m = _week_minute(local)
    return any(a <= m < b for w in hours.windows for a, b in w.minutes())


def _union(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def weekly_minutes(hours: ServiceHours | None) -> int:
    """How many minutes a week the service serves (10 080 when always): for the AAOR's 70 h (L767-770)."""
    if hours is None:
        return WEEK_MINUTES
    return sum(b - a for a, b in _union([i for w in hours.windows for i in w.minutes()]))


def weekly_gaps(all_hours: list[ServiceHours | None]) -> list[tuple[int, int]]:
    """The week-minute intervals [start, end) that none of the services covers (empty: every week-moment)."""
    if any(h is None for h in all_hours):
        return []
    covered = _union([i for h in all_hours if h is not None for w in h.windows for i in w.minutes()])
    gaps, at = [], 0
    for a, b in covered:
        if a > at:
            gaps.append((at, a))
        at = max(at, b)
    if at < WEEK_MINUTES:
        gaps.append((at, WEEK_MINUTES))
    return gaps


def uncovered_dates(all_hours: list[ServiceHours | None]) -> list[date]:
    """The closed dates of any of the services on which those still open leave part of that day uncovered."""
    dates = sorted({d for h in all_hours if h is not None for d in h.closed_on})
    found = []
    for day in dates:
        open_then = [h for h in all_hours if h is None or day not in h.closed_on]
        start = (day.isoweekday() - 1) * DAY_MINUTES
        if not open_then or any(a < start + DAY_MINUTES and b > start for a, b in weekly_gaps(open_then)):
            found.append(day)
    return found


def covers_always(all_hours: list[ServiceHours | None]) -> bool:
    """Do these services together serve 24 hours a day, 7 days a week, 365 days a year (L1013-1014,
    L1259-1260)? No service at all covers nothing."""
    return bool(all_hours) and not weekly_gaps(all_hours) and not uncovered_dates(all_hours)


_DAYS = ["lun", "mar", "mer", "jeu", "ven", "sam", "dim"]


def gap_text(gap: tuple[int, int]) -> str:
    """A weekly gap as people read it: `sam 22:00 – lun 08:00`."""
    def at(m: int) -> str:
        m %= WEEK_MINUTES
        day, rest = divmod(m, DAY_MINUTES)
        return f"{_DAYS[day]} {rest // 60:02d}:{rest % 60:02d}"
    return f"{at(gap[0])} – {at(gap[1])}"

