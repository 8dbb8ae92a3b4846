"""Every role and every rule of the decision, each test citing the article it enforces
(LSSSS for facts before 2024-07-01, LRSSS from then on)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from domain.disclosure.commands import RequestAccess
from domain.disclosure.legal_bases import Condition
from domain.disclosure.model import BasisKind, GrantorCapacity, Outcome, TemporaryDenial
from domain.disclosure.roles import PurposeKind, Role
from domain.disclosure.rules import decide
from tests.disclosure_builders import (
    AFTER,
    BEFORE,
    CONFIG,
    CONTENT,
    EMERGENCY_CONDITIONS,
    PARTNER,
    SUBJECT,
    active_entente,
    authorisation,
    consent_view,
    context,
    particulars,
    request,
)

ERAS = pytest.mark.parametrize("moment", [BEFORE, AFTER], ids=["LSSSS", "LRSSS"])


def withheld(decision: object, code: str) -> list[str]:
    return [w.item for w in decision.withheld if w.code == code]  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- default deny


@ERAS
def test_default_deny_without_consent_or_basis(moment: datetime) -> None:
    """LSSSS 19 / LRSSS 5: no access without consent or a provision of the law; the refusal cites it."""
    d = decide(request(Role.RESEARCHER, PurposeKind.CARE, moment=moment), context(at=moment), CONFIG)
    assert d.outcome is Outcome.REFUSED and d.allowed == [] and d.basis is None
    assert d.refusal is not None
    assert d.refusal.article == ("LSSSS-19" if moment is BEFORE else "LRSSS-5")
    assert d.refusal.code == "no_basis"


def test_reasoned_refusal_carries_recourse_and_its_60_day_deadline() -> None:
    """LSSSS 27: review by the CAI, Superior Court or Court of Québec; TAQ within 60 days of notification."""
    d = decide(request(Role.RESEARCHER, PurposeKind.RESEARCH, moment=BEFORE), context(at=BEFORE), CONFIG)
    assert d.refusal is not None
    assert d.refusal.recourse_article == "LSSSS-27"
    assert any("CAI" in b for b in d.refusal.recourse_bodies)
    assert d.refusal.notified_at == BEFORE
    assert d.refusal.recourse_deadline == BEFORE.date() + timedelta(days=60)


# --------------------------------------------------------------------------- usager


@ERAS
def test_usager_14_and_over_reads_own_record(moment: datetime) -> None:
    """LSSSS 17 / LRSSS 17: a user aged 14 or over has access to their record."""
    d = decide(request(Role.USAGER, PurposeKind.SELF_ACCESS, by=SUBJECT, moment=moment, items=["motif"]),
               context(age=14, at=moment), CONFIG)
    assert d.outcome is Outcome.ALLOWED and d.allowed == ["motif"]
    assert d.basis is not None and d.basis.code == ("LSSSS-17" if moment is BEFORE else "LRSSS-17")
    assert not d.communication  # the person themselves: not a register entry (LRSSS 265)


@ERAS
def test_usager_under_14_is_refused_except_through_a_lawyer(moment: datetime) -> None:
    """LSSSS 20 / LRSSS 21: under 14, access only through their lawyer in a judicial proceeding."""
    ctx = context(age=13, at=moment)
    d = decide(request(Role.USAGER, PurposeKind.SELF_ACCESS, by=SUBJECT, moment=moment), ctx, CONFIG)
    assert d.outcome is Outcome.REFUSED and d.refusal is not None
    assert d.refusal.article == ("LSSSS-20" if moment is BEFORE else "LRSSS-21")
    lawyer = request(Role.USAGER, PurposeKind.SELF_ACCESS, by="avocat-1", moment=moment,
                     attestations=[Condition.JUDICIAL_PROCEEDING], authority_reference="500-17-000000-245")
    d = decide(lawyer, ctx, CONFIG)
    assert d.outcome is Outcome.ALLOWED
    assert d.basis is not None and d.basis.code == ("LSSSS-20" if moment is BEFORE else "LRSSS-21")


def test_usager_reads_only_their_own_record() -> None:
    """LRSSS 17: the right of access is to information about oneself."""
    d = decide(request(Role.USAGER, PurposeKind.SELF_ACCESS, by="someone-else"), context(), CONFIG)
    assert d.outcome is Outcome.REFUSED and d.refusal is not None and d.refusal.code == "not_the_person"


@ERAS
def test_temporary_denial_withholds_until_the_release_date(moment: datetime) -> None:
    """LSSSS 17 / LRSSS 17: access may be refused temporarily on a professional's advice of serious harm."""
    denial = TemporaryDenial(items=["notes psychosociales"], advised_by="md-1", reasons="risque de décompensation",
                             decided_at=moment, release_on=moment.date() + timedelta(days=30),
                             notice_sent_at=moment)
    ctx = context(at=moment, temporary_denials=[denial])
    req = request(Role.USAGER, PurposeKind.SELF_ACCESS, by=SUBJECT, moment=moment,
                  items=["motif", "notes psychosociales"])
    d = decide(req, ctx, CONFIG)
    assert d.allowed == ["motif"] and withheld(d, "temporary_denial") == ["notes psychosociales"]
    assert d.withheld[0].article == ("LSSSS-17(refus)" if moment is BEFORE else "LRSSS-17(refus)")
    later = req.model_copy(update={"moment": moment + timedelta(days=31)})
    assert decide(later, ctx, CONFIG).allowed == ["motif", "notes psychosociales"]


@ERAS
def test_third_party_information_is_withheld_from_the_person_unless_the_third_party_consented(moment: datetime) -> None:
    """LSSSS 18 [S] (CAI decisions; physicians' code 94.1): information from an identifiable third party
    is withheld unless that third party consented in writing. LRSSS: no provision located, kept as policy."""
    req = request(Role.USAGER, PurposeKind.SELF_ACCESS, by=SUBJECT, moment=moment,
                  items=["motif", "signalement du voisin", "lettre de la soeur"])
    d = decide(req, context(at=moment), CONFIG)
    assert d.allowed == ["motif", "lettre de la soeur"]
    assert withheld(d, "third_party") == ["signalement du voisin"]
    assert d.withheld[0].article == ("LSSSS-18" if moment is BEFORE else "POL-TIERS")


# --------------------------------------------------------------------------- intervenant, supervisor


@ERAS
def test_intervenant_reads_for_care_only_with_an_active_authorisation(moment: datetime) -> None:
    """R-22.1, r. 1, s. 8 (LRSSS era; policy before): an intervenant reads a record only with an active
    access authorisation: training current, discretion undertaking signed."""
    req = request(Role.INTERVENANT, PurposeKind.CARE, moment=moment, items=["motif"])
    assert decide(req, context(at=moment), CONFIG).outcome is Outcome.REFUSED
    ctx = context(at=moment).model_copy(update={"authorisations": [authorisation(at=moment)]})
    d = decide(req, ctx, CONFIG)
    assert d.outcome is Outcome.ALLOWED
    assert d.basis is not None and d.basis.code == ("POL-EQUIPE-SOINS" if moment is BEFORE else "LRSSS-R1-8")
    assert not d.communication  # the care team: logged, not registered
    lapsed = authorisation(at=moment, training_current_until=moment.date() - timedelta(days=1))
    d = decide(req, ctx.model_copy(update={"authorisations": [lapsed]}), CONFIG)
    assert d.outcome is Outcome.REFUSED and d.refusal is not None
    assert d.refusal.code == "no_active_authorisation"


def test_supervisor_reads_audit_metadata_and_content_only_as_care_team() -> None:
    """Digest 3.1 R3-R4: supervisors read the audit trail; content needs the same authorisation (R-22.1, r. 1, s. 8)."""
    d = decide(request(Role.SUPERVISOR, PurposeKind.AUDIT, items=["journal des acces", "motif"]), context(), CONFIG)
    assert d.allowed == ["journal des acces"] and d.metadata_basis == "POL-AUDIT"
    assert d.basis is None and d.outcome is Outcome.PARTIAL


# --------------------------------------------------------------------------- auditor


def test_auditor_reads_audit_metadata_never_clinical_content_even_with_a_basis_or_consent() -> None:
    """Digest 3.1 R3 (LSSSS 19 / LRSSS 5): the auditor reads all audit events, never clinical content
    through that role."""
    ctx = context(consents=[consent_view(recipients=["role:auditeur"], purpose=PurposeKind.AUDIT)])
    d = decide(request(Role.AUDITOR, PurposeKind.AUDIT, items=["journal des acces", *CONTENT],
                       basis_code="LRSSS-74", attestations=EMERGENCY_CONDITIONS), ctx, CONFIG)
    assert d.allowed == ["journal des acces"]
    assert set(withheld(d, "auditor_no_content")) == set(CONTENT)
    assert d.basis is None


# --------------------------------------------------------------------------- partner organisation


def partner_request(**kw: Any) -> RequestAccess:
    return request(Role.PARTNER_ORG, PurposeKind.CONTINUITY, by="agent-cc", recipient_id=PARTNER,
                   agreement_purpose="continuité de l'intervention de crise",
                   items=["motif", "niveau d'urgence", "notes psychosociales"], **kw)


def test_partner_receives_only_under_an_active_agreement_whose_clause_covers_it() -> None:
    """LSSSS 19 / LRSSS 5 with the entente's information-sharing clause (seed 001 L341-374: only
    'lorsque permis', need-to-know): consent names the partner, the clause bounds the items."""
    ctx = context(consents=[consent_view()])
    d = decide(partner_request(), ctx, CONFIG)
    assert d.outcome is Outcome.REFUSED and d.refusal is not None and d.refusal.code == "no_active_agreement"
    with_entente = ctx.model_copy(update={"ententes": [active_entente()]})
    d = decide(partner_request(), with_entente, CONFIG)
    assert d.allowed == ["motif", "niveau d'urgence"]
    assert withheld(d, "not_in_agreement_clause") == ["notes psychosociales"]
    assert d.basis is not None and d.basis.kind is BasisKind.CONSENT
    assert d.communication and d.register_article == "LRSSS-265"
    closed = ctx.model_copy(update={"ententes": [active_entente(sharing=False)]})
    assert decide(partner_request(), closed, CONFIG).outcome is Outcome.REFUSED


def test_partner_without_consent_is_refused_even_under_an_agreement() -> None:
    """LSSSS 19 / LRSSS 5: an entente is not a legal basis; the continuity basis (LSSSS 108 para 5,
    unverified) ships disabled."""
    ctx = context().model_copy(update={"ententes": [active_entente()]})
    d = decide(partner_request(), ctx, CONFIG)
    assert d.outcome is Outcome.REFUSED and d.refusal is not None and d.refusal.article == "LRSSS-5"


def test_mandatary_needs_the_mandate_conditions_and_the_agreement() -> None:
    """LSSSS 27.1 / LRSSS 77: written mandate, confidentiality clauses and undertakings before any communication."""
    conds = [Condition.WRITTEN_MANDATE, Condition.NOT_HEALTH_SERVICES, Condition.CONFIDENTIALITY_CLAUSES,
             Condition.UNDERTAKINGS_RECEIVED]
    ctx = context().model_copy(update={"ententes": [active_entente()]})
    req = request(Role.PARTNER_ORG, PurposeKind.MANDATE, recipient_id=PARTNER, items=["motif"],
                  agreement_purpose="continuité de l'intervention de crise", authority_reference="contrat-42",
                  attestations=conds[:-1])
    d = decide(req, ctx, CONFIG)
    assert d.outcome is Outcome.REFUSED and d.refusal is not None and d.refusal.code == "conditions_not_attested"
    d = decide(req.model_copy(update={"attestations": conds}), ctx, CONFIG)
    assert d.outcome is Outcome.ALLOWED and d.basis is not None and d.basis.code == "LRSSS-77"


# --------------------------------------------------------------------------- researcher


@ERAS
def test_researcher_needs_written_consent_or_an_authorisation(moment: datetime) -> None:
    """LSSSS 19.1 / LRSSS 6 (consent); LSSSS 19.2 / LRSSS 47 (authorisation without consent)."""
    ctx = context(at=moment)
    conds = [Condition.RESEARCH_AUTHORISATION, Condition.ETHICS_APPROVED, Condition.CONSENT_UNREASONABLE,
             Condition.PUBLIC_INTEREST, Condition.SECURITY_COMPLIANT]
    req = request(Role.RESEARCHER, PurposeKind.RESEARCH, moment=moment, authority_reference="projet-17",
                  attestations=conds)
    d = decide(req, ctx, CONFIG)
    assert d.basis is not None and d.basis.code == ("LSSSS-19.2" if moment is BEFORE else "LRSSS-47")
    assert d.communication
    with_consent = context(at=moment, consents=[consent_view(at=moment, purpose=PurposeKind.RESEARCH,
                                                             recipients=["role:chercheur"])])
    d = decide(request(Role.RESEARCHER, PurposeKind.RESEARCH, moment=moment), with_consent, CONFIG)
    assert d.basis is not None and d.basis.kind is BasisKind.CONSENT


# --------------------------------------------------------------------------- after a death


def test_heir_receives_what_exercising_their_rights_needs_third_party_withheld() -> None:
    """LSSSS 23 para 1 (heirs, legatees, beneficiaries); LSSSS 18 and CAI Paré: third-party info withheld."""
    conds = [Condition.PROOF_OF_TITLE, Condition.RIGHT_TO_EXERCISE, Condition.MINIMUM_NECESSARY]
    req = request(Role.HEIR, PurposeKind.HEIR_RIGHTS, moment=BEFORE, attestations=conds,
                  items=["motif", "signalement du voisin"])
    assert decide(req, context(at=BEFORE), CONFIG).refusal.code == "no_death_recorded"  # type: ignore[union-attr]
    dead = context(at=BEFORE, deceased_on=date(2024, 1, 2))
    d = decide(req, dead, CONFIG)
    assert d.allowed == ["motif"] and withheld(d, "third_party") == ["signalement du voisin"]
    assert d.basis is not None and d.basis.code == "LSSSS-23(1)"


def test_heir_after_the_switch_has_no_located_basis() -> None:
    """LRSSS: the heirs' provision was not located (digest §2, art. 23): default deny until configured."""
    req = request(Role.HEIR, PurposeKind.HEIR_RIGHTS, attestations=[Condition.PROOF_OF_TITLE,
                  Condition.RIGHT_TO_EXERCISE, Condition.MINIMUM_NECESSARY])
    d = decide(req, context(deceased_on=date(2025, 1, 2)), CONFIG)
    assert d.outcome is Outcome.REFUSED and d.refusal is not None and d.refusal.article == "LRSSS-5"


@ERAS
def test_relatives_receive_the_cause_of_death_only_unless_refused(moment: datetime) -> None:
    """LSSSS 23 para 2 / LRSSS 8(2): spouse, ascendants, descendants get the cause of death, unless the
    deceased refused in writing."""
    req = request(Role.RELATIVE, PurposeKind.CAUSE_OF_DEATH, moment=moment,
                  attestations=[Condition.PROOF_OF_TITLE], items=["cause du deces", "motif"])
    dead = context(at=moment, deceased_on=moment.date() - timedelta(days=3))
    d = decide(req, dead, CONFIG)
    assert d.allowed == ["cause du deces"] and withheld(d, "cause_of_death_only") == ["motif"]
    refused = context(at=moment, deceased_on=moment.date() - timedelta(days=3), cause_of_death_refusal=True)
    d = decide(req, refused, CONFIG)
    assert d.outcome is Outcome.REFUSED and d.refusal is not None
    assert d.refusal.article == ("LSSSS-23(2)" if moment is BEFORE else "LRSSS-8(2)")


@ERAS
def test_blood_relatives_verify_a_genetic_disease_even_after_a_refusal(moment: datetime) -> None:
    """LSSSS 23 para 4 / LRSSS 30: genetic relatives, to the extent needed, despite a cause-of-death refusal."""
    req = request(Role.RELATIVE, PurposeKind.GENETIC, moment=moment, items=["motif", "notes psychosociales"],
                  attestations=[Condition.PROOF_OF_TITLE, Condition.GENETIC_NECESSITY])
    ctx = context(at=moment, deceased_on=moment.date() - timedelta(days=3), cause_of_death_refusal=True)
    d = decide(req, ctx, CONFIG)
    assert d.allowed == ["motif"] and withheld(d, "not_needed_for_genetics") == ["notes psychosociales"]
    assert d.basis is not None and d.basis.code == ("LSSSS-23(4)" if moment is BEFORE else "LRSSS-30")


def test_parent_of_a_deceased_child_under_14_gets_everything_but_psychosocial() -> None:
    """LSSSS 23 para 3: the parent receives the record of a child who died under 14, not psychosocial information."""
    req = request(Role.PARENT, PurposeKind.PARENTAL, moment=BEFORE, attestations=[Condition.PARENTAL_AUTHORITY],
                  items=["motif", "notes psychosociales"])
    ctx = context(age=10, at=BEFORE, deceased_on=date(2024, 3, 1))
    d = decide(req, ctx, CONFIG)
    assert d.allowed == ["motif"] and withheld(d, "psychosocial_excluded") == ["notes psychosociales"]
    assert d.basis is not None and d.basis.code == "LSSSS-23(3)"


# --------------------------------------------------------------------------- parents and representatives


@ERAS
def test_parent_of_a_child_under_14_unless_harm_determined_in_youth_protection(moment: datetime) -> None:
    """LSSSS 21 para 2 / LRSSS 23: the parent has access, except a YPA case where harm was determined
    (by the institution after consulting the DPJ; under the LRSSS, by the DPJ)."""
    req = request(Role.PARENT, PurposeKind.PARENTAL, moment=moment, attestations=[Condition.PARENTAL_AUTHORITY])
    assert decide(req, context(age=10, at=moment), CONFIG).outcome is Outcome.ALLOWED
    ctx = context(age=10, at=moment, youth_protection=True, parental_harm_determined=True)
    d = decide(req, ctx, CONFIG)
    assert d.outcome is Outcome.REFUSED and d.refusal is not None
    assert d.refusal.article == ("LSSSS-21(2)" if moment is BEFORE else "LRSSS-23")


def test_parent_of_a_minor_14_plus_under_lsss_unless_the_minor_refused_and_harm() -> None:
    """LSSSS 21 para 3: refused when the minor, consulted, refuses and harm is determined; YPA information
    the minor refused is never given."""
    conds = [Condition.PARENTAL_AUTHORITY, Condition.MINOR_CONSULTED]
    req = request(Role.PARENT, PurposeKind.PARENTAL, moment=BEFORE, attestations=conds,
                  items=["motif", "rapport DPJ"])
    assert decide(req, context(age=15, at=BEFORE), CONFIG).allowed == ["motif", "rapport DPJ"]
    refused = context(age=15, at=BEFORE, minor_refused_parent_access=True)
    d = decide(req, refused, CONFIG)
    assert d.allowed == ["motif"] and withheld(d, "ypa_protected") == ["rapport DPJ"]
    harm = context(age=15, at=BEFORE, minor_refused_parent_access=True, parental_harm_determined=True)
    assert decide(req, harm, CONFIG).outcome is Outcome.REFUSED


def test_parent_of_a_minor_14_plus_under_lrsss_only_on_a_no_harm_finding() -> None:
    """LRSSS 24: access only if the body, after consulting the minor, finds no likely harm; YPA
    information always excluded."""
    conds = [Condition.PARENTAL_AUTHORITY, Condition.MINOR_CONSULTED]
    req = request(Role.PARENT, PurposeKind.PARENTAL, attestations=conds, items=["motif", "rapport DPJ"])
    assert decide(req, context(age=15), CONFIG).outcome is Outcome.REFUSED
    d = decide(req.model_copy(update={"attestations": [*conds, Condition.NO_LIKELY_HARM]}), context(age=15), CONFIG)
    assert d.allowed == ["motif"] and withheld(d, "ypa_protected") == ["rapport DPJ"]
    assert d.basis is not None and d.basis.code == "LRSSS-24"


def test_parent_of_an_adult_has_no_access_of_their_own() -> None:
    """LSSSS 21 / LRSSS 23-24 concern minors; an adult's record is confidential (LRSSS 5)."""
    conds = [Condition.PARENTAL_AUTHORITY, Condition.MINOR_CONSULTED, Condition.NO_LIKELY_HARM]
    d = decide(request(Role.PARENT, PurposeKind.PARENTAL, attestations=conds), context(age=19), CONFIG)
    assert d.outcome is Outcome.REFUSED


def test_representative_within_the_power_exercised() -> None:
    """LSSSS 22 [S]: tutor, curator, mandatary, person who may consent to care, to the extent necessary."""
    conds = [Condition.CAPACITY_PROVEN, Condition.POWER_EXERCISED, Condition.MINIMUM_NECESSARY]
    req = request(Role.REPRESENTATIVE, PurposeKind.REPRESENTATION, moment=BEFORE, attestations=conds[:2])
    assert decide(req, context(at=BEFORE), CONFIG).outcome is Outcome.REFUSED
    d = decide(req.model_copy(update={"attestations": conds}), context(at=BEFORE), CONFIG)
    assert d.basis is not None and d.basis.code == "LSSSS-22"


def test_parent_or_tutor_consent_lapses_at_14() -> None:
    """LRSSS 6 para 4: from 14 the minor consents alone; a parent's consent is re-evaluated (digest R13)."""
    view = consent_view(capacity=GrantorCapacity.PARENT_OR_TUTOR)
    req = request(Role.PARTNER_ORG, PurposeKind.CONTINUITY, recipient_id=PARTNER,
                  agreement_purpose="continuité de l'intervention de crise")
    ok = context(age=13, consents=[view]).model_copy(update={"ententes": [active_entente()]})
    assert decide(req, ok, CONFIG).outcome is Outcome.ALLOWED
    lapsed = context(age=14, consents=[view]).model_copy(update={"ententes": [active_entente()]})
    d = decide(req, lapsed, CONFIG)
    assert d.outcome is Outcome.REFUSED and d.refusal is not None and d.refusal.code == "consent_capacity_lapsed"


# --------------------------------------------------------------------------- courts and legal powers


def test_court_order_needs_the_order_and_its_scope() -> None:
    """LSSSS 19 para 1: on the order of a court or a coroner; scope matches the order."""
    req = request(Role.COURT, PurposeKind.LEGAL_POWER, moment=BEFORE, basis_code="LSSSS-19(1)",
                  attestations=[Condition.ORDER_IN_HAND, Condition.SCOPE_MATCHES_ORDER])
    d = decide(req, context(at=BEFORE), CONFIG)
    assert d.outcome is Outcome.REFUSED and d.refusal is not None and d.refusal.code == "reference_missing"
    d = decide(req.model_copy(update={"authority_reference": "500-01-123456-241"}), context(at=BEFORE), CONFIG)
    assert d.basis is not None and d.basis.code == "LSSSS-19(1)" and d.communication


def test_a_repealed_basis_does_not_apply_after_the_switch() -> None:
    """LSSSS 19 was repealed by 2023, c. 5, s. 238: invoking it for a fact of 2025 is refused; the
    LRSSS provision for court orders was not located, the manager's authorisation (LRSSS 80) is."""
    req = request(Role.COURT, PurposeKind.LEGAL_POWER, basis_code="LSSSS-19(1)", authority_reference="o-1",
                  attestations=[Condition.ORDER_IN_HAND, Condition.SCOPE_MATCHES_ORDER])
    d = decide(req, context(), CONFIG)
    assert d.outcome is Outcome.REFUSED and d.refusal is not None and d.refusal.code == "basis_not_in_force"
    s80 = req.model_copy(update={"basis_code": "LRSSS-80", "attestations": [
        Condition.MANAGER_AUTHORISATION, Condition.SCOPE_MATCHES_ORDER]})
    assert decide(s80, context(), CONFIG).basis.code == "LRSSS-80"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- emergency


@ERAS
def test_emergency_disclosure_only_with_every_condition_attested(moment: datetime) -> None:
    """LSSSS 19.0.1 / LRSSS 74: to prevent an act of violence, including suicide: serious risk of death or
    serious injury, sense of urgency, to a person able to help, by an authorised person, minimum necessary."""
    base = dict(role=Role.PARTNER_ORG, purpose=PurposeKind.EMERGENCY, moment=moment, recipient_id=PARTNER,
                particulars=particulars(moment), items=["motif", "estimation du risque"])
    code = "LSSSS-19.0.1" if moment is BEFORE else "LRSSS-74"
    for missing in EMERGENCY_CONDITIONS:
        conds = [x for x in EMERGENCY_CONDITIONS if x is not missing]
        d = decide(request(basis_code=code, attestations=conds, **base), context(at=moment), CONFIG)  # type: ignore[arg-type]
        assert d.outcome is Outcome.REFUSED, missing
    d = decide(request(basis_code=code, attestations=EMERGENCY_CONDITIONS, **base), context(at=moment), CONFIG)  # type: ignore[arg-type]
    assert d.outcome is Outcome.ALLOWED and d.basis is not None and d.basis.code == code
    assert d.communication  # no entente needed: anyone able to help may receive what is necessary


def test_emergency_basis_needs_its_record_note() -> None:
    """LSSSS 19.0.1 with physicians' code s. 21: the disclosure is recorded with its particulars."""
    d = decide(request(Role.PARTNER_ORG, PurposeKind.EMERGENCY, basis_code="LRSSS-74", recipient_id=PARTNER,
                       attestations=EMERGENCY_CONDITIONS), context(), CONFIG)
    assert d.outcome is Outcome.REFUSED and d.refusal is not None and d.refusal.code == "particulars_missing"


# --------------------------------------------------------------------------- minimum necessary


def test_minimum_necessary_only_requested_items_the_basis_permits() -> None:
    """LSSSS 19.0.1 para 3, 23 / LRSSS 5 para 2, 74: only what is necessary; items not requested are never given,
    items not covered are withheld with a reason."""
    ctx = context(consents=[consent_view(items=["motif"])]).model_copy(update={"ententes": [active_entente()]})
    d = decide(partner_request(), ctx, CONFIG)
    assert d.allowed == ["motif"]
    assert {w.item for w in d.withheld} == {"niveau d'urgence", "notes psychosociales"}
    d = decide(request(Role.USAGER, PurposeKind.SELF_ACCESS, by=SUBJECT, items=["motif", "inexistant"]),
               context(), CONFIG)
    assert d.allowed == ["motif"] and withheld(d, "unknown_item") == ["inexistant"]
