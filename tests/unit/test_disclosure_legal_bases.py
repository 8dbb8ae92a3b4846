"""The allow-list: which law applies by the date of the fact, and which provision it names."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from domain.disclosure.legal_bases import Concept, DisclosureConfig, Law, LegalBasis, Verification, default_config
from domain.disclosure.roles import PurposeKind, Role

CONFIG = default_config()


def test_law_switch_picks_lsss_before_and_lrsss_from_2024_07_01() -> None:
    """LRSSS (2023, c. 5) in force 2024-07-01; LSSSS 17-28 repealed by its s. 238: choose by fact date."""
    assert CONFIG.law_for(date(2024, 6, 30)) is Law.LSSSS
    assert CONFIG.law_for(date(2024, 7, 1)) is Law.LRSSS


@pytest.mark.parametrize(("concept", "before", "after"), [
    (Concept.EMERGENCY, "LSSSS-19.0.1", "LRSSS-74"),
    (Concept.SELF_ACCESS, "LSSSS-17", "LRSSS-17"),
    (Concept.MINOR_UNDER_14, "LSSSS-20", "LRSSS-21"),
    (Concept.PARENT_UNDER_14, "LSSSS-21(2)", "LRSSS-23"),
    (Concept.PARENT_14_PLUS, "LSSSS-21(3)", "LRSSS-24"),
    (Concept.RESEARCH, "LSSSS-19.2", "LRSSS-47"),
    (Concept.MANDATE, "LSSSS-27.1", "LRSSS-77"),
    (Concept.REGISTER, "LSSSS-27.2", "LRSSS-265"),
    (Concept.CONFIDENTIALITY, "LSSSS-19", "LRSSS-5"),
    (Concept.CONSENT, "LSSSS-19.1", "LRSSS-6"),
    (Concept.GENETIC, "LSSSS-23(4)", "LRSSS-30"),
])
def test_basis_for_gives_each_rule_its_article_in_each_era(concept: Concept, before: str, after: str) -> None:
    """Every rule carries both legal bases (disclosure-law.md §1 and the table of §4)."""
    assert CONFIG.cite(date(2024, 6, 30), concept) == before
    assert CONFIG.cite(date(2024, 7, 1), concept) == after


def test_a_rule_with_no_located_lrsss_provision_says_so_rather_than_cite_a_repealed_article() -> None:
    """LSSSS 23 para 1 (heirs) has no LRSSS counterpart in the digest: no basis after the switch."""
    assert CONFIG.basis_for(date(2025, 1, 1), Concept.HEIR) is None
    assert CONFIG.cite(date(2025, 1, 1), Concept.HEIR) == "LRSSS-heritier(non-repere)"


def test_lrsss_103_is_not_in_force_until_configured() -> None:
    """LRSSS 103 (access log) was 'Not in force' in the 2024-11-18 snapshot: in-force dates are configuration."""
    assert CONFIG.cite(date(2025, 1, 1), Concept.ACCESS_LOG) == "POL-JOURNAL"
    bases = [b.model_copy(update={"in_force": True, "in_force_from": date(2025, 1, 1)}) if b.code == "LRSSS-103"
             else b for b in CONFIG.bases]
    later = CONFIG.model_copy(update={"bases": bases})
    assert later.cite(date(2025, 1, 1), Concept.ACCESS_LOG) == "LRSSS-103"
    assert later.cite(date(2024, 12, 31), Concept.ACCESS_LOG) == "POL-JOURNAL"


def test_unverified_continuity_basis_ships_disabled() -> None:
    """LSSSS 19(7) via 108 para 5 is 'not verified' in the digest: it widens access, so it is off by default."""
    b = CONFIG.basis("LSSSS-108(5)")
    assert b is not None and not b.enabled and b.verification is Verification.NV
    assert CONFIG.grants_for(date(2024, 1, 1), Role.PARTNER_ORG, PurposeKind.CONTINUITY) == []


def test_the_switch_date_is_configuration() -> None:
    """The law switch is data: another date moves every provision's window with it."""
    moved = default_config(date(2024, 9, 1))
    assert moved.cite(date(2024, 8, 1), Concept.EMERGENCY) == "LSSSS-19.0.1"
    assert moved.cite(date(2024, 9, 1), Concept.EMERGENCY) == "LRSSS-74"


def test_a_granting_basis_names_its_roles_and_purposes_and_codes_are_unique() -> None:
    with pytest.raises(ValidationError, match="names its roles and purposes"):
        LegalBasis(code="X-1", law=Law.POLICY, article="a", title="t", concept=Concept.AUDIT,
                   verification=Verification.POLICY, grants=True)
    with pytest.raises(ValidationError, match="more than once"):
        DisclosureConfig(bases=[*CONFIG.bases, CONFIG.bases[0]], recourse_lsss=CONFIG.recourse_lsss,
                         recourse_lrsss=CONFIG.recourse_lrsss)
