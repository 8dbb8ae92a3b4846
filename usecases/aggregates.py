"""What the use cases of case-like aggregates (crisis cases, épisodes de services) read the same way: one
aggregate's events with their sealed parts masked, and the views of many aggregates for a listing or a report
where one that does not load is reported rather than failing the whole."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import PersistenceError

from adapters.record.record import Record, event_name, event_payload
from domain.audit.erasure import ERASED_TEXT, SEALED_PARTS, SHREDDED

V = TypeVar("V")


def masked_history(record: Record, aggregate_id: UUID) -> list[dict[str, Any]]:
    """Every event of the aggregate, its sealed parts masked (their number of fields only), or erased."""
    out = []
    for ev in record.stream(aggregate_id):
        payload = event_payload(ev)
        for part in SEALED_PARTS:
            value = payload.get(part)
            if value == SHREDDED:
                payload[part] = ERASED_TEXT
            elif value:
                payload[part] = f"<{len(value)} champ(s) personnel(s)>"
        out.append({"seq": ev.originator_version, "event": event_name(ev),
                    "recorded_at": ev.timestamp, **payload})  # type: ignore[attr-defined]
    return out


def each_view(
    codes: Iterable[tuple[str, datetime]], load: Callable[[str], V], skipped: Callable[[tuple[str, str]], None],
) -> Iterator[tuple[str, datetime, V]]:
    """`load(code)` for each (code, opening moment): one that does not load (an event that does not open, a row
    of an older version) is passed to `skipped` as (code, why) and the others are still read. A store that
    cannot be read at all (`PersistenceError`) still fails the whole."""
    for code, opened_at in codes:
        try:
            view = load(code)
        except PersistenceError:
            raise
        except Exception as err:  # one aggregate's failure is reported, not the listing's
            skipped((code, f"{type(err).__name__}: {err}"))
            continue
        yield code, opened_at, view
