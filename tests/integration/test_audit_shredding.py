"""Issue 4, erasure where the law requires it: a person's content is unreadable after
shredding, the shredding is itself recorded, and every hash still verifies (SQLite and
PostgreSQL). The demo aggregate follows the record's convention: `subject_id` + `personal`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event

from adapters.record.record import TOPICS, Record
from domain.audit.erasure import SHREDDED, SubjectErased, SubjectErasure, erasure_id
from tests.tamper_builders import Raw
from usecases.audit.trail import checkpoint, shred, verify

# The moment the use cases are told it is (signature, key destruction): they read no clock.
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


class Suivi(Aggregate):
    """A follow-up file about one person; what identifies them is in `personal`."""

    @event("Opened")
    def __init__(self, subject_id: str, personal: dict[str, Any], team: str) -> None:
        self.subject_id = subject_id
        self.personal = personal
        self.team = team

    @event("ContactUpdated")
    def update_contact(self, subject_id: str, personal: dict[str, Any]) -> None:
        self.personal = {**self.personal, **personal} if "shredded" not in personal else personal


# A stand-in aggregate: rows naming its classes are read like the record's own (`TOPICS`).
TOPICS.allow(Suivi)


def all_bytes(env: dict[str, str]) -> bytes:
    """Every stored event's bytes, read straight from the database."""
    if env["PERSISTENCE_MODULE"] == "adapters.record.postgres":
        import psycopg

        with psycopg.connect(
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            dbname=env["POSTGRES_DBNAME"],
            user=env["POSTGRES_USER"],
        ) as conn:
            rows = conn.execute(f'SELECT topic, state FROM "{env["POSTGRES_SCHEMA"]}".arrimage_events').fetchall()
    else:
        with sqlite3.connect(env["SQLITE_DBNAME"]) as conn:
            rows = conn.execute("SELECT topic, state FROM stored_events").fetchall()
    return b"".join(t.encode() + bytes(s) for t, s in rows)


@pytest.fixture
def record(store_env: dict[str, str]) -> Iterator[Record]:
    rec = Record(store_env)
    yield rec
    rec.close()


def test_shredding_makes_content_unreadable_and_the_chain_still_verifies(
    record: Record, store_env: dict[str, str]
) -> None:
    marie = Suivi(subject_id="S-001", personal={"name": "Marie Tremblay", "phone": "514-555-0101"}, team="CLSC-1")
    marie.update_contact(subject_id="S-001", personal={"phone": "438-555-0199"})
    jean = Suivi(subject_id="S-002", personal={"name": "Jean Gagnon"}, team="CLSC-2")
    record.save(marie, jean)
    assert record.repository.get(marie.id).personal == {"name": "Marie Tremblay", "phone": "438-555-0199"}
    # Sealed at rest: the clear text is in no stored byte, the rest of the event is.
    stored = all_bytes(store_env)
    assert b"Tremblay" not in stored and b"555-0101" not in stored and b"Gagnon" not in stored
    assert b"CLSC-1" in stored
    before = checkpoint(record, now=NOW)

    result = shred(record, "S-001", by="responsable-acces", reason="decision D-2025-17", now=NOW)

    # Unreadable: every event of the person comes back with the shredded marker…
    assert [e.__dict__["personal"] for e in record.events.get(marie.id)] == [SHREDDED, SHREDDED]
    assert record.repository.get(marie.id).personal == SHREDDED
    assert record.repository.get(marie.id).team == "CLSC-1"  # non-personal facts remain
    # …while another person's content is untouched.
    assert record.repository.get(jean.id).personal == {"name": "Jean Gagnon"}
    # The act is an event of the record.
    erasure: SubjectErasure = record.repository.get(erasure_id("S-001"))
    assert (erasure.subject_id, erasure.by, erasure.reason, erasure.key_id) == (
        "S-001",
        "responsable-acces",
        "decision D-2025-17",
        result.key_id,
    )
    assert result.key_id is not None and result.already_recorded is False
    # And every hash still verifies, against the checkpoint signed before the erasure too.
    report = verify(record, [before])
    assert (report.ok, report.problem, report.events_checked) == (True, None, 4)


def test_shredding_is_idempotent_and_no_new_personal_content_is_accepted(record: Record) -> None:
    s = Suivi(subject_id="S-003", personal={"name": "Luc Roy"}, team="CLSC-3")
    record.save(s)
    first = shred(record, "S-003", by="responsable-acces", reason="decision D-1", now=NOW)
    again = shred(record, "S-003", by="responsable-acces", reason="decision D-1", now=NOW)
    assert (again.already_recorded, again.key_id, again.erasure_id) == (True, first.key_id, first.erasure_id)
    assert len(list(record.events.get(erasure_id("S-003")))) == 1
    s2: Suivi = record.repository.get(s.id)
    s2.update_contact(subject_id="S-003", personal={"phone": "819-555-0000"})
    with pytest.raises(SubjectErased) as caught:
        record.save(s2)
    assert caught.value.code == "subject_erased"
    assert str(caught.value) == ("subject S-003's key was destroyed (erasure); no new personal content may be recorded")
    assert verify(record).ok is True


def test_a_ciphertext_moved_to_another_persons_event_does_not_open(store_env: dict[str, str]) -> None:
    """Sealing binds the ciphertext to its subject and key id, and the chain names the edit (byte surgery on
    the stored row, `tests.tamper_builders.Raw`, on each store)."""
    record = Record(store_env)
    a = Suivi(subject_id="S-010", personal={"name": "Anne"}, team="T")
    b = Suivi(subject_id="S-011", personal={"name": "Bea"}, team="T")
    record.save(a)
    record.save(b)
    raw = Raw(store_env)
    try:
        (state_a,) = raw.x("SELECT state FROM {events} WHERE originator_id = ?", raw.oid(a.id))[0]
        moved = bytes(state_a).replace(b'"S-010"', b'"S-011"')
        raw.x("UPDATE {events} SET state = ? WHERE originator_id = ?", moved, raw.oid(b.id))
        (nid_b,) = raw.x("SELECT {nid} FROM {events} WHERE originator_id = ?", raw.oid(b.id))[0]
    finally:
        raw.close()
    with pytest.raises(ValueError) as caught:
        record.repository.get(b.id)
    assert "does not open with its subject's key" in str(caught.value)
    problem = verify(record).problem
    assert problem is not None and (problem.kind.value, problem.notification_id) == ("altered", nid_b)
    record.close()


def test_an_event_with_no_personal_content_is_recorded_after_erasure(store_env: dict[str, str]) -> None:
    """Erasure refuses new personal content only: an event whose `personal` fields are all empty (an access
    decided after shredding, e.g. an auditor's replay, LRSSS 103 / policy) is still recorded, in clear."""
    record = Record(store_env)
    s = Suivi(subject_id="S-009", personal={"phone": "514-555-0101"}, team="crise")
    record.save(s)
    shred(record, "S-009", by="dpo", reason="decision D-9", now=NOW)
    s2: Suivi = record.repository.get(s.id)
    s2.update_contact(subject_id="S-009", personal={"phone": None})
    record.save(s2)
    assert [e.personal for e in record.events.get(s.id)] == [SHREDDED, {"phone": None}]  # type: ignore[attr-defined]
    assert verify(record).ok is True
    record.close()
