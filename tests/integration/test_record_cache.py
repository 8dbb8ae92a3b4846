"""The record's committed states (issue 12, « The record at full speed »): the repository starts a load from the
state kept after the last commit (`adapters.record.record.CommittedStates`) instead of replaying every event.

What must hold, on SQLite and PostgreSQL, with real failures (a conflicting write by a second `Record` on the
same store, as a second worker process would make): the state kept is never ahead of the store (a failed save
leaves nothing of its command there, and evicts); another writer's events are read at the next load, and a save
decided before them fails and is decided again on the reloaded state (never a stale decision); an aggregate about
a person is never kept, so a shred (in another process too) hides its content at the next read; `audit verify`
still passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, RecordConflictError

from adapters.record.record import TOPICS, Record
from domain.audit.erasure import SHREDDED
from domain.ententes import commands as c
from domain.ententes.aggregate import Entente, entente_id
from domain.ententes.state import EntentePolicy, EntenteStatus
from domain.errors import DomainError
from tests import factories
from usecases.audit.trail import shred, verify
from usecases.ententes import Ententes

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
POLICY = EntentePolicy()
CONTENT = factories.service_entente(effective=None, notice_days=0)


class Dossier(Aggregate):
    """Opened about no one; a later note is about a person (its `personal` part sealed with their key)."""

    @event("Opened")
    def __init__(self, title: str) -> None:
        self.title = title
        self.personal: dict[str, Any] | None = None

    @event("Noted")
    def note(self, subject_id: str, personal: dict[str, Any]) -> None:
        self.personal = personal

    @event("Retitled")
    def retitle(self, title: str) -> None:
        self.title = title


TOPICS.allow(Dossier)


@pytest.fixture
def records(store_env: dict[str, str]) -> Iterator[tuple[Record, Record]]:
    """Two records on one store: two worker processes, each with its own committed states."""
    first, second = Record(store_env), Record(store_env)
    yield first, second
    first.close()
    second.close()


def drafted(record: Record, code: str) -> Ententes:
    ententes = Ententes(record, POLICY)
    ententes.draft(c.DraftEntente(by="t", code=code, content=CONTENT, command_id=f"{code}/1"), NOW)
    return ententes


def submitted(record: Record, code: str) -> tuple[Ententes, UUID]:
    """`code` drafted and submitted through `record` (which keeps it at version 2); its use cases and id."""
    ententes = drafted(record, code)
    ententes.execute(code, submit(code), NOW)
    return ententes, entente_id(code)


def submit(code: str) -> c.SubmitForSignature:
    return c.SubmitForSignature(by="t", command_id=f"{code}/2")


def sign(code: str, party: int, who: str) -> c.SignEntente:
    return c.SignEntente(
        by="t", party_id=CONTENT.party_ids[party], version=1, signatory=who, command_id=f"{code}/sign{party}/{who}"
    )


def test_a_load_starts_from_the_committed_state_and_a_callers_change_never_reaches_it(
    records: tuple[Record, Record],
) -> None:
    record, _ = records
    _, eid = submitted(record, "ENT-C1")
    assert record.committed is not None and record.committed.version(eid) == 2
    hits = record.committed.hits

    got: Entente = record.repository.get(eid)
    assert record.committed.hits == hits + 1 and got.version == 2
    got.execute(sign("ENT-C1", 0, "A"), NOW, POLICY)  # a decision made, never saved
    got.status = EntenteStatus.REVOKED  # and a change made by hand
    again: Entente = record.repository.get(eid)
    assert again.version == 2 and again.status is EntenteStatus.IN_SIGNATURE
    assert again.view() == record.events_only.get(eid).view()


def test_a_failed_save_leaves_nothing_of_its_command_and_a_second_writer_wins(
    records: tuple[Record, Record],
) -> None:
    mine, other = records
    _, eid = submitted(mine, "ENT-C2")
    assert mine.committed is not None

    decided: Entente = mine.repository.get(eid)  # from the kept state, version 2
    Ententes(other, POLICY).execute("ENT-C2", sign("ENT-C2", 0, "B"), NOW)  # the other process signs first
    decided.execute(sign("ENT-C2", 0, "A"), NOW, POLICY)  # decided on version 2: stale by now
    with pytest.raises(RecordConflictError):
        mine.save(decided)  # the store's unique (aggregate, version): a real failure, nothing stored
    assert eid not in mine.committed  # evicted

    reloaded: Entente = mine.repository.get(eid)
    stored: Entente = mine.events_only.get(eid)
    assert reloaded.version == stored.version == 3
    assert reloaded.view() == stored.view()
    signed = [getattr(e, "signatory", None) for e in mine.stream(eid)][2]
    assert signed == "B"  # the other's decision, not the failed one
    assert mine.committed.version(eid) == 3
    assert verify(mine).ok


def test_a_second_writers_events_are_read_at_the_next_load(records: tuple[Record, Record]) -> None:
    mine, other = records
    drafted(mine, "ENT-C3")
    eid = entente_id("ENT-C3")
    assert mine.committed is not None and mine.committed.version(eid) == 1
    Ententes(other, POLICY).execute("ENT-C3", submit("ENT-C3"), NOW)

    seen: Entente = mine.repository.get(eid)  # kept at 1, then the events after it: none stale
    assert seen.version == 2 and seen.status is EntenteStatus.IN_SIGNATURE
    assert mine.committed.version(eid) == 2
    # A decision taken on it is the right one, and saves.
    view = Ententes(mine, POLICY).execute("ENT-C3", sign("ENT-C3", 0, "A"), NOW)
    assert view.event_count == 3 and mine.committed.version(eid) == 3
    assert other.repository.get(eid).view() == mine.events_only.get(eid).view()
    assert verify(other).ok


def test_a_unique_violation_of_a_new_aggregate_evicts_and_the_store_decides(
    records: tuple[Record, Record],
) -> None:
    mine, other = records
    first = Dossier(title="one")
    twin = Dossier(title="two")
    twin._id = first.id  # the same id, made apart: two creations of one aggregate
    for e in twin._pending_events:
        object.__setattr__(e, "originator_id", first.id)
    other.save(first)
    with pytest.raises(IntegrityError):
        mine.save(twin)
    assert mine.committed is not None and first.id not in mine.committed
    assert mine.repository.get(first.id).title == "one"


def test_a_shred_in_another_process_hides_content_that_was_read_here(records: tuple[Record, Record]) -> None:
    mine, other = records
    dossier = Dossier(title="suivi")
    mine.save(dossier)
    assert mine.committed is not None and mine.committed.version(dossier.id) == 1  # about no one yet: kept
    dossier.note(subject_id="S-CACHE", personal={"name": "Marie"})
    mine.save(dossier)
    assert dossier.id not in mine.committed  # about a person now: never kept

    read: Dossier = mine.repository.get(dossier.id)
    assert read.personal == {"name": "Marie"}
    assert dossier.id not in mine.committed

    result = shred(other, "S-CACHE", by="dpo", reason="decision D-9", now=NOW)
    assert result.key_id is not None

    after: Dossier = mine.repository.get(dossier.id)
    assert after.personal == dict(SHREDDED)
    assert after.title == "suivi" and after.version == 2
    # A change not about the person is still recorded, and the aggregate still not kept.
    after.retitle("suivi (clos)")
    mine.save(after)
    assert dossier.id not in mine.committed
    assert mine.repository.get(dossier.id).personal == dict(SHREDDED)
    assert verify(mine).ok


def test_concurrent_writers_on_one_record_and_another_leave_the_kept_states_equal_to_the_store(
    records: tuple[Record, Record],
) -> None:
    """Threads of one record (an activity executor) and a second record write the same ententes; whatever
    conflicts, every kept state equals a replay of the store, and the chain verifies."""
    from concurrent.futures import ThreadPoolExecutor

    mine, other = records
    codes = [f"ENT-K{i}" for i in range(4)]
    for code in codes:
        submitted(mine, code)

    def sign_all(record: Record, who: str) -> int:
        conflicts = 0
        for code in codes:
            for party in (0, 1):
                try:
                    Ententes(record, POLICY).execute(code, sign(code, party, who), NOW)
                except RecordConflictError:
                    conflicts += 1
                except Exception:  # refused by the rules (already signed by the other writer): a decision
                    pass
        return conflicts

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda args: sign_all(*args), [(mine, "A"), (mine, "B"), (other, "C"), (other, "D")]))

    assert mine.committed is not None
    for code in codes:
        eid = entente_id(code)
        stored: Entente = mine.events_only.get(eid)
        assert mine.repository.get(eid).view() == stored.view()
        assert other.repository.get(eid).view() == stored.view()
        assert mine.committed.version(eid) == stored.version
    assert verify(mine).ok


def counted_selects(record: Record) -> list[int]:
    """Counts the event selects `record` makes from now on (its recorder's own, then the call goes through)."""
    recorder = record.repository.event_store.recorder
    select = recorder.select_events
    calls: list[int] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return select(*args, **kwargs)

    recorder.select_events = counting  # type: ignore[method-assign]
    return calls


def test_a_command_on_a_kept_state_saves_without_a_select_and_a_stale_one_is_decided_on_the_store(
    records: tuple[Record, Record],
) -> None:
    mine, other = records
    ententes, eid = submitted(mine, "ENT-D1")
    selects = counted_selects(mine)

    # Kept at 2: party 0 signs with no select before the save (its insert would fail had the store moved on).
    ententes.execute("ENT-D1", sign("ENT-D1", 0, "A"), NOW)
    assert selects == [] and mine.committed is not None and mine.committed.version(eid) == 3

    # The other process moves the entente on: party 1 signs there.
    Ententes(other, POLICY).execute("ENT-D1", sign("ENT-D1", 1, "B"), NOW)
    # Mine still keeps 3. A retry of party 0's command: answered from the kept state, nothing to save, so the
    # store is asked, has moved on, and the answer is the stored state's (both signatures), not the kept one.
    view = ententes.execute("ENT-D1", sign("ENT-D1", 0, "A"), NOW)
    assert view == mine.events_only.get(eid).view() and view.event_count >= 4
    assert [getattr(e, "signatory", None) for e in mine.stream(eid)][2:4] == ["A", "B"]
    assert verify(mine).ok


def test_a_decision_on_a_state_the_store_moved_past_is_taken_again_on_the_stored_state(
    records: tuple[Record, Record],
) -> None:
    mine, other = records
    ententes, eid = submitted(mine, "ENT-D2")
    assert mine.committed is not None and mine.committed.version(eid) == 2
    Ententes(other, POLICY).execute("ENT-D2", sign("ENT-D2", 0, "B"), NOW)  # the store at 3; mine keeps 2

    # Party 1 signs in mine: decided on 2, its save conflicts at 3 (nothing stored), decided again on 3.
    view = ententes.execute("ENT-D2", sign("ENT-D2", 1, "A"), NOW)
    stored: Entente = mine.events_only.get(eid)
    assert view == stored.view() and stored.version >= 4
    assert [getattr(e, "signatory", None) for e in mine.stream(eid)][2:4] == ["B", "A"]
    assert other.repository.get(eid).view() == stored.view()
    assert verify(mine).ok


def test_a_refusal_on_a_stale_kept_state_is_asked_again_of_the_stored_state(
    records: tuple[Record, Record],
) -> None:
    mine, other = records
    ententes = drafted(mine, "ENT-D3")  # mine keeps 1: drafted, not submitted
    eid = entente_id("ENT-D3")
    Ententes(other, POLICY).execute("ENT-D3", submit("ENT-D3"), NOW)  # the store at 2: in signature

    # On the kept state a signature is refused (not submitted); the store has moved on: signed on it.
    view = ententes.execute("ENT-D3", sign("ENT-D3", 0, "A"), NOW)
    assert view.status is EntenteStatus.IN_SIGNATURE and view.event_count == 3
    assert view == mine.events_only.get(eid).view()

    # A refusal on the stored state stands, and nothing is recorded: party 0 cannot sign twice.
    selects = counted_selects(mine)
    with pytest.raises(DomainError):
        ententes.execute("ENT-D3", sign("ENT-D3", 0, "C"), NOW)
    assert len(selects) == 1  # the store asked once: not moved on, so the refusal is the stored state's
    assert mine.events_only.get(eid).version == 3
    assert verify(mine).ok


def test_commands_ask_the_store_first_while_another_writer_often_moves_the_kept_states(
    records: tuple[Record, Record],
) -> None:
    mine, other = records
    assert mine.committed is not None and mine.committed.trusted
    ententes, theirs = Ententes(mine, POLICY), Ententes(other, POLICY)
    # Two worker processes on one task queue: each entente's next command runs in the other process.
    for i in range(6):
        code = f"ENT-T{i}"
        drafted(mine, code)  # mine keeps 1
        theirs.execute(code, submit(code), NOW)  # the store at 2
        view = ententes.execute(code, sign(code, 0, "A"), NOW)  # refused on 1, signed on 2
        assert view.event_count == 3
    assert not mine.committed.trusted  # found behind 6 times in 6: the store is asked first now

    ententes.execute("ENT-T0", sign("ENT-T0", 1, "B"), NOW)  # kept at 3, the store at 3
    selects = counted_selects(mine)
    ententes.execute("ENT-T1", sign("ENT-T1", 1, "B"), NOW)
    assert len(selects) == 1  # the select after the kept version, before the decision

    # Alone again: every kept state used is the store's, and commands start from them again.
    for _ in range(60):
        ententes.view("ENT-T2")
    assert mine.committed.trusted
    selects.clear()
    ententes.execute("ENT-T2", sign("ENT-T2", 1, "B"), NOW)
    assert selects == []
    for i in range(6):
        assert mine.events_only.get(entente_id(f"ENT-T{i}")).view() == other.repository.get(
            entente_id(f"ENT-T{i}")).view()
    assert verify(mine).ok
