"""The referral Task's state machine, as the Gravity SDOH Clinical Care IG defines it, and what a partner's
status change means for a crisis case.

Source: SDOH Clinical Care IG (STU 2.x / 3, FHIR R4), profile SDOHCC TaskForReferralManagement, "Status
Management": the table of codes with who sets each (Requester / Responder) and the state diagram
(Figure 1, ReferralTaskStateDiagram). Statuses are FHIR R4 `task-status` codes less `ready` and `received`,
which the IG's value set SDOHCC-ValueSetReferralTaskStatus excludes. The IG's table writes "canceled"; the
code is `cancelled`.

A partner (the Task's owner, the responder) asks for a status; arrimage turns the few transitions that are
steps of a crisis case into the same command the partner would give through /v1, and refuses the others with
the reason. The case's own rules (in turn, right party) are the workflow's, never re-checked here.
"""

from __future__ import annotations

from enum import StrEnum

from domain.crisis import commands as cc
from domain.errors import DomainError

IG = "SDOH Clinical Care IG, SDOHCC TaskForReferralManagement, Status Management"


class TaskStatus(StrEnum):
    DRAFT = "draft"
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    FAILED = "failed"
    COMPLETED = "completed"
    ENTERED_IN_ERROR = "entered-in-error"


class Setter(StrEnum):
    REQUESTER = "requester"  # the CSSS/CISSS or the service that made the referral
    RESPONDER = "responder"  # the Task's owner: the team asked, the receiving service


S = TaskStatus
REQUESTER, RESPONDER = frozenset({Setter.REQUESTER}), frozenset({Setter.RESPONDER})
# "Set By", the IG's table.
SET_BY: dict[TaskStatus, frozenset[Setter]] = {
    S.DRAFT: REQUESTER, S.REQUESTED: REQUESTER, S.ACCEPTED: RESPONDER, S.REJECTED: RESPONDER,
    S.CANCELLED: REQUESTER | RESPONDER, S.IN_PROGRESS: RESPONDER, S.ON_HOLD: RESPONDER, S.FAILED: RESPONDER,
    S.COMPLETED: RESPONDER, S.ENTERED_IN_ERROR: REQUESTER,
}
# The IG's state diagram: a Task starts in draft (optional) or requested; rejected, cancelled, failed, completed
# and entered-in-error are final.
INITIAL = frozenset({S.DRAFT, S.REQUESTED})
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    S.DRAFT: frozenset({S.REQUESTED, S.ENTERED_IN_ERROR}),
    S.REQUESTED: frozenset({S.ACCEPTED, S.REJECTED}),
    S.ACCEPTED: frozenset({S.IN_PROGRESS, S.ON_HOLD, S.CANCELLED, S.COMPLETED, S.FAILED}),
    S.IN_PROGRESS: frozenset({S.ON_HOLD, S.CANCELLED, S.COMPLETED, S.FAILED}),
    S.ON_HOLD: frozenset({S.IN_PROGRESS, S.CANCELLED, S.COMPLETED, S.FAILED}),
    S.REJECTED: frozenset(), S.CANCELLED: frozenset(), S.FAILED: frozenset(), S.COMPLETED: frozenset(),
    S.ENTERED_IN_ERROR: frozenset(),
}
# Where arrimage itself ends a Task the IG's diagram leaves open: a team that did not answer in time, or that a
# supervisor stopped asking, and any open Task of a closed case. The requester cancels (the IG's table lets it
# set `cancelled`; FHIR R4's own Task state machine allows requested → cancelled, the IG's diagram draws no
# such edge).
ENGINE_CANCELS = frozenset({S.REQUESTED, S.ACCEPTED, S.IN_PROGRESS, S.ON_HOLD})


class TaskKind(StrEnum):
    HANDOFF = "h"  # a mobile crisis team asked to intervene (one Task per attempt)
    REFERRAL = "r"  # a référence personnalisée to a receiving service (one Task per referral)


class TaskRefused(DomainError):
    """A status change the IG or arrimage refuses; `status` is its HTTP meaning (403 not this party, 409 not
    from this state, 422 missing what the command needs)."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message, code=code)
        self.status = status


def check_transition(current: TaskStatus, wanted: TaskStatus, setter: Setter) -> None:
    """The IG's rules alone: who may set `wanted`, and whether the diagram goes from `current` to it."""
    if setter not in SET_BY[wanted]:
        who = " or ".join(sorted(s.value for s in SET_BY[wanted]))
        raise TaskRefused(f"{wanted.value} is set by the {who}, not the {setter.value} ({IG})",
                          code="task_status_not_for_party", status=403)
    if wanted not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none: it is final"
        raise TaskRefused(f"a Task goes from {current.value} to {allowed}, not to {wanted.value} ({IG})",
                          code="task_transition_not_allowed", status=409)


def partner_command(kind: TaskKind, team_id: str | None, current: TaskStatus, wanted: TaskStatus, *,
                    reason: str | None, intake_worker: str | None, by: str, org: str,
                    number: int | None = None) -> cc.Command:
    """The case command a responder's status change stands for, or the refusal: requested → accepted
    (AcceptHandoff, AcceptReferral), requested → rejected with a statusReason (DeclineHandoff, RefuseReferral),
    accepted → in-progress for a handoff (the team is with the person: RecordArrival), accepted → completed for a
    referral (the receiving service confirms the person reached it: ConfirmReached). `number`: the Task's
    request (`<case>-h<n>`), so an answer to a request no longer open is refused (`stale_request`)."""
    check_transition(current, wanted, Setter.RESPONDER)
    actor = {"by": by, "actor_org": org}
    if wanted is S.REJECTED and not reason:
        raise TaskRefused("a rejected Task gives its reason in statusReason.text", code="status_reason_required",
                          status=422)
    if kind is TaskKind.HANDOFF:
        if wanted is S.ACCEPTED:
            return cc.AcceptHandoff(team_id=team_id or "", attempt=number, **actor)
        if wanted is S.REJECTED:
            return cc.DeclineHandoff(team_id=team_id or "", reason=reason or "", attempt=number, **actor)
        if wanted is S.IN_PROGRESS:
            return cc.RecordArrival(**actor)
        done = "the intervention's outcome is recorded with the `outcome` command (/v1/cases/{code}/commands)"
    else:
        if wanted is S.ACCEPTED:
            return cc.AcceptReferral(intake_worker=intake_worker or by, **actor)
        if wanted is S.REJECTED:
            return cc.RefuseReferral(reason=reason or "", **actor)
        if wanted is S.COMPLETED:
            return cc.ConfirmReached(**actor)
        done = ("a referral has no step between its acceptance and the person reaching the service: "
                "set completed when they reached it")
    if wanted is S.COMPLETED or kind is TaskKind.REFERRAL:
        raise TaskRefused(f"{current.value} → {wanted.value}: {done}", code="task_transition_not_supported",
                          status=409)
    raise TaskRefused(f"{current.value} → {wanted.value}: no step of a crisis case stands for it (a team that "
                      "accepted and cannot go hands the case back, or its CISSS reassigns it)",
                      code="task_transition_not_supported", status=409)
