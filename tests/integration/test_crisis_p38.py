"""P-38.001 is applied only by a service the agency designated (seed 001 L1175-1179, L943-945), through a real
worker: the case's workflow validator (`rules.check`) refuses the outcome with `p38_applied` from a team the
region's configuration does not designate, with the rule's code and reason, and nothing is recorded."""

from __future__ import annotations

from datetime import date, timedelta

from temporalio.testing import WorkflowEnvironment

from domain.clock import local_date
from domain.crisis.model import EmergencyService, InterventionOutcome, new_case_code
from domain.standards import StandardsConfig
from domain.standards.config import P38Designation
from tests.crisis_builders import (
    CSSS,
    TEAM,
    TEAM_2,
    accept,
    act,
    arrive,
    assert_refused,
    names,
    open_cmd,
    outcome,
    request,
    start_case,
)
from usecases.crisis import CrisisCases

# The agency designated TEAM_2 only (from 2020-01-01, no end): TEAM is a crisis team, not designated.
CONFIG = StandardsConfig().with_overrides({"p38_designations": [
    P38Designation(org_id=CSSS, team_id=TEAM_2.team_id, since=date(2020, 1, 1),
                   reference="désignation de l'agence (test)").model_dump(mode="json")]})


async def test_p38_application_by_a_team_not_designated_is_refused_and_nothing_recorded(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases,
) -> None:
    code = new_case_code()
    handle, _ = await start_case(time_env.client, open_cmd(code), task_queue, config=CONFIG)
    for cmd in (request(), accept(TEAM), arrive()):
        await act(handle, cmd)
    p38 = outcome(InterventionOutcome.P38_APPLICATION, services=[EmergencyService.POLICE], p38=True)
    cause = await assert_refused(handle, cases, code, p38, "p38_not_designated")
    assert cause.message.startswith(
        f"team {TEAM.team_id} ({CSSS}) is not designated by the agency for the application of P-38.001 on ")
    assert cause.message.endswith("(seed 001 L1175-1179): record the outcome without applying it, or refer the "
                                  "person to a designated service")
    assert names(cases, code)[-1] == "ArrivedOnSite"
    # the same team records its outcome without applying P-38.001
    view = await act(handle, outcome(InterventionOutcome.HOSPITAL_EMERGENCY, services=[EmergencyService.AMBULANCE]))
    assert view.intervention is not None and view.intervention.p38_applied is False
    assert names(cases, code)[-1] == "OutcomeRecorded"


async def test_p38_application_by_the_designated_team_is_recorded(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases,
) -> None:
    code = new_case_code()
    handle, _ = await start_case(time_env.client, open_cmd(code), task_queue, config=CONFIG)
    for cmd in (request([TEAM_2]), accept(TEAM_2), arrive()):
        await act(handle, cmd)
    view = await act(handle, outcome(InterventionOutcome.P38_APPLICATION, services=[EmergencyService.POLICE],
                                     p38=True))
    assert view.intervention is not None and view.intervention.p38_applied is True
    assert names(cases, code)[-1] == "OutcomeRecorded"


async def test_the_designation_the_case_holds_is_judged_at_the_moment_of_the_outcome(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases,
) -> None:
    """Designations are configuration with their dates (issue 11; seed 001 L1175-1179). The case holds the
    configuration it opened with; the validator reads its designations' dates at the outcome's moment
    (`workflow.now()`): TEAM is designated from two days after the opening, so its application of P-38.001 is
    refused the day the case opened and recorded three days later (the time-skipping server's clock)."""
    opened = await time_env.get_current_time()
    config = StandardsConfig().with_overrides({"p38_designations": [P38Designation(
        org_id=CSSS, team_id=TEAM.team_id, since=local_date(opened) + timedelta(days=2)).model_dump(mode="json")]})
    code = new_case_code()
    handle, _ = await start_case(time_env.client, open_cmd(code), task_queue, config=config)
    for cmd in (request(), accept(TEAM), arrive()):
        await act(handle, cmd)
    p38 = outcome(InterventionOutcome.P38_APPLICATION, services=[EmergencyService.POLICE], p38=True)
    await assert_refused(handle, cases, code, p38, "p38_not_designated", f"P-38.001 on {local_date(opened)} ")
    await time_env.sleep(timedelta(days=3))
    view = await act(handle, p38)
    assert view.intervention is not None and view.intervention.p38_applied is True
    assert names(cases, code)[-1] == "OutcomeRecorded"
