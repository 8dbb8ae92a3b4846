"""One way to write a moment for people: Québec time with its zone (domain/clock.py `quebec_text`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.clock import quebec_text


@pytest.mark.parametrize(("moment", "text"), [
    (datetime(2026, 11, 24, 2, 15, tzinfo=UTC), "2026-11-23 21:15 HNE"),  # winter: UTC-5
    (datetime(2026, 7, 1, 13, 0, tzinfo=UTC), "2026-07-01 09:00 HAE"),  # summer: UTC-4
    (datetime(2026, 11, 24, 2, 15), "2026-11-23 21:15 HNE"),  # naive: UTC, as the record keeps it
    (datetime(2026, 11, 23, 22, 15, tzinfo=timezone(timedelta(hours=1))), "2026-11-23 16:15 HNE"),
    (datetime(2026, 3, 8, 7, 0, tzinfo=UTC), "2026-03-08 03:00 HAE"),  # the first hour of daylight time
])
def test_a_moment_is_written_in_quebec_time_with_its_zone(moment: datetime, text: str) -> None:
    assert quebec_text(moment) == text
