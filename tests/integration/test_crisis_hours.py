"""Availability and the entente's moment, on the time-skipping server (issue 11).

A case arriving outside an entente's declared hours goes to the next candidate (seed 001 L1259-1260: the
mobile crisis service is assured 24/7 by the region, whoever serves at the moment); an entente whose end has
passed but whose own workflow has not woken to record it (here it has none: activated on the record) is
neither asked in the cascade nor offered by a supervisor's reassignment (seed 000, Annex 3, ss. 10-11).
"""

from __future__ import annotations

import uuid
from datetime import time, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.clock import QUEBEC, add_days, local_date, start_of
from domain.crisis import commands as c
from domain.crisis.model import CandidateKind, TeamRef, new_case_code
from domain.crisis.state import AttemptStatus, CaseStage
from domain.ententes.model import EntenteContent
from domain.ententes.state import EntenteStatus
from domain.hours import ServiceHours, Window
from tests.crisis_builders import (
    MIN,
    TEAM,
    act,
    activate,
    crisis_content,
    names,
    open_cmd,
    request,
    start_case,
    sup,
    until,
    wait_for,
)
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes


def with_schedule(text: EntenteContent, hours: ServiceHours) -> EntenteContent:
    data = text.model_dump(mode="json")
    for offer in data["services"]:
        offer["schedule"] = hours.model_dump(mode="json")
    return EntenteContent.model_validate(data)


async def test_a_case_arriving_outside_an_ententes_hours_goes_to_the_next_candidate(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """The day organisation serves every day from two hours after now to three hours after (Québec time):
    the case arrives now, outside them, and the organisation that serves at every moment is asked."""
    now = await time_env.get_current_time()
    local = now.astimezone(QUEBEC)
    opens = (local + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    closes = (local + timedelta(hours=3)).time().replace(second=0, microsecond=0)
    later = ServiceHours(windows=[Window(days=[1, 2, 3, 4, 5, 6, 7], opens=opens, closes=closes)])
    assert opens != time(0) or closes != time(0)
    ententes = Ententes(cases.record)
    activate(ententes, "ENT-JOUR", with_schedule(crisis_content("cc-jour"), later), now)
    activate(ententes, "ENT-TOUJOURS", crisis_content("cc-toujours"), now)
    code = new_case_code()
    handle, _ = await start_case(time_env.client, open_cmd(code), task_queue)
    view = await act(handle, request([]))
    assert [(x.team.team_id, x.kind, x.agreement_code) for x in view.candidates] == [
        ("cc-toujours", CandidateKind.COMMUNITY_ORG, "ENT-TOUJOURS")]
    assert view.pending_attempt is not None and view.pending_attempt.candidate.team.org_id == "cc-toujours"
    assert names(cases, code) == ["Opened", "MobileInterventionRequested", "TeamAsked"]


async def test_an_entente_past_its_end_is_not_asked_even_before_its_workflow_wakes(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """Routing proposed the ending organisation while its entente was in force; the CSSS team's answer
    deadline falls after the entente's end: the cascade skips it for the next organisation, a supervisor
    cannot reassign to it (entente_not_in_force, nothing recorded), though the entente's record still says
    in force (nothing woke to record the expiry)."""
    now = await time_env.get_current_time()
    end = add_days(local_date(now), 1)
    expiry = start_of(add_days(end, 1))  # the end date is the last day in force
    ententes = Ententes(cases.record)
    activate(ententes, "ENT-FIN", crisis_content("cc-fin", end=end), now)
    activate(ententes, "ENT-SUITE", crisis_content("cc-suite"), now)
    await time_env.sleep(until(expiry - 5 * MIN, now, timedelta(0)))
    code = new_case_code()
    handle, _ = await start_case(time_env.client, open_cmd(code), task_queue)
    view = await act(handle, request([TEAM]))
    assert [x.team.team_id for x in view.candidates] == ["crise-laval-1", "cc-fin", "cc-suite"]
    due = view.deadline("reponse_equipe.1").due_at  # type: ignore[union-attr]
    assert view.attempts[0].asked_at < expiry < due
    await time_env.sleep(until(due, await time_env.get_current_time()))
    view = await wait_for(handle, "the next organisation asked", lambda v: len(v.attempts) == 2)
    assert view.attempts[0].status is AttemptStatus.TIMED_OUT
    assert (view.attempts[1].candidate.team.org_id, view.attempts[1].candidate.agreement_code,
            view.attempts[1].asked_at) == ("cc-suite", "ENT-SUITE", due)
    assert ententes.view("ENT-FIN").status is EntenteStatus.ACTIVE  # the calendar never recorded the end

    before = names(cases, code)
    cmd = sup(c.Reassign, team=TeamRef(team_id="cc-fin", org_id="cc-fin"), reason="rappeler l'organisme")
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update("act", cmd, id=f"reassign-{uuid.uuid4().hex[:8]}")
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "entente_not_in_force", repr(cause)
    assert "ENT-FIN" in cause.message
    assert names(cases, code) == before
    view = await act(handle, sup(c.Reassign, team=TEAM, reason="l'équipe du CSSS est revenue"))
    assert view.pending_attempt is not None and view.pending_attempt.candidate.team == TEAM
    assert view.stage is CaseStage.HANDOFF
