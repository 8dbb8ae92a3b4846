"""Who may do what at each step of a crisis case, as pure decisions over its view.

The aggregate calls these before recording anything, and the workflow's update
validators call the very same functions (`check(view, cmd, now, config)`), so a
command out of turn, from the wrong party or with bad data is refused before
it reaches Temporal's history and could never be recorded anyway. `now` comes
from the caller (`workflow.now()` or the activity's input), never the wall clock.

Parties by step:
- intake (`INTAKE`): the organisation that opened the case (Info-Social, AAOR or the partner);
- handoff: only the team being asked answers, for its own organisation;
- intervention: the team that accepted;
- orientation, follow-up, referral: the holder, the follow-up provider, the receiving service;
- any time: a supervisor of the CSSS answerable for the case (`responsible_org`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from domain.clock import local_date, quebec_text
from domain.crisis import commands as c
from domain.crisis.model import Candidate, CandidateKind, IntakeService, ReceivingServiceType, TeamRef
from domain.crisis.routing import partner_entente
from domain.crisis.state import CaseStage, CaseView, DeadlineStatus, ReferralStatus
from domain.ententes.state import EntenteView
from domain.errors import RuleViolation
from domain.standards import config as s
from domain.standards.config import StandardsConfig


def _refuse(code: str, message: str) -> RuleViolation:
    return RuleViolation(message, code=code)


def _open(view: CaseView) -> None:
    if view.stage is CaseStage.CLOSED:
        raise _refuse("case_closed", f"case {view.case_code} is closed: it accepts no command")


def _stage(view: CaseView, verb: str, *stages: CaseStage) -> None:
    _open(view)
    if view.stage not in stages:
        allowed = ", ".join(st.value for st in stages)
        raise _refuse(
            "out_of_turn", f"case {view.case_code} is at stage {view.stage.value}: {verb} is only possible at {allowed}"
        )


def _party(cmd: c.Command, expected: str | None, role: str) -> None:
    if cmd.actor_org != expected:
        raise _refuse("wrong_party", f"{role} is done by {expected}, not by {cmd.actor_org}")


def _same_subject(view: CaseView, subject_id: str) -> None:
    if subject_id != view.subject_id:
        raise _refuse("wrong_subject", "the person named in the command is not the person of this case")


def _span(delta: timedelta) -> str:
    """A configured limit as a supervisor reads it: `5 min`, `72 h`, `7 days`."""
    seconds = int(delta.total_seconds())
    if seconds and seconds % 86400 == 0 and seconds >= 4 * 86400:
        return f"{seconds // 86400} days"
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


# ---------------------------------------------------------------------- opening
def check_intake_moments(cmd: c.OpenCase, now: datetime, config: StandardsConfig) -> None:
    """The request and the first contact happened, and not long before the case could exist.

    `now` is the opening's own moment. A moment later than it by more than the clock skew the
    region allows is in the future; one earlier than the lookback is a typing error (the deadlines
    it would start are long missed, and the report would count them).
    """
    limits = config.limits
    for name, moment in (("received_at", cmd.received_at), ("first_contact_at", cmd.first_contact_at)):
        if moment is None:
            continue
        if moment > now + limits.clock_skew:
            raise _refuse(
                "moment_in_future",
                f"{name} {quebec_text(moment)} is later than the opening ({quebec_text(now)}) by more than the "
                f"{_span(limits.clock_skew)} allowed for clocks that disagree",
            )
        if moment < now - limits.intake_lookback:
            raise _refuse(
                "moment_too_old",
                f"{name} {quebec_text(moment)} is more than {_span(limits.intake_lookback)} before the opening "
                f"({quebec_text(now)}): a case cannot begin that long before it is opened",
            )
    if cmd.received_at and cmd.first_contact_at and cmd.first_contact_at < cmd.received_at:
        # OpenCase's own validator refuses it first; kept here so that the rule reads whole.
        raise _refuse("contact_before_request", "the first contact cannot precede the request")


# The services as a supervisor names them in a sentence (the codes stay in the enum and in --json).
INTAKE_NAMES = {IntakeService.INFO_SOCIAL: "Info-Social 8-1-1", IntakeService.AAOR: "the AAOR",
                IntakeService.PARTNER: "a partner"}


def check_open_command(cmd: c.OpenCase, now: datetime, config: StandardsConfig) -> None:
    """Every rule of an opening that needs no record: what the workflow's `open` validator and the
    CLI run before anything starts (the partner's entente is looked up by `check_open`)."""
    check_intake_moments(cmd, now, config)
    if cmd.intake.service is IntakeService.PARTNER:
        if cmd.actor_org == cmd.responsible_org:
            raise _refuse("not_a_partner", "the CSSS opens a case through Info-Social or AAOR, not as a partner")
        return
    _party(cmd, cmd.responsible_org, f"opening a case through {INTAKE_NAMES[cmd.intake.service]}")


def check_open(
    cmd: c.OpenCase, ententes: Iterable[EntenteView], now: datetime, config: StandardsConfig
) -> EntenteView | None:
    """Returns the partner's entente when a partner opens the case (L1172-1173), else None."""
    check_open_command(cmd, now, config)
    if cmd.intake.service is IntakeService.PARTNER:
        found = partner_entente(ententes, cmd.actor_org, cmd.responsible_org, cmd.territory, now)
        if found is None:
            raise _refuse(
                "no_agreement",
                f"{cmd.actor_org} has no entente in force with {cmd.responsible_org} to refer mobile crisis "
                f"interventions in {cmd.territory} (Orientations ministérielles, services sociaux généraux)",
            )
        return found
    return None


# ---------------------------------------------------------------------- intake
FIRST_CONTACT = (s.INFO_SOCIAL_REPONSE, s.AAOR_PREMIER_CONTACT, s.AAOR_RETOUR_APPEL)


def check_first_contact(view: CaseView, cmd: c.RecordFirstContact) -> None:
    _stage(view, "recording the first contact", CaseStage.INTAKE)
    _party(cmd, view.intake_org, "recording the first contact")
    if not any(d.standard_id in FIRST_CONTACT and d.stopped_at is None and d.status is not DeadlineStatus.CANCELLED
               for d in view.deadlines):
        raise _refuse("no_contact_awaited", f"case {view.case_code} awaits no first contact: it was made at intake")


def check_close_at_phone(view: CaseView, cmd: c.CloseAtPhone) -> None:
    _stage(view, "closing at the phone", CaseStage.INTAKE)
    _party(cmd, view.intake_org, "closing at the phone")


def check_request_mobile(view: CaseView, cmd: c.RequestMobileIntervention) -> None:
    _stage(view, "requesting a mobile intervention", CaseStage.INTAKE)
    _party(cmd, view.intake_org, "requesting a mobile intervention")
    if not view.intake.face_to_face_needed:
        raise _refuse(
            "face_to_face_not_needed",
            "the intake did not judge an intervention in the community necessary "
            "(Orientations ministérielles, services sociaux généraux)",
        )
    for team in cmd.csss_teams or []:
        if team.org_id != view.responsible_org:
            raise _refuse("not_a_csss_team", f"team {team.team_id} does not belong to {view.responsible_org}")


# ---------------------------------------------------------------------- handoff
def _asked(view: CaseView, cmd: c.AcceptHandoff | c.DeclineHandoff, verb: str) -> None:
    _stage(view, verb, CaseStage.HANDOFF)
    attempt = view.pending_attempt
    if attempt is None:
        raise _refuse("no_pending_request", f"no team is being asked for case {view.case_code}")
    team = attempt.candidate.team
    if cmd.team_id != team.team_id:
        raise _refuse("not_asked", f"team {cmd.team_id} is not being asked; team {team.team_id} is")
    _party(cmd, team.org_id, f"answering for team {team.team_id}")
    if cmd.attempt is not None and cmd.attempt != attempt.number:
        raise _refuse("stale_request", f"request {cmd.attempt} to team {team.team_id} is no longer open: "
                      f"the team is asked again (request {attempt.number}); answer that one")


def check_accept(view: CaseView, cmd: c.AcceptHandoff) -> None:
    _asked(view, cmd, "accepting the case")


def check_decline(view: CaseView, cmd: c.DeclineHandoff) -> None:
    _asked(view, cmd, "declining the case")


# ---------------------------------------------------------------------- intervention
def check_arrival(view: CaseView, cmd: c.RecordArrival) -> None:
    _stage(view, "recording the arrival", CaseStage.INTERVENTION)
    assert view.intervention is not None  # INTERVENTION always has one
    _party(cmd, view.intervention.team.org_id, "recording the arrival")
    if view.intervention.arrived_at is not None:
        raise _refuse("already_arrived", f"the arrival was recorded at {quebec_text(view.intervention.arrived_at)}")


def check_outcome(view: CaseView, cmd: c.RecordOutcome) -> None:
    _stage(view, "recording the outcome", CaseStage.INTERVENTION)
    assert view.intervention is not None
    _party(cmd, view.intervention.team.org_id, "recording the outcome")
    if view.intervention.arrived_at is None:
        raise _refuse("not_arrived", "record the team's arrival before the outcome of the intervention")
    _same_subject(view, cmd.subject_id)


def check_p38_designated(view: CaseView, cmd: c.RecordOutcome, now: datetime, config: StandardsConfig) -> None:
    """Only a service the agency designated records an application of P-38.001: the mobile crisis service
    acts « à titre de service d'aide en situation de crise, désigné par l'agence, pour l'application de la
    Loi sur la protection des personnes dont l'état mental présente un danger » (seed 001 L1175-1179; the
    constraining measures of that law, L943-945). The designations and their dates are the region's
    configuration (`StandardsConfig.p38_designations`), read at `now`."""
    if not cmd.p38_applied or view.intervention is None:
        return
    team = view.intervention.team
    if not config.p38_designated(team.org_id, team.team_id, now):
        raise _refuse(
            "p38_not_designated",
            f"team {team.team_id} ({team.org_id}) is not designated by the agency for the application of "
            f"P-38.001 on {local_date(now)} (seed 001 L1175-1179): record the outcome without applying it, "
            "or refer the person to a designated service",
        )


# ---------------------------------------------------------------------- orientation
def check_hand_back(view: CaseView, cmd: c.HandBack) -> None:
    _stage(view, "handing the case back", CaseStage.ORIENTATION)
    _party(cmd, view.holder, "handing the case back")
    if view.holder == view.intake_org:
        raise _refuse("already_back", f"the case is already with {view.intake_org}")


def check_start_follow_up(view: CaseView, cmd: c.StartFollowUp, config: StandardsConfig) -> None:
    _stage(view, "starting a post-crisis follow-up", CaseStage.ORIENTATION)
    _party(cmd, view.holder, "starting a post-crisis follow-up")
    if cmd.plan not in config.follow_up_plans:
        known = ", ".join(sorted(config.follow_up_plans))
        raise _refuse("unknown_plan", f"{cmd.plan} is not a follow-up plan of region {config.region} ({known})")


def check_contact(view: CaseView, cmd: c.RecordContact) -> None:
    _stage(view, "recording a follow-up contact", CaseStage.FOLLOW_UP)
    follow_up = view.current_follow_up
    assert follow_up is not None  # FOLLOW_UP always has one
    _party(cmd, follow_up.provider, "recording a follow-up contact")
    if cmd.contact_number > len(follow_up.contacts):
        raise _refuse("unknown_contact", f"the plan has {len(follow_up.contacts)} contacts, not {cmd.contact_number}")
    contact = follow_up.contacts[cmd.contact_number - 1]
    if contact.made_at is not None:
        raise _refuse("already_made", f"contact {cmd.contact_number} was made at {quebec_text(contact.made_at)}")


def check_close(view: CaseView, cmd: c.CloseCase) -> None:
    _stage(view, "closing the case", CaseStage.ORIENTATION)
    _party(cmd, view.holder, "closing the case")


# ---------------------------------------------------------------------- referral
def check_start_referral(view: CaseView, cmd: c.StartReferral) -> None:
    _stage(view, "making a referral", CaseStage.INTAKE, CaseStage.ORIENTATION)
    _party(cmd, view.holder, "making a referral")
    _same_subject(view, cmd.subject_id)


def _referral_answer(view: CaseView, cmd: c.AcceptReferral | c.RefuseReferral, verb: str) -> None:
    _stage(view, verb, CaseStage.REFERRAL)
    referral = view.current_referral
    assert referral is not None  # REFERRAL always has one
    _party(cmd, referral.receiving.org_id, verb)
    if referral.status is not ReferralStatus.SENT:
        raise _refuse("already_decided", f"referral {referral.number} was already {referral.status.value}")


def check_accept_referral(view: CaseView, cmd: c.AcceptReferral) -> None:
    _referral_answer(view, cmd, "accepting the referral")


def check_refuse_referral(view: CaseView, cmd: c.RefuseReferral) -> None:
    _referral_answer(view, cmd, "refusing the referral")


def check_confirm_reached(view: CaseView, cmd: c.ConfirmReached) -> None:
    _stage(view, "confirming the person reached the service", CaseStage.REFERRAL)
    referral = view.current_referral
    assert referral is not None
    if cmd.actor_org not in {referral.receiving.org_id, referral.referred_by}:
        raise _refuse(
            "wrong_party",
            f"the receiving service ({referral.receiving.org_id}) or the referrer ({referral.referred_by}) "
            f"confirms, not {cmd.actor_org}",
        )
    if referral.status is not ReferralStatus.ACCEPTED:
        raise _refuse("not_accepted", "the receiving service has not accepted the referral yet")


# ---------------------------------------------------------------------- supervisor
def _supervisor(view: CaseView, cmd: c.Command, verb: str) -> None:
    _open(view)
    _party(cmd, view.responsible_org, f"{verb} (a supervisor of the responsible CSSS)")


def reassign_candidate(view: CaseView, team: TeamRef) -> Candidate | None:
    """A CSSS team, or a team routing proposed for this case (so its entente is known); None otherwise."""
    for candidate in view.candidates:
        if candidate.team.team_id == team.team_id and candidate.team.org_id == team.org_id:
            return candidate
    if team.org_id == view.responsible_org:
        return Candidate(team=team, kind=CandidateKind.CSSS_TEAM, may_share_information=True)
    return None


def check_reassign(view: CaseView, cmd: c.Reassign) -> None:
    _supervisor(view, cmd, "reassigning")
    if view.stage not in {CaseStage.HANDOFF, CaseStage.SUPERVISOR, CaseStage.INTERVENTION}:
        raise _refuse("out_of_turn", f"case {view.case_code} is at stage {view.stage.value}: no team to reassign")
    if view.intervention is not None and view.intervention.arrived_at is not None:
        raise _refuse("already_arrived", "the team is already with the person: the intervention cannot be reassigned")
    if reassign_candidate(view, cmd.team) is None:
        raise _refuse(
            "not_a_candidate",
            f"{cmd.team.team_id} is neither a team of {view.responsible_org} nor an organisation with an entente "
            "in force for this territory (Orientations ministérielles, services sociaux généraux)",
        )
    current = view.pending_attempt.candidate.team if view.pending_attempt else (
        view.intervention.team if view.intervention else None
    )
    if current is not None and current.team_id == cmd.team.team_id:
        raise _refuse("same_team", f"team {cmd.team.team_id} already has the case")


def check_extend(view: CaseView, cmd: c.ExtendDeadline, now: datetime, config: StandardsConfig) -> None:
    """An extension ends after now (the deadline is not yet due) and after the current due moment,
    and at most `limits.extension_max` past it (each extension counts from the moment in force)."""
    _supervisor(view, cmd, "extending a deadline")
    deadline = view.deadline(cmd.deadline_id)
    if deadline is None:
        raise _refuse("unknown_deadline", f"case {view.case_code} has no deadline {cmd.deadline_id}")
    if not deadline.status.running:
        raise _refuse("not_running", f"deadline {cmd.deadline_id} is {deadline.status.value}: it cannot be extended")
    if now >= deadline.due_at:
        # Already due: the timer records it missed; an extension comes before, not after.
        raise _refuse("already_due", f"deadline {cmd.deadline_id} fell due at {quebec_text(deadline.due_at)}")
    if cmd.until <= deadline.due_at:
        raise _refuse("not_later", f"an extension ends after the current due moment ({quebec_text(deadline.due_at)})")
    latest = deadline.due_at + config.limits.extension_max
    if cmd.until > latest:
        raise _refuse(
            "extension_too_long",
            f"an extension gives at most {_span(config.limits.extension_max)} past the current due moment "
            f"({quebec_text(deadline.due_at)}): until {quebec_text(latest)} at the latest",
        )


def check_supervisor_close(view: CaseView, cmd: c.SupervisorClose) -> None:
    _supervisor(view, cmd, "closing the case")


# ---------------------------------------------------------------------- any command
def check_name_pivot(view: CaseView, cmd: c.NamePivot) -> None:
    """A *personne pivot* (seed 002 L349-350, L379-381) is named by the CISSS answerable for the case or by the
    organisation holding it, while the case is open; naming the pivot already named records nothing new."""
    _open(view)
    if cmd.actor_org not in {view.responsible_org, view.holder}:
        raise _refuse("wrong_party", f"the personne pivot is named by {view.responsible_org} or the holder of "
                                     f"the case, not by {cmd.actor_org}")
    if view.pivot is not None and (view.pivot.intervenant_id, view.pivot.org_id) == (cmd.intervenant_id,
                                                                                        cmd.org_id):
        raise _refuse("same_pivot", f"{cmd.intervenant_id} ({cmd.org_id}) is already the personne pivot")


def check(view: CaseView, cmd: c.Command, now: datetime, config: StandardsConfig) -> None:
    """The rule of any case command: what a workflow's update validator calls."""
    if isinstance(cmd, c.StartFollowUp):
        check_start_follow_up(view, cmd, config)
    elif isinstance(cmd, c.ExtendDeadline):
        check_extend(view, cmd, now, config)
    elif isinstance(cmd, c.RecordOutcome):
        check_outcome(view, cmd)
        check_p38_designated(view, cmd, now, config)
    elif type(cmd) in _CHECKS:
        _CHECKS[type(cmd)](view, cmd)
    else:
        raise _refuse("unknown_command", f"{type(cmd).__name__} is not a command of an open crisis case")


_CHECKS: dict[type, Callable[[CaseView, Any], None]] = {
    c.RecordFirstContact: check_first_contact,
    c.CloseAtPhone: check_close_at_phone,
    c.RequestMobileIntervention: check_request_mobile,
    c.AcceptHandoff: check_accept,
    c.DeclineHandoff: check_decline,
    c.RecordArrival: check_arrival,
    c.RecordOutcome: check_outcome,
    c.HandBack: check_hand_back,
    c.RecordContact: check_contact,
    c.CloseCase: check_close,
    c.StartReferral: check_start_referral,
    c.AcceptReferral: check_accept_referral,
    c.RefuseReferral: check_refuse_referral,
    c.ConfirmReached: check_confirm_reached,
    c.Reassign: check_reassign,
    c.SupervisorClose: check_supervisor_close,
    c.NamePivot: check_name_pivot,
}


# ---------------------------------------------------------------------- deadlines
def reach_standard(service: ReceivingServiceType, urgent: bool) -> str:
    """The standard the person's arrival at the receiving service is measured by, from its acceptance."""
    if service is ReceivingServiceType.CONSULTATION_SOCIALE:
        return s.CONSULTATION_SOCIALE_URGENCE if urgent else s.CONSULTATION_SOCIALE_PREMIER_CONTACT
    if service is ReceivingServiceType.CONSULTATION_PSYCHOLOGIQUE:
        return s.CONSULTATION_PSYCHOLOGIQUE_URGENCE if urgent else s.CONSULTATION_PSYCHOLOGIQUE_PREMIER_CONTACT
    return s.REFERENCE_ARRIVEE


def next_wakeup(view: CaseView, config: StandardsConfig) -> datetime | None:
    """The next instant at which the calendar changes something (the earliest running deadline); None if none.

    `config` is taken for symmetry with the other calendar functions: every due moment was fixed, from
    the configuration of the day, when its clock started, so a later change of configuration moves nothing.
    """
    if view.stage is CaseStage.CLOSED:
        return None
    due = [d.due_at for d in view.deadlines if d.status.running]
    return min(due) if due else None


def due_now(view: CaseView, config: StandardsConfig, now: datetime) -> bool:
    """True when `advance(now)` would record something."""
    wake = next_wakeup(view, config)
    return wake is not None and now >= wake
