"""Builders shared by the disclosure tests (unit, integration and end-to-end): a configuration, the
moments of both legal eras, a person, requests, consents, authorisations, an entente in force."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from domain.disclosure import commands as c
from domain.disclosure.legal_bases import Condition, default_config
from domain.disclosure.model import (
    AccessAuthorisation,
    CommunicationMode,
    ConsentForm,
    ConsentView,
    DisclosureContext,
    DossierItem,
    EmergencyParticulars,
    GrantorCapacity,
    RecipientCapacity,
    SubjectStatus,
)
from domain.disclosure.roles import ItemCategory, Provenance, PurposeKind, Role
from domain.ententes.aggregate import Entente
from domain.ententes.commands import DraftEntente
from domain.ententes.state import EntenteStatus, EntenteView
from tests.factories import service_entente

CONFIG = default_config()
BEFORE = datetime(2024, 3, 15, 14, 0, tzinfo=UTC)  # LSSSS era
AFTER = datetime(2025, 3, 15, 14, 0, tzinfo=UTC)  # LRSSS era
SUBJECT = "u-7f3a"
PARTNER = "cc-laval"

ITEMS = [
    DossierItem(name="motif", category=ItemCategory.CLINICAL),
    DossierItem(name="niveau d'urgence", category=ItemCategory.CLINICAL),
    DossierItem(name="estimation du risque", category=ItemCategory.CLINICAL),
    DossierItem(name="notes psychosociales", category=ItemCategory.PSYCHOSOCIAL),
    DossierItem(name="cause du deces", category=ItemCategory.CAUSE_OF_DEATH),
    DossierItem(name="identite", category=ItemCategory.IDENTIFICATION),
    DossierItem(name="signalement du voisin", category=ItemCategory.CLINICAL, provenance=Provenance.THIRD_PARTY),
    DossierItem(name="lettre de la soeur", category=ItemCategory.PSYCHOSOCIAL, provenance=Provenance.THIRD_PARTY,
               third_party_written_consent=True),
    DossierItem(name="rapport DPJ", category=ItemCategory.PSYCHOSOCIAL, ypa_protected=True),
    DossierItem(name="journal des acces", category=ItemCategory.AUDIT),
]
CONTENT = [i.name for i in ITEMS if i.category is not ItemCategory.AUDIT]
CLINICAL = {i.name for i in ITEMS if i.category is not ItemCategory.AUDIT}

EMERGENCY_CONDITIONS = [
    Condition.REASONABLE_CAUSE, Condition.SERIOUS_RISK, Condition.SENSE_OF_URGENCY, Condition.RECIPIENT_MAY_HELP,
    Condition.DISCLOSER_AUTHORISED, Condition.MINIMUM_NECESSARY, Condition.DIRECTIVE_FOLLOWED,
]


def born(age: int, on: datetime) -> date:
    """A birth date that makes the person `age` on the day of `on` (birthday a month earlier)."""
    d = on.date() - timedelta(days=31)
    return date(d.year - age, d.month, min(d.day, 28))


def context(
    *, age: int = 30, at: datetime = AFTER, consents: list[ConsentView] | None = None, **subject: object
) -> DisclosureContext:
    status = SubjectStatus.model_validate({"birth_date": born(age, at), **subject})
    return DisclosureContext(subject=status, dossier_items=ITEMS, consents=consents or [], ententes=[])


def request(role: Role, purpose: PurposeKind, *, moment: datetime = AFTER, items: list[str] | None = None,
            by: str = "actor-1", **kw: object) -> c.RequestAccess:
    return c.RequestAccess.model_validate({
        "by": by, "role": role, "subject_id": SUBJECT, "items": items or ["motif"], "purpose": purpose,
        "moment": moment, **kw,
    })


def authorisation(holder: str = "actor-1", *, at: datetime = AFTER, **kw: object) -> AccessAuthorisation:
    return AccessAuthorisation.model_validate({
        "holder_id": holder, "granted_by": "dsp", "valid_from": at - timedelta(days=100),
        "valid_until": at + timedelta(days=100), "training_current_until": (at + timedelta(days=200)).date(),
        "discretion_undertaking_signed": True, **kw,
    })


def grant(
    *, key: str = "F-1", purpose: PurposeKind = PurposeKind.CONTINUITY, recipients: list[str] | None = None,
    items: list[str] | None = None, at: datetime = AFTER, age: int = 30, **kw: object,
) -> c.GrantConsent:
    return c.GrantConsent.model_validate({
        "by": "intervenant-1", "command_id": f"grant-{key}", "subject_id": SUBJECT, "consent_key": key,
        "grantor_id": SUBJECT, "capacity": GrantorCapacity.SELF, "subject_birth_date": born(age, at),
        "purpose": purpose, "purpose_text": "continuité de l'intervention de crise",
        "recipients": recipients if recipients is not None else [PARTNER],
        "items": items if items is not None else ["motif", "niveau d'urgence"],
        "form": ConsentForm.WRITTEN, "document_ref": "formulaire AH-216", "free_and_informed": True,
        "presented_separately": True, "valid_from": at - timedelta(days=10), "valid_until": at + timedelta(days=80),
        **kw,
    })


def consent_view(*, state: str = "valid", at: datetime = AFTER, purpose: PurposeKind = PurposeKind.CONTINUITY,
                 recipients: list[str] | None = None, items: list[str] | None = None,
                 capacity: GrantorCapacity = GrantorCapacity.SELF) -> ConsentView:
    """A consent as the record would give it, in a chosen state at `at`."""
    start, end, withdrawn = at - timedelta(days=10), at + timedelta(days=80), None
    if state == "expired":
        start, end = at - timedelta(days=100), at - timedelta(days=1)
    elif state == "not_yet_valid":
        start, end = at + timedelta(days=1), at + timedelta(days=90)
    elif state == "withdrawn":
        withdrawn = at - timedelta(hours=1)
    return ConsentView(
        consent_id=f"consent-{state}", subject_id=SUBJECT, consent_key=f"F-{state}", grantor_id=SUBJECT,
        capacity=capacity, capacity_article="LRSSS-6", purpose=purpose,
        recipients=recipients if recipients is not None else [PARTNER],
        items=items if items is not None else list(CONTENT), form=ConsentForm.WRITTEN, valid_from=start,
        valid_until=end, granted_at=start, withdrawn_at=withdrawn, event_count=1,
    )


def active_entente(*, sharing: bool = True) -> EntenteView:
    """A service entente with the crisis centre, in force, whose clause shares
    motif, niveau d'urgence and estimation du risque for 'continuité de l'intervention de crise'."""
    content = service_entente()
    if not sharing:
        content = content.model_copy(update={"information_sharing": content.information_sharing.model_copy(
            update={"permitted": False})})
    entente = Entente.draft(DraftEntente(by="s", code="ENT-1", content=content), datetime(2024, 1, 1, tzinfo=UTC))
    view = entente.view()
    return view.model_copy(update={"status": EntenteStatus.ACTIVE, "in_force_version": 1})


def particulars(at: datetime = AFTER) -> EmergencyParticulars:
    return EmergencyParticulars(
        occurred_at=at, person_or_group_in_danger="la personne elle-même",
        recipient_identity="Équipe mobile du centre de crise de Laval",
        recipient_capacity=RecipientCapacity.ABLE_TO_HELP, act_to_prevent="tentative de suicide",
        danger="plan précis et moyens à portée de main", urgency="dans les prochaines heures",
        communicated="motif, niveau d'urgence, estimation du risque",
        reasons="risque suicidaire élevé, refus de contact",
        mode=CommunicationMode.TELEPHONE, directive_version="DG-2024-03",
    )
