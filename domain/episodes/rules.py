"""Who may do what in an épisode de services, and which clocks each fact starts and stops: pure decisions.

The aggregate calls these before recording anything, and the workflow's update validators call the very same
`check(view, cmd, now, config)`, so a refused command never reaches Temporal's history and could never be
recorded anyway. `now` comes from the caller (`workflow.now()` or the activity's input), never the wall clock.

The clocks are the access standards of the configuration (``domain.standards.config``), not constants of
their own: each standard whose `service` is the episode's starts when the fact it `starts_on` happens and
stops on the fact it `stops_on`. The AAOR's start at the request's reception (first contact in person ≤ 2 h,
callback ≤ 24 h, analysis ≤ 10 days, an urgent situation ≤ 24 h: seed 001 L778-788); the consultations'
at its acceptance (first contact ≤ 7 days, follow-up started ≤ 30 days, urgent ≤ 24 h: L1485-1493,
L1731-1739). A meeting held is a contact: if none was recorded before, it stops the first-contact clocks.
An urgent situation counts as handled when the professional reaches the person (the seed says « traitée »
without naming the act; the first contact is the first moment the engine knows of).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from domain.clock import quebec_text
from domain.episodes import commands as c
from domain.episodes.model import SERVICE_NAMES, RequestMode, ServiceKind
from domain.episodes.state import EpisodeClock, EpisodeStage, EpisodeView
from domain.errors import RuleViolation
from domain.standards.config import MEETING_CAP_REFERENCES, ClockEvent, StandardsConfig, Timing, UrgencyLevel

E = ClockEvent
# The facts each act is, for the clocks.
CONTACT_FACTS = frozenset({E.FIRST_CONTACT, E.CALLBACK, E.URGENCY_HANDLED})
ACCEPTANCE_FACTS = frozenset({E.REQUEST_ACCEPTED})
FOLLOW_UP_FACTS = frozenset({E.FOLLOW_UP_STARTED})
ANALYSIS_FACTS = frozenset({E.ANALYSIS_COMPLETED})


def reception_facts(mode: RequestMode) -> frozenset[ClockEvent]:
    by_mode = E.REQUEST_IN_PERSON if mode is RequestMode.IN_PERSON else E.REQUEST_BY_PHONE
    return frozenset({E.REQUEST_RECEIVED, by_mode, E.URGENCY_IDENTIFIED})


def clocks_started(
    service: ServiceKind, facts: Iterable[ClockEvent], start: datetime, urgency: UrgencyLevel,
    config: StandardsConfig,
) -> list[dict[str, Any]]:
    """The clocks `facts` start at `start` for the service (as event data): one per standard of the service
    that starts on one of them and has a deadline (a standard timed by urgency has none when the situation is
    not urgent)."""
    facts = set(facts)
    out = []
    for standard_id, std in sorted(config.standards.items()):
        if std.service != service.value or std.starts_on not in facts or std.timing is Timing.BY_PLAN:
            continue
        due = config.deadline(standard_id, start, urgency)
        if due is not None:
            out.append(EpisodeClock(standard_id=standard_id, started_at=start, due_at=due).model_dump(mode="json"))
    return out


def clocks_stopped(view: EpisodeView, facts: Iterable[ClockEvent], config: StandardsConfig) -> list[str]:
    """The running clocks of the episode that `facts` stop."""
    facts = set(facts)
    out = []
    for clock in view.clocks:
        std = config.standards.get(clock.standard_id)
        open_ = clock.status.running or (clock.stopped_at is None and clock.missed_at is not None)
        if open_ and std is not None and std.stops_on in facts:
            out.append(clock.standard_id)
    return out


def meeting_cap(view: EpisodeView, config: StandardsConfig) -> int | None:
    """How many meetings the episode may hold now: the service's cap (AAOR 3, consultations 12; seed 001
    L721-723, L1423-1426, L1671-1674) plus what PI revisions granted; None when the region sets no cap."""
    cap = config.meeting_caps.get(view.service.value)
    return None if cap is None else cap + view.granted_meetings


def next_wakeup(view: EpisodeView) -> datetime | None:
    """The earliest due moment of a running clock (None: only a command can change anything)."""
    if view.stage is EpisodeStage.CLOSED:
        return None
    due = [k.due_at for k in view.clocks if k.status.running]
    return min(due) if due else None


def due_now(view: EpisodeView, now: datetime) -> bool:
    wake = next_wakeup(view)
    return wake is not None and wake <= now


# ---------------------------------------------------------------------- refusals
def _refuse(code: str, message: str) -> RuleViolation:
    return RuleViolation(message, code=code)


def _name(view: EpisodeView) -> str:
    return f"episode {view.episode_code} ({SERVICE_NAMES[view.service]})"


def _open(view: EpisodeView, cmd: c.Command) -> None:
    if view.stage is EpisodeStage.CLOSED:
        raise _refuse("episode_closed", f"{_name(view)} is closed: it accepts no command")
    if cmd.actor_org != view.responsible_org:
        raise _refuse("wrong_party", f"{_name(view)} is answered for by {view.responsible_org}, not {cmd.actor_org}")


def _consultation(view: EpisodeView, what: str) -> None:
    if not view.service.consultation:
        raise _refuse("not_for_service", f"{what} belongs to the consultations (seed 001 L1503-1505, L1750-1752), "
                      f"not to the AAOR, which analyses, orients and refers (L681-800)")


def _accepted(view: EpisodeView, what: str) -> datetime:
    if view.accepted_at is None:
        raise _refuse("not_accepted", f"{_name(view)}: {what} comes after the request is accepted")
    return view.accepted_at


def _moment(name: str, moment: datetime, now: datetime, earliest: datetime, since: str,
            config: StandardsConfig) -> None:
    """A moment given by a caller: not later than the command's own by more than the clock skew, not before
    the step it follows."""
    skew = config.limits.clock_skew
    if moment > now + skew:
        raise _refuse("moment_in_future", f"{name} {quebec_text(moment)} is later than now ({quebec_text(now)}) by "
                      f"more than the {int(skew.total_seconds() // 60)} min allowed for clocks that disagree")
    if moment < earliest:
        raise _refuse(f"moment_before_{since}", f"{name} {quebec_text(moment)} is before the {since.replace('_', ' ')} "
                      f"({quebec_text(earliest)})")


def check_open(cmd: c.OpenEpisode, now: datetime, config: StandardsConfig) -> None:
    """An opening: by the organisation answerable for it, its request received not in the future nor longer
    ago than the region's intake lookback."""
    if cmd.actor_org != cmd.responsible_org:
        raise _refuse("wrong_party", f"an episode of {cmd.responsible_org} is opened by it, not by {cmd.actor_org}")
    if cmd.received_at is not None:
        _moment("received_at", cmd.received_at, now, now - config.limits.intake_lookback, "lookback", config)


def check_accept(view: EpisodeView, cmd: c.AcceptRequest, now: datetime, config: StandardsConfig) -> None:
    _open(view, cmd)
    if view.accepted_at is not None:
        raise _refuse("already_accepted", f"{_name(view)}: the request was accepted {quebec_text(view.accepted_at)}")
    _moment("accepted_at", cmd.accepted_at or now, now, view.received_at, "request", config)


def check_first_contact(view: EpisodeView, cmd: c.RecordFirstContact, now: datetime, config: StandardsConfig) -> None:
    _open(view, cmd)
    if view.first_contact_at is not None:
        raise _refuse("already_contacted", f"{_name(view)}: the first contact was made "
                      f"{quebec_text(view.first_contact_at)}")
    earliest, since = view.received_at, "request"
    if view.service.consultation:
        earliest, since = _accepted(view, "the first contact of a consultation"), "acceptance"
    _moment("at", cmd.at or now, now, earliest, since, config)


def check_meeting(view: EpisodeView, cmd: c.RecordMeeting, now: datetime, config: StandardsConfig) -> None:
    _open(view, cmd)
    accepted = _accepted(view, "a meeting")
    _moment("held_at", cmd.held_at or now, now, accepted, "acceptance", config)
    allowed = meeting_cap(view, config)
    if allowed is not None and len(view.meetings) >= allowed:
        cap = config.meeting_caps[view.service.value]
        ref = MEETING_CAP_REFERENCES.get(view.service.value, "standards configuration")
        granted = f" and {view.granted_meetings} granted by revisions of the PI" if view.granted_meetings else ""
        then = ("revise the intervention plan to prolong it (more meetings, with a justification)"
                if view.service.consultation else
                "beyond it the person is oriented or referred to another service")
        raise _refuse("meeting_cap_reached", f"{_name(view)}: meeting {len(view.meetings) + 1} would exceed the cap "
                      f"of {cap} meetings ({ref}){granted}: {then}")


def check_evaluation(view: EpisodeView, cmd: c.RecordEvaluation, now: datetime, config: StandardsConfig) -> None:
    _open(view, cmd)
    _consultation(view, "an evaluation")
    _accepted(view, "an evaluation")


def check_intervention_plan(
    view: EpisodeView, cmd: c.RecordInterventionPlan, now: datetime, config: StandardsConfig
) -> None:
    _open(view, cmd)
    _consultation(view, "an intervention plan (PI)")
    _accepted(view, "an intervention plan (PI)")
    if view.intervention_plan is not None:
        raise _refuse("plan_exists", f"{_name(view)} has its PI (recorded {quebec_text(view.intervention_plan.at)}): "
                      "revise it instead")


def check_revise_plan(view: EpisodeView, cmd: c.ReviseInterventionPlan, now: datetime, config: StandardsConfig) -> None:
    _open(view, cmd)
    _consultation(view, "a revision of the intervention plan")
    if view.intervention_plan is None:
        raise _refuse("no_intervention_plan", f"{_name(view)} has no PI to revise: record the PI first "
                      "(seed 001 L1505, L1752)")


def check_service_plan(view: EpisodeView, cmd: c.RecordServicePlan, now: datetime, config: StandardsConfig) -> None:
    _open(view, cmd)
    _consultation(view, "a plan de service individualisé (PSI)")
    _accepted(view, "a PSI")


def check_follow_up(view: EpisodeView, cmd: c.StartFollowUp, now: datetime, config: StandardsConfig) -> None:
    _open(view, cmd)
    _consultation(view, "the follow-up")
    accepted = _accepted(view, "the follow-up")
    if view.follow_up_started_at is not None:
        raise _refuse("follow_up_started", f"{_name(view)}: the follow-up was started "
                      f"{quebec_text(view.follow_up_started_at)}")
    _moment("at", cmd.at or now, now, accepted, "acceptance", config)


def check_analysis(view: EpisodeView, cmd: c.CompleteAnalysis, now: datetime, config: StandardsConfig) -> None:
    _open(view, cmd)
    if view.service is not ServiceKind.AAOR:
        raise _refuse("not_for_service", "the analysis of the request is the AAOR's (seed 001 L784-785)")
    if view.analysis_completed_at is not None:
        raise _refuse("analysis_completed", f"{_name(view)}: the analysis was completed "
                      f"{quebec_text(view.analysis_completed_at)}")
    _moment("at", cmd.at or now, now, view.received_at, "request", config)


def check_close(view: EpisodeView, cmd: c.CloseEpisode, now: datetime, config: StandardsConfig) -> None:
    _open(view, cmd)


def check(view: EpisodeView, cmd: c.Command, now: datetime, config: StandardsConfig) -> None:
    """The rule for any command given an open episode: what the workflow's `act` validator runs."""
    match cmd:
        case c.AcceptRequest():
            check_accept(view, cmd, now, config)
        case c.RecordFirstContact():
            check_first_contact(view, cmd, now, config)
        case c.RecordMeeting():
            check_meeting(view, cmd, now, config)
        case c.RecordEvaluation():
            check_evaluation(view, cmd, now, config)
        case c.RecordInterventionPlan():
            check_intervention_plan(view, cmd, now, config)
        case c.ReviseInterventionPlan():
            check_revise_plan(view, cmd, now, config)
        case c.RecordServicePlan():
            check_service_plan(view, cmd, now, config)
        case c.StartFollowUp():
            check_follow_up(view, cmd, now, config)
        case c.CompleteAnalysis():
            check_analysis(view, cmd, now, config)
        case c.CloseEpisode():
            check_close(view, cmd, now, config)
        case _:
            raise _refuse("unknown_command", f"{type(cmd).__name__} is not a command of an épisode de services")
