"""A person's key row is kept in a process for `KEY_ROW_SECONDS` after it is read, and no longer; a shred waits that
horizon out, so that when it returns no process of the engine still holds the key (SQLite and PostgreSQL).

Two `Record`s on one store stand for two processes (a worker and the auditor's `arrimage audit shred`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from adapters.record.record import Record
from adapters.record.sql import KEY_ROW_SECONDS, SubjectKeys
from domain.audit.erasure import SHREDDED, SubjectErased
from tests.integration.test_audit_shredding import Suivi
from usecases.audit.trail import shred

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_once_a_shred_returns_no_other_process_opens_or_seals_with_the_key(store_env: dict[str, str]) -> None:
    worker, auditor = Record(store_env), Record(store_env)
    try:
        s = Suivi(subject_id="S-020", personal={"name": "Line Côté"}, team="crise")
        worker.save(s)  # the worker has just read (and keeps) the person's key
        assert worker.repository.get(s.id).personal == {"name": "Line Côté"}

        shred(auditor, "S-020", by="responsable-acces", reason="decision D-20", now=NOW)

        assert worker.repository.get(s.id).personal == SHREDDED
        again: Suivi = worker.repository.get(s.id)
        again.update_contact(subject_id="S-020", personal={"phone": "514-555-0120"})
        with pytest.raises(SubjectErased):
            worker.save(again)
    finally:
        worker.close()
        auditor.close()


def test_a_row_is_answered_from_memory_within_the_horizon_only(record: Record) -> None:
    now = [1000.0]
    dialect, kek = record.subject_keys.dialect, record.subject_keys.kek  # type: ignore[attr-defined]
    keys = SubjectKeys(dialect, kek, clock=lambda: now[0])
    kid, key = keys.key_for_writing("S-021")
    # Another process destroys the key (its wait, which the first test shows, left out here).
    SubjectKeys(dialect, kek, sleep=lambda _: None).destroy("S-021", NOW.isoformat())
    now[0] += KEY_ROW_SECONDS * 0.9
    assert keys.key("S-021", kid) == key  # read 0.9 horizon ago: kept
    assert keys.kept("S-021") == (kid, key)  # what the payload codec asks first, on its event loop
    now[0] += KEY_ROW_SECONDS * 0.2
    assert keys.kept("S-021") is None  # past it: nothing answered without the store
    assert keys.key("S-021", kid) is None  # read again: destroyed
    assert keys.current_key_id("S-021") is None
    with pytest.raises(SubjectErased):
        keys.key_for_writing("S-021")


def test_a_destroy_forgets_the_row_here_and_waits_the_horizon_out(record: Record) -> None:
    slept: list[float] = []
    keys = SubjectKeys(record.subject_keys.dialect, record.subject_keys.kek,  # type: ignore[attr-defined]
                       sleep=slept.append)
    kid, _ = keys.key_for_writing("S-022")
    assert keys.destroy("S-022", NOW.isoformat()) == kid
    assert slept == [KEY_ROW_SECONDS]
    assert keys.kept("S-022") is None
    assert keys.key("S-022", kid) is None and keys.current_key_id("S-022") is None


def test_rows_past_the_horizon_leave_memory_without_another_look_up(record: Record) -> None:
    keys = SubjectKeys(record.subject_keys.dialect, record.subject_keys.kek)  # type: ignore[attr-defined]
    for person in ("S-023", "S-024"):
        keys.key_for_writing(person)
    assert keys.rows_in_memory() == 2
    deadline = time.monotonic() + 5 * KEY_ROW_SECONDS  # dropped within two horizons; polled, bounded
    while keys.rows_in_memory() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert keys.rows_in_memory() == 0
    assert keys.kept("S-023") is None
