"""What a partner organisation sees of a crisis case: the steps it takes part in, never the person.

A community organisation, a partner that referred, a receiving service take part in a case only « dans le
cadre d'entente » with the CSSS (seed 001, L1172-1173, L1181-1184: the CSSS answers for what the
organisation does), and only for their own part of it: a team asked to intervene needs to know it is asked
and by when to answer, a receiving service that a référence personnalisée was sent to its intake worker
(L729-733), a follow-up provider its contacts. So its view of the case is operational: the case code, the
stage, whether it holds the case now, its own handoff attempts (status, when it was asked, when its answer is due), its
intervention if its team took it, the follow-ups it provides, the referrals it receives or made, and the
deadlines of the steps it must act on.

Of the intake it sees only what a registered sending gave it (issue 4; `domain.crisis.handoff`): the items
the disclosure rules allowed when its team was asked, with the person's consent or on the emergency path of
LSSSS 19.0.1 / LRSSS 74 — nothing when the sending's basis was "none", nothing either when it was never asked
(the partner that referred wrote the intake itself; the record does not give it back). Never the subject id,
never a reason typed by someone (a decline, a refusal, an extension, a closure), never the sealed
characterisation beyond those items (crisis type, P-38.001, the intervention's outcome).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from domain.audit.erasure import ERASED_TEXT, SHREDDED
from domain.crisis.handoff import INTAKE_ITEMS, Sending
from domain.crisis.model import ReceivingService, ReferralMeasure, RiskEstimates
from domain.crisis.state import (
    AttemptStatus,
    CaseStage,
    CaseView,
    Deadline,
    DeadlineStatus,
    FollowUpContact,
    Pivot,
    ReferralStatus,
)
from domain.ententes.model import Frozen, ReferralChannel
from domain.principals.access import NotAParty, case_parties
from domain.standards.config import CRISE_URGENCE, UrgencyLevel

MOTIF, URGENCY, RISKS = (i.name for i in INTAKE_ITEMS)  # "motif", "niveau_urgence", "estimation_risques"
REASON_KEY = "reason"  # the intake's reason in words, in the opening's `personal` mapping


class PartyRole(StrEnum):
    """How the organisation takes part in the case (an organisation may hold several)."""

    CSSS = "csss"  # the CSSS answerable for the case
    INTAKE = "accueil"  # it opened the case (a partner refers under its entente)
    ASKED = "equipe_sollicitee"  # one of its teams was asked to intervene
    INTERVENING = "equipe_intervenante"  # its team took the intervention
    FOLLOW_UP = "suivi"  # it provides a post-crisis follow-up
    RECEIVING = "service_receveur"  # a referral was sent to it
    REFERRER = "referent"  # it made a referral


class SharedIntake(Frozen):
    """The intake items a registered sending gave the organisation: each absent unless a sending allowed it."""

    items: list[str] = Field(default_factory=list)  # the names allowed, in the order of `INTAKE_ITEMS`
    motif: str | None = None  # the reason in words ("[effacé]" once the person's key is destroyed)
    niveau_urgence: UrgencyLevel | None = None
    estimation_risques: RiskEstimates | None = None


class PartnerSending(Frozen):
    """What the register recorded of one sending to the organisation: its basis and the items it allowed."""

    decision_id: str  # `<case>/envoi/<attempt>`, the register's command id (`audit accesses` finds it)
    basis: str  # "consent", "emergency" or "none"
    items: list[str]


class PartnerAttempt(Frozen):
    number: int
    team_id: str
    status: AttemptStatus
    asked_at: datetime
    answer_deadline: str  # its deadline id (see `deadlines`)
    answer_by: datetime | None
    answered_at: datetime | None = None
    sending: PartnerSending | None = None  # None: not registered yet (the workflow sends right after asking)


class PartnerIntervention(Frozen):
    """Its team's intervention: when, not what it found (the outcome is the person's, sealed)."""

    team_id: str
    accepted_at: datetime
    arrived_at: datetime | None = None
    outcome_recorded_at: datetime | None = None


class PartnerFollowUp(Frozen):
    number: int
    plan: str  # the plan's code in the standards
    started_at: datetime
    contacts: list[FollowUpContact]
    completed_at: datetime | None = None


class PartnerReferral(Frozen):
    number: int
    as_receiving: bool  # the referral was sent to it (else: it made it)
    receiving: ReceivingService
    channel: ReferralChannel
    measure: ReferralMeasure
    referred_by: str
    sent_at: datetime
    status: ReferralStatus
    decision_deadline: str
    decided_at: datetime | None = None
    reach_deadline: str | None = None
    reached_at: datetime | None = None


class PartnerDeadline(Frozen):
    """A deadline of a step the organisation must act on; its extensions' reasons are the supervisor's."""

    deadline_id: str
    standard_id: str
    started_at: datetime
    due_at: datetime
    status: DeadlineStatus
    stopped_at: datetime | None = None


class PartnerCaseView(Frozen):
    case_code: str
    org_id: str  # the organisation it is the view of
    stage: CaseStage
    opened_at: datetime
    holds_case: bool  # the organisation must act now
    roles: list[PartyRole]
    attempts: list[PartnerAttempt]
    intervention: PartnerIntervention | None = None
    follow_ups: list[PartnerFollowUp] = Field(default_factory=list)
    referrals: list[PartnerReferral] = Field(default_factory=list)
    deadlines: list[PartnerDeadline] = Field(default_factory=list)
    intake: SharedIntake = Field(default_factory=SharedIntake)
    pivot: Pivot | None = None  # the personne pivot every receiving team is told (seed 002 L349-350)


def partner_view(view: CaseView, org_id: str, sendings: Sequence[Sending],
                 opening_personal: Mapping[str, Any] | None = None) -> PartnerCaseView:
    """The case as `org_id` sees it. `sendings`: the sendings the register holds for the case (those of other
    organisations are ignored); `opening_personal`: the words recorded with the intake (the reason is read
    only when a sending allowed `motif`). `NotAParty` when the organisation takes no part in the case."""
    if org_id not in case_parties(view):
        raise NotAParty(f"{org_id} is not a party to case {view.case_code}")
    mine = [a for a in view.attempts if a.candidate.team.org_id == org_id]
    sent = {s.attempt: s for s in sendings if s.team_org == org_id and any(a.number == s.attempt for a in mine)}
    intervention = view.intervention if view.intervention and view.intervention.team.org_id == org_id else None
    follow_ups = [f for f in view.follow_ups if f.provider == org_id]
    referrals = [r for r in view.referrals if org_id in (r.receiving.org_id, r.referred_by)]

    def due(deadline_id: str | None) -> datetime | None:
        found = view.deadline(deadline_id) if deadline_id else None
        return found.due_at if found else None

    attempts = [PartnerAttempt(
        number=a.number, team_id=a.candidate.team.team_id, status=a.status, asked_at=a.asked_at,
        answer_deadline=a.answer_deadline, answer_by=due(a.answer_deadline), answered_at=a.answered_at,
        sending=_sending(view.case_code, sent.get(a.number)),
    ) for a in mine]
    return PartnerCaseView(
        case_code=view.case_code, org_id=org_id, stage=view.stage, opened_at=view.opened_at,
        holds_case=view.holder == org_id, roles=_roles(view, org_id, mine, intervention, follow_ups, referrals),
        attempts=attempts,
        intervention=PartnerIntervention(
            team_id=intervention.team.team_id, accepted_at=intervention.accepted_at,
            arrived_at=intervention.arrived_at, outcome_recorded_at=intervention.outcome_at,
        ) if intervention else None,
        follow_ups=[PartnerFollowUp(number=f.number, plan=f.plan, started_at=f.started_at, contacts=f.contacts,
                                    completed_at=f.completed_at) for f in follow_ups],
        referrals=[PartnerReferral(
            number=r.number, as_receiving=r.receiving.org_id == org_id, receiving=r.receiving, channel=r.channel,
            measure=r.measure, referred_by=r.referred_by, sent_at=r.sent_at, status=r.status,
            decision_deadline=r.decision_deadline, decided_at=r.decided_at, reach_deadline=r.reach_deadline,
            reached_at=r.reached_at,
        ) for r in referrals],
        deadlines=_deadlines(view, [
            *(a.answer_deadline for a in mine),
            *([CRISE_URGENCE] if intervention else []),  # its team must reach the person in time
            *(c.deadline_id for f in follow_ups for c in f.contacts),
            *(d for r in referrals if r.receiving.org_id == org_id for d in (r.decision_deadline, r.reach_deadline)
              if d),
        ]),
        intake=shared_intake(view, list(sent.values()), opening_personal),
        pivot=view.pivot,
    )


def shared_intake(view: CaseView, sendings: Sequence[Sending], opening_personal: Mapping[str, Any] | None
                  ) -> SharedIntake:
    """The intake items the sendings allowed, together (each sending is a communication the register holds:
    what one of them gave stays given); a sending whose basis is "none" gives nothing."""
    allowed = {i for s in sendings if s.basis != "none" for i in s.allowed_items}
    items = [i.name for i in INTAKE_ITEMS if i.name in allowed]
    motif = None
    if MOTIF in items:
        if opening_personal == SHREDDED:
            motif = ERASED_TEXT
        elif opening_personal is not None and isinstance(opening_personal.get(REASON_KEY), str):
            motif = opening_personal[REASON_KEY]
    return SharedIntake(
        items=items, motif=motif,
        niveau_urgence=view.intake.urgency if URGENCY in items else None,
        estimation_risques=view.intake.risks if RISKS in items else None,
    )


def _sending(case_code: str, sending: Sending | None) -> PartnerSending | None:
    if sending is None:
        return None
    return PartnerSending(decision_id=f"{case_code}/envoi/{sending.attempt}", basis=sending.basis,
                          items=list(sending.allowed_items) if sending.basis != "none" else [])


def _roles(view: CaseView, org_id: str, mine: list[Any], intervention: Any, follow_ups: list[Any],
           referrals: list[Any]) -> list[PartyRole]:
    found = [
        (PartyRole.CSSS, view.responsible_org == org_id),
        (PartyRole.INTAKE, view.intake_org == org_id),
        (PartyRole.ASKED, bool(mine)),
        (PartyRole.INTERVENING, intervention is not None),
        (PartyRole.FOLLOW_UP, bool(follow_ups)),
        (PartyRole.RECEIVING, any(r.receiving.org_id == org_id for r in referrals)),
        (PartyRole.REFERRER, any(r.referred_by == org_id for r in referrals)),
    ]
    return [role for role, holds in found if holds]


def _deadlines(view: CaseView, ids: list[str]) -> list[PartnerDeadline]:
    found: list[Deadline] = [d for i in dict.fromkeys(ids) if (d := view.deadline(i)) is not None]
    return [PartnerDeadline(deadline_id=d.deadline_id, standard_id=d.standard_id, started_at=d.started_at,
                            due_at=d.due_at, status=d.status, stopped_at=d.stopped_at) for d in found]
