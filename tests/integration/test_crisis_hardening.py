"""Issue 7 on the time-skipping server: a refused opening leaves no case and no waiting workflow.

Update-with-start starts the case's workflow even when its `open` update is refused. The workflow
used to wait an hour for an intake that would never come (listed meanwhile as an open case with no
stage). Now it ends at once, with no case: refused by its validator (nothing reaches history), by the
record (no entente: the update was accepted, then failed), or because the command could not even be
read (a moment without its time zone). The workflow's history shows it: no timer was ever started.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WithStartWorkflowOperation, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.crisis.model import IntakeService, new_case_code
from domain.errors import NotFound
from domain.standards.config import StandardsConfig
from tests.crisis_builders import CSSS, HOUR, accepted_update_ids, open_cmd, start_case
from usecases.crisis import CrisisCases
from workflows.crisis import OPEN_WAIT, CaseWorkflowInput, CrisisCaseWorkflow, workflow_id


async def ended_with_no_case(env: WorkflowEnvironment, cases: CrisisCases, code: str) -> set[str]:
    """The run is completed with no case, never started a timer, and the record knows no such case;
    returns the update ids Temporal's history accepted."""
    handle = env.client.get_workflow_handle(workflow_id(code))
    assert await handle.result() is None
    described = await handle.describe()
    assert described.status == WorkflowExecutionStatus.COMPLETED
    assert described.close_time is not None and described.close_time - described.start_time < OPEN_WAIT
    events = (await handle.fetch_history()).events
    assert not any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in events)
    with pytest.raises(NotFound):
        cases.view(code)
    return await accepted_update_ids(handle)


async def test_an_opening_refused_by_the_validator_ends_the_workflow_at_once(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    code = new_case_code()
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await start_case(time_env.client, open_cmd(code, actor="cps-laval"), task_queue)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.message) == ("wrong_party", "opening a case through Info-Social 8-1-1 is done by "
                                                          "cisss-laval, not by cps-laval")
    assert await ended_with_no_case(time_env, cases, code) == set()

    future = new_case_code()
    now = await time_env.get_current_time()
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await start_case(time_env.client, open_cmd(future, received=now + HOUR, first=now + HOUR), task_queue)
    assert isinstance(info.value.cause, ApplicationError) and info.value.cause.type == "moment_in_future"
    assert await ended_with_no_case(time_env, cases, future) == set()


async def test_an_opening_refused_by_the_record_ends_the_workflow_at_once(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """A partner with no entente in force: the activity refuses (the update was accepted, then failed)."""
    code = new_case_code()
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await start_case(time_env.client, open_cmd(code, service=IntakeService.PARTNER, actor="cc-laval"), task_queue)
    assert isinstance(info.value.cause, ApplicationError) and info.value.cause.type == "no_agreement"
    assert await ended_with_no_case(time_env, cases, code) == {f"open-{code}"}


async def test_an_opening_with_a_moment_without_its_time_zone_never_reaches_the_record(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """What a partner system that bypasses our models sends: the workflow cannot read the command, refuses the
    update, and ends (this used to reach the activity, which failed comparing moments and retried for ever)."""
    code = new_case_code()
    raw: dict[str, Any] = {**open_cmd(code).model_dump(mode="json"), "received_at": "2026-12-01T05:00:00"}
    start = WithStartWorkflowOperation(
        CrisisCaseWorkflow.run, CaseWorkflowInput.starting(code, StandardsConfig(), search_attributes=False),
        id=workflow_id(code), task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    with pytest.raises(WorkflowUpdateFailedError):
        await time_env.client.execute_update_with_start_workflow("open", raw, start_workflow_operation=start)
    assert await ended_with_no_case(time_env, cases, code) == set()


async def test_an_accepted_opening_still_opens_the_case(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    code = new_case_code()
    handle, view = await start_case(time_env.client, open_cmd(code), task_queue)
    assert view.holder == CSSS
    await time_env.sleep(OPEN_WAIT + timedelta(minutes=1))
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
