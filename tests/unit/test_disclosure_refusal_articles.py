"""Issue 11, "refusals cite the right article": every refusal code of `rules.decide`, with the provision it
must cite before the LRSSS came into force (2024-07-01: LSSSS) and after (LRSSS), per
../shared/domain/disclosure-law.md. The refusal the CLI, the API and the register show is this one
(`Decision.refusal`), so one table holds for all three.

A basis that does not concern the person (another age, alive or dead) never names the refusal: a parent
asking for a 14-17-year-old's record is refused under LSSSS 21 al. 3 / LRSSS 24, never under the
under-14 provision (LSSSS 21 al. 2 / LRSSS 23).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from domain.disclosure.commands import DiscloseInEmergency, RequestAccess
from domain.disclosure.legal_bases import Condition
from domain.disclosure.model import DisclosureContext, GrantorCapacity, Outcome, TemporaryDenial
from domain.disclosure.roles import PurposeKind, Role
from domain.disclosure.rules import check_emergency, decide, emergency_request
from domain.errors import RuleViolation
from tests.disclosure_builders import (
    AFTER,
    BEFORE,
    CONFIG,
    EMERGENCY_CONDITIONS,
    PARTNER,
    SUBJECT,
    consent_view,
    context,
    particulars,
    request,
)

PARENT = [Condition.PARENTAL_AUTHORITY]
PARENT_14 = [Condition.PARENTAL_AUTHORITY, Condition.MINOR_CONSULTED, Condition.NO_LIKELY_HARM]
Case = Callable[[datetime], tuple[RequestAccess, DisclosureContext]]


def dead(at: datetime, **kw: Any) -> DisclosureContext:
    return context(at=at, deceased_on=(at - timedelta(days=30)).date(), **kw)


def denial(at: datetime) -> TemporaryDenial:
    return TemporaryDenial(items=["motif"], advised_by="md-1", reasons="préjudice grave", decided_at=at,
                           release_on=(at + timedelta(days=30)).date(), notice_sent_at=at)


@dataclass(frozen=True)
class Row:
    name: str
    case: Case
    code: str
    lsss: str
    lrsss: str


ROWS = [
    # default deny: LSSSS 19 (confidential, access with consent) / LRSSS 5
    Row("no basis for the role and purpose", lambda m: (request(Role.RESEARCHER, PurposeKind.CARE, moment=m),
                                                        context(at=m)), "no_basis", "LSSSS-19", "LRSSS-5"),
    # the person: LSSSS 17 / LRSSS 17, under 14 LSSSS 20 / LRSSS 21
    Row("usager under 14", lambda m: (request(Role.USAGER, PurposeKind.SELF_ACCESS, by=SUBJECT, moment=m),
                                      context(age=12, at=m)), "minor_under_14", "LSSSS-20", "LRSSS-21"),
    Row("usager, age unknown", lambda m: (request(Role.USAGER, PurposeKind.SELF_ACCESS, by=SUBJECT, moment=m),
                                          context(at=m, birth_date=None)), "age_unknown", "LSSSS-20", "LRSSS-21"),
    Row("usager reading another's record", lambda m: (request(Role.USAGER, PurposeKind.SELF_ACCESS, moment=m),
                                                      context(at=m)), "not_the_person", "LSSSS-19", "LRSSS-5"),
    Row("usager temporarily denied", lambda m: (
        request(Role.USAGER, PurposeKind.SELF_ACCESS, by=SUBJECT, moment=m),
        context(at=m, temporary_denials=[denial(m)])), "temporary_denial", "LSSSS-17(refus)", "LRSSS-17(refus)"),
    Row("usager, third-party information only", lambda m: (
        request(Role.USAGER, PurposeKind.SELF_ACCESS, by=SUBJECT, moment=m, items=["signalement du voisin"]),
        context(at=m)), "third_party", "LSSSS-18", "POL-TIERS"),
    # parents: LSSSS 21 al. 2 / LRSSS 23 (under 14); LSSSS 21 al. 3 / LRSSS 24 (14 to 17)
    Row("parent of a child under 14, harm determined (YP file)", lambda m: (
        request(Role.PARENT, PurposeKind.PARENTAL, moment=m, attestations=PARENT),
        context(age=10, at=m, youth_protection=True, parental_harm_determined=True)),
        "harm_to_child", "LSSSS-21(2)", "LRSSS-23"),
    Row("parent of a 15-year-old, nothing attested", lambda m: (
        request(Role.PARENT, PurposeKind.PARENTAL, moment=m), context(age=15, at=m)),
        "conditions_not_attested", "LSSSS-21(3)", "LRSSS-24"),
    Row("parent of a 15-year-old, parental authority only attested", lambda m: (
        request(Role.PARENT, PurposeKind.PARENTAL, moment=m, attestations=PARENT), context(age=15, at=m)),
        "conditions_not_attested", "LSSSS-21(3)", "LRSSS-24"),
    Row("parent of a 15-year-old in a YP file, DPJ not consulted", lambda m: (
        request(Role.PARENT, PurposeKind.PARENTAL, moment=m, attestations=PARENT_14),
        context(age=15, at=m, youth_protection=True)), "dpj_not_consulted", "LSSSS-21(3)", "LRSSS-24"),
    Row("parent of a 15-year-old asking under the under-14 provision", lambda m: (
        request(Role.PARENT, PurposeKind.PARENTAL, moment=m, attestations=PARENT,
                basis_code="LSSSS-21(2)" if m < AFTER else "LRSSS-23"), context(age=15, at=m)),
        "minor_14_plus", "LSSSS-21(3)", "LRSSS-24"),
    Row("parent of a 10-year-old asking under the 14-17 provision", lambda m: (
        request(Role.PARENT, PurposeKind.PARENTAL, moment=m, attestations=PARENT_14,
                basis_code="LSSSS-21(3)" if m < AFTER else "LRSSS-24"), context(age=10, at=m)),
        "minor_under_14_parent", "LSSSS-21(2)", "LRSSS-23"),
    Row("parent of an adult", lambda m: (request(Role.PARENT, PurposeKind.PARENTAL, moment=m, attestations=PARENT_14),
                                         context(age=20, at=m)), "adult", "LSSSS-19", "LRSSS-5"),
    Row("parent, age unknown", lambda m: (request(Role.PARENT, PurposeKind.PARENTAL, moment=m, attestations=PARENT_14),
                                          context(at=m, birth_date=None)), "age_unknown", "LSSSS-19", "LRSSS-5"),
    Row("parent of a 15-year-old, YP information only", lambda m: (
        request(Role.PARENT, PurposeKind.PARENTAL, moment=m, attestations=PARENT_14, items=["rapport DPJ"]),
        context(age=15, at=m, minor_refused_parent_access=True)), "nothing_permitted", "LSSSS-21(3)", "LRSSS-24"),
    # after a death: LSSSS 23; LRSSS 8 par. 2 and 30; heirs: LRSSS provision not located, so LRSSS 5
    Row("heir while the person is alive", lambda m: (
        request(Role.HEIR, PurposeKind.HEIR_RIGHTS, moment=m), context(at=m)),
        "no_death_recorded", "LSSSS-19", "lrsss_counterpart_not_located:LRSSS-5"),
    Row("heir, nothing attested", lambda m: (request(Role.HEIR, PurposeKind.HEIR_RIGHTS, moment=m), dead(m)),
        "conditions_not_attested", "LSSSS-23(1)", "lrsss_counterpart_not_located:LRSSS-5"),
    Row("relative, cause of death refused in writing", lambda m: (
        request(Role.RELATIVE, PurposeKind.CAUSE_OF_DEATH, moment=m, attestations=[Condition.PROOF_OF_TITLE],
                items=["cause du deces"]), dead(m, cause_of_death_refusal=True)),
        "cause_of_death_refused", "LSSSS-23(2)", "LRSSS-8(2)"),
    Row("relative, other than the cause of death", lambda m: (
        request(Role.RELATIVE, PurposeKind.CAUSE_OF_DEATH, moment=m, attestations=[Condition.PROOF_OF_TITLE],
                items=["motif"]), dead(m)), "nothing_permitted", "LSSSS-23(2)", "LRSSS-8(2)"),
    Row("relative asking for genetics while the person is alive", lambda m: (
        request(Role.RELATIVE, PurposeKind.GENETIC, moment=m,
                attestations=[Condition.PROOF_OF_TITLE, Condition.GENETIC_NECESSITY]), context(at=m)),
        "no_death_recorded", "LSSSS-19", "LRSSS-5"),
    Row("representative of a deceased person", lambda m: (
        request(Role.REPRESENTATIVE, PurposeKind.REPRESENTATION, moment=m), dead(m)),
        "subject_deceased", "LSSSS-19", "lrsss_counterpart_not_located:LRSSS-5"),
    # consent: LSSSS 19 (any consent) or 19.1 (research) / LRSSS 6
    Row("consent expired", lambda m: (request(Role.PARTNER_ORG, PurposeKind.CONTINUITY, moment=m, by=PARTNER),
                                      context(at=m, consents=[consent_view(state="expired", at=m)])),
        "consent_expire", "LSSSS-19", "LRSSS-6"),
    Row("research consent withdrawn", lambda m: (
        request(Role.RESEARCHER, PurposeKind.RESEARCH, moment=m, by=PARTNER),
        context(at=m, consents=[consent_view(state="withdrawn", at=m, purpose=PurposeKind.RESEARCH)])),
        "consent_retire", "LSSSS-19.1", "LRSSS-6"),
    Row("a parent's consent for a person now 14", lambda m: (
        request(Role.PARTNER_ORG, PurposeKind.CONTINUITY, moment=m, by=PARTNER),
        context(age=14, at=m, consents=[consent_view(at=m, capacity=GrantorCapacity.PARENT_OR_TUTOR)])),
        "consent_capacity_lapsed", "LSSSS-19", "LRSSS-6"),
    # explicit bases
    Row("an unknown basis", lambda m: (request(Role.COURT, PurposeKind.LEGAL_POWER, moment=m, basis_code="X-99"),
                                       context(at=m)), "unknown_basis", "LSSSS-19", "LRSSS-5"),
    Row("the other era's basis", lambda m: (
        request(Role.USAGER, PurposeKind.SELF_ACCESS, by=SUBJECT, moment=m,
                basis_code="LRSSS-17" if m < AFTER else "LSSSS-17"), context(at=m)),
        "basis_not_in_force", "LSSSS-19", "LRSSS-5"),
    Row("research without the authorisation attested", lambda m: (
        request(Role.RESEARCHER, PurposeKind.RESEARCH, moment=m), context(at=m)),
        "conditions_not_attested", "LSSSS-19.2", "LRSSS-47"),
    Row("care team without an access authorisation", lambda m: (
        request(Role.INTERVENANT, PurposeKind.CARE, moment=m), context(at=m)),
        "no_active_authorisation", "POL-EQUIPE-SOINS", "LRSSS-R1-8"),
    Row("auditor asking for content", lambda m: (request(Role.AUDITOR, PurposeKind.AUDIT, moment=m),
                                                 context(at=m)), "auditor_no_content", "POL-AUDIT", "POL-AUDIT"),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
@pytest.mark.parametrize("moment", [BEFORE, AFTER], ids=["LSSSS", "LRSSS"])
def test_each_refusal_cites_the_provision_that_refused(row: Row, moment: datetime) -> None:
    req, ctx = row.case(moment)
    d = decide(req, ctx, CONFIG)
    assert d.outcome is Outcome.REFUSED and d.allowed == [] and d.basis is None
    assert d.refusal is not None
    expected = row.lsss if moment is BEFORE else row.lrsss
    code, _, article = expected.rpartition(":")
    assert (d.refusal.code, d.refusal.article) == (code or row.code, article)
    assert {w.article for w in d.withheld} == {article}
    assert d.refusal.recourse_article == ("LSSSS-27" if moment is BEFORE else CONFIG.recourse_lrsss.article)


def test_the_parent_of_a_14_to_17_year_old_is_never_refused_under_the_under_14_provision() -> None:
    """LSSSS 21 al. 2 and 3; LRSSS 23 and 24 [V]: the provision follows the minor's age on the request date."""
    for moment, under, over in ((BEFORE, "LSSSS-21(2)", "LSSSS-21(3)"), (AFTER, "LRSSS-23", "LRSSS-24")):
        for age in (14, 15, 17):
            for attested, refused in (([], False), (PARENT, False), (PARENT_14, True)):
                d = decide(request(Role.PARENT, PurposeKind.PARENTAL, moment=moment, attestations=attested),
                           context(age=age, at=moment, minor_refused_parent_access=refused,
                                   parental_harm_determined=refused, youth_protection=refused), CONFIG)
                assert d.refusal is not None and d.refusal.article == over, (moment, age, attested)
                assert under not in d.refusal.reason


def test_heirs_after_2024_07_01_are_told_why_there_is_no_basis() -> None:
    """LSSSS 23 al. 1 ceased with the LRSSS; its heirs' provision was not located (disclosure-law.md, art. 23):
    the refusal says so and cites LRSSS 5, not a repealed article nor an invented one."""
    conds = [Condition.PROOF_OF_TITLE, Condition.RIGHT_TO_EXERCISE, Condition.MINIMUM_NECESSARY]
    d = decide(request(Role.HEIR, PurposeKind.HEIR_RIGHTS, attestations=conds), dead(AFTER), CONFIG)
    assert d.refusal is not None
    assert (d.refusal.code, d.refusal.article) == ("lrsss_counterpart_not_located", "LRSSS-5")
    assert "LSSSS-23(1)" in d.refusal.reason and "not located" in d.refusal.reason
    assert d.moment.date() >= date(2024, 7, 1)


def test_a_tutor_is_refused_on_the_missing_basis_not_on_a_consent_given_to_someone_else() -> None:
    """LSSSS 22 [S] ceased with the LRSSS, its counterpart not located (disclosure-law.md, art. 22): a tutor
    reading in the person's name after 2024-07-01 is told so (`lrsss_counterpart_not_located`, LRSSS 5), even
    when the person once consented to a partner and that consent has expired: a consent naming neither them nor
    their role is not what refused them (before the switch, LSSSS 22's own conditions are what is missing)."""
    for moment, code, article in ((AFTER, "lrsss_counterpart_not_located", "LRSSS-5"),
                                  (BEFORE, "conditions_not_attested", "LSSSS-22")):
        d = decide(request(Role.REPRESENTATIVE, PurposeKind.REPRESENTATION, moment=moment,
                           attestations=[Condition.CAPACITY_PROVEN]),
                   context(at=moment, consents=[consent_view(state="expired", at=moment, recipients=[PARTNER])]),
                   CONFIG)
        assert d.refusal is not None
        assert (d.refusal.code, d.refusal.article) == (code, article)
    named = decide(request(Role.PARTNER_ORG, PurposeKind.CONTINUITY, moment=AFTER, by=PARTNER),
                   context(at=AFTER, consents=[consent_view(state="expired", at=AFTER, recipients=[PARTNER])]), CONFIG)
    assert named.refusal is not None and named.refusal.code == "consent_expire"  # the partner it names: its reason


@pytest.mark.parametrize(("moment", "article"), [(BEFORE, "LSSSS-19.0.1"), (AFTER, "LRSSS-74")],
                         ids=["LSSSS", "LRSSS"])
def test_a_refused_emergency_disclosure_names_the_emergency_provision(moment: datetime, article: str) -> None:
    """LSSSS 19.0.1 / LRSSS 74: a disclosure whose conditions are not all attested is refused (nothing recorded);
    the refusal names the provision whose conditions were missing."""
    cmd = DiscloseInEmergency(
        by="intervenant-7", subject_id=SUBJECT, recipient_id=PARTNER, recipient_role=Role.PARTNER_ORG,
        items=["motif"], attestations=EMERGENCY_CONDITIONS[:2], particulars=particulars(moment))
    decision = decide(emergency_request(cmd, CONFIG), context(at=moment), CONFIG)
    with pytest.raises(RuleViolation) as refused:
        check_emergency(decision)
    assert refused.value.code == "emergency_refused" and refused.value.message.endswith(f"({article})")
