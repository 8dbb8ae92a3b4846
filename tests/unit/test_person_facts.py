"""The facts a disclosure decision rests on, as events (issue 11, domain.disclosure.facts): what each fact gives
the decision, and when."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from domain.audit.erasure import SHREDDED
from domain.disclosure.facts import (
    FactKind,
    PersonFact,
    PersonFacts,
    RecordedFact,
    RecordFact,
    standing,
    subject_status,
)
from domain.disclosure.legal_bases import Condition
from domain.errors import RuleViolation

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def recorded(n: int, **kw: object) -> RecordedFact:
    return RecordedFact(number=n, fact=PersonFact.model_validate(kw), by="a-1", at=AT)


def test_the_status_follows_the_facts_each_later_one_replacing_the_earlier() -> None:
    """LSSSS 20-21 / LRSSS 21, 23-24 (age), LSSSS 23 / LRSSS 8 (death, cause-of-death refusal)."""
    facts = [recorded(1, kind=FactKind.BIRTH_DATE, on=date(2010, 1, 1)),
             recorded(2, kind=FactKind.YOUTH_PROTECTION),
             recorded(3, kind=FactKind.BIRTH_DATE, on=date(2011, 2, 2)),  # a correction
             recorded(4, kind=FactKind.YOUTH_PROTECTION, holds=False),  # lifted
             recorded(5, kind=FactKind.CAUSE_OF_DEATH_REFUSAL)]
    s = subject_status(facts)
    assert (s.birth_date, s.youth_protection, s.cause_of_death_refusal, s.deceased_on) == (
        date(2011, 2, 2), False, True, None)
    assert subject_status(facts[:2]).youth_protection is True


@pytest.mark.parametrize(("kind", "condition"), [
    (FactKind.PARENT, Condition.PARENTAL_AUTHORITY),  # LSSSS 21 / LRSSS 23-24
    (FactKind.REPRESENTATIVE, Condition.CAPACITY_PROVEN),  # LSSSS 22 [S]
    (FactKind.MANDATE, Condition.WRITTEN_MANDATE),  # LSSSS 27.1 / LRSSS 77
    (FactKind.COURT_ORDER, Condition.ORDER_IN_HAND),  # LSSSS 19 par. 1
    (FactKind.RESEARCH_AUTHORISATION, Condition.RESEARCH_AUTHORISATION),  # LSSSS 19.2 / LRSSS 47
])
def test_a_standing_attests_its_condition_for_its_holder_while_in_force(kind: FactKind, condition: Condition) -> None:
    facts = [recorded(1, kind=kind, holder_id="h-1", reference="R-1", valid_from=date(2025, 1, 1),
                      valid_until=date(2025, 6, 30))]
    assert standing(facts, "h-1", date(2025, 3, 1)) == ([condition], "R-1")
    assert standing(facts, "h-2", date(2025, 3, 1)) == ([], None)  # another holder
    assert standing(facts, "h-1", date(2025, 7, 1)) == ([], None)  # expired
    assert standing(facts, "h-1", date(2024, 12, 31)) == ([], None)  # not yet
    revoked = [*facts, recorded(2, kind=kind, holder_id="h-1", holds=False)]
    assert standing(revoked, "h-1", date(2025, 3, 1)) == ([], None)


def test_a_fact_is_validated_at_the_boundary() -> None:
    with pytest.raises(ValidationError, match="the date"):
        PersonFact(kind=FactKind.DEATH)
    with pytest.raises(ValidationError, match="the holder"):
        PersonFact(kind=FactKind.MANDATE, reference="M-1")
    with pytest.raises(ValidationError, match="reference"):
        PersonFact(kind=FactKind.COURT_ORDER, holder_id="cour-1")


def test_the_aggregate_records_once_per_command_and_reads_an_erased_fact_as_nothing() -> None:
    book = PersonFacts(subject_id="p-1")
    cmd = RecordFact(by="a-1", command_id="f-1", subject_id="p-1",
                     fact=PersonFact(kind=FactKind.DEATH, on=date(2025, 1, 1)))
    first = book.record(cmd, AT)
    assert book.record(cmd, AT) == first and len(book.facts) == 1
    with pytest.raises(RuleViolation) as wrong:
        book.record(cmd.model_copy(update={"subject_id": "p-2", "command_id": "f-2"}), AT)
    assert wrong.value.code == "wrong_subject"
    book._fact_recorded(subject_id="p-1", number=2, by="a-1", at=AT, command_id="", personal=SHREDDED)
    assert [f.number for f in book.facts] == [1]
