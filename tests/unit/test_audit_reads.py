"""The pure decisions of reads outside a replay (issue 9, "every read of content is an access"):
who may read across persons, and what of a register each reader gets."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domain.audit.reads import (
    FREE_TEXT,
    LISTING_RULE,
    REGISTER_ITEM,
    WITHHELD,
    CaseItem,
    case_items,
    decide_record_read,
    entries_shown,
    register_items,
)
from domain.audit.record_reads import ReadKind
from domain.disclosure import rules
from domain.disclosure.commands import RequestAccess
from domain.disclosure.model import Decision, DisclosureContext, Outcome, SubjectStatus
from domain.disclosure.register import CommunicationEntry
from domain.disclosure.roles import ItemCategory, PurposeKind, Role
from tests.disclosure_builders import CONFIG

DAY = date(2026, 12, 1)
MOMENT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
ENTRY = CommunicationEntry(
    decision_id="req-1", subject_id="u-1", recipient_id="cc-laval", role=Role.PARTNER_ORG, nature=["motif"],
    purpose=PurposeKind.CONTINUITY, basis_code="CONSENTEMENT", consent_id=None, register_article="LRSSS-265",
    communicated_at=MOMENT, intended_use="prise en charge", justification="consentement écrit",
)


@pytest.mark.parametrize("kind", [k for k in ReadKind  # a partner's view and a workflow's payloads are not audit
                                  if k not in (ReadKind.PARTNER_CASE, ReadKind.WORKFLOW_PAYLOADS)])
@pytest.mark.parametrize("role", [Role.AUDITOR, Role.SUPERVISOR])
def test_audit_metadata_across_persons_is_read_by_auditors_and_supervisors_for_an_audit(
    kind: ReadKind, role: Role
) -> None:
    """Disclosure-law 3.1 R3 (POL-AUDIT): audit metadata is theirs, for an audit."""
    decided = decide_record_read(kind, role, PurposeKind.AUDIT, DAY, CONFIG)
    assert (decided.outcome, decided.rule) == (Outcome.ALLOWED, "POL-AUDIT")
    assert decide_record_read(kind, role, PurposeKind.RESEARCH, DAY, CONFIG).outcome is Outcome.REFUSED


@pytest.mark.parametrize("kind", [ReadKind.ACCESS_LOG, ReadKind.EXCEPTIONS, ReadKind.EXPORT])
@pytest.mark.parametrize("role", [r for r in Role if r not in (Role.AUDITOR, Role.SUPERVISOR)])
def test_other_roles_are_refused_the_audit_metadata_of_many_persons(kind: ReadKind, role: Role) -> None:
    """Default deny: the access log of everyone is not an intervenant's, a partner's or the person's."""
    decided = decide_record_read(kind, role, PurposeKind.CARE, DAY, CONFIG)
    assert (decided.outcome, decided.rule) == (Outcome.REFUSED, "POL-AUDIT")
    assert decided.reason.endswith(f"not by the role {role.value} for the purpose soins")


def test_the_care_team_lists_cases_for_care_and_nobody_else_outside_audit() -> None:
    """A listing (codes, stages, deadlines: nobody's content) is the care team's worklist; a partner, the
    person or a researcher does not list the institution's cases."""
    allowed = decide_record_read(ReadKind.CASE_LISTING, Role.INTERVENANT, PurposeKind.CARE, DAY, CONFIG)
    assert (allowed.outcome, allowed.rule) == (Outcome.ALLOWED, LISTING_RULE)
    for role, purpose in ((Role.PARTNER_ORG, PurposeKind.CONTINUITY), (Role.USAGER, PurposeKind.SELF_ACCESS),
                          (Role.INTERVENANT, PurposeKind.AUDIT)):
        refused = decide_record_read(ReadKind.CASE_LISTING, role, purpose, DAY, CONFIG)
        assert refused.outcome is Outcome.REFUSED
        assert "or by the care team (intervenant, superviseur) for care" in refused.reason


def test_a_case_read_asks_for_one_item_framed_by_its_purpose() -> None:
    """As a replay frames it: audit metadata for an audit, record content (clinical) otherwise."""
    assert (CaseItem.STATE.item, CaseItem.EVENTS.item) == ("etat du dossier", "journal des evenements")
    assert {i.category for i in case_items(PurposeKind.AUDIT)} == {ItemCategory.AUDIT}
    assert {i.category for i in case_items(PurposeKind.CARE)} == {ItemCategory.CLINICAL}


def _register_decision(role: Role, by: str, purpose: PurposeKind, birth: date | None = None) -> Decision:
    items = register_items(purpose)
    req = RequestAccess(by=by, command_id="r-1", role=role, subject_id="u-1", items=[i.name for i in items],
                        purpose=purpose, moment=MOMENT)
    ctx = DisclosureContext(subject=SubjectStatus(birth_date=birth), dossier_items=items, consents=[])
    return rules.decide(req, ctx, CONFIG)


def test_the_auditor_gets_the_register_metadata_and_never_its_words() -> None:
    decision = _register_decision(Role.AUDITOR, "aud-1", PurposeKind.AUDIT)
    assert (decision.outcome, decision.allowed) == (Outcome.PARTIAL, [REGISTER_ITEM])
    (entry,) = entries_shown([ENTRY], decision) or []
    assert (entry["intended_use"], entry["justification"], entry["purpose_text"]) == (WITHHELD, WITHHELD, None)
    assert (entry["recipient_id"], entry["basis_code"]) == ("cc-laval", "CONSENTEMENT")


def test_the_person_gets_their_register_whole_from_14_and_nobody_else_in_their_name() -> None:
    """LRSSS 265 with s. 18 / LSSSS 27.2, through the self-access basis: the person, 14 or over."""
    mine = _register_decision(Role.USAGER, "u-1", PurposeKind.SELF_ACCESS, birth=date(1990, 1, 1))
    assert mine.outcome is Outcome.ALLOWED and set(mine.allowed) == {REGISTER_ITEM, *FREE_TEXT}
    (entry,) = entries_shown([ENTRY], mine) or []
    assert (entry["intended_use"], entry["justification"]) == ("prise en charge", "consentement écrit")
    other = _register_decision(Role.USAGER, "u-2", PurposeKind.SELF_ACCESS, birth=date(1990, 1, 1))
    assert other.outcome is Outcome.REFUSED and entries_shown([ENTRY], other) is None
    young = _register_decision(Role.USAGER, "u-1", PurposeKind.SELF_ACCESS, birth=date(2015, 1, 1))
    assert young.refusal is not None and young.refusal.code == "minor_under_14"
