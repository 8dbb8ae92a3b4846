"""The allow-list of legal bases, as configuration data.

Each entry is one provision: the LSSSS article for facts before the switch
date (2024-07-01), the LRSSS section from then on (choose by the date of the
fact, not of processing: disclosure-law.md §1). Every rule of `rules.py` names
a `Concept`; `DisclosureConfig.basis_for(fact_date, concept)` gives the
provision in force for it on that date.

Two kinds of entries:
- `grants=True`: a basis on which content may be read or sent without consent,
  for the roles and purposes it lists, once its conditions are attested;
- `grants=False`: a provision cited by a rule or a refusal (confidentiality,
  consent, third parties, register…).

Verification tags are those of the digest: V (text read), V_PARTIAL, S
(secondary source), NV (not verified), plus INFERRED (our reading of the digest)
and POLICY (an internal rule with no article: the digest located none).
Unverified bases that would *widen* access ship disabled (`enabled=False`): an
institution's counsel turns them on in configuration, never in code.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from domain.disclosure.roles import PurposeKind, Role
from domain.ententes.model import Frozen, ShortText, Text

BasisCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Za-z0-9.()_-]{1,40}$")]

LAW_SWITCH = date(2024, 7, 1)  # LRSSS (2023, c. 5) in force; LSSSS 17-28 repealed by its s. 238


class Law(StrEnum):
    LSSSS = "LSSSS"  # CQLR c. S-4.2
    LRSSS = "LRSSS"  # CQLR c.
    POLICY = "POLITIQUE"  # the institution's own rule, where no article was located


class Verification(StrEnum):
    V = "V"
    V_PARTIAL = "V-partial"
    S = "S"
    NV = "NV"
    INFERRED = "inferred"
    POLICY = "policy"


class Concept(StrEnum):
    """One rule, whatever the law in force: each has one provision per era."""

    CONFIDENTIALITY = "confidentialite"  # default deny
    CONSENT = "consentement"
    SELF_ACCESS = "acces_usager"
    TEMPORARY_DENIAL = "refus_temporaire"
    THIRD_PARTY = "renseignement_tiers"
    MINOR_UNDER_14 = "moins_de_14_ans"
    PARENT_UNDER_14 = "parent_moins_14"
    PARENT_14_PLUS = "parent_14_et_plus"
    REPRESENTATIVE = "representant"
    HEIR = "heritier"
    CAUSE_OF_DEATH = "cause_deces"
    PARENT_DECEASED_CHILD = "parent_enfant_decede"
    GENETIC = "maladie_genetique"
    EMERGENCY = "prevention_violence"
    RESEARCH = "recherche_sans_consentement"
    MANDATE = "mandat_contrat"
    CONTINUITY = "continuite_entente"
    COURT_ORDER = "ordonnance"
    COMPLAINTS = "plaintes_examen"
    MINISTER = "ministre"
    INSPECTION = "inspection_enquete"
    GOVERNMENT_INVESTIGATION = "enquete_gouvernement"
    PROFESSIONAL_ORDER = "ordre_professionnel"
    MANAGER_AUTHORISED = "gestionnaire"
    CARE_TEAM = "equipe_soins"
    AUDIT = "audit"
    REGISTER = "registre_communications"
    ACCESS_LOG = "journal_acces"
    REVIEW = "recours"


class Condition(StrEnum):
    """What the person acting attests before a basis applies (all must be attested)."""

    # emergency, LSSSS 19.0.1 (2017 version) / LRSSS 74
    REASONABLE_CAUSE = "motif_raisonnable"
    SERIOUS_RISK = "risque_serieux_mort_blessures_graves"
    SENSE_OF_URGENCY = "sentiment_urgence"
    RECIPIENT_MAY_HELP = "destinataire_expose_representant_ou_secours"
    DISCLOSER_AUTHORISED = "divulgateur_autorise_dsp"
    MINIMUM_NECESSARY = "strict_necessaire"
    DIRECTIVE_FOLLOWED = "directive_dg_suivie"
    # legal powers
    ORDER_IN_HAND = "ordonnance_ou_demande_en_main"
    SCOPE_MATCHES_ORDER = "portee_conforme_ordonnance"
    MANAGER_AUTHORISATION = "autorisation_gestionnaire"
    # research
    RESEARCH_AUTHORISATION = "autorisation_recherche_active"
    ETHICS_APPROVED = "ethique_integrite_approuvee"
    CONSENT_UNREASONABLE = "consentement_deraisonnable"
    PUBLIC_INTEREST = "interet_public_preponderant"
    SECURITY_COMPLIANT = "mesures_securite_conformes"
    # mandates and contracts
    WRITTEN_MANDATE = "mandat_ecrit"
    FIXED_TERM = "duree_determinee"
    NOT_HEALTH_SERVICES = "hors_prestation_services"
    CONFIDENTIALITY_CLAUSES = "clauses_confidentialite"
    UNDERTAKINGS_RECEIVED = "engagements_confidentialite_recus"
    # relatives, heirs, representatives, parents
    PROOF_OF_TITLE = "preuve_qualite"
    RIGHT_TO_EXERCISE = "droit_a_exercer"
    GENETIC_NECESSITY = "necessaire_maladie_genetique"
    CAPACITY_PROVEN = "preuve_representation"
    POWER_EXERCISED = "pouvoir_exerce"
    PARENTAL_AUTHORITY = "autorite_parentale_prouvee"
    MINOR_CONSULTED = "mineur_consulte"
    NO_LIKELY_HARM = "aucun_prejudice_probable"
    DPJ_CONSULTED = "dpj_consulte"
    JUDICIAL_PROCEEDING = "procedure_judiciaire_avocat"


class LegalBasis(Frozen):
    code: BasisCode  # e.g. "LSSSS-19.0.1", "LRSSS-74", "LSSSS-19(1)" (article 19, paragraph 1)
    law: Law
    article: ShortText  # as cited: "art. 19.0.1", "s. 74", "R-22.1, r. 1, s. 8"
    title: ShortText
    concept: Concept
    verification: Verification
    in_force_from: date | None = None  # None: before any fact we hold
    in_force_to: date | None = None  # last day in force; None: still in force
    in_force: bool = True  # False: enacted but not in force (e.g. LRSSS 103); set a date when it is
    enabled: bool = True  # False: shipped off until counsel confirms the text
    grants: bool = False  # a basis for reading or sending content without consent
    roles: list[Role] = Field(default_factory=list)  # who may receive content on it
    purposes: list[PurposeKind] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)
    requires_reference: bool = False  # order number, mandate, project or authorisation id
    requires_particulars: bool = False  # the emergency record note (LSSSS 19.0.1 / LRSSS 74)
    note: Text | None = None

    @model_validator(mode="after")
    def _grant_shape(self) -> LegalBasis:
        if self.grants and not (self.roles and self.purposes):
            raise ValueError(f"{self.code}: a basis that grants access names its roles and purposes")
        if self.in_force_from and self.in_force_to and self.in_force_to < self.in_force_from:
            raise ValueError(f"{self.code}: in force until a day before it is in force")
        return self

    def in_force_on(self, day: date) -> bool:
        if not self.in_force:
            return False
        if self.in_force_from is not None and day < self.in_force_from:
            return False
        return self.in_force_to is None or day <= self.in_force_to


class RecourseTerms(Frozen):
    """What a reasoned refusal tells the person: where to go and by when."""

    article: ShortText  # the provision that opens the recourse
    bodies: list[ShortText]
    deadline_days: int = Field(ge=1, le=365)
    text: Text


class DisclosureConfig(Frozen):
    """The allow-list and the law switch: read once at the entry point, passed down."""

    law_switch: date = LAW_SWITCH
    bases: list[LegalBasis]
    recourse_lsss: RecourseTerms
    recourse_lrsss: RecourseTerms
    emergency_review_days: int = Field(default=2, ge=0, le=30)  # supervisor review queue deadline (policy)

    @model_validator(mode="after")
    def _unique(self) -> DisclosureConfig:
        codes = [b.code for b in self.bases]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"legal basis codes appear more than once: {dupes}")
        return self

    def law_for(self, fact_date: date) -> Law:
        """LSSSS for facts before the switch date, LRSSS from it on."""
        return Law.LSSSS if fact_date < self.law_switch else Law.LRSSS

    def basis(self, code: str) -> LegalBasis | None:
        return next((b for b in self.bases if b.code == code), None)

    def basis_for(self, fact_date: date, concept: Concept) -> LegalBasis | None:
        """The provision in force on `fact_date` for `concept`: the era's law first, then a policy rule."""
        law = self.law_for(fact_date)
        found = [b for b in self.bases if b.concept is concept and b.enabled and b.in_force_on(fact_date)]
        for wanted in (law, Law.POLICY):
            for b in found:
                if b.law is wanted:
                    return b
        return None

    def cite(self, fact_date: date, concept: Concept) -> str:
        """The code a refusal or a rule cites for `concept` on that date."""
        b = self.basis_for(fact_date, concept)
        if b is not None:
            return b.code
        # A rule with no located provision in this era: say so rather than cite a repealed article.
        return f"{self.law_for(fact_date).value}-{concept.value}(non-repere)"

    def grants_for(self, fact_date: date, role: Role, purpose: PurposeKind) -> list[LegalBasis]:
        """Every enabled basis in force that may give content to `role` for `purpose`."""
        law = self.law_for(fact_date)
        return [
            b for b in self.bases
            if b.grants and b.enabled and b.in_force_on(fact_date) and b.law in (law, Law.POLICY)
            and role in b.roles and purpose in b.purposes
        ]

    def recourse(self, fact_date: date) -> RecourseTerms:
        return self.recourse_lsss if self.law_for(fact_date) is Law.LSSSS else self.recourse_lrsss


# --------------------------------------------------------------------------- the default allow-list

_ALL_RECIPIENTS = [r for r in Role if r is not Role.AUDITOR]
_EMERGENCY_LSSSS = [
    Condition.REASONABLE_CAUSE, Condition.SERIOUS_RISK, Condition.SENSE_OF_URGENCY, Condition.RECIPIENT_MAY_HELP,
    Condition.DISCLOSER_AUTHORISED, Condition.MINIMUM_NECESSARY, Condition.DIRECTIVE_FOLLOWED,
]
_LEGAL_POWER = [Condition.ORDER_IN_HAND, Condition.SCOPE_MATCHES_ORDER]


def default_bases(switch: date = LAW_SWITCH) -> list[LegalBasis]:
    """The allow-list as the digest supports it. Articles cited exactly as in disclosure-law.md."""
    from datetime import timedelta

    until = switch - timedelta(days=1)

    def lsss(code: str, article: str, title: str, concept: Concept, v: Verification, **kw: object) -> LegalBasis:
        return LegalBasis.model_validate(
            {"code": code, "law": Law.LSSSS, "article": article, "title": title, "concept": concept,
             "verification": v, "in_force_to": until, **kw}
        )

    def lrsss(code: str, article: str, title: str, concept: Concept, v: Verification, **kw: object) -> LegalBasis:
        return LegalBasis.model_validate(
            {"code": code, "law": Law.LRSSS, "article": article, "title": title, "concept": concept,
             "verification": v, "in_force_from": switch, **kw}
        )

    def policy(code: str, title: str, concept: Concept, **kw: object) -> LegalBasis:
        return LegalBasis.model_validate(
            {"code": code, "law": Law.POLICY, "article": "politique interne", "title": title, "concept": concept,
             "verification": Verification.POLICY, **kw}
        )

    V, VP, S, NV, INF = Verification.V, Verification.V_PARTIAL, Verification.S, Verification.NV, Verification.INFERRED
    return [
        # ---- confidentiality and consent (cited by every default-deny refusal)
        lsss("LSSSS-19", "art. 19", "Le dossier est confidentiel; accès avec le consentement de l'usager",
             Concept.CONFIDENTIALITY, VP),
        lrsss("LRSSS-5", "s. 5", "Renseignements confidentiels; utilisés ou communiqués selon la LRSSS seulement",
              Concept.CONFIDENTIALITY, V),
        lsss("LSSSS-19.1", "art. 19.1", "Consentement écrit, libre et éclairé, à des fins précises (recherche)",
             Concept.CONSENT, V),
        lrsss("LRSSS-6", "s. 6", "Consentement manifeste, libre, éclairé, par fin, limité dans le temps",
              Concept.CONSENT, V),
        # ---- the person
        lsss("LSSSS-17", "art. 17", "Accès de l'usager de 14 ans et plus à son dossier", Concept.SELF_ACCESS, V,
             grants=True, roles=[Role.USAGER], purposes=[PurposeKind.SELF_ACCESS]),
        lrsss("LRSSS-17", "s. 17", "Droit d'accès de la personne aux renseignements la concernant",
              Concept.SELF_ACCESS, V, grants=True, roles=[Role.USAGER], purposes=[PurposeKind.SELF_ACCESS]),
        lsss("LSSSS-17(refus)", "art. 17", "Refus temporaire: préjudice grave pour la santé (avis du médecin)",
             Concept.TEMPORARY_DENIAL, V),
        lrsss("LRSSS-17(refus)", "s. 17", "Refus momentané: préjudice grave (avis d'un professionnel, motifs)",
              Concept.TEMPORARY_DENIAL, V),
        lsss("LSSSS-20", "art. 20", "Usager de moins de 14 ans: seulement par son avocat dans une procédure",
             Concept.MINOR_UNDER_14, V, grants=True, roles=[Role.USAGER], purposes=[PurposeKind.SELF_ACCESS],
             conditions=[Condition.JUDICIAL_PROCEEDING], requires_reference=True),
        lrsss("LRSSS-21", "s. 21", "Mineur de moins de 14 ans: par son avocat dans une procédure judiciaire",
              Concept.MINOR_UNDER_14, V, grants=True, roles=[Role.USAGER], purposes=[PurposeKind.SELF_ACCESS],
              conditions=[Condition.JUDICIAL_PROCEEDING], requires_reference=True),
        # LSSSS 18 is known only from secondary sources; no LRSSS counterpart was located, so the
        # withholding continues after the switch as policy (CAI practice), flagged for counsel.
        lsss("LSSSS-18", "art. 18", "Renseignement fourni par un tiers identifiable", Concept.THIRD_PARTY, S),
        policy("POL-TIERS", "Renseignement de tiers retenu (LRSSS: disposition non repérée)", Concept.THIRD_PARTY,
               in_force_from=switch),
        # ---- parents and representatives
        lsss("LSSSS-21(2)", "art. 21 al. 2", "Parent d'un mineur de moins de 14 ans", Concept.PARENT_UNDER_14, V,
             grants=True, roles=[Role.PARENT], purposes=[PurposeKind.PARENTAL],
             conditions=[Condition.PARENTAL_AUTHORITY]),
        lrsss("LRSSS-23", "s. 23", "Parent ou tuteur d'un mineur de moins de 14 ans", Concept.PARENT_UNDER_14, V,
              grants=True, roles=[Role.PARENT], purposes=[PurposeKind.PARENTAL],
              conditions=[Condition.PARENTAL_AUTHORITY]),
        lsss("LSSSS-21(3)", "art. 21 al. 3", "Parent d'un mineur de 14 ans et plus (sauf refus et préjudice)",
             Concept.PARENT_14_PLUS, V, grants=True, roles=[Role.PARENT], purposes=[PurposeKind.PARENTAL],
             conditions=[Condition.PARENTAL_AUTHORITY, Condition.MINOR_CONSULTED]),
        lrsss("LRSSS-24", "s. 24", "Parent d'un mineur de 14 ans et plus: seulement si aucun préjudice probable",
              Concept.PARENT_14_PLUS, V, grants=True, roles=[Role.PARENT], purposes=[PurposeKind.PARENTAL],
              conditions=[Condition.PARENTAL_AUTHORITY, Condition.MINOR_CONSULTED, Condition.NO_LIKELY_HARM]),
        # LSSSS 22 is known from the ACSSSS summary only; LRSSS counterpart not located: no LRSSS basis.
        lsss("LSSSS-22", "art. 22", "Tuteur, curateur, mandataire, personne pouvant consentir aux soins",
             Concept.REPRESENTATIVE, S, grants=True, roles=[Role.REPRESENTATIVE],
             purposes=[PurposeKind.REPRESENTATION],
             conditions=[Condition.CAPACITY_PROVEN, Condition.POWER_EXERCISED, Condition.MINIMUM_NECESSARY]),
        # ---- after a death (LSSSS 23)
        # Issue 11, heirs and relatives under the LRSSS. What the digest (disclosure-law.md, art. 23 and §3.6)
        # gives with an article number, and is modelled: s. 30 [V, FR text] (genetically related persons,
        # even despite a cause-of-death refusal) as LRSSS-30 below; s. 8 par. 2 [V] (the person's refusal of
        # cause-of-death access by a spouse, direct ascendant or descendant) as LRSSS-8(2), INFERRED as the
        # basis since only the refusal right was read. What stays switched off after 2024-07-01, and why:
        # - heirs, legatees by particular title, legal representatives, life-insurance and pension
        #   beneficiaries (LSSSS 23 al. 1): "The LRSSS articles for heirs and insurance beneficiaries were
        #   not located [NV]" (digest, art. 23); no seed gives them (seeds 001-004 do not treat access to the
        #   record): no LRSSS entry, and a request gets `lrsss_counterpart_not_located` citing LRSSS-5;
        # - the parent of a child who died under 14 (LSSSS 23 al. 3): no LRSSS counterpart in the digest;
        # - a spouse or close relative in a grieving process: only the person's right to refuse it is known
        #   (s. 8 par. 1 [V]); the section granting that access was not read, so no basis;
        # - the tutor, curator, mandatary (LSSSS 22 [S]): "LRSSS counterpart: not located [NV]".
        # Counsel adds each as a configured LegalBasis once its section is read (DisclosureConfig is data).
        lsss("LSSSS-23(1)", "art. 23 al. 1", "Héritiers, légataires, représentants légaux, bénéficiaires",
             Concept.HEIR, V, grants=True, roles=[Role.HEIR], purposes=[PurposeKind.HEIR_RIGHTS],
             conditions=[Condition.PROOF_OF_TITLE, Condition.RIGHT_TO_EXERCISE, Condition.MINIMUM_NECESSARY]),
        lsss("LSSSS-23(2)", "art. 23 al. 2", "Conjoint, ascendants, descendants: cause du décès",
             Concept.CAUSE_OF_DEATH, V, grants=True, roles=[Role.RELATIVE], purposes=[PurposeKind.CAUSE_OF_DEATH],
             conditions=[Condition.PROOF_OF_TITLE]),
        # The digest ties this access to s. 8(2) (the person's refusal right) and s. 30 confirms it
        # exists; the granting section itself was not located. Flagged INFERRED.
        lrsss("LRSSS-8(2)", "s. 8 par. 2", "Cause du décès aux proches, sauf refus écrit de la personne (s. 8(2))",
              Concept.CAUSE_OF_DEATH, INF, grants=True, roles=[Role.RELATIVE],
              purposes=[PurposeKind.CAUSE_OF_DEATH], conditions=[Condition.PROOF_OF_TITLE],
              note="granting section not located; confirm with counsel"),
        lsss("LSSSS-23(3)", "art. 23 al. 3", "Parent d'un usager décédé de moins de 14 ans, sauf psychosocial",
             Concept.PARENT_DECEASED_CHILD, V, grants=True, roles=[Role.PARENT], purposes=[PurposeKind.PARENTAL],
             conditions=[Condition.PARENTAL_AUTHORITY]),
        lsss("LSSSS-23(4)", "art. 23 al. 4", "Liens de sang: vérifier une maladie génétique ou héréditaire",
             Concept.GENETIC, V, grants=True, roles=[Role.RELATIVE], purposes=[PurposeKind.GENETIC],
             conditions=[Condition.PROOF_OF_TITLE, Condition.GENETIC_NECESSITY]),
        lrsss("LRSSS-30", "s. 30", "Personnes liées génétiquement: maladie génétique ou familiale",
              Concept.GENETIC, V, grants=True, roles=[Role.RELATIVE], purposes=[PurposeKind.GENETIC],
              conditions=[Condition.PROOF_OF_TITLE, Condition.GENETIC_NECESSITY]),
        # ---- emergency: prevent an act of violence, including suicide
        # 2017 version (serious risk + sense of urgency); the earlier "imminent danger" test is
        # not modelled: its end date (2017, c. 10) is not in the digest.
        lsss("LSSSS-19.0.1", "art. 19.0.1", "Prévenir un acte de violence, dont un suicide", Concept.EMERGENCY, V,
             grants=True, roles=_ALL_RECIPIENTS, purposes=[PurposeKind.EMERGENCY], conditions=_EMERGENCY_LSSSS,
             requires_particulars=True),
        # s. 74 known through the MSSS page [S]; whether it requires a DSP designation was not
        # verified, so the same gate is kept as internal policy (digest 3.4 R16(a)).
        lrsss("LRSSS-74", "s. 74", "Protéger une personne ou un groupe: violence, suicide, disparition",
              Concept.EMERGENCY, S, grants=True, roles=_ALL_RECIPIENTS, purposes=[PurposeKind.EMERGENCY],
              conditions=_EMERGENCY_LSSSS, requires_particulars=True),
        # ---- research without consent
        lsss("LSSSS-19.2", "art. 19.2", "Autorisation du DSP: étude, enseignement ou recherche", Concept.RESEARCH, V,
             grants=True, roles=[Role.RESEARCHER], purposes=[PurposeKind.RESEARCH],
             conditions=[Condition.RESEARCH_AUTHORISATION, Condition.ETHICS_APPROVED], requires_reference=True),
        lrsss("LRSSS-47", "s. 47", "Autorisation de la plus haute autorité: recherche sans consentement",
              Concept.RESEARCH, V, grants=True, roles=[Role.RESEARCHER], purposes=[PurposeKind.RESEARCH],
              conditions=[Condition.RESEARCH_AUTHORISATION, Condition.ETHICS_APPROVED,
                          Condition.CONSENT_UNREASONABLE, Condition.PUBLIC_INTEREST, Condition.SECURITY_COMPLIANT],
              requires_reference=True),
        # ---- mandates and contracts (not for the provision of health or social services)
        lsss("LSSSS-27.1", "art. 27.1", "Mandat ou contrat de service écrit, à durée déterminée", Concept.MANDATE,
             VP, grants=True, roles=[Role.PARTNER_ORG], purposes=[PurposeKind.MANDATE],
             conditions=[Condition.WRITTEN_MANDATE, Condition.FIXED_TERM, Condition.NOT_HEALTH_SERVICES,
                         Condition.CONFIDENTIALITY_CLAUSES, Condition.UNDERTAKINGS_RECEIVED],
             requires_reference=True),
        lrsss("LRSSS-77", "s. 77", "Mandataire ou prestataire de services: contrat écrit", Concept.MANDATE, VP,
              grants=True, roles=[Role.PARTNER_ORG], purposes=[PurposeKind.MANDATE],
              conditions=[Condition.WRITTEN_MANDATE, Condition.NOT_HEALTH_SERVICES,
                          Condition.CONFIDENTIALITY_CLAUSES, Condition.UNDERTAKINGS_RECEIVED],
              requires_reference=True),
        # Continuity with partners under service ententes: LSSSS 19(7) via 107.1 para 4 / 108 para 5,
        # "in my understanding, not verified" (digest). Shipped disabled; the LRSSS provision was not located.
        lsss("LSSSS-108(5)", "art. 108 al. 5", "Entente de services: continuité (non vérifié)", Concept.CONTINUITY,
             NV, enabled=False, grants=True, roles=[Role.PARTNER_ORG], purposes=[PurposeKind.CONTINUITY],
             conditions=[Condition.MINIMUM_NECESSARY]),
        # ---- courts and bodies with legal powers (LSSSS 19 paragraphs; LRSSS counterparts not
        # located except s. 80, the manager's authorisation)
        lsss("LSSSS-19(1)", "art. 19 par. 1", "Ordonnance d'un tribunal ou d'un coroner", Concept.COURT_ORDER, VP,
             grants=True, roles=[Role.COURT], purposes=[PurposeKind.LEGAL_POWER], conditions=_LEGAL_POWER,
             requires_reference=True),
        lsss("LSSSS-19(2)", "art. 19 par. 2", "Commissaire aux plaintes, médecin examinateur, comité, CMDP",
             Concept.COMPLAINTS, VP, grants=True, roles=[Role.COURT], purposes=[PurposeKind.LEGAL_POWER],
             conditions=_LEGAL_POWER, requires_reference=True),
        lsss("LSSSS-19(4)", "art. 19 par. 4", "Ministre (art. 433, fonctions de l'art. 431)", Concept.MINISTER, VP,
             grants=True, roles=[Role.COURT], purposes=[PurposeKind.LEGAL_POWER], conditions=_LEGAL_POWER,
             requires_reference=True),
        lsss("LSSSS-19(5)", "art. 19 par. 5", "Inspection (489, 489.1) ou enquête (489.4)", Concept.INSPECTION, VP,
             grants=True, roles=[Role.COURT], purposes=[PurposeKind.LEGAL_POWER], conditions=_LEGAL_POWER,
             requires_reference=True),
        lsss("LSSSS-19(6)", "art. 19 par. 6", "Enquêteur désigné par le gouvernement (art. 500)",
             Concept.GOVERNMENT_INVESTIGATION, VP, grants=True, roles=[Role.COURT],
             purposes=[PurposeKind.LEGAL_POWER], conditions=_LEGAL_POWER, requires_reference=True),
        lsss("LSSSS-19(8)", "art. 19 par. 8", "Comité de révision (RAMQ) ou ordre professionnel",
             Concept.PROFESSIONAL_ORDER, VP, grants=True, roles=[Role.COURT], purposes=[PurposeKind.LEGAL_POWER],
             conditions=_LEGAL_POWER, requires_reference=True),
        lrsss("LRSSS-80", "s. 80", "Communication autorisée par le gestionnaire (registre publié, s. 89)",
              Concept.MANAGER_AUTHORISED, V, grants=True, roles=[Role.COURT], purposes=[PurposeKind.LEGAL_POWER],
              conditions=[Condition.MANAGER_AUTHORISATION, Condition.SCOPE_MATCHES_ORDER], requires_reference=True),
        # ---- the care team. No LSSSS article for in-house care access was located (institutions
        # relied on consent to care): policy, flagged. LRSSS: the access authorisation of the regulation.
        policy("POL-EQUIPE-SOINS", "Équipe de soins avec autorisation d'accès (LSSSS: aucun article repéré)",
               Concept.CARE_TEAM, in_force_to=until, grants=True, roles=[Role.INTERVENANT, Role.SUPERVISOR],
               purposes=[PurposeKind.CARE]),
        LegalBasis(code="LRSSS-R1-8", law=Law.LRSSS, article="R-22.1, r. 1, s. 8",
                   title="Autorisation d'accès d'un intervenant (formation, engagement de discrétion)",
                   concept=Concept.CARE_TEAM, verification=V, in_force_from=switch, grants=True,
                   roles=[Role.INTERVENANT, Role.SUPERVISOR], purposes=[PurposeKind.CARE],
                   note="the LRSSS section allowing use within the body was not located; the regulation is"),
        # ---- audit metadata: not record content
        policy("POL-AUDIT", "Métadonnées d'audit (jamais le contenu clinique)", Concept.AUDIT, grants=True,
               roles=[Role.AUDITOR, Role.SUPERVISOR], purposes=[PurposeKind.AUDIT]),
        # ---- duties: the register and the access log
        lsss("LSSSS-27.2", "art. 27.2", "Registre des communications faites en vertu de 27.1", Concept.REGISTER, V),
        lrsss("LRSSS-265", "s. 265", "Registre transitoire de toute communication", Concept.REGISTER, V,
              note="shown 'not in force' in a May 2024 snapshot: confirm its date"),
        LegalBasis(code="LRSSS-103", law=Law.LRSSS, article="s. 103", title="Journalisation de tout accès",
                   concept=Concept.ACCESS_LOG, verification=V, in_force=False,
                   note="not in force in the 2024-11-18 snapshot: set in_force_from when it is"),
        policy("POL-JOURNAL", "Journalisation de toute lecture (avant l'entrée en vigueur de LRSSS 103)",
               Concept.ACCESS_LOG),
        # ---- review of a refusal
        lsss("LSSSS-27", "art. 27", "Révision d'un refus: CAI, Cour supérieure, Cour du Québec; TAQ 60 jours",
             Concept.REVIEW, V),
    ]


def default_config(switch: date = LAW_SWITCH) -> DisclosureConfig:
    return DisclosureConfig(
        law_switch=switch,
        bases=default_bases(switch),
        recourse_lsss=RecourseTerms(
            article="LSSSS-27",
            bodies=["Commission d'accès à l'information (CAI)", "Cour supérieure", "Cour du Québec",
                    "Tribunal administratif du Québec (60 jours)", "Commissaire aux plaintes et à la qualité"],
            deadline_days=60,
            text="Vous pouvez demander la révision de ce refus à la CAI ou à un juge de la Cour supérieure ou de "
                 "la Cour du Québec, ou le contester devant le TAQ dans les 60 jours de sa notification.",
        ),
        # LRSSS: the CAI keeps jurisdiction (s. 134 [V]); the review section and its period were
        # not located, so the 60-day clock of LSSSS 27 is kept as a configurable default.
        recourse_lrsss=RecourseTerms(
            article="LRSSS (CAI: compétence confirmée par s. 134; article de révision non repéré)",
            bodies=["Commission d'accès à l'information (CAI)", "Commissaire aux plaintes et à la qualité"],
            deadline_days=60,
            text="Vous pouvez demander à la Commission d'accès à l'information de réviser ce refus, ou vous "
                 "adresser au commissaire aux plaintes et à la qualité des services. Délai suivi: 60 jours.",
        ),
    )
