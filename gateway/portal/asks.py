"""What a case asks of one organisation now, and the commands its forms give: the portal's worklist.

An ask is read from the case's view (who is asked, what is pending); whether the command is in turn, by the
right party, with valid fields, stays the workflow's rules (the same validators as the API and the CLI). The
team that accepts or declines is the one the case asked, read from the view, never from the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.crisis import commands as cc
from domain.crisis.state import CaseStage, CaseView, Deadline, ReferralStatus
from domain.principals.model import Principal


class AskKind(StrEnum):
    HANDOFF = "transfert"  # a team of the organisation is asked to intervene
    ARRIVAL = "arrivee"  # its team accepted: record the arrival on site
    REFERRAL = "reference"  # a référence personnalisée sent to it: accept or refuse
    REACH = "service_rejoint"  # accepted: confirm the person reached the service


class Action(StrEnum):
    ACCEPT = "accepter"
    DECLINE = "refuser"
    ARRIVE = "arrivee"
    ACCEPT_REFERRAL = "accepter-reference"
    REFUSE_REFERRAL = "refuser-reference"
    REACHED = "service-rejoint"


ACTIONS: dict[AskKind, tuple[Action, ...]] = {
    AskKind.HANDOFF: (Action.ACCEPT, Action.DECLINE),
    AskKind.ARRIVAL: (Action.ARRIVE,),
    AskKind.REFERRAL: (Action.ACCEPT_REFERRAL, Action.REFUSE_REFERRAL),
    AskKind.REACH: (Action.REACHED,),
}


@dataclass(frozen=True)
class Ask:
    code: str
    kind: AskKind
    stage: CaseStage
    team_id: str | None  # the organisation's team the case asked (handoff, arrival)
    deadline: Deadline | None
    attempt: int | None = None  # the handoff request shown (the form names it: a stale form is refused)

    @property
    def actions(self) -> tuple[Action, ...]:
        return ACTIONS[self.kind]

    def left(self, now: datetime) -> float | None:
        """Seconds until the deadline (negative once passed)."""
        return None if self.deadline is None else (self.deadline.due_at - now).total_seconds()


def ask_of(view: CaseView, org_id: str) -> Ask | None:
    """What `view` asks of `org_id` now, if anything."""
    attempt = view.pending_attempt
    if view.stage is CaseStage.HANDOFF and attempt is not None and attempt.candidate.team.org_id == org_id:
        return Ask(view.case_code, AskKind.HANDOFF, view.stage, attempt.candidate.team.team_id,
                   view.deadline(attempt.answer_deadline), attempt.number)
    team = view.intervention.team if view.intervention is not None else None
    if (view.stage is CaseStage.INTERVENTION and team is not None and team.org_id == org_id
            and view.intervention is not None and view.intervention.arrived_at is None):
        return Ask(view.case_code, AskKind.ARRIVAL, view.stage, team.team_id, _earliest(view))
    referral = view.current_referral
    if referral is not None and referral.receiving.org_id == org_id:
        if referral.status is ReferralStatus.SENT:
            return Ask(view.case_code, AskKind.REFERRAL, view.stage, None, view.deadline(referral.decision_deadline))
        deadline = view.deadline(referral.reach_deadline) if referral.reach_deadline else None
        return Ask(view.case_code, AskKind.REACH, view.stage, None, deadline)
    return None


def _earliest(view: CaseView) -> Deadline | None:
    running = [d for d in view.deadlines if d.status.running]
    return min(running, key=lambda d: d.due_at) if running else None


def command(action: Action, ask: Ask | None, principal: Principal, form: Mapping[str, str]) -> cc.Command:
    """The case command `action` gives for the principal's organisation (pydantic's ValidationError when a
    field the person typed is invalid). With nothing asked of it any more (a form shown before another
    answer), the command still goes to the case, whose rules refuse it in their own words."""
    who = {"by": principal.actor, "actor_org": principal.org_id}
    team = {"team_id": ask.team_id if ask is not None and ask.team_id else form.get("equipe", "")}
    shown = form.get("demande", "")  # the request the form was shown for, not the one open now
    request = {"attempt": shown or (ask.attempt if ask is not None else None)}
    match action:
        case Action.ACCEPT:
            return cc.AcceptHandoff(**who, **team, **request)
        case Action.DECLINE:
            return cc.DeclineHandoff(**who, **team, **request, reason=form.get("motif", ""))
        case Action.ARRIVE:
            return cc.RecordArrival(**who)
        case Action.ACCEPT_REFERRAL:
            return cc.AcceptReferral(**who, intake_worker=form.get("intervenant_accueil", ""))
        case Action.REFUSE_REFERRAL:
            return cc.RefuseReferral(**who, reason=form.get("motif", ""))
        case Action.REACHED:
            return cc.ConfirmReached(**who)
