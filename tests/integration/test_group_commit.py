"""Group commit: concurrent saves share transactions, and nothing is lost, doubled or mis-chained."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from eventsourcing.persistence import IntegrityError

from adapters.record.group_commit import GroupCommit
from adapters.record.record import Record
from domain.ententes import commands as c
from domain.ententes.aggregate import Entente
from tests.factories import service_entente
from usecases.audit.trail import verify
from usecases.ententes import Ententes

AT = datetime(2026, 11, 24, 12, tzinfo=UTC)


def draft(code: str) -> Entente:
    return Entente.draft(c.DraftEntente(by="superviseur", code=code, content=service_entente()), AT)


def test_concurrent_saves_share_transactions_and_all_land_chained(store_env: dict[str, str]) -> None:
    """Eight threads each saving 25 ententes: every event stored once, the hash chain verifies, and the
    saves took fewer transactions than saves (they were grouped)."""
    record = Record(store_env)
    barrier = threading.Barrier(8)

    def work(t: int) -> None:
        barrier.wait()
        for i in range(25):
            record.save(draft(f"GC-{t}-{i}"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    codes = Ententes(record).codes()
    assert sorted(codes) == sorted(f"GC-{t}-{i}" for t in range(8) for i in range(25))
    assert record.group_commit.saves == 200
    assert record.group_commit.transactions < 200
    report = verify(record)
    assert report.ok, report.to_dict()
    assert report.events_checked == 200
    record.close()


def test_a_conflicting_save_fails_alone_and_its_group_still_commits(store_env: dict[str, str]) -> None:
    """Two saves of the same aggregate at the same version in one group: the combined insert fails, each save
    is retried alone, the second one (only) gets the conflict, the others land."""
    record = Record(store_env)
    group = record.group_commit
    first, twin, other = draft("GC-SAME"), draft("GC-SAME"), draft("GC-OTHER")
    stored = [record.mapper.to_stored_event(e) for e in (*first.collect_events(), *twin.collect_events())]
    others = [record.mapper.to_stored_event(e) for e in other.collect_events()]
    # Queue all three as one group, as concurrent threads would.
    from adapters.record.group_commit import _Pending

    batch = [_Pending([stored[0]]), _Pending([stored[1]]), _Pending(others)]
    group._commit(batch)
    assert batch[0].error is None and batch[2].error is None
    assert isinstance(batch[1].error, IntegrityError)
    assert sorted(Ententes(record).codes()) == ["GC-OTHER", "GC-SAME"]
    assert verify(record).ok
    record.close()


def test_a_save_alone_goes_straight_through(store_env: dict[str, str]) -> None:
    """No waiting is added to a lone save: one save, one transaction."""
    record = Record(store_env)
    record.save(draft("GC-ALONE"))
    assert (record.group_commit.saves, record.group_commit.transactions) == (1, 1)
    with pytest.raises(IntegrityError):
        record.save(draft("GC-ALONE"))
    assert (record.group_commit.saves, record.group_commit.transactions) == (2, 1)
    record.close()


def test_a_lost_store_fails_the_group_at_once_not_each_save_again(store_env: dict[str, str]) -> None:
    """Issue 12: the events insert already waits for a dropped connection (`adapters.record.sql.Retrying`); when it
    gives up, its group's saves all get that error from the one attempt, instead of each waiting as long again
    alone (a group of 8 would wait 8 times the insert's patience). A conflict is still found alone (above)."""
    from eventsourcing.persistence import OperationalError

    record = Record(store_env)
    attempts: list[int] = []

    def store_gone(events: list[object], **_: object) -> None:
        attempts.append(len(events))
        raise OperationalError("the connection is closed")

    # What the record's group takes for the store's connection errors: PostgreSQL's, none on SQLite (no pool).
    on_postgres = store_env["PERSISTENCE_MODULE"].endswith("postgres")
    assert (OperationalError in record.group_commit.transient) is on_postgres
    group = GroupCommit(store_gone, transient=(OperationalError,))
    from adapters.record.group_commit import _Pending

    batch = [_Pending([e]) for e in (record.mapper.to_stored_event(ev) for code in ("GC-L1", "GC-L2", "GC-L3")
                                     for ev in draft(code).collect_events())]
    group._commit(batch)
    assert attempts == [3]
    assert all(isinstance(item.error, OperationalError) and item.done for item in batch)
    record.close()
