"""`case.step` (workflows.crisis.ONE_STEP): the command and the look-ups that followed it, in one activity.

On a record in memory, through the worker's use cases: the activity answers what the workflow's local activities
answered (no endpoint, no subscriber here: nothing to deliver), records a retried command once, and a look-up that
fails leaves `found` empty while the command it followed stands."""

from __future__ import annotations

from activities.crisis import CrisisActivities, StepInput
from domain.crisis.model import new_case_code
from domain.crisis.state import AttemptStatus
from tests.crisis_builders import MIN, T0, memory_record, open_cmd, request
from workers.bootstrap import use_cases
from workers.settings import Settings


def _activities(deliveries: object | None = None) -> tuple[CrisisActivities, str]:
    uses = use_cases(memory_record(), Settings(_env_file=None, mode="development"))
    code = new_case_code()
    uses.crisis_cases.open(open_cmd(code, command_id=f"case-{code}/open"), T0)
    found = deliveries or uses.deliveries
    return CrisisActivities(uses.crisis_cases, uses.handoffs, found), code  # type: ignore[arg-type]


def test_a_step_records_the_command_once_and_finds_what_the_workflow_asked_after_it() -> None:
    acts, code = _activities()
    cmd = request().model_copy(update={"command_id": f"case-{code}/u1"})
    step = acts.step(StepInput(case_code=code, command=cmd, at=T0 + MIN))
    attempt = step.view.pending_attempt
    assert attempt is not None and attempt.status is AttemptStatus.PENDING
    assert step.found is not None
    assert step.found.handoff_orgs == [] and step.found.referral_orgs == []  # no partner with an endpoint here
    assert step.found.listeners == []  # the new Task's owner has no subscription
    again = acts.step(StepInput(case_code=code, command=cmd, at=T0 + MIN))  # a retried activity
    assert again.view.event_count == step.view.event_count


class _Unreachable:
    """Deliveries whose look-ups fail (the record's other tables unreachable)."""

    def with_endpoint(self, org_ids: object) -> list[str]:
        raise ConnectionError("record unreachable")


def test_a_failed_look_up_leaves_found_empty_and_the_command_stands() -> None:
    acts, code = _activities(_Unreachable())
    cmd = request().model_copy(update={"command_id": f"case-{code}/u1"})
    step = acts.step(StepInput(case_code=code, command=cmd, at=T0 + MIN))
    assert step.found is None  # the workflow asks again itself (local activities, with their retries)
    assert step.view.pending_attempt is not None
    assert acts.cases.view(code).event_count == step.view.event_count
