"""Value objects of disclosure: what a decision is made on, and the decision itself.

A `DisclosureContext` is assembled by the caller at the decision moment and is
never recorded whole: the birth date it carries is used to compute an age and
is not written to any event. A `Decision` holds metadata only (roles, item
names, basis codes, timestamps), so it may be recorded in clear; free text
about the person travels in the `personal` part of the events.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from domain.clock import local_date
from domain.disclosure.legal_bases import Law
from domain.disclosure.roles import ItemCategory, Provenance, PurposeKind, Role
from domain.ententes.model import Code, Frozen, ShortText, Text
from domain.ententes.state import EntenteView
from domain.values import OpaqueId

# A recipient: an opaque id, or "role:<role>" for a category of recipients.
Recipient = Annotated[str, StringConstraints(pattern=r"^(role:)?[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]

# --------------------------------------------------------------------------- the record and the person


class DossierItem(Frozen):
    """One item of the person's record, as the decision sees it: a name, never its text."""

    name: ShortText
    category: ItemCategory
    provenance: Provenance = Provenance.PROFESSIONAL
    third_party_written_consent: bool = False  # LSSSS 18 [S]; physicians' code 94.1: written
    ypa_protected: bool = False  # YPA ss. 45.2, 50.1, 57.2.1, 70.2 para 2 (LSSSS 21 / LRSSS 24)


class TemporaryDenial(Frozen):
    """LSSSS 17 / LRSSS 17: part of the record withheld from the person until a date."""

    items: list[ShortText] = Field(min_length=1)
    advised_by: Code  # attending or designated physician (LSSSS); a professional (LRSSS)
    reasons: Text  # required under the LRSSS
    decided_at: AwareDatetime
    release_on: date  # communicable from this date
    notice_sent_at: AwareDatetime

    def active_on(self, day: date) -> bool:
        return day < self.release_on


class SubjectStatus(Frozen):
    birth_date: date | None = None  # for the age on the request date only; never recorded
    deceased_on: date | None = None
    temporary_denials: list[TemporaryDenial] = Field(default_factory=list)
    youth_protection: bool = False  # YPA intervention or decision (LSSSS 21) / LRSSS 23 cases
    parental_harm_determined: bool = False  # LSSSS: institution after DPJ; LRSSS: by the DPJ
    minor_refused_parent_access: bool = False  # LSSSS 21 para 3: the minor, consulted, refused
    cause_of_death_refusal: bool = False  # LSSSS 23 para 2 written refusal / LRSSS 8(2)

    def age_on(self, day: date) -> int | None:
        if self.birth_date is None:
            return None
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


class AccessAuthorisation(Frozen):
    """R-22.1, r. 1, s. 8: an intervenant reads a record only with an active authorisation."""

    holder_id: Code
    granted_by: Code  # highest authority or designated professional
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    training_current_until: date  # protection training and its annual refresher (R-22.1, r. 2)
    discretion_undertaking_signed: bool
    categories: list[ItemCategory] = Field(default_factory=list)  # empty: every content category

    def active_at(self, moment: datetime) -> bool:
        return (
            self.valid_from <= moment < self.valid_until
            and local_date(moment) <= self.training_current_until
            and self.discretion_undertaking_signed
        )


# --------------------------------------------------------------------------- consent


class GrantorCapacity(StrEnum):
    SELF = "soi_meme"  # the person, 14 or over
    PARENT_OR_TUTOR = "parent_ou_tuteur"  # for a minor under 14
    REPRESENTATIVE = "representant"  # tutor, curator, mandatary of an adult
    HEIR = "heritier_ou_liquidateur"  # for a deceased person


class ConsentForm(StrEnum):
    WRITTEN = "ecrit"
    VERBAL = "verbal"


class ConsentState(StrEnum):
    NOT_YET_VALID = "pas_encore_valide"
    VALID = "valide"
    EXPIRED = "expire"
    WITHDRAWN = "retire"


class ConsentView(Frozen):
    consent_id: str
    subject_id: OpaqueId
    consent_key: OpaqueId
    grantor_id: OpaqueId
    capacity: GrantorCapacity
    capacity_article: str  # the provision the capacity decision relied on
    purpose: PurposeKind
    recipients: list[Recipient]
    items: list[ShortText]
    form: ConsentForm
    valid_from: datetime
    valid_until: datetime
    granted_at: datetime
    withdrawn_at: datetime | None = None
    event_count: int

    def state_at(self, moment: datetime) -> ConsentState:
        if self.withdrawn_at is not None and self.withdrawn_at <= moment:
            return ConsentState.WITHDRAWN
        if moment < self.valid_from:
            return ConsentState.NOT_YET_VALID
        if moment >= self.valid_until:
            return ConsentState.EXPIRED
        return ConsentState.VALID

    def names(self, recipient_id: str, role: Role) -> bool:
        return recipient_id in self.recipients or f"role:{role.value}" in self.recipients


# --------------------------------------------------------------------------- emergency particulars


class RecipientCapacity(StrEnum):
    EXPOSED = "personne_exposee"
    REPRESENTATIVE = "representant_personne_exposee"
    ABLE_TO_HELP = "personne_pouvant_porter_secours"


class CommunicationMode(StrEnum):
    TELEPHONE = "telephone"
    IN_PERSON = "en_personne"
    ELECTRONIC = "electronique"
    WRITTEN = "ecrit"


class EmergencyParticulars(Frozen):
    """The record note of a violence-prevention disclosure (physicians' code s. 21, dentists' 3.06.07;
    disclosure-law.md 3.4 R16). Everything but the timestamps, capacity and mode is personal content."""

    occurred_at: AwareDatetime  # date and time of the communication
    person_or_group_in_danger: Text
    recipient_identity: Text
    recipient_capacity: RecipientCapacity
    act_to_prevent: Text  # the act of violence, suicide or (LRSSS 74) disappearance
    danger: Text
    urgency: Text  # how imminent / the sense of urgency
    communicated: Text  # what was communicated
    reasons: Text  # why
    mode: CommunicationMode  # how
    directive_version: ShortText | None = None  # the DG directive followed


# --------------------------------------------------------------------------- context and decision


class DisclosureContext(Frozen):
    """What the decision needs to know, gathered by the caller at the decision moment."""

    subject: SubjectStatus = Field(default_factory=SubjectStatus)
    dossier_items: list[DossierItem] = Field(default_factory=list)
    consents: list[ConsentView] | None = None  # None: the application loads them from the record
    authorisations: list[AccessAuthorisation] = Field(default_factory=list)  # the actor's
    ententes: list[EntenteView] = Field(default_factory=list)  # for partner organisations

    @model_validator(mode="after")
    def _unique_items(self) -> DisclosureContext:
        names = [i.name for i in self.dossier_items]
        if len(set(names)) != len(names):
            raise ValueError("each record item appears once in the context")
        return self

    def item(self, name: str) -> DossierItem | None:
        return next((i for i in self.dossier_items if i.name == name), None)


class Outcome(StrEnum):
    ALLOWED = "autorise"
    PARTIAL = "partiel"
    REFUSED = "refuse"


class BasisKind(StrEnum):
    CONSENT = "consentement"
    LEGAL_BASIS = "base_legale"


class BasisUsed(Frozen):
    kind: BasisKind
    code: str  # the legal basis code, or "CONSENTEMENT" for a consent
    consent_id: str | None = None
    consent_valid_until: datetime | None = None  # lets an audit re-check the consent was valid


class Withheld(Frozen):
    item: str
    code: str  # stable reason code
    reason: str  # for the supervisor (and the person, in a reasoned refusal)
    article: str | None  # the provision relied on


class Refusal(Frozen):
    """A reasoned refusal: the article relied on and the recourse, with its deadline (LSSSS 27)."""

    article: str
    code: str
    reason: str
    recourse_article: str
    recourse_bodies: list[str]
    recourse_text: str
    notified_at: datetime
    recourse_deadline: date


class Decision(Frozen):
    decision_id: str
    subject_id: str
    actor_id: str
    role: Role
    recipient_id: str
    purpose: PurposeKind
    moment: datetime  # the moment of the access or communication: picks the law, unless `as_of` is set
    law: Law
    requested: list[str]
    allowed: list[str]  # content and metadata items that may be read or sent
    withheld: list[Withheld]
    basis: BasisUsed | None  # for content; None when no content is allowed
    metadata_basis: str | None = None  # POL-AUDIT when audit metadata is allowed
    outcome: Outcome
    refusal: Refusal | None = None
    communication: bool = False  # outside the care team: goes to the register
    register_article: str | None = None  # LSSSS 27.2 / LRSSS 265 when registered
    log_article: str  # LRSSS 103 once in force, otherwise the policy
    as_of: datetime | None = None  # a replay (issue 11): decided with the law, consents and facts of this moment

    @property
    def content_allowed(self) -> bool:
        return self.basis is not None
