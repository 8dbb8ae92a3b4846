"""Who reads, for what, and what each kind of record item is.

The roles are those of the legal digest, section 3 (disclosure-law.md). A role
is the capacity in which someone reads or receives content; the same person
may act in several roles, one request at a time.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    USAGER = "usager"  # the person the record is about (or their lawyer, LSSSS 20 / LRSSS 21)
    INTERVENANT = "intervenant"  # clinician or care worker of the institution
    SUPERVISOR = "superviseur"  # DSP, DG, highest authority or their delegate
    AUDITOR = "auditeur"  # privacy officer, CAI auditor: audit metadata only
    PARTNER_ORG = "organisme_partenaire"  # partner under an entente, mandatary or contractor
    RESEARCHER = "chercheur"
    HEIR = "heritier"  # heir, legatee, legal representative, insurance or pension beneficiary
    RELATIVE = "proche"  # spouse, ascendant, descendant, blood relative
    PARENT = "parent"  # holder of parental authority or tutor of a minor
    REPRESENTATIVE = "representant"  # tutor, curator, mandatary of an adult, person who may consent to care
    COURT = "tribunal"  # court, coroner, commissioner, inspector or body acting under a legal power


class PurposeKind(StrEnum):
    """What the content is for: one purpose per request, as one purpose per consent (LRSSS 6)."""

    CARE = "soins"  # care by the institution's own team
    SELF_ACCESS = "acces_personnel"  # the person reads their own record
    CONTINUITY = "continuite"  # continuity of services with a partner under an entente
    EMERGENCY = "prevention_violence"  # LSSSS 19.0.1 / LRSSS 74
    RESEARCH = "recherche"  # study, teaching or research
    MANDATE = "mandat"  # a mandate or service contract (LSSSS 27.1 / LRSSS 77)
    LEGAL_POWER = "pouvoir_legal"  # court order, commissioner, inspection…
    HEIR_RIGHTS = "droits_successoraux"
    CAUSE_OF_DEATH = "cause_deces"
    GENETIC = "maladie_genetique"
    PARENTAL = "autorite_parentale"
    REPRESENTATION = "representation"
    AUDIT = "audit"


class ItemCategory(StrEnum):
    """What an item of the record is. Everything but AUDIT is record content."""

    IDENTIFICATION = "identification"  # identifiers attached to health information are content (LRSSS 2)
    CLINICAL = "clinique"
    PSYCHOSOCIAL = "psychosocial"  # never to a parent of a deceased child (LSSSS 23 para 3)
    CAUSE_OF_DEATH = "cause_deces"
    AUDIT = "metadonnees_audit"  # who read what, when: not content, but sensitive


class Provenance(StrEnum):
    """Who supplied an item (LSSSS 18; physicians' code s. 94.1)."""

    PROFESSIONAL = "professionnel_ou_employe"  # trainees included: never withheld on the third-party ground
    THIRD_PARTY = "tiers_identifiable"
    SELF = "usager"


# Roles that read audit metadata (register, access log): never content through it.
METADATA_READERS = frozenset({Role.AUDITOR, Role.SUPERVISOR})
# The institution's own care team: its reads are logged, but they are not
# communications outside the team, so they are not entered in the register.
CARE_TEAM = frozenset({Role.INTERVENANT, Role.SUPERVISOR})
# Items supplied by an identifiable third party are withheld from these readers
# unless that third party consented in writing (LSSSS 18 [S]; CAI, Paré c. CLSC Orléans).
THIRD_PARTY_WITHHELD_FROM = frozenset({Role.USAGER, Role.HEIR})
# Communications to these are not registered: the person themselves and the care team.
NOT_A_COMMUNICATION = frozenset({Role.USAGER, Role.INTERVENANT, Role.SUPERVISOR, Role.AUDITOR})


def is_content(category: ItemCategory) -> bool:
    return category is not ItemCategory.AUDIT
