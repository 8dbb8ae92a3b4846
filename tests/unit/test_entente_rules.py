"""The lifecycle rules of an entente, one rule per test, on the domain alone (no server).

Each test drives the use cases (`Ententes`) over an in-memory event store, as the
activities do, giving the business moment `at` explicitly: rules never read the
wall clock. Every refusal is checked for its stable code, the key parts of its
message, and for leaving the record exactly as it was.
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
from domain.ententes import rules
from domain.ententes.model import (
    EntenteContent,
    EntenteKind,
    EntenteObject,
    InformationSharing,
    OrganisationType,
    Party,
    ServiceCode,
    ServiceOffer,
)
from domain.ententes.state import (
    EntentePolicy,
    EntenteStatus,
    EntenteView,
    ProposalPurpose,
    ProposalStage,
    ReviewOutcome,
)
from domain.errors import DomainError, NotFound
from tests.factories import CENTRE_CRISE, CISSS, CPS, entente_cadre, service_entente
from usecases.ententes import Ententes

# A weekday afternoon in Montréal, two months before the factories' effective date (2027-01-01).
T0 = datetime(2026, 11, 2, 19, 0, tzinfo=UTC)
EFFECTIVE = date(2027, 1, 1)
SERVICE_PARTIES = ["cisss-laval", "cc-laval"]
CADRE_PARTIES = ["cisss-laval", "cc-laval", "cps-laval"]


@pytest.fixture
def ententes() -> Iterator[Ententes]:
    record = Record({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield Ententes(record, EntentePolicy())
    record.close()


# ---------------------------------------------------------------------- helpers
def names(e: Ententes, code: str) -> list[str]:
    return [h["event"] for h in e.history(code)]


def count(e: Ententes, code: str) -> int:
    return len(e.history(code))


def draft(e: Ententes, code: str = "ENT-1", content: EntenteContent | None = None, at: datetime = T0) -> None:
    e.draft(c.DraftEntente(by="superviseur", code=code, content=content or service_entente(),
                             command_id=f"{code}/draft"), at)


def submit(e: Ententes, code: str = "ENT-1", at: datetime = T0, **kw: Any) -> EntenteView:
    return e.execute(code, c.SubmitForSignature(by="superviseur", **kw), at)


def sign(e: Ententes, party: str, version: int = 1, code: str = "ENT-1", at: datetime = T0,
         command_id: str = "") -> EntenteView:
    return e.execute(
        code, c.SignEntente(by=party, party_id=party, version=version, signatory=f"DG {party}",
                              command_id=command_id), at,
    )


def sign_all(e: Ententes, parties: list[str], version: int = 1, code: str = "ENT-1",
             at: datetime = T0) -> EntenteView:
    view = e.view(code)
    for p in parties:
        view = sign(e, p, version, code, at)
    return view


def refused(e: Ententes, code: str, cmd: c.Command, at: datetime, expected: str, *parts: str) -> DomainError:
    """Assert the command is refused with `expected` and that nothing was recorded."""
    before = count(e, code)
    view_before = e.view(code)
    with pytest.raises(DomainError) as info:
        e.execute(code, cmd, at)
    assert info.value.code == expected, info.value.message
    for part in parts:
        assert part in info.value.message, (part, info.value.message)
    assert count(e, code) == before
    assert e.view(code) == view_before
    return info.value


def active(e: Ententes, code: str = "ENT-1", content: EntenteContent | None = None,
           parties: list[str] = SERVICE_PARTIES) -> EntenteView:
    """An entente signed by every party and activated on its effective date."""
    draft(e, code, content)
    submit(e, code)
    sign_all(e, parties, code=code)
    view = e.advance(code, start_of(EFFECTIVE))
    assert view.status is EntenteStatus.ACTIVE
    return view


# ---------------------------------------------------------------------- drafting
def test_drafting_keeps_every_version_and_diffs_them(ententes: Ententes) -> None:
    """Drafting in versions: each revision is a new numbered version, earlier texts stay readable,
    and two versions compare field by field."""
    draft(ententes)
    v2 = service_entente(title="Intervention de crise — Laval (révisée)")
    ententes.execute("ENT-1", c.ReviseDraft(by="conseillere", content=v2, reason="titre"), T0 + timedelta(days=1))
    v3 = service_entente(title="Intervention de crise — Laval (révisée)", notice_days=120)
    view = ententes.execute("ENT-1", c.ReviseDraft(by="conseillere", content=v3, reason="préavis"),
                            T0 + timedelta(days=2))

    assert [v.number for v in view.versions] == [1, 2, 3]
    assert [v.reason for v in view.versions] == ["version initiale", "titre", "préavis"]
    assert view.versions[1].author == "conseillere"
    assert [v.fingerprint for v in view.versions] == [
        service_entente().fingerprint(), v2.fingerprint(), v3.fingerprint()
    ]
    assert view.status is EntenteStatus.DRAFT and view.latest_version == 3
    assert view.proposal is not None and view.proposal.version == 3
    assert ententes.content("ENT-1", 1) == service_entente()

    changes = ententes.diff("ENT-1", 1, 2)
    assert [(ch.path, ch.kind) for ch in changes] == [("title", "changed")]
    assert changes[0].before == "Intervention de crise dans le milieu — Laval"
    assert changes[0].after == "Intervention de crise — Laval (révisée)"
    assert [ch.path for ch in ententes.diff("ENT-1", 2, 3)] == ["provisions.revocation_notice_days"]
    with pytest.raises(NotFound, match="has no version 4"):
        ententes.diff("ENT-1", 1, 4)
    assert names(ententes, "ENT-1") == ["Drafted", "DraftRevised", "DraftRevised"]


def test_signature_is_bound_to_the_fingerprint_of_the_signed_version(ententes: Ententes) -> None:
    """A signature records the version and the SHA-256 of its exact canonical text."""
    draft(ententes)
    submit(ententes)
    view = sign(ententes, "cisss-laval", at=T0 + timedelta(hours=2))
    assert view.proposal is not None
    [sig] = view.proposal.signatures
    assert sig.party_id == "cisss-laval" and sig.version == 1
    assert sig.fingerprint == service_entente().fingerprint() == view.versions[0].fingerprint
    assert len(sig.fingerprint) == 64
    assert sig.at == T0 + timedelta(hours=2)
    # The recorded event carries the fingerprint too: the legal record says what was signed.
    signed = ententes.history("ENT-1")[-1]
    assert signed["event"] == "Signed"
    assert signed["fingerprint"] == sig.fingerprint and signed["version"] == 1
    # Any change to the text changes the fingerprint.
    assert service_entente(notice_days=91).fingerprint() != sig.fingerprint


def test_a_change_after_any_signature_voids_the_signatures(ententes: Ententes) -> None:
    """Revising a version some parties signed makes a new version back in drafting, with no signature."""
    draft(ententes)
    submit(ententes)
    sign(ententes, "cisss-laval")
    view = ententes.execute("ENT-1", c.ReviseDraft(by="conseillere", content=service_entente(notice_days=60),
                                                   reason="préavis réduit"), T0 + timedelta(days=1))
    assert view.proposal is not None
    assert view.proposal.version == 2
    assert view.proposal.stage is ProposalStage.DRAFTING
    assert view.proposal.signatures == []
    assert view.status is EntenteStatus.DRAFT
    # Signing now is refused: nothing awaits signatures until version 2 is submitted.
    refused(ententes, "ENT-1", c.SignEntente(by="x", party_id="cc-laval", version=2, signatory="DG"),
            T0 + timedelta(days=1), "not_in_signature", "not awaiting signatures")
    assert names(ententes, "ENT-1") == ["Drafted", "SubmittedForSignature", "Signed", "DraftRevised"]


def test_signature_on_a_superseded_version_is_refused(ententes: Ententes) -> None:
    """Once version 2 is submitted, signing (or refusing) version 1 is refused: `superseded_version`."""
    draft(ententes)
    submit(ententes)
    sign(ententes, "cisss-laval")
    ententes.execute("ENT-1", c.ReviseDraft(by="conseillere", content=service_entente(notice_days=60)), T0)
    submit(ententes)
    later = T0 + timedelta(days=1)
    refused(ententes, "ENT-1", c.SignEntente(by="cc", party_id="cc-laval", version=1, signatory="DG"), later,
            "superseded_version", "version 1", "version 2 is the one to sign")
    refused(ententes, "ENT-1", c.RefuseSignature(by="cc", party_id="cc-laval", version=1, reason="non"), later,
            "superseded_version", "version 1 is superseded by version 2")
    view = sign_all(ententes, SERVICE_PARTIES, version=2, at=later)
    assert view.status is EntenteStatus.SIGNED
    assert view.proposal is not None
    assert {s.fingerprint for s in view.proposal.signatures} == {service_entente(notice_days=60).fingerprint()}


def test_a_party_outside_the_agreement_cannot_sign(ententes: Ententes) -> None:
    """Only the parties named in the version may sign, refuse, withdraw or revoke: `not_a_party`."""
    draft(ententes)
    submit(ententes)
    refused(ententes, "ENT-1", c.SignEntente(by="cps", party_id="cps-laval", version=1, signatory="DG"), T0,
            "not_a_party", "cps-laval is not a party to entente ENT-1", "cisss-laval, cc-laval")
    refused(ententes, "ENT-1", c.RefuseSignature(by="cps", party_id="cps-laval", version=1, reason="non"), T0,
            "not_a_party", "cps-laval")
    refused(ententes, "ENT-1", c.WithdrawFromEntente(by="cps", party_id="cps-laval", reason="non"), T0,
            "not_a_party", "cps-laval")
    # An outsider's signature on a superseded version is still "not a party" (who before which).
    refused(ententes, "ENT-1", c.SignEntente(by="cps", party_id="cps-laval", version=7, signatory="DG"), T0,
            "not_a_party")
    sign_all(ententes, SERVICE_PARTIES)
    ententes.advance("ENT-1", start_of(EFFECTIVE))
    refused(ententes, "ENT-1", c.GiveRevocationNotice(by="cps", party_id="cps-laval", reason="non",
                                                     effective_date=date(2028, 1, 1)),
            start_of(EFFECTIVE), "not_a_party", "cps-laval")


def test_a_party_signs_only_once(ententes: Ententes) -> None:
    """A second signature of the same party on the same version is refused: `already_signed`."""
    draft(ententes)
    submit(ententes)
    sign(ententes, "cisss-laval")
    refused(ententes, "ENT-1", c.SignEntente(by="x", party_id="cisss-laval", version=1, signatory="DG"), T0,
            "already_signed", "cisss-laval already signed version 1")


def test_a_refusal_sends_the_version_back_to_drafting(ententes: Ententes) -> None:
    """A party refusing to sign voids the signatures collected and sends the version back to drafting."""
    draft(ententes)
    submit(ententes)
    sign(ententes, "cisss-laval")
    view = ententes.execute(
        "ENT-1", c.RefuseSignature(by="cc", party_id="cc-laval", version=1, reason="volume irréaliste"), T0
    )
    assert view.status is EntenteStatus.DRAFT
    assert view.proposal is not None
    assert view.proposal.stage is ProposalStage.DRAFTING and view.proposal.signatures == []
    assert view.proposal.version == 1
    # The same version may be resubmitted and then needs every signature again.
    submit(ententes)
    view = sign(ententes, "cc-laval")
    assert view.status is EntenteStatus.IN_SIGNATURE
    view = sign(ententes, "cisss-laval")
    assert view.status is EntenteStatus.SIGNED
    assert names(ententes, "ENT-1") == [
        "Drafted", "SubmittedForSignature", "Signed", "SignatureRefused", "SubmittedForSignature", "Signed", "Signed"
    ]


def test_withdrawal_before_activation_abandons_the_agreement(ententes: Ententes) -> None:
    """A party withdrawing before the entente ever took effect abandons it; it then accepts no command."""
    draft(ententes)
    submit(ententes)
    sign_all(ententes, SERVICE_PARTIES)  # signed, awaiting its effective date
    at = T0 + timedelta(days=3)
    view = ententes.execute(
        "ENT-1", c.WithdrawFromEntente(by="cc", party_id="cc-laval", reason="financement retiré"), at
    )
    assert view.status is EntenteStatus.ABANDONED
    assert view.proposal is None and view.in_force_version is None
    assert view.ended_on == local_date(at)
    assert view.end_reason == "retrait de cc-laval: financement retiré"
    # Nothing happens on the effective date: the entente is over.
    assert rules.next_wakeup(view, EntentePolicy()) is None
    assert ententes.advance("ENT-1", start_of(EFFECTIVE)).status is EntenteStatus.ABANDONED
    refused(ententes, "ENT-1", c.SubmitForSignature(by="s"), at, "agreement_ended", "abandonnee", "no command")
    assert names(ententes, "ENT-1")[-1] == "PartyWithdrew"


def test_withdrawal_once_in_force_is_refused(ententes: Ententes) -> None:
    """Once in force, a party leaves only by revocation with notice: `in_force`."""
    active(ententes)
    refused(ententes, "ENT-1", c.WithdrawFromEntente(by="cc", party_id="cc-laval", reason="départ"),
            start_of(EFFECTIVE), "in_force", "by revocation, with notice")


# ---------------------------------------------------------------------- activation
def test_activation_on_the_effective_date(ententes: Ententes) -> None:
    """Fully signed, an entente waits for its effective date (Québec midnight) and is activated then."""
    draft(ententes)
    submit(ententes)
    view = sign_all(ententes, SERVICE_PARTIES)
    assert view.status is EntenteStatus.SIGNED
    assert rules.next_wakeup(view, EntentePolicy()) == start_of(EFFECTIVE) == datetime(2027, 1, 1, 5, 0, tzinfo=UTC)
    view = ententes.advance("ENT-1", start_of(EFFECTIVE) - timedelta(seconds=1))
    assert view.status is EntenteStatus.SIGNED
    view = ententes.advance("ENT-1", start_of(EFFECTIVE))
    assert view.status is EntenteStatus.ACTIVE
    assert view.in_force_version == 1 and view.proposal is None
    assert view.activated_on == EFFECTIVE
    assert view.next_review_due == date(2028, 1, 1)
    # Advancing again records nothing more (the calendar is idempotent).
    ententes.advance("ENT-1", start_of(EFFECTIVE) + timedelta(hours=1))
    assert names(ententes, "ENT-1") == ["Drafted", "SubmittedForSignature", "Signed", "Signed", "Activated"]


def test_activation_on_the_last_signature_when_there_is_no_effective_date(ententes: Ententes) -> None:
    """Without an effective date, an entente takes effect at the moment of its last signature."""
    draft(ententes, content=service_entente(effective=None))
    submit(ententes)
    sign(ententes, "cisss-laval", at=T0 + timedelta(hours=1))
    last = T0 + timedelta(days=2, hours=3)
    view = sign(ententes, "cc-laval", at=last)
    assert rules.effective_moment(view) == last
    view = ententes.advance("ENT-1", last)
    assert view.status is EntenteStatus.ACTIVE
    assert view.activated_on == local_date(last)
    assert view.next_review_due == add_months(local_date(last), 12)


# ---------------------------------------------------------------------- reviews
def test_annual_review_is_due_on_each_anniversary(ententes: Ententes) -> None:
    """On each anniversary of activation a review falls due; recording it sets the next anniversary."""
    active(ententes)
    view = ententes.advance("ENT-1", start_of(date(2028, 1, 1)) - timedelta(seconds=1))
    assert view.review_pending is None
    view = ententes.advance("ENT-1", start_of(date(2028, 1, 1)))
    assert view.review_pending == date(2028, 1, 1)
    at = start_of(date(2028, 1, 20))
    view = ententes.execute("ENT-1", c.RecordReview(by="comite", outcome=ReviewOutcome.MAINTAIN, notes="ok"), at)
    assert view.review_pending is None and view.next_review_due == date(2029, 1, 1)
    assert view.reviews[-1].due_on == date(2028, 1, 1) and view.reviews[-1].outcome is ReviewOutcome.MAINTAIN
    view = ententes.advance("ENT-1", start_of(date(2029, 1, 1)))
    assert view.review_pending == date(2029, 1, 1)
    assert names(ententes, "ENT-1")[-3:] == ["ReviewDue", "ReviewRecorded", "ReviewDue"]


def test_annual_review_may_be_held_within_the_window_before_it_is_due(ententes: Ententes) -> None:
    """A review may be held from `review_window_days` (60) before the anniversary, not earlier
    (`review_not_due`); held early, that anniversary raises no ReviewDue."""
    active(ententes)
    review = c.RecordReview(by="comite", outcome=ReviewOutcome.MAINTAIN)
    too_early = start_of(add_days(date(2028, 1, 1), -61))
    refused(ententes, "ENT-1", review, too_early, "review_not_due", "due on 2028-01-01",
            "held from 2027-11-02")
    view = ententes.execute("ENT-1", review, start_of(add_days(date(2028, 1, 1), -60)))
    assert view.reviews[-1].due_on == date(2028, 1, 1)
    assert view.next_review_due == date(2029, 1, 1)
    ententes.advance("ENT-1", start_of(date(2028, 6, 1)))
    assert names(ententes, "ENT-1")[-2:] == ["Activated", "ReviewRecorded"]


def test_a_review_left_undone_escalates_and_keeps_escalating(ententes: Ententes) -> None:
    """A due review not recorded within the grace period (30 days) escalates, then again every 30 days;
    recording it stops the escalations."""
    active(ententes)
    due = date(2028, 1, 1)
    ententes.advance("ENT-1", start_of(due))
    view = ententes.advance("ENT-1", start_of(add_days(due, 30)) - timedelta(seconds=1))
    assert view.review_escalations == 0
    view = ententes.advance("ENT-1", start_of(add_days(due, 30)))
    assert view.review_escalations == 1
    view = ententes.advance("ENT-1", start_of(add_days(due, 60)))
    assert view.review_escalations == 2
    view = ententes.advance("ENT-1", start_of(add_days(due, 95)))
    assert view.review_escalations == 3
    assert rules.next_wakeup(view, EntentePolicy()) == start_of(add_days(due, 120))
    view = ententes.execute("ENT-1", c.RecordReview(by="comite", outcome=ReviewOutcome.MAINTAIN),
                            start_of(add_days(due, 100)))
    assert view.review_escalations == 0 and view.review_pending is None
    assert view.next_review_due == date(2029, 1, 1)
    ententes.advance("ENT-1", start_of(add_days(due, 200)))  # before the next anniversary: nothing more
    assert names(ententes, "ENT-1")[-5:] == [
        "ReviewDue", "ReviewEscalated", "ReviewEscalated", "ReviewEscalated", "ReviewRecorded"
    ]
    escalations = [h for h in ententes.history("ENT-1") if h["event"] == "ReviewEscalated"]
    assert [h["level"] for h in escalations] == [1, 2, 3]


# ---------------------------------------------------------------------- signature period
def test_unsigned_parties_are_reminded_until_the_deadline_then_the_version_goes_back_to_drafting(
    ententes: Ententes,
) -> None:
    """In signature, parties that have not signed are reminded every 7 days; at the deadline
    (default: 30 days, at Québec midnight) the version goes back to drafting."""
    draft(ententes)
    view = submit(ententes)
    assert view.proposal is not None
    deadline = start_of(add_days(local_date(T0), 31))
    assert view.proposal.signature_deadline == deadline
    sign(ententes, "cisss-laval", at=T0 + timedelta(days=1))
    ententes.advance("ENT-1", T0 + timedelta(days=7))
    ententes.advance("ENT-1", T0 + timedelta(days=14))
    view = ententes.advance("ENT-1", T0 + timedelta(days=29))  # catches up the reminders of days 21 and 28
    assert view.proposal is not None and view.proposal.reminders_sent == 4
    reminders = [h for h in ententes.history("ENT-1") if h["event"] == "SignatureReminderSent"]
    assert [h["parties"] for h in reminders] == [["cc-laval"]] * 4
    view = ententes.advance("ENT-1", deadline)
    assert view.status is EntenteStatus.DRAFT
    assert view.proposal is not None
    assert view.proposal.stage is ProposalStage.DRAFTING and view.proposal.signatures == []
    assert names(ententes, "ENT-1")[-1] == "SignatureDeadlineMissed"


# ---------------------------------------------------------------------- amendment, renewal
def test_an_amendment_leaves_the_current_version_in_force_until_every_party_signs(ententes: Ententes) -> None:
    """An amendment is a new version signed like the first; meanwhile the version in force stays in force.
    Once every party signed it, it is in force and the review calendar is unchanged."""
    active(ententes)
    at = start_of(date(2027, 3, 1))
    amended = service_entente(title="Intervention de crise — Laval (modifiée)")
    view = ententes.execute("ENT-1", c.ProposeAmendment(by="comite", content=amended, reason="volumes"), at)
    assert view.status is EntenteStatus.ACTIVE
    assert view.in_force_version == 1 and view.content == service_entente()
    assert view.proposal is not None and view.proposal.purpose is ProposalPurpose.AMENDMENT
    assert view.proposal.version == 2
    refused(ententes, "ENT-1", c.ProposeAmendment(by="comite", content=amended, reason="encore"), at,
            "proposal_open", "version 2", "revise it instead")
    submit(ententes, at=at)
    view = sign(ententes, "cisss-laval", version=2, at=at)
    assert view.in_force_version == 1 and view.title == "Intervention de crise dans le milieu — Laval"
    view = sign(ententes, "cc-laval", version=2, at=at)
    view = ententes.advance("ENT-1", at)  # its effective date (2027-01-01) is past: in force at once
    assert view.in_force_version == 2 and view.proposal is None
    assert view.content == amended and view.status is EntenteStatus.ACTIVE
    assert view.activated_on == EFFECTIVE and view.next_review_due == date(2028, 1, 1)
    assert names(ententes, "ENT-1")[-6:] == [
        "Activated", "AmendmentProposed", "SubmittedForSignature", "Signed", "Signed", "AmendmentInForce"
    ]


def test_an_amendment_is_proposed_only_for_an_entente_in_force(ententes: Ententes) -> None:
    """Before activation a change is a revision of the draft, not an amendment: `not_in_force`."""
    draft(ententes)
    refused(ententes, "ENT-1", c.ProposeAmendment(by="x", content=service_entente(notice_days=30), reason="r"),
            T0, "not_in_force", "brouillon")


def test_a_renewal_extends_the_end_date_and_prevents_expiry(ententes: Ententes) -> None:
    """Renewal is a version identical but for its end date, signed by every party; in force, the
    entente runs to the new end date."""
    active(ententes, content=service_entente(end=date(2028, 12, 31)))
    at = start_of(date(2028, 10, 1))
    refused(ententes, "ENT-1", c.ProposeRenewal(by="comite", end_date=date(2028, 6, 30), reason="r"), at,
            "ends_in_past", "must end in the future")
    refused(ententes, "ENT-1", c.ProposeRenewal(by="comite", end_date=date(2028, 12, 1), reason="r"), at,
            "not_later", "2028-12-31")
    view = ententes.execute("ENT-1", c.ProposeRenewal(by="comite", end_date=date(2031, 12, 31), reason="3 ans"), at)
    assert view.proposal is not None and view.proposal.purpose is ProposalPurpose.RENEWAL
    assert [(ch.path, ch.before, ch.after) for ch in ententes.diff("ENT-1", 1, 2)] == [
        ("duration.end_date", "2028-12-31", "2031-12-31")
    ]
    submit(ententes, at=at)
    sign_all(ententes, SERVICE_PARTIES, version=2, at=at)
    view = ententes.advance("ENT-1", at)
    assert view.in_force_version == 2 and view.content.duration.end_date == date(2031, 12, 31)
    view = ententes.advance("ENT-1", start_of(date(2029, 1, 2)))
    assert view.status is EntenteStatus.ACTIVE  # the old end date passed, nothing expired


# ---------------------------------------------------------------------- revocation, expiry
def test_revocation_before_the_notice_period_ends_is_refused(ententes: Ententes) -> None:
    """A revocation must take effect no sooner than the notice period of section 11 (90 days): `notice_period`."""
    active(ententes)
    at = start_of(date(2027, 6, 1)) + timedelta(hours=10)
    earliest = add_days(date(2027, 6, 1), 90)
    refused(ententes, "ENT-1", c.GiveRevocationNotice(by="cc", party_id="cc-laval", reason="fermeture",
                                                     effective_date=add_days(earliest, -1)), at,
            "notice_period", "requires 90 days' notice", f"on {earliest} at the earliest",
            f"not {add_days(earliest, -1)}")
    view = ententes.execute("ENT-1", c.GiveRevocationNotice(by="cc", party_id="cc-laval", reason="fermeture",
                                                           effective_date=earliest), at)
    assert view.status is EntenteStatus.ACTIVE
    assert view.revocation is not None and view.revocation.effective_date == earliest


def test_revocation_takes_effect_on_its_date(ententes: Ententes) -> None:
    """After notice, the entente stays in force until the revocation date, then it is revoked and
    accepts nothing more; a second notice meanwhile is refused (`revocation_pending`)."""
    active(ententes)
    at = start_of(date(2027, 6, 1))
    revocation = date(2027, 10, 1)
    ententes.execute("ENT-1", c.GiveRevocationNotice(by="cc", party_id="cc-laval", reason="fermeture",
                                                    effective_date=revocation), at)
    refused(ententes, "ENT-1", c.GiveRevocationNotice(by="cisss", party_id="cisss-laval", reason="aussi",
                                                     effective_date=date(2028, 1, 1)), at,
            "revocation_pending", "already revoked as of 2027-10-01")
    refused(ententes, "ENT-1", c.ProposeAmendment(by="x", content=service_entente(notice_days=1), reason="r"), at,
            "revocation_pending", "being revoked")
    view = ententes.advance("ENT-1", start_of(revocation) - timedelta(seconds=1))
    assert view.status is EntenteStatus.ACTIVE
    view = ententes.advance("ENT-1", start_of(revocation))
    assert view.status is EntenteStatus.REVOKED
    assert view.ended_on == revocation and view.end_reason == "révocation par cc-laval: fermeture"
    assert rules.next_wakeup(view, EntentePolicy()) is None
    refused(ententes, "ENT-1", c.RecordReview(by="comite", outcome=ReviewOutcome.MAINTAIN),
            start_of(revocation), "agreement_ended", "revoquee")
    assert names(ententes, "ENT-1")[-2:] == ["RevocationNoticeGiven", "Revoked"]


def test_expiry_after_the_end_date(ententes: Ententes) -> None:
    """The end date is the last day in force: the entente expires at the following Québec midnight."""
    active(ententes, content=service_entente(end=date(2027, 6, 30)))
    view = ententes.advance("ENT-1", start_of(date(2027, 7, 1)) - timedelta(seconds=1))
    assert view.status is EntenteStatus.ACTIVE
    view = ententes.advance("ENT-1", start_of(date(2027, 7, 1)))
    assert view.status is EntenteStatus.EXPIRED
    assert view.ended_on == date(2027, 7, 1) and view.end_reason == "fin de la durée de l'entente"
    assert names(ententes, "ENT-1")[-1] == "Expired"


def test_a_draft_ending_in_the_past_cannot_be_submitted(ententes: Ententes) -> None:
    """A version whose end date has passed is not submitted (`ends_in_past`); nor is a past deadline
    accepted (`deadline_in_past`)."""
    draft(ententes, content=service_entente(effective=date(2026, 1, 1), end=date(2026, 10, 31)))
    refused(ententes, "ENT-1", c.SubmitForSignature(by="s"), T0, "ends_in_past", "ends on 2026-10-31")
    ententes.execute("ENT-1", c.ReviseDraft(by="s", content=service_entente()), T0)
    refused(ententes, "ENT-1", c.SubmitForSignature(by="s", signature_deadline=T0), T0,
            "deadline_in_past", "must be in the future")


# ---------------------------------------------------------------------- the full life of an entente-cadre
def test_an_entente_cadre_needs_every_one_of_its_parties(ententes: Ententes) -> None:
    """An entente-cadre is signed collectively: it is signed (and takes effect) only when all three sign."""
    draft(ententes, "CADRE-1", entente_cadre())
    submit(ententes, "CADRE-1", signature_deadline=start_of(date(2027, 2, 1)))
    view = sign_all(ententes, CADRE_PARTIES[:2], code="CADRE-1")
    assert view.status is EntenteStatus.IN_SIGNATURE
    assert ententes.advance("CADRE-1", start_of(EFFECTIVE)).status is EntenteStatus.IN_SIGNATURE
    sign(ententes, "cps-laval", code="CADRE-1", at=start_of(EFFECTIVE))
    view = ententes.advance("CADRE-1", start_of(EFFECTIVE))
    assert view.status is EntenteStatus.ACTIVE and view.kind is EntenteKind.CADRE


# ---------------------------------------------------------------------- idempotency
def test_the_same_command_id_twice_records_one_event(ententes: Ententes) -> None:
    """A command retried with the same `command_id` (a retried activity) is recorded once."""
    draft(ententes)
    again = ententes.draft(c.DraftEntente(by="superviseur", code="ENT-1", content=service_entente(),
                                            command_id="ENT-1/draft"), T0 + timedelta(seconds=5))
    assert again.event_count == 1
    submit(ententes)
    sign(ententes, "cisss-laval", command_id="wf/update-1")
    view = sign(ententes, "cisss-laval", command_id="wf/update-1", at=T0 + timedelta(seconds=30))
    assert view.proposal is not None and len(view.proposal.signatures) == 1
    revise = c.ReviseDraft(by="s", content=service_entente(notice_days=30), command_id="wf/update-2")
    ententes.execute("ENT-1", revise, T0)
    view = ententes.execute("ENT-1", revise, T0)
    assert view.latest_version == 2
    assert names(ententes, "ENT-1") == ["Drafted", "SubmittedForSignature", "Signed", "DraftRevised"]
    # A different command drafting the same code is a duplicate, refused.
    with pytest.raises(DomainError) as info:
        ententes.draft(c.DraftEntente(by="autre", code="ENT-1", content=service_entente(),
                                        command_id="other/draft"), T0)
    assert info.value.code == "duplicate_code" and "ENT-1 already exists" in info.value.message
    assert count(ententes, "ENT-1") == 4


def test_advance_is_idempotent(ententes: Ententes) -> None:
    """Advancing the calendar twice to the same moment records each transition once."""
    active(ententes)
    ententes.advance("ENT-1", start_of(date(2028, 2, 15)))
    before = names(ententes, "ENT-1")
    ententes.advance("ENT-1", start_of(date(2028, 2, 15)))
    assert names(ententes, "ENT-1") == before
    assert before[-3:] == ["Activated", "ReviewDue", "ReviewEscalated"]


# ---------------------------------------------------------------------- every refusal leaves the record as it was
def _in_draft(e: Ententes) -> None:
    draft(e)


def _in_signature(e: Ententes) -> None:
    draft(e)
    submit(e)
    sign(e, "cisss-laval")


def _signed(e: Ententes) -> None:
    draft(e)
    submit(e)
    sign_all(e, SERVICE_PARTIES)


def _in_force(e: Ententes) -> None:
    active(e)


def _amending(e: Ententes) -> None:
    active(e)
    e.execute("ENT-1", c.ProposeAmendment(by="c", content=service_entente(notice_days=30), reason="r"),
              start_of(EFFECTIVE))


def _revoked(e: Ententes) -> None:
    active(e, content=service_entente(notice_days=0))
    e.execute("ENT-1", c.GiveRevocationNotice(by="c", party_id="cc-laval", reason="r", effective_date=EFFECTIVE),
              start_of(EFFECTIVE))
    assert e.advance("ENT-1", start_of(EFFECTIVE)).status is EntenteStatus.REVOKED


CADRE_CONTENT = entente_cadre()
REFUSALS: list[tuple[str, Any, c.Command, str]] = [
    ("revise-kind", _in_draft, c.ReviseDraft(by="s", content=CADRE_CONTENT), "kind_changed"),
    ("sign-in-draft", _in_draft, c.SignEntente(by="s", party_id="cc-laval", version=1, signatory="x"),
     "not_in_signature"),
    ("refuse-in-draft", _in_draft, c.RefuseSignature(by="s", party_id="cc-laval", version=1, reason="r"),
     "not_in_signature"),
    ("review-in-draft", _in_draft, c.RecordReview(by="s", outcome=ReviewOutcome.MAINTAIN), "not_in_force"),
    ("revoke-in-draft", _in_draft, c.GiveRevocationNotice(by="s", party_id="cc-laval", reason="r",
                                                          effective_date=date(2030, 1, 1)), "not_in_force"),
    ("renew-in-draft", _in_draft, c.ProposeRenewal(by="s", end_date=None, reason="r"), "not_in_force"),
    ("submit-twice", _in_signature, c.SubmitForSignature(by="s"), "not_drafting"),
    ("sign-twice", _in_signature, c.SignEntente(by="s", party_id="cisss-laval", version=1, signatory="x"),
     "already_signed"),
    ("sign-outsider", _in_signature, c.SignEntente(by="s", party_id="cps-laval", version=1, signatory="x"),
     "not_a_party"),
    ("sign-future-version", _in_signature, c.SignEntente(by="s", party_id="cc-laval", version=2, signatory="x"),
     "superseded_version"),
    ("revise-signed", _signed, c.ReviseDraft(by="s", content=service_entente(notice_days=1)), "no_open_draft"),
    ("revise-in-force", _in_force, c.ReviseDraft(by="s", content=service_entente(notice_days=1)),
     "no_open_draft"),
    ("withdraw-in-force", _in_force, c.WithdrawFromEntente(by="s", party_id="cc-laval", reason="r"), "in_force"),
    ("review-too-early", _in_force, c.RecordReview(by="s", outcome=ReviewOutcome.MAINTAIN), "review_not_due"),
    ("revoke-short-notice", _in_force, c.GiveRevocationNotice(by="s", party_id="cc-laval", reason="r",
                                                              effective_date=date(2027, 1, 2)), "notice_period"),
    ("amend-kind", _in_force, c.ProposeAmendment(by="s", content=CADRE_CONTENT, reason="r"), "kind_changed"),
    ("amend-twice", _amending, c.ProposeAmendment(by="s", content=service_entente(notice_days=1), reason="r"),
     "proposal_open"),
    ("renew-while-amending", _amending, c.ProposeRenewal(by="s", end_date=None, reason="r"), "proposal_open"),
    ("sign-revoked", _revoked, c.SignEntente(by="s", party_id="cc-laval", version=1, signatory="x"),
     "agreement_ended"),
    ("revise-revoked", _revoked, c.ReviseDraft(by="s", content=service_entente()), "agreement_ended"),
]


@pytest.mark.parametrize(("setup", "cmd", "code"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_every_refused_command_leaves_the_record_unchanged(
    ententes: Ententes, setup: Any, cmd: c.Command, code: str
) -> None:
    """A refused command is refused with its stable code and records nothing (same events, same view)."""
    setup(ententes)
    refused(ententes, "ENT-1", cmd, start_of(EFFECTIVE), code)


# ---------------------------------------------------------------------- content validation
def test_an_entente_cadre_needs_three_parties_or_more() -> None:
    """An entente-cadre is signed collectively by a group: fewer than 3 parties is invalid."""
    data = entente_cadre().model_dump(mode="json")
    data["parties"] = [CISSS.model_dump(mode="json"), CPS.model_dump(mode="json")]
    data["services"] = [s for s in data["services"] if s["provider"] == "cps-laval"]
    data["access"]["may_refer"] = ["cisss-laval"]
    with pytest.raises(ValidationError, match="3 parties or more"):
        EntenteContent.model_validate(data)
    assert len(entente_cadre().parties) == 3


def test_content_names_only_its_parties() -> None:
    """Providers, commitments, referrers and funders must be parties to the entente."""
    data = service_entente().model_dump(mode="json")
    data["services"][0]["provider"] = "cps-laval"
    data["access"]["may_refer"] = ["cisss-laval", "inconnu"]
    with pytest.raises(ValidationError, match=r"not parties to the entente: \['cps-laval', 'inconnu'\]"):
        EntenteContent.model_validate(data)


def test_each_party_appears_once() -> None:
    """A party listed twice is invalid."""
    data = service_entente().model_dump(mode="json")
    data["parties"].append(CENTRE_CRISE.model_dump(mode="json"))
    with pytest.raises(ValidationError, match="each party appears once"):
        EntenteContent.model_validate(data)


def test_permitted_information_sharing_names_purposes_and_security_measures() -> None:
    """Section 7: sharing record information is permitted only with its purposes and security measures."""
    with pytest.raises(ValidationError, match="purposes and the security measures"):
        InformationSharing(permitted=True, purposes=["continuité"])
    with pytest.raises(ValidationError, match="purposes and the security measures"):
        InformationSharing(permitted=True, security_measures=["chiffrement"])
    assert InformationSharing(permitted=False).permitted is False
    ok = InformationSharing(permitted=True, purposes=["continuité"], security_measures=["chiffrement"])
    assert ok.permitted


def test_a_service_agreement_names_its_services_and_ends_after_it_starts() -> None:
    """Section 5 lists the services; section 10's end date comes after the effective date."""
    data = service_entente().model_dump(mode="json")
    data["services"] = []
    data["commitments"] = []
    with pytest.raises(ValidationError, match="names the services it covers"):
        EntenteContent.model_validate(data)
    with pytest.raises(ValidationError, match="end date must come after the effective date"):
        service_entente(effective=date(2027, 1, 1), end=date(2027, 1, 1))
    # A collaboration entente may name no service.
    collab = EntenteContent(
        title="Collaboration", kind=EntenteKind.COLLABORATION,
        parties=[CISSS, Party(party_id="ecoute", name="Ligne d'écoute", type=OrganisationType.CENTRE_ECOUTE)],
        object=EntenteObject(nature="Échanges"),
    )
    assert collab.services == []
    assert ServiceOffer(service=ServiceCode.POSTVENTION, provider="x", territories=["laval"]).hours is None
