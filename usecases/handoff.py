"""Sending the intake to a mobile team outside the establishment goes through the disclosure rules.

A CSSS's own team is the care team: no communication outside it. A community
organisation is another body: each team asked receives the intake only on a
basis the law recognises, decided and registered by `Disclosures` (issue 4):
- the person's consent (the consent named in `HandoffSharing.consent_key`), under
  an entente whose information-sharing clause covers the purpose (LRSSS 6; the
  entente's section 7);
- otherwise, the emergency path of LSSSS 19.0.1 / LRSSS s. 74 when the
  intervenant attested every condition: recorded with its note and queued for a
  supervisor's review;
- otherwise nothing is sent but the case code and the call to intervene, and the
  refused decision is registered, so the register shows every handoff.

Idempotent: each sending's command id is `<case>/envoi/<attempt>`, which the
register remembers; running `ensure` again after a retry records nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.crisis.aggregate import CrisisCase
from domain.crisis.model import EMERGENCY_NOTE_FIELDS, CandidateKind, HandoffSharing
from domain.crisis.state import HandoffAttempt
from domain.disclosure import commands as dc
from domain.disclosure.consent import consent_id
from domain.disclosure.model import DisclosureContext, EmergencyParticulars, RecipientCapacity, RecordItem
from domain.disclosure.roles import ItemCategory, PurposeKind, Role
from domain.errors import NotFound, RuleViolation
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes

# What a handoff can send of the intake: the items of the case record a team may receive.
INTAKE_ITEMS = [
    RecordItem(name="motif", category=ItemCategory.PSYCHOSOCIAL),
    RecordItem(name="niveau_urgence", category=ItemCategory.CLINICAL),
    RecordItem(name="estimation_risques", category=ItemCategory.CLINICAL),
]


@dataclass(frozen=True)
class Sending:
    """What became of one handoff's intake, as the register recorded it."""

    attempt: int
    team_org: str
    basis: str  # "consent", "emergency", or "none" (nothing but the call was sent)
    allowed_items: tuple[str, ...]


class HandoffDisclosures:
    def __init__(self, cases: CrisisCases, disclosures: Disclosures) -> None:
        self.cases = cases
        self.disclosures = disclosures
        self.ententes = Ententes(cases.record)

    def ensure(self, case_code: str) -> list[Sending]:
        """Decide and register the sending of the intake to every community team asked so far."""
        case = self.cases.get(case_code)
        view = case.view()
        return [
            self._send(case, attempt)
            for attempt in view.attempts
            if attempt.candidate.kind is CandidateKind.COMMUNITY_ORG
        ]

    def _send(self, case: CrisisCase, attempt: HandoffAttempt) -> Sending:
        sharing = case.handoff_sharing or HandoffSharing()
        org = attempt.candidate.team.org_id
        command_id = f"{case.case_code}/envoi/{attempt.number}"
        by = case.handoff_requested_by or "arrimage"
        ctx = DisclosureContext(
            record_items=INTAKE_ITEMS, agreements=self._agreement(attempt.candidate.agreement_code)
        )
        if sharing.attestations and _note_complete(case.handoff_note):
            note = case.handoff_note
            try:
                view = self.disclosures.emergency_disclosure(
                    dc.DiscloseInEmergency(
                        by=by, command_id=command_id, subject_id=case.subject_id, recipient_id=org,
                        recipient_role=Role.PARTNER_ORG, items=list(sharing.items),
                        attestations=list(sharing.attestations),
                        particulars=EmergencyParticulars(
                            occurred_at=attempt.asked_at, recipient_identity=attempt.candidate.team.team_id,
                            recipient_capacity=RecipientCapacity.ABLE_TO_HELP, mode=sharing.mode,
                            **{k: note[k] for k in EMERGENCY_NOTE_FIELDS},
                        ),
                    ),
                    ctx, attempt.asked_at,
                )
                return Sending(attempt.number, org, "emergency", tuple(view.items))
            except RuleViolation as refused:
                if refused.code != "emergency_refused":
                    raise
                # Not every condition attested: nothing may be sent on that path; the
                # decision below registers the refusal.
        request = dc.RequestAccess(
            by=by, command_id=command_id, role=Role.PARTNER_ORG, subject_id=case.subject_id,
            items=list(sharing.items), purpose=PurposeKind.CONTINUITY, moment=attempt.asked_at, recipient_id=org,
            consent_id=str(consent_id(case.subject_id, sharing.consent_key)) if sharing.consent_key else None,
            agreement_purpose=_first_purpose(ctx),
        )
        decision = self.disclosures.decide_and_record(request, ctx, attempt.asked_at)
        allowed = tuple(decision.allowed)
        return Sending(attempt.number, org, "consent" if allowed else "none", allowed)

    def _agreement(self, code: str | None) -> list[Any]:
        if code is None:
            return []
        try:
            return [self.ententes.view(code)]
        except NotFound:
            return []


def _note_complete(note: dict[str, Any]) -> bool:
    return all(isinstance(note.get(k), str) and note.get(k) for k in EMERGENCY_NOTE_FIELDS)


def _first_purpose(ctx: DisclosureContext) -> str | None:
    for agreement in ctx.agreements:
        purposes = agreement.content.information_sharing.purposes
        if purposes:
            return str(purposes[0])
    return None
