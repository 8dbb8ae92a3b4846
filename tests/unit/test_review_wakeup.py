"""A review's wake-up is spread over the first hours of its due day (`domain.ententes.wakeup`), on the domain alone.

Every entente activated on one day falls due a year later at one instant; each workflow wakes instead at an
offset drawn from its code. These tests hold what that may and may not change: the offset is stable (sha256,
the same in every process), within the window, spread evenly over many codes; the wake-up stays on the due
date even on the shortest Québec day; and what the record holds (ReviewDue, its due date and moment) is the
same as when the workflow wakes at the first instant of the day.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from adapters.record.record import Record
from domain.clock import add_days, local_date, start_of
from domain.ententes import commands as c
from domain.ententes import rules
from domain.ententes.state import EntentePolicy, EntenteStatus
from domain.ententes.wakeup import REVIEW_WAKEUP_SPREAD, review_wakeup, review_wakeup_offset
from tests.factories import service_entente
from usecases.ententes import Ententes

CODES = [f"ENT-LAV-2026-{i:05d}" for i in range(10_000)]
EFFECTIVE = date(2027, 1, 1)


def test_the_offset_is_stable_across_processes() -> None:
    """Not Python's `hash` (salted per process): another interpreter, with another hash seed, computes the same
    offsets, and a known code keeps its known offset (a change here would move every running entente's wake-up)."""
    codes = CODES[:50]
    here = [int(review_wakeup_offset(code).total_seconds()) for code in codes]
    script = ("from domain.ententes.wakeup import review_wakeup_offset as o; import sys; "
              "print(' '.join(str(int(o(c).total_seconds())) for c in sys.argv[1:]))")
    other = subprocess.run([sys.executable, "-c", script, *codes], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "12345"}, cwd=Path(__file__).parents[2])
    assert [int(s) for s in other.stdout.split()] == here
    assert review_wakeup_offset("ENT-LAV-2026-01") == review_wakeup_offset("ENT-LAV-2026-01")
    # sha256("ENT-LAV-2026-01"), its first 8 bytes big-endian, modulo 21,600 s: 02:35:31 into its due day.
    assert review_wakeup_offset("ENT-LAV-2026-01") == timedelta(seconds=9_331)


def test_the_offset_lies_within_the_window_in_whole_seconds() -> None:
    offsets = [review_wakeup_offset(code) for code in CODES]
    assert all(timedelta(0) <= o < REVIEW_WAKEUP_SPREAD for o in offsets)
    assert all(o.microseconds == 0 for o in offsets)
    assert timedelta(hours=23) > REVIEW_WAKEUP_SPREAD  # the shortest Québec day


def test_ten_thousand_codes_spread_roughly_evenly() -> None:
    """24 quarter-hours of the 6-hour window: each gets 10,000 / 24 ≈ 417 codes, none more than 20 % off, and
    no second holds more than a handful (what woke at one instant before now comes in over the window)."""
    quarter = REVIEW_WAKEUP_SPREAD / 24
    bins = Counter(review_wakeup_offset(code) // quarter for code in CODES)
    assert set(bins) == set(range(24))
    expected = len(CODES) / 24
    assert all(abs(n - expected) < 0.2 * expected for n in bins.values()), sorted(bins.values())
    chi2 = sum((n - expected) ** 2 / expected for n in bins.values())
    assert chi2 < 50  # 23 degrees of freedom: p ≈ 0.001 at 49.7
    same_second = Counter(review_wakeup_offset(code) for code in CODES)
    assert max(same_second.values()) <= 6


@pytest.mark.parametrize("due", [date(2028, 3, 12), date(2028, 11, 5), date(2028, 6, 1), date(2028, 1, 1)],
                         ids=["spring-23h", "autumn-25h", "summer", "winter"])
def test_the_wakeup_stays_on_its_due_date(due: date) -> None:
    """On the days the clocks change too (23 and 25 hours): every code wakes on its due date, before the
    next day begins, and not before the day does."""
    assert start_of(add_days(due, 1)) - start_of(due) in {timedelta(hours=h) for h in (23, 24, 25)}
    for code in CODES[:2_000]:
        wake = review_wakeup(code, due)
        assert start_of(due) <= wake < start_of(add_days(due, 1))
        assert local_date(wake) == due


@pytest.fixture
def ententes() -> Iterator[Ententes]:
    record = Record({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield Ententes(record, EntentePolicy())
    record.close()


def _active(e: Ententes, code: str) -> None:
    at = start_of(EFFECTIVE) - timedelta(days=30)
    e.draft(c.DraftEntente(by="superviseur", code=code, content=service_entente(), command_id=f"{code}/draft"), at)
    e.execute(code, c.SubmitForSignature(by="superviseur"), at)
    for party in ["cisss-laval", "cc-laval"]:
        e.execute(code, c.SignEntente(by=party, party_id=party, version=1, signatory=f"DG {party}"), at)
    assert e.advance(code, start_of(EFFECTIVE)).status is EntenteStatus.ACTIVE


def test_waking_late_in_the_day_records_the_same_review_due(ententes: Ententes) -> None:
    """The spread timer (`next_wakeup(spread=True)`) is the start of the due day plus the code's offset; the
    unspread one (what falls due, what a query shows) is unchanged. Advanced at the spread wake-up, the record
    holds exactly what it holds when advanced at the first instant: ReviewDue for that date, dated at the start
    of the day; the escalation deadline still counts from the due date."""
    policy = EntentePolicy()
    early, late = "ENT-SPREAD-A", "ENT-SPREAD-B"
    for code in (early, late):
        _active(ententes, code)
    view = ententes.view(late)
    due = view.next_review_due
    assert due == date(2028, 1, 1)
    wake = rules.next_wakeup(view, policy, spread=True)
    assert wake == start_of(due) + review_wakeup_offset(late) == review_wakeup(late, due)
    assert rules.next_wakeup(view, policy) == start_of(due)
    assert rules.due_now(view, policy, start_of(due))  # due from the first instant: a command then records it

    ententes.advance(early, start_of(due))
    ententes.advance(late, wake)
    a, b = ententes.history(early)[-1], ententes.history(late)[-1]
    assert a["event"] == b["event"] == "ReviewDue"
    assert {k: v for k, v in a.items() if k != "recorded_at"} == {k: v for k, v in b.items() if k != "recorded_at"}
    after = ententes.view(late)
    assert after.review_pending == due
    assert rules.escalation_moment(after, policy) == start_of(add_days(due, policy.review_grace_days)) > wake
    assert ententes.history(late)[-1]["seq"] == ententes.history(early)[-1]["seq"]


def test_only_the_review_moves(ententes: Ententes) -> None:
    """Before activation (an effective date) and after the review fell due (its escalation), the spread and
    unspread wake-ups are the same instant: no other deadline moves."""
    policy = EntentePolicy()
    code = "ENT-SPREAD-C"
    at = start_of(EFFECTIVE) - timedelta(days=30)
    ententes.draft(c.DraftEntente(by="s", code=code, content=service_entente(), command_id=f"{code}/draft"), at)
    ententes.execute(code, c.SubmitForSignature(by="superviseur"), at)
    for party in ["cisss-laval", "cc-laval"]:
        view = ententes.execute(code, c.SignEntente(by=party, party_id=party, version=1, signatory="DG"), at)
    assert rules.next_wakeup(view, policy, spread=True) == rules.next_wakeup(view, policy) == start_of(EFFECTIVE)
    view = ententes.advance(code, start_of(EFFECTIVE))
    view = ententes.advance(code, review_wakeup(code, date(2028, 1, 1)))
    assert view.review_pending == date(2028, 1, 1)
    assert rules.next_wakeup(view, policy, spread=True) == rules.next_wakeup(view, policy) == start_of(
        add_days(date(2028, 1, 1), policy.review_grace_days))
