"""The listings view kept caught up in a long-running process (issue 12): a small thread that runs the read-time
catch-up (`adapters.record.listings.catch_up`) every few seconds, so that a read after a burst of writes (routing a
crisis case, inside an activity) finds the view at the head instead of paying for the whole burst.

- One thread per record (`ListingsRunner.start`), started and stopped by the process's lifecycle: the worker
  (`workers.worker.run_worker`, and so `arrimage up`) and `arrimage gateway`; every `ARRIMAGE_VIEW_CATCHUP_SECONDS`
  (0: no thread, the catch-up before each read alone, as the CLI). The CLI has no runner: its reads catch up.
- Each round is the same `catch_up` a read runs, under the same per-record lock (`listings._OPEN`): in one process,
  the runner and a read never process the same page. Another process catching up at the same moment (a second
  worker, the gateway, the CLI) is refused on the view's tracking record (the single-row upsert refuses a position
  that does not advance): its page is rolled back and it goes on from the position the other reached, so every
  event is counted once (`catch_up`). A process that gives up after too many conflicts raises, as any other error.
- An error (a dropped connection, a locked SQLite file, the database away) never stops the thread nor the process:
  it is logged (a warning the first time, then quietly until a round succeeds again, which is logged) and the
  next round, after a back-off doubling up to 30 s, starts from the tracked position, which only a committed page
  moved. Stopping waits for the current page at most (`catch_up` checks `stop` between pages).

Why not the library's `ProjectionRunner` (PostgreSQL's LISTEN/NOTIFY subscription): it decodes with the record's
mapper, which opens every person's sealed content (the view reads only the parts in clear,
`to_domain_event_sealed`); a row the record did not write (`ForeignTopic`, an unreadable read) or a dropped
connection ends its thread for good (`_thread_error`); it writes one transaction per event and builds a second
application (a second pool) from the environment; and it neither tracks the positions of other topics nor rebuilds
a view of an earlier shape or ahead of its record. `tests/integration/test_listings_view.py` keeps a test that the
`Listings` projection runs under it; the process runs the catch-up, on both stores.
"""

from __future__ import annotations

import logging
import threading

from adapters.record.listings import _OPEN, VIEWS, catch_up, listings
from adapters.record.record import Record

log = logging.getLogger(__name__)
BACKOFF_MAX = 30.0  # seconds between two rounds at most while they fail


class ListingsRunner:
    """Catches `record`'s listings view up every `interval` seconds in a thread of its own, until stopped."""

    def __init__(self, record: Record, interval: float, *, page: int = 2_000) -> None:
        self.record = record
        self.interval = interval
        self.page = page
        self.rounds = 0  # rounds that succeeded
        self.processed = 0  # events processed by those rounds (each once: `catch_up`; not a failed round's pages)
        self.errors = 0  # rounds that failed (logged, survived)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def start(self) -> ListingsRunner:
        """Start the thread (once: a runner already running is left as it is); none where the interval is 0 or the
        store has no view (in memory)."""
        if self.interval <= 0 or self.running or VIEWS.get(type(self.record.factory).__module__) is None:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="arrimage-listings-runner", daemon=True)
        self._thread.start()
        log.info("listings runner started (every %.3g s)", self.interval)
        return self

    def stop(self, timeout: float | None = 60.0) -> None:
        """Stop the thread: it finishes the page it is writing (committed, or rolled back if it fails) and ends."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():  # a page longer than `timeout`: the thread is a daemon, it ends with the process
                log.warning("listings runner still finishing a page after %s s", timeout)
                return
            self._thread = None
            log.info(
                "listings runner stopped (%d rounds, %d events, %d errors)", self.rounds, self.processed, self.errors
            )

    def run_once(self) -> int:
        """One round: the view brought up to the record's head, under the lock a read's catch-up takes. The number
        of events processed here."""
        projection = listings(self.record)
        if projection is None:
            return 0
        with _OPEN[self.record][1]:
            return catch_up(self.record, projection, self.page, stop=self._stop)

    def _run(self) -> None:
        failing = 0
        while not self._stop.is_set():
            try:
                self.processed += self.run_once()
            except Exception as err:  # never fatal: logged, and the next round starts from the tracked position
                self.errors += 1
                failing += 1
                (log.warning if failing == 1 else log.debug)(
                    "listings runner: catch-up failed (%s: %s); retried, the reads still catch up",
                    type(err).__name__,
                    err,
                )
            else:
                self.rounds += 1
                if failing:
                    log.info("listings runner: catch-up recovered after %d failed rounds", failing)
                failing = 0
            wait = (
                self.interval
                if not failing
                else min(max(self.interval, BACKOFF_MAX), self.interval * 2 ** min(failing, 10))
            )
            self._stop.wait(wait)

    def __enter__(self) -> ListingsRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
