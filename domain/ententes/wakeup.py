"""When an entente's workflow wakes for an annual review: spread over the first hours of the due day.

Every entente activated on one day falls due for review at the same instant a year later (the start of
the due day, Québec time): thousands of workflows would wake at once, most of them evicted from the
worker's cache and replayed together (benchmarks/README.md, "mass wake-up"). Each entente wakes instead
at the start of its due day plus an offset drawn from its code, stable across processes and versions
(sha256, not Python's salted `hash`), so one day's anniversaries come in over `REVIEW_WAKEUP_SPREAD`.

Only the wake-up moves. What is recorded does not: `ReviewDue` names the due date and is dated at the
start of that day (the aggregate dates each transition at the moment it fell due, not when it was
noticed), and every deadline of the standards counts from that due date.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from hashlib import sha256

from domain.clock import start_of

# Six hours, so that the wake-up stays well inside the due day and changes nothing that counts:
# - the shortest Québec day is 23 hours (the spring change to daylight time): a wake-up under that is
#   always on the due date itself (`local_date(wake) == due`), never the next day;
# - the first deadline measured from the due date, the escalation of a review left undone, falls at the
#   start of a later day (`review_grace_days` ≥ 1), so it always comes after the wake-up; the review window
#   opens days before the due date and a committee may record its review at any moment of it;
# - every wake-up is over by 06:00 Québec time (07:00 on the spring day): the parties find the review due
#   when the due day's work begins, as before;
# - 21,600 one-second slots: 10,000 ententes activated on one day wake at ~0.5 a second on average, far
#   below what one worker records (11-13 ReviewDue/s measured with every one at once, benchmarks/README.md).
REVIEW_WAKEUP_SPREAD = timedelta(hours=6)


def review_wakeup_offset(code: str) -> timedelta:
    """How long after the start of its due day the entente `code` (normalised, as the view holds it) wakes:
    whole seconds in [0, REVIEW_WAKEUP_SPREAD), the same on every machine and every run."""
    digest = sha256(code.encode("utf-8")).digest()
    window = int(REVIEW_WAKEUP_SPREAD.total_seconds())
    return timedelta(seconds=int.from_bytes(digest[:8], "big") % window)


def review_wakeup(code: str, due_on: date) -> datetime:
    """The instant the workflow of `code` wakes for the review due on `due_on` (start of that day + offset)."""
    return start_of(due_on) + review_wakeup_offset(code)


__all__ = ["REVIEW_WAKEUP_SPREAD", "review_wakeup", "review_wakeup_offset"]
