"""The register: every decision recorded, communications registered, emergencies recorded and
reviewed, refusals reasoned; the person obtains the entries about them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from adapters.record.record import Record, event_name, event_payload
from domain.disclosure import commands as c
from domain.disclosure.model import Outcome
from domain.disclosure.register import for_reader, register_id
from domain.disclosure.roles import PurposeKind, Role
from domain.errors import RuleViolation
from tests.disclosure_builders import (
    AFTER,
    CONFIG,
    EMERGENCY_CONDITIONS,
    PARTNER,
    SUBJECT,
    active_entente,
    context,
    grant,
    particulars,
    request,
)
from usecases.disclosure import Disclosures


@pytest.fixture
def app(store_env: dict[str, str]) -> Iterator[Disclosures]:
    """Over the store under test (SQLite, then PostgreSQL)."""
    rec = Record(store_env)
    yield Disclosures(rec, CONFIG)
    rec.close()


def names(app: Disclosures) -> list[str]:
    rid = register_id(SUBJECT)
    return [event_name(e) for e in app.record.stream(rid)] if rid in app.record.repository else []


def partner_ctx() -> object:
    return context(consents=None).model_copy(update={"consents": None, "ententes": [active_entente()]})


def partner_req(**kw: Any) -> c.RequestAccess:
    kw.setdefault("command_id", "req-1")
    return request(Role.PARTNER_ORG, PurposeKind.CONTINUITY, by="agent-cc", recipient_id=PARTNER,
                   agreement_purpose="continuité de l'intervention de crise", items=["motif", "niveau d'urgence"],
                   intended_use="prise en charge par l'équipe mobile", justification="consentement écrit", **kw)


def emergency(**kw: object) -> c.DiscloseInEmergency:
    return c.DiscloseInEmergency.model_validate({
        "by": "intervenant-7", "command_id": "urg-1", "subject_id": SUBJECT, "recipient_id": PARTNER,
        "recipient_role": Role.PARTNER_ORG, "items": ["motif", "estimation du risque"],
        "attestations": EMERGENCY_CONDITIONS, "particulars": particulars(), **kw,
    })


def test_communication_under_consent_is_decided_registered_and_obtainable(app: Disclosures) -> None:
    """LSSSS 27.2 / LRSSS 265 (with s. 18): every communication outside the care team is registered with
    nature, recipient, intended use, purpose and justification; the person obtains the entries."""
    app.grant_consent(grant(), AFTER)
    d = app.decide_and_record(partner_req(), partner_ctx(), AFTER)  # type: ignore[arg-type]
    assert d.outcome is Outcome.ALLOWED and d.basis is not None and d.basis.consent_id
    assert names(app) == ["Opened", "AccessDecided", "CommunicationRegistered"]
    (entry,) = app.entries_about(SUBJECT)
    assert entry.recipient_id == PARTNER and entry.nature == ["motif", "niveau d'urgence"]
    assert entry.purpose is PurposeKind.CONTINUITY and entry.register_article == "LRSSS-265"
    assert entry.intended_use == "prise en charge par l'équipe mobile"
    assert entry.justification == "consentement écrit"


def test_every_read_is_logged_with_who_what_when_purpose_basis(app: Disclosures) -> None:
    """LRSSS 103 (once in force; policy until then): every access, allowed or not, is logged."""
    app.decide_and_record(request(Role.USAGER, PurposeKind.SELF_ACCESS, by=SUBJECT, command_id="r1"), context())
    app.decide_and_record(request(Role.RESEARCHER, PurposeKind.CARE, by="x", command_id="r2"), context())
    (mine, theirs) = app.accesses(subject_id=SUBJECT)
    assert (mine.actor_id, mine.allowed, mine.moment, mine.purpose, mine.basis.code) == (  # type: ignore[union-attr]
        SUBJECT, ["motif"], AFTER, PurposeKind.SELF_ACCESS, "LRSSS-17")
    assert mine.log_article == "POL-JOURNAL"
    assert theirs.outcome is Outcome.REFUSED and theirs.basis is None
    assert [a.actor_id for a in app.accesses(actor_id="x")] == ["x"]


def test_refusal_is_recorded_with_article_recourse_and_deadline(app: Disclosures) -> None:
    """LSSSS 27: reasoned refusal, article relied on, recourse and the 60-day deadline from notification."""
    app.decide_and_record(request(Role.USAGER, PurposeKind.SELF_ACCESS, by=SUBJECT, command_id="r1"), context(age=12))
    assert names(app) == ["Opened", "AccessDecided", "RefusalIssued"]
    (refusal,) = app.register(SUBJECT).refusals
    assert refusal.article == "LRSSS-21" and refusal.recourse_deadline == AFTER.date() + timedelta(days=60)


def test_decision_is_idempotent(app: Disclosures) -> None:
    """A retried activity records nothing twice: the same request id returns the first decision."""
    app.grant_consent(grant(), AFTER)
    first = app.decide_and_record(partner_req(), partner_ctx())  # type: ignore[arg-type]
    again = app.decide_and_record(partner_req(), partner_ctx())  # type: ignore[arg-type]
    assert first == again and names(app).count("AccessDecided") == 1


def test_emergency_disclosure_is_recorded_registered_and_queued_for_review(app: Disclosures) -> None:
    """LRSSS 74 / LSSSS 19.0.1 with physicians' code s. 21: date and time, person in danger, recipient,
    danger and urgency, what, why and how; registered; queued for a supervisor."""
    view = app.emergency_disclosure(emergency(), context(), AFTER + timedelta(minutes=20))
    assert view.basis_code == "LRSSS-74" and view.items == ["motif", "estimation du risque"]
    assert view.particulars.person_or_group_in_danger == "la personne elle-même" and view.pending
    assert names(app) == ["Opened", "AccessDecided", "CommunicationRegistered", "EmergencyDisclosureRecorded"]
    recorded = next(e for e in app.record.stream(register_id(SUBJECT))
                    if event_name(e) == "EmergencyDisclosureRecorded")
    payload = event_payload(recorded)
    assert payload["subject_id"] == SUBJECT
    assert payload["personal"]["danger"] == "plan précis et moyens à portée de main"
    assert "danger" not in payload and payload["recipient_capacity"] == "personne_pouvant_porter_secours"
    assert for_reader(payload, Role.AUDITOR)["personal"] == "<retenu>"
    assert app.pending_reviews() == [view]
    report = app.exceptions(AFTER + timedelta(days=3))
    assert report.emergencies == [view] and report.overdue_reviews == [view]
    assert report.without_consent_by_basis == {"LRSSS-74": 1} and report.expired_consent_uses == []
    again = app.emergency_disclosure(emergency(), context(), AFTER + timedelta(minutes=20))
    assert again == view and names(app).count("EmergencyDisclosureRecorded") == 1


def test_emergency_without_every_condition_is_refused_and_leaves_no_event(app: Disclosures) -> None:
    """LSSSS 19.0.1 / LRSSS 74: without consent only when the conditions are attested; nothing is recorded."""
    with pytest.raises(RuleViolation) as err:
        app.emergency_disclosure(emergency(attestations=EMERGENCY_CONDITIONS[1:]), context(), AFTER)
    assert err.value.code == "emergency_refused" and "motif_raisonnable" in err.value.message
    assert names(app) == []


def test_supervisor_reviews_an_emergency_disclosure_once(app: Disclosures) -> None:
    """Digest 3.4 R16-R17: post-hoc review by a supervisor, not by the person who disclosed."""
    view = app.emergency_disclosure(emergency(), context(), AFTER)
    review = c.ReviewEmergencyDisclosure(by="dsp-1", command_id="rev-1", subject_id=SUBJECT,
                                         disclosure_id=view.disclosure_id, reviewer_role=Role.SUPERVISOR,
                                         conforming=True, notes="conforme à la directive")
    refusals: list[tuple[dict[str, Any], str]] = [({"reviewer_role": Role.INTERVENANT}, "not_a_supervisor"),
                                                 ({"by": "intervenant-7"}, "self_review")]
    for bad, code in refusals:
        with pytest.raises(RuleViolation) as err:
            app.review_emergency(review.model_copy(update=bad), AFTER)
        assert err.value.code == code
    before = len(names(app))
    done = app.review_emergency(review, AFTER + timedelta(hours=5))
    assert done.review is not None and done.review.conforming and not done.pending
    assert app.review_emergency(review, AFTER + timedelta(hours=5)) == done  # retried: nothing new
    assert len(names(app)) == before + 1
    with pytest.raises(RuleViolation):
        app.review_emergency(review.model_copy(update={"command_id": "rev-2"}), AFTER)
    assert app.pending_reviews() == []


def test_use_of_a_consent_withdrawn_earlier_shows_in_exceptions(app: Disclosures) -> None:
    """LRSSS 6: a withdrawn consent gives no access; the exception report re-checks every consent used."""
    app.grant_consent(grant(), AFTER - timedelta(days=5))
    app.decide_and_record(partner_req(), partner_ctx(), AFTER)  # type: ignore[arg-type]
    assert app.exceptions(AFTER).expired_consent_uses == []
    # A withdrawal entered late, effective before the use, is caught by the audit.
    app.withdraw_consent(c.WithdrawConsent(by=SUBJECT, subject_id=SUBJECT, consent_key="F-1",
                                           withdrawn_at=AFTER - timedelta(days=1)), AFTER + timedelta(days=1))
    (used,) = app.exceptions(AFTER).expired_consent_uses
    assert used == "req-1"
    d = app.decide_and_record(partner_req(command_id="req-2"), partner_ctx())  # type: ignore[arg-type]
    assert d.outcome is Outcome.REFUSED and d.refusal is not None and d.refusal.code == "consent_retire"


def test_register_replays_as_of_any_event(app: Disclosures) -> None:
    """The event store is the legal record: the register can be read as it stood after any event."""
    app.decide_and_record(request(Role.USAGER, PurposeKind.SELF_ACCESS, by=SUBJECT, command_id="r1"), context())
    app.decide_and_record(request(Role.USAGER, PurposeKind.SELF_ACCESS, by=SUBJECT, command_id="r2"), context())
    assert len(app.register(SUBJECT, as_of_event=2).accesses) == 1
    assert len(app.register(SUBJECT).accesses) == 2
    with pytest.raises(RuleViolation):
        for_reader({"personal": {}}, Role.USAGER)
