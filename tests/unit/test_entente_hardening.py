"""Issue 7 on the entente domain alone: bad input never sticks, nothing is invented.

The use cases (`Ententes`) over an in-memory store, as the activities drive them, with every
business moment given explicitly. Each test names the rule it checks; refusals are asserted by
their stable code and message, and by leaving the record as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from adapters.record.record import Record
from domain.clock import add_days, add_months, local_date, start_of
from domain.ententes import commands as c
from domain.ententes.model import MAX_ANNEXES, MAX_ITEMS, Annex, Duration, EntenteContent
from domain.ententes.state import EntentePolicy, EntenteStatus
from domain.errors import DomainError
from domain.values import MAX_COMMAND_BYTES
from tests.factories import service_entente
from usecases.ententes import Ententes

T0 = datetime(2026, 11, 2, 19, 0, tzinfo=UTC)  # a weekday afternoon in Montréal
PARTIES = ["cisss-laval", "cc-laval"]


@pytest.fixture
def ententes() -> Iterator[Ententes]:
    record = Record({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield Ententes(record, EntentePolicy())
    record.close()


def draft(e: Ententes, content: EntenteContent, code: str = "ENT-1", at: datetime = T0) -> None:
    e.draft(c.DraftEntente(by="superviseur", code=code, content=content, command_id=f"{code}/draft"), at)


def sign_all(e: Ententes, at: datetime, code: str = "ENT-1") -> None:
    for party in PARTIES:
        e.execute(code, c.SignEntente(by=party, party_id=party, version=1, signatory=f"DG {party}"), at)


def moments(e: Ententes, code: str = "ENT-1") -> list[tuple[str, datetime]]:
    return [(h["event"], h["at"]) for h in e.history(code)]


def refused(e: Ententes, cmd: c.Command, at: datetime, code: str, *parts: str) -> DomainError:
    before = len(e.history("ENT-1"))
    with pytest.raises(DomainError) as info:
        e.execute("ENT-1", cmd, at)
    assert info.value.code == code, (info.value.code, info.value.message)
    for part in parts:
        assert part in info.value.message, (part, info.value.message)
    assert len(e.history("ENT-1")) == before
    return info.value


def one_error(err: pytest.ExceptionInfo[ValidationError]) -> str:
    errors = err.value.errors()
    assert len(errors) == 1, errors
    return str(errors[0]["msg"])


# ---------------------------------------------------------------------- 1. a past effective date
def test_an_effective_date_already_past_takes_effect_at_the_last_signature(ententes: Ententes) -> None:
    """An entente drafted with `effective_date` 2024-01-01 and signed in Nov. 2026 takes effect on the
    day of its last signature, and owes its first review a year after that: no back-dated activation,
    no burst of 23 `ReviewEscalated` for reviews "missed" before it existed."""
    draft(ententes, service_entente(effective=date(2024, 1, 1)))
    ententes.execute("ENT-1", c.SubmitForSignature(by="s"), T0)
    signed = T0 + timedelta(days=3)
    sign_all(ententes, signed)
    view = ententes.advance("ENT-1", signed)
    assert view.status is EntenteStatus.ACTIVE
    assert view.activated_on == local_date(signed) == date(2026, 11, 5)
    assert view.next_review_due == add_months(date(2026, 11, 5), 12)
    assert view.review_escalations == 0
    names = [name for name, _ in moments(ententes)]
    assert names == ["Drafted", "SubmittedForSignature", "Signed", "Signed", "Activated"]
    assert moments(ententes)[-1] == ("Activated", signed)
    # A month later nothing more is due.
    assert ententes.advance("ENT-1", signed + timedelta(days=30)).event_count == 5


def test_an_amendment_keeping_a_past_effective_date_takes_effect_at_its_last_signature(
    ententes: Ententes,
) -> None:
    """A renewal copies the version in force, effective date included: once signed, it takes effect at
    its last signature, not on the original (past) effective date."""
    draft(ententes, service_entente(effective=date(2027, 1, 1)))
    ententes.execute("ENT-1", c.SubmitForSignature(by="s"), T0)
    sign_all(ententes, T0)
    ententes.advance("ENT-1", start_of(date(2027, 1, 1)))
    later = start_of(date(2027, 6, 1)) + timedelta(hours=15)
    ententes.execute("ENT-1", c.ProposeRenewal(by="comite", end_date=date(2030, 12, 31), reason="3 ans"), later)
    ententes.execute("ENT-1", c.SubmitForSignature(by="s"), later)
    for party in PARTIES:
        ententes.execute("ENT-1", c.SignEntente(by=party, party_id=party, version=2, signatory="DG"), later)
    view = ententes.advance("ENT-1", later + timedelta(minutes=1))
    assert view.in_force_version == 2
    assert moments(ententes)[-1] == ("AmendmentInForce", later)


def test_no_calendar_event_is_dated_before_what_caused_it(ententes: Ententes) -> None:
    """A revocation with no notice period, effective today, is recorded at the notice, not at the
    midnight before it; every event of the record is dated no earlier than the one before it."""
    draft(ententes, service_entente(effective=None, notice_days=0))
    ententes.execute("ENT-1", c.SubmitForSignature(by="s"), T0)
    sign_all(ententes, T0)
    ententes.advance("ENT-1", T0)
    noticed = T0 + timedelta(days=1)
    ententes.execute("ENT-1", c.GiveRevocationNotice(by="cc", party_id="cc-laval", reason="fermeture",
                                                     effective_date=local_date(noticed)), noticed)
    view = ententes.advance("ENT-1", noticed + timedelta(seconds=1))
    assert view.status is EntenteStatus.REVOKED and view.ended_on == local_date(noticed)
    recorded = moments(ententes)
    assert recorded[-1] == ("Revoked", noticed)
    assert [at for _, at in recorded] == sorted(at for _, at in recorded)


def test_a_date_outside_2000_to_2099_is_refused_where_it_is_typed() -> None:
    """Dates of an entente lie between 2000 and 2099: 1924 or 2124 is a typing error, refused with one line."""
    with pytest.raises(ValidationError) as err:
        Duration(effective_date=date(1924, 1, 1))
    assert one_error(err) == "Value error, 1924-01-01 is not a plausible date (expected 2000–2099)"
    with pytest.raises(ValidationError) as err:
        c.ProposeRenewal(by="comite", end_date=date(2124, 12, 31), reason="r")
    assert one_error(err) == "Value error, 2124-12-31 is not a plausible date (expected 2000–2099)"


# ---------------------------------------------------------------------- 2. implausible moments
def test_a_naive_signature_deadline_is_refused() -> None:
    """A moment without a time zone means something different on every machine: refused at the boundary."""
    with pytest.raises(ValidationError) as err:
        c.SubmitForSignature(by="s", signature_deadline=datetime(2027, 1, 1))
    assert one_error(err) == "Input should have timezone info"
    with pytest.raises(ValidationError) as err:
        c.Advance(by="s", now=datetime(2027, 1, 1))
    assert one_error(err) == "Input should have timezone info"


def test_a_signature_deadline_beyond_the_policy_maximum_is_refused(ententes: Ententes) -> None:
    """A deadline more than `max_signature_period_days` (365) ahead is implausible (`date_implausible`);
    one in the past is refused (`deadline_in_past`); one within the year is accepted."""
    draft(ententes, service_entente())
    refused(ententes, c.SubmitForSignature(by="s", signature_deadline=T0 + timedelta(days=366)), T0,
            "date_implausible", "more than 365 days ahead")
    refused(ententes, c.SubmitForSignature(by="s", signature_deadline=T0 - timedelta(hours=1)), T0,
            "deadline_in_past", "must be in the future")
    view = ententes.execute("ENT-1", c.SubmitForSignature(by="s", signature_deadline=T0 + timedelta(days=365)), T0)
    assert view.proposal is not None and view.proposal.signature_deadline == T0 + timedelta(days=365)


def test_the_maximum_signature_period_is_the_policy_s() -> None:
    """The default signature period may not exceed the configured maximum."""
    assert EntentePolicy().max_signature_period_days == 365
    with pytest.raises(ValidationError) as err:
        EntentePolicy(signature_period_days=90, max_signature_period_days=60)
    assert "exceeds the maximum signature period" in one_error(err)


def test_renewal_and_revocation_dates_beyond_the_horizon_are_refused(ententes: Ententes) -> None:
    """A renewal ending, or a revocation taking effect, more than the policy's horizon (25 years) ahead
    is refused (`date_implausible`)."""
    draft(ententes, service_entente(effective=None))
    ententes.execute("ENT-1", c.SubmitForSignature(by="s"), T0)
    sign_all(ententes, T0)
    ententes.advance("ENT-1", T0)
    refused(ententes, c.ProposeRenewal(by="comite", end_date=date(2060, 1, 1), reason="r"), T0,
            "date_implausible", "a renewal's end date 2060-01-01 is more than 25 years ahead")
    refused(ententes, c.GiveRevocationNotice(by="cc", party_id="cc-laval", reason="r",
                                             effective_date=date(2060, 1, 1)), T0,
            "date_implausible", "a revocation's effective date 2060-01-01 is more than 25 years ahead")


def test_a_draft_ending_beyond_the_horizon_is_not_submitted(ententes: Ententes) -> None:
    draft(ententes, service_entente(effective=None, end=date(2099, 12, 31)))
    refused(ententes, c.SubmitForSignature(by="s"), T0, "date_implausible",
            "the end date 2099-12-31 is more than 25 years ahead")


# ---------------------------------------------------------------------- 3. sizes
def test_a_command_over_the_byte_budget_is_refused_before_it_is_recorded(ententes: Ententes) -> None:
    """A version with annexes totalling more than MAX_COMMAND_BYTES is refused when the command is
    built: recorded, it would exceed Temporal's payload limit for every later command."""
    # Every list within its bound, every text within 4,000 characters: the whole is still too large.
    annexes = [Annex(title=f"Annexe {i}", text="é" * 3990) for i in range(MAX_ANNEXES)]
    big = service_entente().model_copy(update={"annexes": annexes, "clienteles": ["à" * 3990] * MAX_ITEMS})
    with pytest.raises(ValidationError) as err:
        c.DraftEntente(by="s", code="ENT-1", content=big)
    message = one_error(err)
    assert message.startswith("Value error, the command is ")
    assert message.endswith(f"bytes; the limit is {MAX_COMMAND_BYTES:,} bytes (256 KiB)")
    with pytest.raises(Exception, match="no entente with code ENT-1"):
        ententes.history("ENT-1")


def test_the_lists_of_a_version_are_bounded() -> None:
    data: dict[str, Any] = service_entente().model_dump(mode="json")
    data["annexes"] = [{"title": f"A{i}", "text": "x"} for i in range(MAX_ANNEXES + 1)]
    with pytest.raises(ValidationError) as err:
        EntenteContent.model_validate(data)
    assert one_error(err) == f"List should have at most {MAX_ANNEXES} items after validation, not {MAX_ANNEXES + 1}"


# ---------------------------------------------------------------------- 4. codes and text
def test_codes_are_normalised_and_control_characters_refused() -> None:
    """`ent-lav-2026-01` is `ENT-LAV-2026-01`; party ids are lower-case; a terminal escape in a
    title, a signatory or `by` is refused."""
    cmd = c.DraftEntente(by="s", code=" ent-lav-2026-01 ", content=service_entente())
    assert cmd.code == "ENT-LAV-2026-01"
    sign = c.SignEntente(by="s", party_id="CC-Laval", version=1, signatory="Luc Côté")
    assert sign.party_id == "cc-laval"
    for fields in ({"signatory": "Luc\x1b[2J"}, {"signatory": "Luc", "by": "x\x1b]0;t\x07"},
                   {"signatory": "Luc", "title": "DG\u202e"}):
        with pytest.raises(ValidationError) as err:
            c.SignEntente(**{"by": "s", "party_id": "cc-laval", "version": 1, **fields})
        assert "may not contain control characters" in one_error(err)
    with pytest.raises(ValidationError) as err:
        service_entente(title="Entente\x1b[2J")
    assert one_error(err) == "Value error, a name or title may not contain control characters (found U+001B)"


def test_the_review_calendar_starts_at_activation_even_when_the_wake_up_is_late(ententes: Ententes) -> None:
    """A worker down for two years wakes an entente with a past effective date: the activation is dated at
    the last signature, and the reviews that follow fall due from there, not from the effective date."""
    draft(ententes, service_entente(effective=date(2024, 1, 1)))
    ententes.execute("ENT-1", c.SubmitForSignature(by="s"), T0)
    sign_all(ententes, T0)
    ententes.advance("ENT-1", add_days_moment(T0, 400))
    history = moments(ententes)
    activated = [at for name, at in history if name == "Activated"]
    assert activated == [T0]
    assert [name for name, _ in history].count("ReviewDue") == 1
    due = next(h for h in ententes.history("ENT-1") if h["event"] == "ReviewDue")
    assert due["due_on"] == add_months(local_date(T0), 12).isoformat()


def add_days_moment(moment: datetime, days: int) -> datetime:
    return start_of(add_days(local_date(moment), days)) + timedelta(hours=12)
