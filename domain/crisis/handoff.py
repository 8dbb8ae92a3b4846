"""What a crisis handoff may send of the intake, and on which basis: the pure decisions.

A CSSS's own team is the care team: no communication outside it. A community
organisation is another body: each team asked receives the intake only on a
basis the law recognises (issue 4):
- the emergency path of LSSSS 19.0.1 / LRSSS s. 74 when the intervenant attested
  conditions and wrote the whole note (`emergency_command`); the disclosure rules
  then check every condition;
- otherwise the person's consent (the consent named in `HandoffSharing.consent_key`),
  under an entente whose information-sharing clause covers the purpose
  (`access_request`, for the purpose of the entente's section 7);
- otherwise nothing is sent but the case code and the call to intervene, and the
  refused decision is registered, so the register shows every handoff.

The sending itself (deciding with the register, recording) is ``usecases.handoff``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.crisis.aggregate import CrisisCase
from domain.crisis.model import EMERGENCY_NOTE_FIELDS, CandidateKind, HandoffSharing
from domain.crisis.state import HandoffAttempt
from domain.disclosure import commands as dc
from domain.disclosure.consent import consent_id
from domain.disclosure.model import (
    Decision,
    DisclosureContext,
    DossierItem,
    EmergencyParticulars,
    RecipientCapacity,
)
from domain.disclosure.register import EmergencyDisclosureView
from domain.disclosure.roles import ItemCategory, PurposeKind, Role
from domain.ententes.rules import in_force_at

# What a handoff can send of the intake: the items of the case record a team may receive.
INTAKE_ITEMS = [
    DossierItem(name="motif", category=ItemCategory.PSYCHOSOCIAL),
    DossierItem(name="niveau_urgence", category=ItemCategory.CLINICAL),
    DossierItem(name="estimation_risques", category=ItemCategory.CLINICAL),
]


@dataclass(frozen=True)
class Sending:
    """What became of one handoff's intake, as the register recorded it."""

    attempt: int
    team_org: str
    basis: str  # "consent", "emergency", or "none" (nothing but the call was sent)
    allowed_items: tuple[str, ...]


def attempts_to_send(case: CrisisCase) -> list[HandoffAttempt]:
    """The attempts whose team is another body (a community organisation): each needs a sending decision."""
    return [a for a in case.view().attempts if a.candidate.kind is CandidateKind.COMMUNITY_ORG]


def sending_id(case: CrisisCase, attempt: HandoffAttempt) -> str:
    """The command id of one sending: `<case>/envoi/<attempt>`, which the register remembers (idempotence)."""
    return f"{case.case_code}/envoi/{attempt.number}"


def registered_sending(attempt: HandoffAttempt, decision: Decision | None,
                       emergency: EmergencyDisclosureView | None = None) -> Sending | None:
    """What the register holds of one attempt's sending, found under its command id, decided nothing anew:
    the emergency disclosure recorded under it, otherwise its decision (allowed items: the consent path;
    none: only the call was sent); None when nothing is registered yet (the workflow sends after asking)."""
    org = attempt.candidate.team.org_id
    if emergency is not None:
        return Sending(attempt.number, org, "emergency", tuple(emergency.items))
    if decision is None:
        return None
    allowed = tuple(decision.allowed)
    return Sending(attempt.number, org, "consent" if allowed else "none", allowed)


def sending_context(ententes: list[Any], at: datetime | None = None) -> DisclosureContext:
    """The decision's context: the intake items, and the entente under which the team was asked (if any).

    With `at` (the moment the team was asked), an entente is kept only if it is in force then
    (`in_force_at`): from the instant its end or revocation takes effect, whatever its workflow has
    recorded, its organisation receives nothing under it on the consent path (the partner gate then
    refuses, and the refusal is registered); the emergency path needs no entente (LSSSS 19.0.1 / LRSSS 74)."""
    kept = ententes if at is None else [e for e in ententes if in_force_at(e, at)]
    return DisclosureContext(dossier_items=INTAKE_ITEMS, ententes=kept)


def emergency_command(case: CrisisCase, attempt: HandoffAttempt) -> dc.DiscloseInEmergency | None:
    """The emergency disclosure the intervenant asked for, or None when they attested nothing or left the
    note incomplete (then the emergency path is not taken at all)."""
    sharing = case.handoff_sharing or HandoffSharing()
    note = case.handoff_note
    if not (sharing.attestations and note_complete(note)):
        return None
    return dc.DiscloseInEmergency(
        by=_by(case), command_id=sending_id(case, attempt), subject_id=case.subject_id,
        recipient_id=attempt.candidate.team.org_id, recipient_role=Role.PARTNER_ORG, items=list(sharing.items),
        attestations=list(sharing.attestations),
        particulars=EmergencyParticulars(
            occurred_at=attempt.asked_at, recipient_identity=attempt.candidate.team.team_id,
            recipient_capacity=RecipientCapacity.ABLE_TO_HELP, mode=sharing.mode,
            **{k: note[k] for k in EMERGENCY_NOTE_FIELDS},
        ),
    )


def access_request(case: CrisisCase, attempt: HandoffAttempt, ctx: DisclosureContext) -> dc.RequestAccess:
    """The request of a sending on the consent path (refused, and registered, when there is no valid consent)."""
    sharing = case.handoff_sharing or HandoffSharing()
    return dc.RequestAccess(
        by=_by(case), command_id=sending_id(case, attempt), role=Role.PARTNER_ORG, subject_id=case.subject_id,
        items=list(sharing.items), purpose=PurposeKind.CONTINUITY, moment=attempt.asked_at,
        recipient_id=attempt.candidate.team.org_id,
        consent_id=str(consent_id(case.subject_id, sharing.consent_key)) if sharing.consent_key else None,
        agreement_purpose=first_purpose(ctx),
    )


def note_complete(note: dict[str, Any]) -> bool:
    return all(isinstance(note.get(k), str) and note.get(k) for k in EMERGENCY_NOTE_FIELDS)


def first_purpose(ctx: DisclosureContext) -> str | None:
    """The first purpose of the entente's information-sharing clause, if the team was asked under one."""
    for entente in ctx.ententes:
        purposes = entente.content.information_sharing.purposes
        if purposes:
            return str(purposes[0])
    return None


def _by(case: CrisisCase) -> str:
    return case.handoff_requested_by or "arrimage"
