"""Issue 3 on the time-skipping server: every path of a crisis case driven through `CrisisCaseWorkflow`'s
public updates (`open` with start, `act`) and query (`state`), every deadline fired by skipping time, and
the record (`CrisisCases.history`) checked event by event.

Seed 001: AAOR (L681-900), Info-Social (L901-1159), mobile crisis intervention (Fiche 3, L1160-1385),
référence personnalisée (L725-733). The time-skipping server cannot hold custom search attributes, so
cases start with `search_attributes=False` (visibility is tested on the dev server).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.crisis import commands as c
from domain.crisis.model import (
    CandidateKind,
    ClosureKind,
    EmergencyService,
    IntakeService,
    InterventionOutcome,
    PhoneDisposition,
    ReceivingServiceType,
    RequestMode,
    TeamRef,
    UrgencyLevel,
    new_case_code,
)
from domain.crisis.state import AttemptStatus, CaseStage, CaseView, DeadlineStatus, ReferralStatus
from domain.errors import NotFound
from domain.standards import config as s
from tests.crisis_builders import (
    CSSS,
    DAY,
    HOUR,
    MIN,
    TEAM,
    TEAM_2,
    accept,
    accept_referral,
    accepted_update_ids,
    act,
    activate,
    arrive,
    assert_refused,
    command_ids,
    contact,
    crisis_content,
    decline,
    follow_up,
    names,
    open_cmd,
    outcome,
    reached,
    referral,
    refuse_referral,
    request,
    start_case,
    state,
    sup,
    until,
    wait_for,
)
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes
from workflows.crisis import CrisisCaseWorkflow


async def test_the_whole_trajectory_from_info_social_to_the_next_service(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Issue 3, the main path (seed 001 L645-671, L1162-1243, L725-733): Info-Social finds a crisis →
    the CSSS team accepts → arrives (crise.urgence, L1267, met) → crisis resolved → post-crisis follow-up
    (suivi.contact, regional: contact 1 made, contact 2 missed and escalated, contact 3 made) → référence
    personnalisée accepted (consultation_sociale.urgence, L1492-1493) → the person reached it → closed."""
    env = time_env
    code = new_case_code()
    handle, view = await start_case(env.client, open_cmd(code), task_queue)
    assert view.stage is CaseStage.INTAKE and view.case_code == code
    await act(handle, request())
    await act(handle, accept())
    view = await act(handle, arrive())
    assert view.deadline("crise.urgence").status is DeadlineStatus.MET  # type: ignore[union-attr]
    view = await act(handle, outcome())
    assert view.stage is CaseStage.ORIENTATION

    view = await act(handle, follow_up())
    start = view.follow_ups[0].started_at
    await env.sleep(until(start + DAY, await env.get_current_time()))
    await act(handle, contact(1))
    await env.sleep(until(start + 4 * DAY, await env.get_current_time()))  # contact 2: 72 h + 24 h
    view = await wait_for(handle, "contact 2 missed", lambda v: len(v.escalations) == 1)
    assert view.deadline("suivi.1.contact.2").status is DeadlineStatus.MISSED  # type: ignore[union-attr]
    assert view.escalations[0].deadline_id == "suivi.1.contact.2"
    assert view.escalations[0].at == start + 4 * DAY
    await env.sleep(until(start + 30 * DAY, await env.get_current_time()))
    view = await act(handle, contact(3))
    assert view.stage is CaseStage.ORIENTATION and view.follow_ups[0].completed_at is not None

    view = await act(handle, referral())
    assert view.stage is CaseStage.REFERRAL
    view = await act(handle, accept_referral())
    assert view.deadline("reference.1.arrivee").standard_id == "consultation_sociale.urgence"  # type: ignore[union-attr]
    await act(handle, reached())
    final = await handle.result()
    assert final is not None and final.stage is CaseStage.CLOSED
    assert final.closure is not None and final.closure.kind is ClosureKind.REACHED_SERVICE
    assert final.referrals[0].status is ReferralStatus.REACHED

    assert names(cases, code) == [
        "Opened", "MobileInterventionRequested", "TeamAsked", "HandoffAccepted", "ArrivedOnSite", "OutcomeRecorded",
        "FollowUpStarted", "ContactMade", "DeadlineMissed", "Escalated", "ContactMade", "FollowUpCompleted",
        "ReferralSent", "ReferralAccepted", "PersonReachedService", "CaseClosed",
    ]
    # One recorded command per accepted update (the opening included), none twice.
    ids = command_ids(cases, code)
    assert len(ids) == len(set(ids)) == 11
    assert set(ids) == {f"case-{code}/{u}" for u in await accepted_update_ids(handle)}


async def test_closed_at_the_phone(time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases) -> None:
    """Seed 001 L920-924, L932-941: Info-Social answers with information or stabilises the crisis by phone —
    a normal outcome: the case closes and the workflow ends with it."""
    code = new_case_code()
    handle, _ = await start_case(time_env.client, open_cmd(code, urgency=UrgencyLevel.NONE, face=False), task_queue)
    await act(handle, c.CloseAtPhone(by="intervenant-1", actor_org=CSSS, disposition=PhoneDisposition.STABILISED,
                                     reason="crise stabilisée au téléphone"))
    final = await handle.result()
    assert final is not None and final.closure is not None and final.closure.kind is ClosureKind.AT_PHONE
    history = cases.history(code)
    assert [h["event"] for h in history] == ["Opened", "CaseClosed"]
    assert history[1]["kind"] == "fermeture_telephonique"
    # The disposition is a code, in clear; the words typed are sealed with the person's key (issue 9).
    assert (history[1]["reason"], history[1]["personal"]) == ("crise_stabilisee", "<1 champ(s) personnel(s)>")
    assert final.closure.reason == "crise_stabilisee: crise stabilisée au téléphone"


@pytest.mark.parametrize(
    ("result", "services", "p38"),
    [
        (InterventionOutcome.HOSPITAL_EMERGENCY, [EmergencyService.AMBULANCE], False),
        (InterventionOutcome.CRISIS_HOUSING, [], False),
        (InterventionOutcome.P38_APPLICATION, [EmergencyService.POLICE, EmergencyService.AMBULANCE], True),
        (InterventionOutcome.CRISIS_RESOLVED, [EmergencyService.FIRST_RESPONDERS], False),
    ],
    ids=["hospital", "crisis-housing", "p38-police-ambulance", "resolved-first-responders"],
)
async def test_every_intervention_outcome_is_recorded_then_the_case_closes(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases, result: InterventionOutcome,
    services: list[EmergencyService], p38: bool,
) -> None:
    """Seed 001 L1224-1232, L1322-1328 (police, ambulance, hospital emergency, crisis housing) and
    L1175-1179 (transport under art. 8 Loi P-38.001): the outcome and the emergency services are events of
    the record; the holder then closes the case (nothing further needed)."""
    code = new_case_code()
    handle, _ = await start_case(time_env.client, open_cmd(code), task_queue)
    for cmd in (request(), accept(), arrive()):
        await act(handle, cmd)
    view = await act(handle, outcome(result, services=services, p38=p38))
    assert view.intervention is not None
    assert (view.intervention.outcome, view.intervention.emergency_services, view.intervention.p38_applied) == (
        result, services, p38)
    await act(handle, c.CloseCase(by="intervenant-1", actor_org=CSSS, reason="rien de plus requis"))
    closed = await handle.result()
    assert closed.closure is not None and closed.closure.kind is ClosureKind.RESOLVED
    history = cases.history(code)
    assert [h["event"] for h in history] == [
        "Opened", "MobileInterventionRequested", "TeamAsked", "HandoffAccepted", "ArrivedOnSite", "OutcomeRecorded",
        "CaseClosed"]
    recorded = history[5]
    # The outcome characterises the person: sealed with their key (issue 9), masked in the history, read in
    # the case's view above.
    assert (recorded["outcome"], recorded["emergency_services"], recorded["p38_applied"]) == (None, None, None)
    assert recorded["personal"] == "<1 champ(s) personnel(s)>"
    assert recorded["characterisation"] == "<3 champ(s) personnel(s)>"


async def _to_orientation(handle: WorkflowHandle[Any, Any], urgency_kept: bool = True) -> CaseView:
    for cmd in (request(), accept(), arrive()):
        await act(handle, cmd)
    return await act(handle, outcome())


BEFORE_REFERRAL = ["Opened", "MobileInterventionRequested", "TeamAsked", "HandoffAccepted", "ArrivedOnSite",
                   "OutcomeRecorded"]


async def test_a_refused_referral_returns_to_the_referrer_who_refers_elsewhere(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Seed 001 L725-733: the receiving service may refuse; the duty to make sure the person reaches a
    service stays with the referrer, who makes a second référence personnalisée, accepted and confirmed."""
    code = new_case_code()
    handle, _ = await start_case(time_env.client, open_cmd(code, urgency=UrgencyLevel.NONE), task_queue)
    await _to_orientation(handle)
    await act(handle, referral())
    view = await act(handle, refuse_referral())
    assert view.stage is CaseStage.ORIENTATION and view.holder == CSSS
    assert view.referrals[0].status is ReferralStatus.REFUSED
    assert view.deadline("reference.1.decision").status is DeadlineStatus.MET  # type: ignore[union-attr]
    await act(handle, referral(ReceivingServiceType.COMMUNITY_RESOURCE))
    view = await act(handle, accept_referral())
    assert view.deadline("reference.2.arrivee").standard_id == s.REFERENCE_ARRIVEE  # type: ignore[union-attr]
    await act(handle, reached())
    final = await handle.result()
    assert final is not None and [r.status for r in final.referrals] == [ReferralStatus.REFUSED, ReferralStatus.REACHED]
    assert names(cases, code) == [*BEFORE_REFERRAL, "ReferralSent", "ReferralRefused", "ReferralSent",
                               "ReferralAccepted", "PersonReachedService", "CaseClosed"]


async def test_an_unconfirmed_referral_escalates_and_the_case_stays_open(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Issue 3 step 5 and standard reference.arrivee (regional, 7 days; duty of L725-729): the case is not
    closed until the person reached the service; unconfirmed at the deadline ⇒ DeadlineMissed and Escalated,
    the case stays in referral; the referrer confirms later and it closes."""
    env = time_env
    code = new_case_code()
    handle, _ = await start_case(env.client, open_cmd(code, urgency=UrgencyLevel.NONE), task_queue)
    await _to_orientation(handle)
    await act(handle, referral(ReceivingServiceType.COMMUNITY_RESOURCE))
    view = await act(handle, accept_referral())
    due = view.deadline("reference.1.arrivee").due_at  # type: ignore[union-attr]
    assert due == view.referrals[0].decided_at + 7 * DAY  # type: ignore[operator]
    await env.sleep(until(due, await env.get_current_time()))
    view = await wait_for(handle, "reach deadline missed", lambda v: len(v.escalations) == 1)
    assert view.stage is CaseStage.REFERRAL
    assert (view.escalations[0].deadline_id, view.escalations[0].at) == ("reference.1.arrivee", due)
    await env.sleep(2 * DAY)
    await act(handle, reached(org=CSSS))  # the referrer may confirm too
    final = await handle.result()
    assert final is not None and final.stage is CaseStage.CLOSED
    missed = final.deadline("reference.1.arrivee")
    assert missed is not None and missed.status is DeadlineStatus.MISSED
    assert names(cases, code) == [*BEFORE_REFERRAL, "ReferralSent", "ReferralAccepted", "DeadlineMissed", "Escalated",
                               "PersonReachedService", "CaseClosed"]


async def test_a_team_that_declines_is_skipped_for_the_organisation_under_entente(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Issue 3 step 2 and seed 001 L1181-1184 (« dans le cadre d'entente »): the CSSS team declines, the
    community organisation of the entente in force is asked, accepts, intervenes, hands the case back to
    the service that referred it, which closes it."""
    env = time_env
    activate(Ententes(cases.record), "ENT-CC-LAVAL", crisis_content("cc-laval"), await env.get_current_time())
    code = new_case_code()
    handle, _ = await start_case(env.client, open_cmd(code), task_queue)
    view = await act(handle, request())
    assert [(x.team.team_id, x.kind, x.agreement_code) for x in view.candidates] == [
        ("crise-laval-1", CandidateKind.CSSS_TEAM, None), ("cc-laval", CandidateKind.COMMUNITY_ORG, "ENT-CC-LAVAL")]
    view = await act(handle, decline())
    assert view.pending_attempt is not None and view.pending_attempt.candidate.team.team_id == "cc-laval"
    cc = TeamRef(team_id="cc-laval", org_id="cc-laval")
    view = await act(handle, accept(cc))
    assert view.holder == "cc-laval" and view.intervention is not None
    assert view.intervention.agreement_code == "ENT-CC-LAVAL" and view.intervention.may_share_information
    await act(handle, arrive("cc-laval"))
    await act(handle, outcome(org="cc-laval"))
    view = await act(handle, c.HandBack(by="cc-1", actor_org="cc-laval", reason="crise désamorcée"))
    assert view.holder == CSSS
    await act(handle, c.CloseCase(by="intervenant-1", actor_org=CSSS, reason="rien de plus requis"))
    await handle.result()
    assert names(cases, code) == [
        "Opened", "MobileInterventionRequested", "TeamAsked", "HandoffDeclined", "TeamAsked", "HandoffAccepted",
        "ArrivedOnSite", "OutcomeRecorded", "HandedBack", "CaseClosed"]


async def test_when_every_candidate_declines_a_supervisor_is_called(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Issue 3 step 2: every candidate declined ⇒ escalation to a supervisor of the responsible CSSS,
    who then holds the case (stage escalade)."""
    code = new_case_code()
    handle, _ = await start_case(time_env.client, open_cmd(code), task_queue)
    await act(handle, request([TEAM, TEAM_2]))
    await act(handle, decline(TEAM))
    view = await act(handle, decline(TEAM_2, "aucune équipe disponible"))
    assert view.stage is CaseStage.SUPERVISOR and view.holder == CSSS
    assert view.escalations[0].deadline_id is None and "2 sollicitée(s)" in view.escalations[0].reason
    assert names(cases, code) == ["Opened", "MobileInterventionRequested", "TeamAsked", "HandoffDeclined", "TeamAsked",
                               "HandoffDeclined", "Escalated"]


async def test_timeout_cascade_to_the_next_team_then_to_a_supervisor_who_reassigns(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Standard crise.reponse_equipe (regional, 10 min): a team that does not answer in time is skipped at
    the moment its answer was due; the last one too ⇒ escalated to a supervisor, who reassigns (an event)
    to a team that accepts and arrives within « immédiat » (crise.urgence, L1267)."""
    env = time_env
    code = new_case_code()
    handle, _ = await start_case(env.client, open_cmd(code), task_queue)
    view = await act(handle, request([TEAM, TEAM_2]))
    first_due = view.deadline("reponse_equipe.1").due_at  # type: ignore[union-attr]
    assert first_due == view.attempts[0].asked_at + 10 * MIN
    await env.sleep(until(first_due, await env.get_current_time()))
    view = await wait_for(handle, "first team timed out", lambda v: len(v.attempts) == 2)
    assert view.attempts[0].status is AttemptStatus.TIMED_OUT
    assert view.attempts[1].asked_at == first_due and view.attempts[1].candidate.team == TEAM_2
    second_due = first_due + 10 * MIN
    await env.sleep(until(second_due, await env.get_current_time()))
    view = await wait_for(handle, "escalated to a supervisor", lambda v: v.stage is CaseStage.SUPERVISOR)
    assert (view.escalations[0].deadline_id, view.escalations[0].at) == (None, second_due)

    view = await act(handle, sup(c.Reassign, team=TEAM, reason="première équipe rappelée par la superviseure"))
    assert view.pending_attempt is not None and view.pending_attempt.assigned_by_supervisor
    await act(handle, accept(TEAM))
    view = await act(handle, arrive())
    assert view.deadline(s.CRISE_URGENCE).status is DeadlineStatus.MET  # type: ignore[union-attr]
    await act(handle, outcome())
    await act(handle, c.CloseCase(by="intervenant-1", actor_org=CSSS, reason="rien de plus requis"))
    await handle.result()
    history = cases.history(code)
    assert [h["event"] for h in history] == [
        "Opened", "MobileInterventionRequested", "TeamAsked", "HandoffTimedOut", "TeamAsked", "HandoffTimedOut",
        "Escalated", "Reassigned", "TeamAsked", "HandoffAccepted", "ArrivedOnSite", "OutcomeRecorded", "CaseClosed"]
    assert [h["at"] for h in history if h["event"] == "HandoffTimedOut"] == [first_due, second_due]
    assert history[7]["personal"] == "<1 champ(s) personnel(s)>"  # the typed reason, sealed (issue 9)
    assert {"reassign_reason": "première équipe rappelée par la superviseure"} in [
        p["personal"] for p in cases.get(code).personal_details()]


async def test_a_supervisor_reassigns_a_pending_request_and_the_withdrawn_team_can_no_longer_answer(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Issue 3, supervisors: reassigning while a team is being asked withdraws that request (its answer
    timer is cancelled, and never fires) and asks the supervisor's team; the withdrawn team is refused."""
    env = time_env
    code = new_case_code()
    handle, _ = await start_case(env.client, open_cmd(code), task_queue)
    await act(handle, request([TEAM]))
    view = await act(handle, sup(c.Reassign, team=TEAM_2, reason="équipe 2 plus proche"))
    assert [a.status for a in view.attempts] == [AttemptStatus.WITHDRAWN, AttemptStatus.PENDING]
    assert view.deadline("reponse_equipe.1").status is DeadlineStatus.CANCELLED  # type: ignore[union-attr]
    await assert_refused(handle, cases, code, accept(TEAM), "not_asked", "team crise-laval-2 is")
    await act(handle, accept(TEAM_2))
    await env.sleep(30 * MIN)  # past the withdrawn request's answer deadline: nothing is recorded
    assert names(cases, code) == ["Opened", "MobileInterventionRequested", "TeamAsked", "Reassigned", "TeamAsked",
                               "HandoffAccepted"]


async def test_a_supervisor_extends_a_deadline_with_a_reason_and_the_timer_moves(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Issue 3, supervisors: an extension with a reason is an event; the durable timer moves to the new
    moment — nothing fires at the original one (aaor.urgence, L787-788: 4 h for « urgent »), the miss is
    recorded at the extended moment, and the compliance measure keeps the original due moment."""
    env = time_env
    code = new_case_code()
    handle, view = await start_case(env.client, open_cmd(code, service=IntakeService.AAOR, face=False), task_queue)
    due = view.deadline(s.AAOR_URGENCE).due_at  # type: ignore[union-attr]
    assert await handle.query(CrisisCaseWorkflow.next_wakeup) == due
    until_ = due + 2 * HOUR
    view = await act(handle, sup(c.ExtendDeadline, deadline_id=s.AAOR_URGENCE, until=until_,
                                 reason="la personne rappellera en soirée"))
    assert view.deadline(s.AAOR_URGENCE).status is DeadlineStatus.EXTENDED  # type: ignore[union-attr]
    assert await handle.query(CrisisCaseWorkflow.next_wakeup) == until_
    await env.sleep(until(due, await env.get_current_time(), margin=HOUR))
    assert names(cases, code) == ["Opened", "DeadlineExtended"]
    await env.sleep(until(until_, await env.get_current_time()))
    view = await wait_for(handle, "extended deadline missed", lambda v: len(v.escalations) == 1)
    d = view.deadline(s.AAOR_URGENCE)
    assert d is not None and d.status is DeadlineStatus.MISSED and d.missed_at == until_ and d.original_due_at == due
    history = cases.history(code)
    assert [h["event"] for h in history] == ["Opened", "DeadlineExtended", "DeadlineMissed", "Escalated"]
    assert (history[1]["until"], history[1]["personal"]) == (until_, "<1 champ(s) personnel(s)>")  # sealed (issue 9)
    assert d.extensions[0].reason == "la personne rappellera en soirée"
    assert (history[2]["deadline_id"], history[2]["at"]) == (s.AAOR_URGENCE, until_)


async def test_a_supervisor_closes_a_case_and_its_running_clocks_are_cancelled(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Issue 3, supervisors: a supervisor may close at any stage with a reason; the clocks still running
    measure nothing (cancelled) and the workflow ends."""
    code = new_case_code()
    handle, _ = await start_case(time_env.client, open_cmd(code), task_queue)
    await act(handle, request())
    await act(handle, sup(c.SupervisorClose, reason="la personne a quitté le territoire"))
    final = await handle.result()
    assert final is not None and final.closure is not None and final.closure.kind is ClosureKind.BY_SUPERVISOR
    assert {d.deadline_id: d.status for d in final.deadlines} == {
        "reponse_equipe.1": DeadlineStatus.CANCELLED, s.CRISE_URGENCE: DeadlineStatus.CANCELLED}
    assert names(cases, code) == ["Opened", "MobileInterventionRequested", "TeamAsked", "CaseClosed"]


async def test_aaor_intake_standards_2_hours_24_hours_and_10_days(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Standards aaor.premier_contact (2 h, request in person, L778-779), aaor.retour_appel (24 h, by phone,
    L781-782): measured from the request to the first contact given at the opening (met / missed, no timer
    left); aaor.analyse (10 days, L784-785): its timer fires by time skipping ⇒ DeadlineMissed and Escalated
    at the 10th day from the request, and the case stays at intake."""
    env = time_env
    now = await env.get_current_time()
    met_code, late_code, code = new_case_code(), new_case_code(), new_case_code()
    _, met = await start_case(env.client, open_cmd(
        met_code, service=IntakeService.AAOR, mode=RequestMode.IN_PERSON, urgency=UrgencyLevel.NONE, face=False,
        received=now - 90 * MIN, first=now), task_queue)
    assert met.deadline(s.AAOR_PREMIER_CONTACT).status is DeadlineStatus.MET  # type: ignore[union-attr]
    assert met.deadline(s.AAOR_RETOUR_APPEL) is None
    _, late = await start_case(env.client, open_cmd(
        late_code, service=IntakeService.AAOR, mode=RequestMode.PHONE, urgency=UrgencyLevel.NONE, face=False,
        received=now - 30 * HOUR, first=now), task_queue)
    d = late.deadline(s.AAOR_RETOUR_APPEL)
    assert d is not None and d.status is DeadlineStatus.MISSED and d.due_at == now - 6 * HOUR and d.stopped_at == now

    received = now - 2 * DAY
    handle, view = await start_case(env.client, open_cmd(
        code, service=IntakeService.AAOR, urgency=UrgencyLevel.NONE, face=False, received=received, first=now),
        task_queue)
    assert view.deadline(s.AAOR_ANALYSE).due_at == received + 10 * DAY  # type: ignore[union-attr]
    await env.sleep(until(received + 10 * DAY, await env.get_current_time()))
    view = await wait_for(handle, "analysis missed", lambda v: len(v.escalations) == 1)
    assert view.stage is CaseStage.INTAKE
    history = cases.history(code)
    assert [h["event"] for h in history] == ["Opened", "DeadlineMissed", "Escalated"]
    assert (history[1]["deadline_id"], history[1]["at"]) == (s.AAOR_ANALYSE, received + 10 * DAY)
    assert (history[2]["deadline_id"], history[2]["to_supervisor"]) == (s.AAOR_ANALYSE, False)
    assert names(cases, met_code) == names(cases, late_code) == ["Opened"]


# ---------------------------------------------------------------------- every deadline fires by time skipping
Setup = Callable[[WorkflowHandle[Any, Any]], Awaitable[list[str]]]


async def _intake_only(handle: WorkflowHandle[Any, Any]) -> list[str]:
    return ["Opened"]


async def _team_accepted(handle: WorkflowHandle[Any, Any]) -> list[str]:
    await act(handle, request())
    await act(handle, accept())
    return ["Opened", "MobileInterventionRequested", "TeamAsked", "HandoffAccepted"]


async def _team_asked(handle: WorkflowHandle[Any, Any]) -> list[str]:
    await act(handle, request())
    return ["Opened", "MobileInterventionRequested", "TeamAsked"]


async def _follow_up_started(handle: WorkflowHandle[Any, Any]) -> list[str]:
    await _to_orientation(handle)
    await act(handle, follow_up("hebergement_temporaire"))
    return [*BEFORE_REFERRAL, "FollowUpStarted"]


async def _referral_sent(handle: WorkflowHandle[Any, Any]) -> list[str]:
    await _to_orientation(handle)
    await act(handle, referral())
    return [*BEFORE_REFERRAL, "ReferralSent"]


def _referral_accepted(service: ReceivingServiceType) -> Setup:
    async def setup(handle: WorkflowHandle[Any, Any]) -> list[str]:
        await _to_orientation(handle)
        await act(handle, referral(service))
        await act(handle, accept_referral())
        return [*BEFORE_REFERRAL, "ReferralSent", "ReferralAccepted"]
    return setup


# (intake service, urgency, face to face, setup, deadline id, standard id, its duration)
DEADLINES: dict[str, tuple[IntakeService, UrgencyLevel, bool, Setup, str, str, Any]] = {
    "aaor.analyse 10 d L784-785": (
        IntakeService.AAOR, UrgencyLevel.NONE, False, _intake_only, s.AAOR_ANALYSE, s.AAOR_ANALYSE, 10 * DAY),
    "aaor.urgence 4 h (urgent) L787-788": (
        IntakeService.AAOR, UrgencyLevel.HIGH, False, _intake_only, s.AAOR_URGENCE, s.AAOR_URGENCE, 4 * HOUR),
    "aaor.urgence immediate L787-788": (
        IntakeService.AAOR, UrgencyLevel.IMMEDIATE, False, _intake_only, s.AAOR_URGENCE, s.AAOR_URGENCE, HOUR),
    "crise.urgence immediate L1267": (
        IntakeService.INFO_SOCIAL, UrgencyLevel.HIGH, True, _team_accepted, s.CRISE_URGENCE, s.CRISE_URGENCE, HOUR),
    "suivi.contact (regional, L1204-1207)": (
        IntakeService.INFO_SOCIAL, UrgencyLevel.HIGH, True, _follow_up_started, "suivi.1.contact.1", s.SUIVI_CONTACT,
        4 * HOUR),
    "reference.decision (regional, L730-733)": (
        IntakeService.INFO_SOCIAL, UrgencyLevel.HIGH, True, _referral_sent, "reference.1.decision",
        s.REFERENCE_DECISION, 2 * DAY),
    "reference.arrivee (regional, L725-729)": (
        IntakeService.INFO_SOCIAL, UrgencyLevel.NONE, True, _referral_accepted(ReceivingServiceType.OTHER),
        "reference.1.arrivee", s.REFERENCE_ARRIVEE, 7 * DAY),
    "consultation_sociale.premier_contact 7 d L1485-1487": (
        IntakeService.INFO_SOCIAL, UrgencyLevel.NONE, True,
        _referral_accepted(ReceivingServiceType.CONSULTATION_SOCIALE), "reference.1.arrivee",
        s.CONSULTATION_SOCIALE_PREMIER_CONTACT, 7 * DAY),
    "consultation_psychologique.urgence 24 h L1738-1739": (
        IntakeService.INFO_SOCIAL, UrgencyLevel.MODERATE, True,
        _referral_accepted(ReceivingServiceType.CONSULTATION_PSYCHOLOGIQUE), "reference.1.arrivee",
        s.CONSULTATION_PSYCHOLOGIQUE_URGENCE, 24 * HOUR),
}


@pytest.mark.parametrize("case", DEADLINES.values(), ids=DEADLINES.keys())
async def test_every_deadline_fires_by_time_skipping_with_a_miss_and_an_escalation(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases,
    case: tuple[IntakeService, UrgencyLevel, bool, Setup, str, str, Any],
) -> None:
    """Issue 3: every deadline is a durable timer. Nothing is done in time: when the server skips to its due
    moment the workflow records exactly DeadlineMissed then Escalated (not to a supervisor: an alert; the
    case stays at its stage), both dated at the due moment, and the next timer is armed."""
    service, urgency, face, setup, deadline_id, standard_id, duration = case
    env = time_env
    code = new_case_code()
    handle, _ = await start_case(env.client, open_cmd(code, service=service, urgency=urgency, face=face), task_queue)
    before = await setup(handle)
    view = await state(handle)
    d = view.deadline(deadline_id)
    assert d is not None and d.standard_id == standard_id and d.due_at - d.started_at == duration
    stage = view.stage
    await env.sleep(until(d.due_at, await env.get_current_time()))
    view = await wait_for(handle, f"{deadline_id} missed", lambda v: len(v.escalations) == 1)
    assert view.stage is stage
    assert view.deadline(deadline_id).missed_at == d.due_at  # type: ignore[union-attr]
    history = cases.history(code)
    assert [h["event"] for h in history] == [*before, "DeadlineMissed", "Escalated"]
    assert {k: history[-2][k] for k in ("deadline_id", "at")} == {"deadline_id": deadline_id, "at": d.due_at}
    assert {k: history[-1][k] for k in ("number", "deadline_id", "to_supervisor", "at", "reason")} == {
        "number": 1, "deadline_id": deadline_id, "to_supervisor": False, "at": d.due_at,
        "reason": f"délai manqué : {deadline_id}"}
    assert await handle.query(CrisisCaseWorkflow.next_wakeup) == min(
        (x.due_at for x in view.deadlines if x.status.running), default=None)


async def test_a_team_answer_deadline_fires_as_a_timeout_not_an_escalation(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Standard crise.reponse_equipe (regional, 10 min): its miss is HandoffTimedOut (the next candidate is
    asked — here none is left, so the supervisor is called), never a DeadlineMissed of its own."""
    env = time_env
    code = new_case_code()
    handle, _ = await start_case(env.client, open_cmd(code), task_queue)
    view = await act(handle, request())
    due = view.deadline("reponse_equipe.1").due_at  # type: ignore[union-attr]
    await env.sleep(until(due, await env.get_current_time()))
    view = await wait_for(handle, "escalated", lambda v: v.stage is CaseStage.SUPERVISOR)
    history = cases.history(code)
    assert [h["event"] for h in history] == [
        "Opened", "MobileInterventionRequested", "TeamAsked", "HandoffTimedOut", "Escalated"]
    assert (history[3]["number"], history[3]["at"]) == (1, due)
    assert (history[4]["deadline_id"], history[4]["to_supervisor"], history[4]["at"]) == (None, True, due)


# ---------------------------------------------------------------------- refusals
async def test_malformed_out_of_turn_and_wrong_party_commands_are_refused_and_record_nothing(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Issue 3: a malformed command never leaves the client (pydantic refuses it) or, sent raw, fails to decode
    and is rejected; a command out of turn or from the wrong party is refused by the update validator
    (`rules.check`) with its code. None reaches the record or Temporal's history as an accepted update."""
    env = time_env
    code = new_case_code()
    handle, _ = await start_case(env.client, open_cmd(code), task_queue)
    history_length = len((await handle.fetch_history()).events)

    # Malformed, client side: nothing is sent.
    with pytest.raises(ValidationError, match=r"P-38\.001 was applied"):
        outcome(InterventionOutcome.P38_APPLICATION, p38=False)
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        contact(0)
    with pytest.raises(ValidationError, match="case_code"):
        open_cmd("C-jean-tremblay")
    assert len((await handle.fetch_history()).events) == history_length

    # Malformed, sent raw by a system that skips our models: it does not decode, the update is rejected.
    for raw in ({"type": "contact", "by": "x", "actor_org": CSSS, "contact_number": 0},
                {"type": "teleport", "by": "x", "actor_org": CSSS}):
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update("act", raw, id=f"raw-{raw['type']}", result_type=CaseView)
        cause = info.value.cause
        assert isinstance(cause, ApplicationError)
        assert (cause.type, cause.message) == ("RuntimeError", "Failed decoding arguments")
        assert f"raw-{raw['type']}" not in await accepted_update_ids(handle)

    # Out of turn, wrong party: refused by the validator with the rule's code.
    await assert_refused(handle, cases, code, arrive(), "out_of_turn", "stage accueil")
    await assert_refused(handle, cases, code, accept(), "out_of_turn")
    await assert_refused(handle, cases, code, reached(), "out_of_turn")
    await assert_refused(handle, cases, code, c.CloseAtPhone(by="cc", actor_org="cc-laval",
                         disposition=PhoneDisposition.INFORMATION, reason="x"), "wrong_party")
    await assert_refused(handle, cases, code, sup(c.ExtendDeadline, deadline_id="nope", until=datetime(2099, 1, 1,
                         tzinfo=await _tz(env)), reason="x"), "unknown_deadline")
    await act(handle, request())
    await assert_refused(handle, cases, code, accept(TeamRef(team_id="cc-laval", org_id="cc-laval")), "not_asked")
    await assert_refused(handle, cases, code, c.AcceptHandoff(by="x", actor_org="cc-laval", team_id=TEAM.team_id),
                         "wrong_party", "answering for team crise-laval-1 is done by cisss-laval")
    await assert_refused(handle, cases, code, request(), "out_of_turn")
    await assert_refused(handle, cases, code, follow_up(), "out_of_turn")
    await assert_refused(handle, cases, code, c.SupervisorClose(by="x", actor_org="cc-laval", reason="x"),
                         "wrong_party")
    await assert_refused(handle, cases, code, sup(c.Reassign, team=TeamRef(team_id="x", org_id="y"), reason="x"),
                         "not_a_candidate")
    await act(handle, accept())
    await assert_refused(handle, cases, code, outcome(), "not_arrived")
    await act(handle, arrive())
    await assert_refused(handle, cases, code, arrive(), "already_arrived")
    await assert_refused(handle, cases, code, outcome().model_copy(update={"subject_id": "p-00000000"}),
                         "wrong_subject")
    await assert_refused(handle, cases, code, sup(c.Reassign, team=TEAM_2, reason="x"), "already_arrived")

    # The intake retried (same update id) gets the case it opened back; another opening of the same code
    # is refused by the `open` validator.
    _, again = await start_case(env.client, open_cmd(code), task_queue)
    assert again.case_code == code and again.event_count == 1
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await start_case(env.client, open_cmd(code), task_queue, update_id="open-again")
    assert isinstance(info.value.cause, ApplicationError) and info.value.cause.type == "duplicate_code"

    assert names(cases, code) == ["Opened", "MobileInterventionRequested", "TeamAsked", "HandoffAccepted",
                               "ArrivedOnSite"]
    ids = command_ids(cases, code)
    assert set(ids) == {f"case-{code}/{u}" for u in await accepted_update_ids(handle)} and len(ids) == 4


async def _tz(env: WorkflowEnvironment) -> Any:
    return (await env.get_current_time()).tzinfo


async def test_an_intervention_in_the_community_only_when_judged_necessary(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Seed 001 L1236-1239: the mobile service follows a judgement that an intervention in the community is
    necessary; without it the request is refused before history."""
    code = new_case_code()
    handle, _ = await start_case(time_env.client, open_cmd(code, face=False), task_queue)
    await assert_refused(handle, cases, code, request(), "face_to_face_not_needed", "Orientations ministérielles")
    await assert_refused(handle, cases, code, c.RequestMobileIntervention(
        by="i", actor_org=CSSS, csss_teams=[TeamRef(team_id="x", org_id="autre-cisss")]), "face_to_face_not_needed")
    assert names(cases, code) == ["Opened"]


async def test_a_case_opened_without_its_record_does_not_exist(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Seed 001 L1172-1173: a partner without an entente to that effect cannot open a case: the opening's
    activity refuses it (the record decides, not the client) and the record holds no case."""
    code = new_case_code()
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await start_case(time_env.client, open_cmd(code, service=IntakeService.PARTNER, actor="maison-jeunes"),
                         task_queue)
    assert isinstance(info.value.cause, ApplicationError) and info.value.cause.type == "no_agreement"
    with pytest.raises(NotFound):
        cases.history(code)


async def test_continue_as_new_carries_the_case_its_timers_and_its_commands(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """A case may live for weeks (follow-up, referral): past `history_limit` events the workflow continues as
    new carrying its view; the pending answer timer fires in the new run (crise.reponse_equipe), commands
    keep being accepted, and the record holds each fact once."""
    env = time_env
    code = new_case_code()
    handle, _ = await start_case(env.client, open_cmd(code), task_queue, history_limit=25)
    first_run = (await handle.describe()).run_id
    view = await act(handle, request([TEAM, TEAM_2]))
    await act(handle, decline(TEAM))
    due = view.attempts[0].asked_at  # the second team is asked now; its answer is due 10 min later
    await env.sleep(until(due + 10 * MIN, await env.get_current_time()))
    await wait_for(handle, "escalated", lambda v: v.stage is CaseStage.SUPERVISOR)
    latest = env.client.get_workflow_handle(handle.id, result_type=CaseView)
    for cmd in (sup(c.Reassign, team=TEAM, reason="rappel"), accept(TEAM), arrive(), outcome()):
        await act(latest, cmd)
    await act(latest, c.CloseCase(by="intervenant-1", actor_org=CSSS, reason="rien de plus requis"))
    final = await latest.result()
    assert final is not None and final.stage is CaseStage.CLOSED
    runs = []
    run_id: str | None = first_run
    while run_id:
        runs.append(run_id)
        events = [e async for e in env.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history_events()]
        last = events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW else None)
    assert len(runs) >= 2
    assert names(cases, code) == [
        "Opened", "MobileInterventionRequested", "TeamAsked", "HandoffDeclined", "TeamAsked", "HandoffTimedOut",
        "Escalated", "Reassigned", "TeamAsked", "HandoffAccepted", "ArrivedOnSite", "OutcomeRecorded", "CaseClosed"]
    accepted: set[str] = set()
    for run in runs:
        accepted |= await accepted_update_ids(env.client.get_workflow_handle(handle.id, run_id=run))
    ids = command_ids(cases, code)
    assert len(ids) == len(set(ids)) == 8 and set(ids) == {f"case-{code}/{u}" for u in accepted}
