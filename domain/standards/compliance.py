"""Compliance figures per standard, from observed clocks: pure and exact.

An observation is one clock of one case: when it started, when it stopped (or
None if still running) and the deadline it had to meet. The figures are:

- ``in_time``: stopped at or before the deadline;
- ``late``: stopped after the deadline;
- ``open_overdue``: still running at `as_of`, past the deadline (already late);
- ``open_in_time``: still running, deadline not reached (not yet counted either way);
- ``in_time_ratio``: in_time / (in_time + late + open_overdue), as an exact fraction;
- ``median_delay`` and ``p90_delay``: over the stopped clocks only (a running
  clock's delay is not known yet), by the **nearest-rank** method: the p-th
  percentile of n sorted delays is the ⌈p·n/100⌉-th smallest. It is always an
  observed delay (no interpolation), so it is exact; for an even count the
  median is the lower of the two middle values. A stop before the start (a
  follow-up contact made early) counts as a delay of zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from fractions import Fraction

from domain.ententes.model import Frozen


class Observation(Frozen):
    standard_id: str
    started_at: datetime
    stopped_at: datetime | None
    deadline: datetime


class ComplianceFigures(Frozen):
    standard_id: str
    observations: int
    in_time: int
    late: int
    open_overdue: int
    open_in_time: int
    in_time_ratio: Fraction | None  # None when nothing is decided yet
    median_delay: timedelta | None
    p90_delay: timedelta | None
    target_ratio: float | None = None
    meets_target: bool | None = None


def nearest_rank(sorted_values: Sequence[timedelta], percentile: int) -> timedelta | None:
    """The nearest-rank percentile (1 ≤ p ≤ 100) of values sorted ascending; None for no values."""
    if not 1 <= percentile <= 100:
        raise ValueError("a percentile is between 1 and 100")
    n = len(sorted_values)
    if n == 0:
        return None
    rank = -(-percentile * n // 100)  # ⌈p·n/100⌉ in integers: no float rounding
    return sorted_values[rank - 1]


def compliance(
    observations: Iterable[Observation], as_of: datetime, targets: dict[str, float] | None = None
) -> dict[str, ComplianceFigures]:
    """Figures per standard id (sorted by id). `targets`: the share each standard must meet, if any."""
    by_standard: dict[str, list[Observation]] = defaultdict(list)
    for o in observations:
        by_standard[o.standard_id].append(o)
    targets = targets or {}
    out: dict[str, ComplianceFigures] = {}
    for standard_id in sorted(by_standard):
        obs = by_standard[standard_id]
        stopped = [o for o in obs if o.stopped_at is not None]
        running = [o for o in obs if o.stopped_at is None]
        in_time = sum(1 for o in stopped if o.stopped_at is not None and o.stopped_at <= o.deadline)
        late = len(stopped) - in_time
        overdue = sum(1 for o in running if as_of > o.deadline)
        decided = in_time + late + overdue
        ratio = Fraction(in_time, decided) if decided else None
        delays = sorted(max(o.stopped_at - o.started_at, timedelta(0)) for o in stopped if o.stopped_at is not None)
        target = targets.get(standard_id)
        out[standard_id] = ComplianceFigures(
            standard_id=standard_id,
            observations=len(obs),
            in_time=in_time,
            late=late,
            open_overdue=overdue,
            open_in_time=len(running) - overdue,
            in_time_ratio=ratio,
            median_delay=nearest_rank(delays, 50),
            p90_delay=nearest_rank(delays, 90),
            target_ratio=target,
            meets_target=None if target is None or ratio is None else ratio >= Fraction(target).limit_denominator(),
        )
    return out


class CallIndicator(Frozen):
    """The Info-Social average call beside the seed's 25 minutes (seed 001 L1030-1031; annexe L2452-2453).

    A quality indicator, not a deadline: `measured_average` is the exact mean of the call durations the
    record holds; when it holds none, `not_measured` says why and no figure is given.
    """

    seed_average: timedelta
    reference: str
    calls: int
    measured_average: timedelta | None
    not_measured: str | None
    within_seed: bool | None  # the measured mean is at most the seed's average


def info_social_call(durations: Sequence[timedelta]) -> CallIndicator:
    """The indicator from the Info-Social call durations recorded in the period (none: not measured)."""
    from domain.standards.config import INFO_SOCIAL_AVERAGE_CALL, INFO_SOCIAL_AVERAGE_CALL_REFERENCE

    if not durations:
        return CallIndicator(seed_average=INFO_SOCIAL_AVERAGE_CALL, reference=INFO_SOCIAL_AVERAGE_CALL_REFERENCE,
                             calls=0, measured_average=None, within_seed=None,
                             not_measured="the record holds no Info-Social call durations (a case records when a "
                             "call was received and answered, not when it ended)")
    total = sum(durations, timedelta(0))
    mean = timedelta(microseconds=round(total / timedelta(microseconds=1) / len(durations)))
    return CallIndicator(seed_average=INFO_SOCIAL_AVERAGE_CALL, reference=INFO_SOCIAL_AVERAGE_CALL_REFERENCE,
                         calls=len(durations), measured_average=mean, not_measured=None,
                         within_seed=mean <= INFO_SOCIAL_AVERAGE_CALL)
