"""« Qui a vu mon dossier ? »: the person's own register (LRSSS s. 265 with s. 18; LSSSS 27.2 with 17), every
access and communication, partner reads included, in plain terms (`domain.audit.own_register`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.audit.own_register import (
    OWN_REGISTER_READERS,
    NotAnOwnRegisterReader,
    SeenKind,
    check_own_register_reader,
    register_reader,
    seen_by,
)
from domain.audit.reads import REGISTER_ITEM, register_items
from domain.audit.record_reads import ReadKind, RecordRead
from domain.disclosure import rules
from domain.disclosure.commands import RequestAccess
from domain.disclosure.facts import FactKind, PersonFact, RecordedFact
from domain.disclosure.legal_bases import Condition
from domain.disclosure.model import Decision, DisclosureContext, DossierItem, Outcome, SubjectStatus
from domain.disclosure.register import CommunicationEntry
from domain.disclosure.roles import ItemCategory, PurposeKind, Role
from tests.disclosure_builders import CONFIG

MOMENT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _decide(role: Role, by: str, purpose: PurposeKind, items: list[DossierItem], cid: str,
            at: datetime = MOMENT, birth: date | None = date(1990, 1, 1)) -> Decision:
    req = RequestAccess(by=by, command_id=cid, role=role, subject_id="u-1", items=[i.name for i in items],
                        purpose=purpose, moment=at)
    return rules.decide(req, DisclosureContext(subject=SubjectStatus(birth_date=birth), dossier_items=items,
                                               consents=[]), CONFIG)


@pytest.mark.parametrize("role", [r for r in Role if r not in OWN_REGISTER_READERS])
def test_only_the_person_or_their_representative_reads_the_own_register(role: Role) -> None:
    with pytest.raises(NotAnOwnRegisterReader) as refused:
        check_own_register_reader(role)
    assert refused.value.code == "not_the_person_or_representative"
    assert "LRSSS s. 265" in refused.value.message and role.value in refused.value.message


def test_the_person_and_the_representative_read_it_under_their_own_articles() -> None:
    """Self-access (LRSSS s. 265: the s. 18 right exercised by examining the register; basis LRSSS-17); the
    representative in the person's name under LSSSS 22 before 2024-07-01, refused after it (no LRSSS counterpart
    located, disclosure-law.md L208: default deny, the rule's code)."""
    for role in OWN_REGISTER_READERS:
        check_own_register_reader(role)
    mine = _decide(Role.USAGER, "u-1", PurposeKind.SELF_ACCESS, register_items(PurposeKind.SELF_ACCESS), "r-1")
    assert mine.outcome is Outcome.ALLOWED and REGISTER_ITEM in mine.allowed
    assert mine.basis is not None and mine.basis.code == "LRSSS-17"
    rep_items = register_items(PurposeKind.REPRESENTATION)
    before = RequestAccess(by="rep-1", command_id="r-2", role=Role.REPRESENTATIVE, subject_id="u-1",
                           items=[i.name for i in rep_items], purpose=PurposeKind.REPRESENTATION,
                           moment=datetime(2024, 6, 1, 15, tzinfo=UTC),
                           attestations=[Condition.CAPACITY_PROVEN, Condition.POWER_EXERCISED,
                                         Condition.MINIMUM_NECESSARY])
    ctx = DisclosureContext(subject=SubjectStatus(birth_date=date(1990, 1, 1)), dossier_items=rep_items, consents=[])
    rep = rules.decide(before, ctx, CONFIG)
    assert REGISTER_ITEM in rep.allowed and rep.basis is not None and rep.basis.code == "LSSSS-22"
    after = rules.decide(before.model_copy(update={"moment": MOMENT, "command_id": "r-3"}), ctx, CONFIG)
    assert after.outcome is Outcome.REFUSED and after.refusal is not None
    assert after.allowed == [] and after.refusal.article == "LRSSS-5"
    # the code is the heirs-and-representatives helper's (issue 11): default deny, or its named refusal
    assert after.refusal.code in {"no_basis", "lrsss_counterpart_not_located"}


def test_every_access_communication_and_partner_read_is_seen_once_in_plain_terms() -> None:
    motif = [DossierItem(name="motif", category=ItemCategory.CLINICAL)]
    read = _decide(Role.USAGER, "u-1", PurposeKind.SELF_ACCESS, motif, "acc-1")
    refused = _decide(Role.USAGER, "u-2", PurposeKind.SELF_ACCESS, motif, "acc-2", MOMENT + timedelta(minutes=1))
    sent = _decide(Role.PARTNER_ORG, "int-1", PurposeKind.CONTINUITY, motif, "com-1", MOMENT + timedelta(minutes=2))
    entry = CommunicationEntry(
        decision_id="com-1", subject_id="u-1", recipient_id="cc-laval", role=Role.PARTNER_ORG, nature=["motif"],
        purpose=PurposeKind.CONTINUITY, basis_code="CONSENTEMENT", consent_id="c-1", register_article="LRSSS-265",
        communicated_at=MOMENT + timedelta(minutes=2))

    def partner(rid: str, case: str) -> RecordRead:
        return RecordRead(read_id=rid, kind=ReadKind.PARTNER_CASE, actor_id="cc-laval", role=Role.PARTNER_ORG,
                          purpose=PurposeKind.CONTINUITY, moment=MOMENT + timedelta(minutes=3),
                          scope={"case": case, "org": "cc-laval", "items": "motif"}, outcome=Outcome.ALLOWED,
                          rule="POLITIQUE", reason="")

    other = RecordRead(read_id="list-1", kind=ReadKind.CASE_LISTING, actor_id="sup-1", role=Role.SUPERVISOR,
                       purpose=PurposeKind.CARE, moment=MOMENT, scope={}, outcome=Outcome.ALLOWED, rule="P",
                       reason="")
    lines = seen_by("u-1", [read, refused, sent], [entry],
                    [partner("p-1", "CASE-1"), partner("p-2", "CASE-2"), other], {"CASE-1": "u-1", "CASE-2": "u-9"},
                    {"u-2": "cisss-laval"})
    assert [(s.kind, s.who, s.reference, s.outcome) for s in lines] == [
        (SeenKind.ACCESS, "u-1", "acc-1", Outcome.ALLOWED),
        (SeenKind.ACCESS, "u-2", "acc-2", Outcome.REFUSED),
        (SeenKind.COMMUNICATION, "int-1", "com-1", Outcome.ALLOWED),  # once, as the communication
        (SeenKind.PARTNER_READ, "cc-laval", "p-1", Outcome.ALLOWED),  # CASE-2 is someone else's
    ]
    assert refused.refusal is not None and (lines[1].basis, lines[1].article) == ("not_the_person",
                                                                                  refused.refusal.article)
    assert (lines[2].organisation, lines[2].basis, lines[2].article, lines[2].items) == (
        "cc-laval", "CONSENTEMENT", "LRSSS-265", ["motif"])
    assert (lines[0].organisation, lines[1].organisation) == (None, "cisss-laval")  # from the accounts
    assert lines[3].summary == "cc-laval (cc-laval) a consulté le suivi du dossier CASE-1 et motif"


def test_a_person_s_account_reads_another_s_register_only_as_their_recorded_parent_or_representative() -> None:
    """LRSSS s. 265 with s. 18: the register is read by the person or in their name. The account is the person
    (its user id their id in the record); for another person it needs a standing fact naming it, in force on the
    day: a parent or tutor (LSSSS 21 / LRSSS 23-24: role parent), a tutor, curator or mandatary (LSSSS 22: role
    representant); ended, lifted, another holder or a mere mandate: refused, the rule's code."""
    def rec(n: int, **kw: object) -> RecordedFact:
        return RecordedFact(number=n, fact=PersonFact.model_validate(kw), by="archiviste", at=MOMENT)

    day = date(2026, 12, 1)
    parent = rec(1, kind=FactKind.PARENT, holder_id="p-1", reference="J-1", valid_until=date(2027, 1, 1))
    tutor = rec(2, kind=FactKind.REPRESENTATIVE, holder_id="t-1", reference="C-1")
    mandate = rec(3, kind=FactKind.MANDATE, holder_id="m-1", reference="M-1")  # LSSSS 27.1: not in their name
    facts = [parent, tutor, mandate]
    assert register_reader("u-1", "u-1", [], day) is Role.USAGER
    assert register_reader("u-1", "p-1", facts, day) is Role.PARENT
    assert register_reader("u-1", "t-1", facts, day) is Role.REPRESENTATIVE
    lifted = [*facts, rec(4, kind=FactKind.REPRESENTATIVE, holder_id="t-1", holds=False)]
    for holder, held, on in (("m-1", facts, day), ("x-9", facts, day), ("p-1", facts, date(2027, 1, 2)),
                             ("t-1", lifted, day)):
        with pytest.raises(NotAnOwnRegisterReader) as refused:
            register_reader("u-1", holder, held, on)
        assert refused.value.code == "not_the_person_or_representative"
        assert "LRSSS s. 265" in refused.value.message
