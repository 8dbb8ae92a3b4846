"""What an entente says: its parties and its content, section by section.

The content follows the 13-section outline of a service entente in the
*Cadre de référence sur les ententes relatives aux réseaux locaux de services*
(MSSS 2006), reproduced as Annex 3 of the *Balises* (2009, seed 000). Each
section is a structured field because later capabilities read them: crisis
routing asks which active entente lets an organisation take mobile crisis
referrals in a territory, and whether information may be shared with it.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.hours import ServiceHours
from domain.values import Code, Day, EntenteCode, ShortText, Text

__all__ = ["Code", "Day", "EntenteCode", "ShortText", "Text"]

# How many items each list of a version may hold: generous for the largest entente-cadre of a
# region, small enough that a version stays far below a command's byte budget
# (`domain.values.MAX_COMMAND_BYTES`), which bounds the whole document in the end.
MAX_PARTIES = 60
MAX_SERVICES = 100
MAX_ITEMS = 50  # objectives, criteria, clienteles, purposes, items, measures, committee members…
MAX_TERRITORIES = 100
MAX_COMMITMENTS = 200
MAX_ANNEXES = 30
MAX_DEFINITIONS = 100


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EntenteKind(StrEnum):
    """The two types of the 2006 Cadre de référence, plus the collective form."""

    COLLABORATION = "entente_collaboration"
    SERVICE = "entente_service"
    CADRE = "entente_cadre"  # a service entente signed collectively by a group of partners


class OrganisationType(StrEnum):
    CISSS = "cisss"
    CSSS = "csss"
    ETABLISSEMENT = "etablissement"
    AGENCE = "agence"
    CENTRE_PREVENTION_SUICIDE = "centre_prevention_suicide"
    CENTRE_CRISE = "centre_crise"
    CENTRE_ECOUTE = "centre_ecoute"
    ORGANISME_COMMUNAUTAIRE = "organisme_communautaire"
    AUTRE = "autre"


class ServiceCode(StrEnum):
    """Services an entente can cover (Annex 2 of the Balises, seed 000)."""

    INTERVENTION_CRISE_MOBILE = "intervention_crise_mobile"  # « face à face » dans le milieu
    INTERVENTION_TELEPHONIQUE_CRISE = "intervention_telephonique_crise"
    HEBERGEMENT_CRISE = "hebergement_crise"
    SUIVI_POST_CRISE = "suivi_post_crise"
    SUIVI_ETROIT = "suivi_etroit"
    ECOUTE_TELEPHONIQUE = "ecoute_telephonique"
    POSTVENTION = "postvention"
    SOUTIEN_PROCHES = "soutien_proches"
    REFERENCE_PERSONNALISEE = "reference_personnalisee"
    CONSULTATION_SOCIALE = "consultation_sociale"
    AUTRE = "autre"


class ReferralChannel(StrEnum):
    """How a référence is made (seed 001, L730-733)."""

    TELEPHONE = "telephone"
    PAPIER = "papier"
    ELECTRONIQUE = "electronique"


class Party(Frozen):
    """Section 2: a signatory organisation and its mission."""

    party_id: Code
    name: ShortText
    type: OrganisationType
    mission: Text | None = None
    territories: list[Code] = Field(default_factory=list, max_length=MAX_TERRITORIES)


class EntenteObject(Frozen):
    """Section 4."""

    nature: Text
    objectives: list[Text] = Field(default_factory=list, max_length=MAX_ITEMS)


class ServiceOffer(Frozen):
    """Section 5: one service a party provides, where, and in what volume."""

    service: ServiceCode
    provider: Code
    territories: list[Code] = Field(min_length=1, max_length=MAX_TERRITORIES)
    description: Text | None = None
    annual_volume: int | None = Field(default=None, ge=0)
    hours: ShortText | None = None  # e.g. "24/7", as the parties wrote it
    # When it serves, as routing reads it (`domain.hours`); undeclared: always (old ententes keep routing).
    schedule: ServiceHours | None = None


class Repondant(Frozen):
    """Section 6: a contact person named by a party (role, not a patient)."""

    party_id: Code
    role: ShortText
    name: ShortText


class AccessModalities(Frozen):
    """Section 6: who may refer, through which channels, to whom."""

    criteria: list[Text] = Field(default_factory=list, max_length=MAX_ITEMS)
    may_refer: list[Code] = Field(default_factory=list, max_length=MAX_PARTIES)
    channels: list[ReferralChannel] = Field(default_factory=list, max_length=len(ReferralChannel))
    repondants: list[Repondant] = Field(default_factory=list, max_length=MAX_COMMITMENTS)
    # An entente may keep persons already followed by a specific program
    # with this provider rather than that program (seed 001, L1241-1243).
    overrides_specific_program: bool = False


class InformationSharing(Frozen):
    """Section 7: whether record information may be transferred, what, and how."""

    permitted: bool = False
    purposes: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    items: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    security_measures: list[Text] = Field(default_factory=list, max_length=MAX_ITEMS)

    @model_validator(mode="after")
    def _measures_when_permitted(self) -> InformationSharing:
        if self.permitted and not (self.purposes and self.security_measures):
            raise ValueError(
                "information sharing that is permitted must name its purposes and the "
                "security measures for the transfer (section 7)"
            )
        return self


class Commitment(Frozen):
    """Section 8: what one party undertakes."""

    party_id: Code
    text: Text
    access_delay: ShortText | None = None


class Funding(Frozen):
    amount_cad: float = Field(ge=0)
    period: ShortText = "annuel"
    paid_by: Code


class FollowUp(Frozen):
    """Section 9: the comité de suivi and the review cadence."""

    committee: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    review_interval_months: int = Field(default=12, ge=1, le=60)
    dispute_resolution: Text | None = None
    accountability: Text | None = None


class Duration(Frozen):
    """Section 10. No effective date: in force on the last signature.

    An effective date is the earliest day the entente takes effect, never a back-dating: one
    that has already passed when the last party signs means the entente takes effect at that
    last signature (`Activated.on` is that day), and its review calendar starts there. Nothing
    in the record claims to have happened before it was recorded, and an entente owes no review
    for the time before it was signed. Dates lie between 2000 and 2099 (`Day`).
    """

    effective_date: Day | None = None
    end_date: Day | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Duration:
        if self.effective_date and self.end_date and self.end_date <= self.effective_date:
            raise ValueError("the end date must come after the effective date")
        return self


class SpecialProvisions(Frozen):
    """Section 11: amendment and revocation clauses."""

    amendment_clause: Text | None = None
    revocation_notice_days: int = Field(default=90, ge=0, le=730)
    deposit: Text | None = None


class Annex(Frozen):
    title: ShortText
    text: Text


class EntenteContent(Frozen):
    """One version of an entente: sections 1 to 11 and 13 (12 is the signatures)."""

    title: ShortText
    kind: EntenteKind
    preamble: Text | None = None  # 1
    parties: list[Party] = Field(min_length=2, max_length=MAX_PARTIES)  # 2
    agencies: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)  # 2
    definitions: dict[ShortText, Text] = Field(default_factory=dict, max_length=MAX_DEFINITIONS)  # 3
    object: EntenteObject  # 4
    clienteles: list[Text] = Field(default_factory=list, max_length=MAX_ITEMS)  # 5
    services: list[ServiceOffer] = Field(default_factory=list, max_length=MAX_SERVICES)  # 5
    teaching_and_research: Text | None = None  # 5
    access: AccessModalities = Field(default_factory=AccessModalities)  # 6
    information_sharing: InformationSharing = Field(default_factory=InformationSharing)  # 7
    commitments: list[Commitment] = Field(default_factory=list, max_length=MAX_COMMITMENTS)  # 8
    funding: Funding | None = None  # 8
    follow_up: FollowUp = Field(default_factory=FollowUp)  # 9
    duration: Duration = Field(default_factory=Duration)  # 10
    provisions: SpecialProvisions = Field(default_factory=SpecialProvisions)  # 11
    annexes: list[Annex] = Field(default_factory=list, max_length=MAX_ANNEXES)  # 13

    @model_validator(mode="after")
    def _coherent(self) -> EntenteContent:
        ids = [p.party_id for p in self.parties]
        if len(set(ids)) != len(ids):
            raise ValueError("each party appears once")
        known = set(ids)
        if self.kind is EntenteKind.CADRE and len(ids) < 3:
            raise ValueError("an entente-cadre is signed collectively by a group: 3 parties or more")
        if self.kind is not EntenteKind.COLLABORATION and not self.services:
            raise ValueError("a service entente names the services it covers (section 5)")
        refs = [s.provider for s in self.services]
        refs += [c.party_id for c in self.commitments]
        refs += self.access.may_refer + [r.party_id for r in self.access.repondants]
        if self.funding:
            refs.append(self.funding.paid_by)
        unknown = sorted(set(refs) - known)
        if unknown:
            raise ValueError(f"these party ids are not parties to the entente: {unknown}")
        return self

    @property
    def party_ids(self) -> list[str]:
        return [p.party_id for p in self.parties]

    def party(self, party_id: str) -> Party | None:
        return next((p for p in self.parties if p.party_id == party_id), None)

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON: what a signature is bound to."""
        data = self.model_dump(mode="json")
        for offer in data["services"]:  # a version signed before schedules existed keeps its fingerprint
            if offer.get("schedule") is None:
                offer.pop("schedule", None)
        return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
