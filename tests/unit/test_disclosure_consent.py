"""Consent as its own aggregate: complete or refused, capacity by age, one purpose, withdrawal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from adapters.record.record import Record, event_name, event_payload
from domain.disclosure.commands import WithdrawConsent
from domain.disclosure.consent import consent_id
from domain.disclosure.model import ConsentForm, ConsentState, GrantorCapacity
from domain.disclosure.roles import PurposeKind
from domain.errors import RuleViolation
from tests.disclosure_builders import AFTER, BEFORE, CONFIG, SUBJECT, grant
from usecases.disclosure import Disclosures


@pytest.fixture
def app(store_env: dict[str, str]) -> Iterator[Disclosures]:
    """Over the store under test (SQLite, then PostgreSQL)."""
    rec = Record(store_env)
    yield Disclosures(rec, CONFIG)
    rec.close()


def events(app: Disclosures, key: str) -> list[str]:
    return [event_name(e) for e in app.record.stream(consent_id(SUBJECT, key))] if consent_id(
        SUBJECT, key) in app.record.repository else []


@pytest.mark.parametrize(("field", "value", "message"), [
    ("purpose", None, "must name purpose"),
    ("recipients", [], "must name recipients"),
    ("items", [], "must name items"),
    ("form", None, "must name form"),
    ("valid_until", None, "must name valid_until"),
])
def test_incomplete_consent_is_refused_and_leaves_no_event(app: Disclosures, field: str, value: Any,
                                                            message: str) -> None:
    """LRSSS 6 (LSSSS 19.1 for research): a consent missing a required element has no effect."""
    with pytest.raises(RuleViolation, match=message) as err:
        app.grant_consent(grant(**{field: value}), AFTER)
    assert err.value.code == "consent_incomplete" and "LRSSS-6" in err.value.message
    assert events(app, "F-1") == []


def test_consent_must_be_free_and_informed(app: Disclosures) -> None:
    """LSSSS 19.1 / LRSSS 6: manifest, free and informed."""
    with pytest.raises(RuleViolation) as err:
        app.grant_consent(grant(free_and_informed=False), AFTER)
    assert err.value.code == "consent_not_free_informed"


def test_research_consent_must_be_written(app: Disclosures) -> None:
    """LSSSS 19.1: consent for study, teaching or research is written or without effect."""
    with pytest.raises(RuleViolation, match=r"LSSSS-19\.1") as err:
        app.grant_consent(grant(purpose=PurposeKind.RESEARCH, form=ConsentForm.VERBAL, at=BEFORE), BEFORE)
    assert err.value.code == "consent_not_written"


def test_written_consent_is_presented_separately_with_its_document(app: Disclosures) -> None:
    """LRSSS 6: a written request for consent is set apart from any other information."""
    with pytest.raises(RuleViolation) as err:
        app.grant_consent(grant(presented_separately=False), AFTER)
    assert err.value.code == "consent_not_separate"
    with pytest.raises(RuleViolation) as err:
        app.grant_consent(grant(document_ref=None), AFTER)
    assert err.value.code == "consent_document_missing"


def test_capacity_self_from_14_parent_under_14(app: Disclosures) -> None:
    """LRSSS 6 para 4: under 14 through the parent or tutor; 14 or over, the minor alone."""
    with pytest.raises(RuleViolation) as err:
        app.grant_consent(grant(age=13), AFTER)
    assert err.value.code == "capacity_under_14"
    with pytest.raises(RuleViolation) as err:
        app.grant_consent(grant(age=14, capacity=GrantorCapacity.PARENT_OR_TUTOR, grantor_id="parent-1"), AFTER)
    assert err.value.code == "capacity_14_plus"
    by_parent = app.grant_consent(grant(key="F-2", age=13, capacity=GrantorCapacity.PARENT_OR_TUTOR,
                                        grantor_id="parent-1"), AFTER)
    assert by_parent.capacity is GrantorCapacity.PARENT_OR_TUTOR and by_parent.capacity_article == "LRSSS-6"
    assert app.grant_consent(grant(key="F-3", age=14), AFTER).capacity is GrantorCapacity.SELF


def test_representative_and_heir_show_proof(app: Disclosures) -> None:
    """LSSSS 19 ('person who may consent on the user's behalf'); digest 3.5 R20: capacity proof."""
    with pytest.raises(RuleViolation) as err:
        app.grant_consent(grant(capacity=GrantorCapacity.REPRESENTATIVE, grantor_id="curateur-1"), AFTER)
    assert err.value.code == "capacity_proof_missing"
    with pytest.raises(RuleViolation) as err:
        app.grant_consent(grant(capacity=GrantorCapacity.HEIR, grantor_id="h-1", capacity_proof_ref="testament"),
                          AFTER)
    assert err.value.code == "capacity_heir_alive"


def test_birth_date_is_never_recorded_and_free_text_is_personal(app: Disclosures) -> None:
    """LRSSS 5 (minimum identifying form): only the capacity decision is recorded; free text sits in `personal`."""
    cmd = grant()
    app.grant_consent(cmd, AFTER)
    (granted,) = list(app.record.stream(consent_id(SUBJECT, "F-1")))
    payload = event_payload(granted)
    assert cmd.subject_birth_date is not None
    assert cmd.subject_birth_date.isoformat() not in repr(payload)
    assert payload["subject_id"] == SUBJECT and payload["capacity"] == "soi_meme"
    assert payload["personal"]["purpose_text"] == cmd.purpose_text
    assert "purpose_text" not in payload


def test_validity_period_expiry_and_withdrawal(app: Disclosures) -> None:
    """LRSSS 6 / LSSSS 19.1: valid only for the time needed; withdrawn consent gives no access after."""
    cmd = grant()
    view = app.grant_consent(cmd, AFTER)
    assert cmd.valid_from is not None and cmd.valid_until is not None
    assert view.state_at(cmd.valid_from - timedelta(seconds=1)) is ConsentState.NOT_YET_VALID
    assert view.state_at(AFTER) is ConsentState.VALID
    assert view.state_at(cmd.valid_until) is ConsentState.EXPIRED
    w = WithdrawConsent(by=SUBJECT, command_id="w-1", subject_id=SUBJECT, consent_key="F-1",
                        withdrawn_at=AFTER + timedelta(days=1))
    view = app.withdraw_consent(w, AFTER + timedelta(days=1))
    assert view.state_at(AFTER) is ConsentState.VALID  # before the withdrawal it was valid
    assert view.state_at(AFTER + timedelta(days=2)) is ConsentState.WITHDRAWN
    app.withdraw_consent(w, AFTER + timedelta(days=1))  # retried: nothing new
    assert events(app, "F-1") == ["Granted", "Withdrawn"]
    with pytest.raises(RuleViolation) as err:
        app.withdraw_consent(w.model_copy(update={"command_id": "w-2"}), AFTER + timedelta(days=3))
    assert err.value.code == "already_withdrawn"
    assert events(app, "F-1") == ["Granted", "Withdrawn"]


def test_grant_is_idempotent_by_business_key(app: Disclosures) -> None:
    """A retried grant (same key, same command) returns the consent it made; another command is a duplicate."""
    first = app.grant_consent(grant(), AFTER)
    again = app.grant_consent(grant(), AFTER)
    assert first == again and events(app, "F-1") == ["Granted"]
    with pytest.raises(Exception, match="already exists"):
        app.grant_consent(grant().model_copy(update={"command_id": "other"}), AFTER)
    assert [v.consent_key for v in app.consents_for(SUBJECT)] == ["F-1"]
