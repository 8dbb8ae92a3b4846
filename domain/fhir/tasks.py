"""What a crisis case's view says of its Tasks: one per handoff attempt (the team asked) and one per referral
(the receiving service), with the status the IG's state machine gives each step. Plain values; the FHIR
resources are built from them by `adapters.fhir.resources`.

Task ids are `<case code>-h<attempt>` and `<case code>-r<referral>` (FHIR ids: letters, digits, '-', '.'); the
focus ServiceRequest has the same id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from domain.crisis.state import AttemptStatus, CaseView, HandoffAttempt, Referral, ReferralStatus
from domain.fhir.task_states import ENGINE_CANCELS, TaskKind, TaskStatus

TASK_ID = re.compile(r"^(C-[A-Z2-7]{10})-([hr])([1-9][0-9]{0,3})$")
S = TaskStatus


@dataclass(frozen=True)
class TaskFacts:
    task_id: str
    case_code: str
    kind: TaskKind
    number: int
    status: TaskStatus
    business_status: str  # the case's own word for the step (AttemptStatus, ReferralStatus, or the intervention's)
    owner: str  # the organisation asked: the team's, the receiving service's
    owner_name: str | None
    requester: str  # the organisation asking: the CISSS for a handoff, the one that referred for a referral
    subject_id: str | None  # None: withheld (a partner's own Task: `for_party`)
    authored_on: datetime
    last_modified: datetime
    service: str  # what is asked: a mobile crisis intervention, or the receiving service's type
    team_id: str | None = None  # a handoff's team (AcceptHandoff and DeclineHandoff name it)
    status_reason: str | None = None
    started: datetime | None = None  # accepted / arrived
    ended: datetime | None = None  # the person reached the service, the outcome recorded, or the Task cancelled
    service_given: str | None = None  # a completed referral: the measure taken (référence, accompagnement)


def parse_task_id(task_id: str) -> tuple[str, TaskKind, int] | None:
    found = TASK_ID.match(task_id)
    return (found[1], TaskKind(found[2]), int(found[3])) if found else None


def tasks(view: CaseView) -> list[TaskFacts]:
    return [*(_handoff(view, a) for a in view.attempts), *(_referral(view, r) for r in view.referrals)]


def task(view: CaseView, task_id: str) -> TaskFacts | None:
    return next((t for t in tasks(view) if t.task_id == task_id), None)


def for_party(facts: TaskFacts, org_id: str) -> TaskFacts | None:
    """A Task as an organisation other than the case's CISSS reads it: only a Task it owns or requested, and
    without the person's id. Its own step is its business (seed 001 L1172-1173: the partner acts under its
    entente); who the person is, is not, unless a registered communication gave it (the sending's items, read
    through GET /v1/cases/{code}, never through a Task)."""
    if org_id not in (facts.owner, facts.requester):
        return None
    reason = facts.status_reason
    if facts.status is S.REJECTED and org_id != facts.owner:
        reason = REASON_WITHHELD  # the owner's own words about the person: not the requester's to read here
    return replace(facts, subject_id=None, status_reason=reason)


REASON_WITHHELD = "refused by its owner (the reason it typed is withheld)"


MOBILE_INTERVENTION = "intervention_crise_mobile"
ATTEMPT_REASON = {
    AttemptStatus.TIMED_OUT: "the team did not answer before its deadline: the next team was asked",
    AttemptStatus.WITHDRAWN: "a supervisor reassigned the case while the team was being asked",
}


def _handoff(view: CaseView, attempt: HandoffAttempt) -> TaskFacts:
    team = attempt.candidate.team
    status, business, reason = S.REQUESTED, attempt.status.value, attempt.reason
    started = ended = None
    last = attempt.answered_at or attempt.asked_at
    if attempt.status is AttemptStatus.DECLINED:
        status = S.REJECTED
    elif attempt.status in ATTEMPT_REASON:
        # a team that did not answer has no answer moment: its Task ended when its answer deadline was missed
        missed = view.deadline(attempt.answer_deadline)
        ended = attempt.answered_at or (missed.missed_at if missed is not None else None)
        status, reason, last = S.CANCELLED, ATTEMPT_REASON[attempt.status], ended or last
    elif attempt.status is AttemptStatus.ACCEPTED:
        status, started = S.ACCEPTED, attempt.answered_at
        done = view.intervention
        latest = max((a.number for a in view.attempts if a.status is AttemptStatus.ACCEPTED), default=0)
        if done is not None and attempt.number == latest and done.team.team_id == team.team_id:
            if done.outcome_at is not None:
                status, business, ended, last = S.COMPLETED, "issue_consignee", done.outcome_at, done.outcome_at
            elif done.arrived_at is not None:
                status, business, started, last = S.IN_PROGRESS, "arrivee", done.arrived_at, done.arrived_at
        elif attempt.number != latest:
            status, reason = S.CANCELLED, "another team took the case after this one accepted"
    facts = TaskFacts(
        task_id=f"{view.case_code}-h{attempt.number}", case_code=view.case_code, kind=TaskKind.HANDOFF,
        number=attempt.number, status=status, business_status=business, owner=team.org_id, owner_name=team.name,
        requester=view.responsible_org, subject_id=view.subject_id, authored_on=attempt.asked_at,
        last_modified=last, service=MOBILE_INTERVENTION, team_id=team.team_id, status_reason=reason,
        started=started, ended=ended,
    )
    return _closed(view, facts)


def _referral(view: CaseView, referral: Referral) -> TaskFacts:
    status = {ReferralStatus.SENT: S.REQUESTED, ReferralStatus.ACCEPTED: S.ACCEPTED,
              ReferralStatus.REFUSED: S.REJECTED, ReferralStatus.REACHED: S.COMPLETED}[referral.status]
    last = referral.reached_at or referral.decided_at or referral.sent_at
    reason = referral.refusal_reason
    if status in ENGINE_CANCELS and referral.number != len(view.referrals):
        status, reason = S.CANCELLED, "a later referral replaced this one"
    facts = TaskFacts(
        task_id=f"{view.case_code}-r{referral.number}", case_code=view.case_code, kind=TaskKind.REFERRAL,
        number=referral.number, status=status, business_status=referral.status.value,
        owner=referral.receiving.org_id, owner_name=referral.receiving.name, requester=referral.referred_by,
        subject_id=view.subject_id, authored_on=referral.sent_at, last_modified=last,
        service=referral.receiving.service.value, status_reason=reason,
        started=referral.decided_at if referral.status is not ReferralStatus.REFUSED else None,
        ended=referral.reached_at,
        service_given=referral.measure.value if referral.status is ReferralStatus.REACHED else None,
    )
    return _closed(view, facts)


def _closed(view: CaseView, facts: TaskFacts) -> TaskFacts:
    """An open Task of a closed case is cancelled by the requester, with the closure's kind as its reason."""
    closure = view.closure
    if closure is None or facts.status not in ENGINE_CANCELS:
        return facts
    return replace(facts, status=S.CANCELLED, ended=closure.at, last_modified=closure.at,
                   status_reason=f"case closed ({closure.kind.value})")
