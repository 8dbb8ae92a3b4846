"""An entente's annual review wakes its workflow later in its due day, not at its first instant (issue 12, the
mass wake-up), on the time-skipping server with the production worker, on both stores.

What moves is only when the workflow's timer fires (the start of the due day plus an offset from the code,
`domain.ententes.wakeup`, since the patch `review-wakeup-spread`); what the record holds does not: one
`ReviewDue` naming the due date, dated at the start of that day, as before.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from domain.clock import add_days, local_date, start_of
from domain.ententes import commands as c
from domain.ententes.state import EntenteStatus
from domain.ententes.wakeup import review_wakeup, review_wakeup_offset
from tests.factories import service_entente
from tests.integration.lifecycle import Started, names, start, state, wait_for
from usecases.ententes import Ententes
from workflows.entente import SPREADS_REVIEWS, EntenteWorkflow

PARTIES = ("cisss-laval", "cc-laval")


def _late_code(task_queue: str) -> str:
    """A code of this test (unique on the session's server) whose wake-up lies at least an hour into its day,
    so that "not yet at the first instant" is seen."""
    base = f"ENT-SPREAD-{task_queue.removeprefix('tq-')}".upper()
    return next(code for i in range(1_000)
                if review_wakeup_offset(code := f"{base}-{i}") >= timedelta(hours=1))


async def test_a_review_wakes_within_its_due_day_and_records_the_same_due_moment(
    time_env: WorkflowEnvironment, task_queue: str, ententes: Ententes, started: Started
) -> None:
    code = _late_code(task_queue)
    handle, _ = await start(time_env.client, code, service_entente(effective=None), task_queue, started=started)
    await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
    for party in PARTIES:
        await handle.execute_update(
            EntenteWorkflow.act, c.SignEntente(by=party, party_id=party, version=1, signatory="DG"))
    view = await wait_for(handle, "activation", lambda v: v.status is EntenteStatus.ACTIVE)
    due = view.next_review_due
    assert due is not None
    wake = review_wakeup(code, due)
    assert start_of(due) + timedelta(hours=1) <= wake < start_of(add_days(due, 1))
    # Asked, the workflow still names the moment the review falls due, not its wake-up.
    assert await handle.query(EntenteWorkflow.next_wakeup) == start_of(due)

    # Past the first instant of the due day, before the wake-up: nothing recorded yet.
    await time_env.sleep(start_of(due) + timedelta(minutes=30) - await time_env.get_current_time())
    assert (await state(handle)).review_pending is None
    assert names(ententes, code)[-1] == "Activated"

    # At the wake-up: one ReviewDue, naming the due date, dated at the start of that day.
    await time_env.sleep(wake + timedelta(minutes=1) - await time_env.get_current_time())
    view = await wait_for(handle, "review due", lambda v: v.review_pending == due)
    assert names(ententes, code)[-1:] == ["ReviewDue"]
    recorded = ententes.history(code)[-1]
    assert recorded["due_on"] == due.isoformat()
    assert recorded["at"] == start_of(due)

    # The history: the patch marker, the timer fired at the wake-up, on the due date.
    history = await handle.fetch_history()
    patches = [e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data for e in history.events
               if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
               and e.marker_recorded_event_attributes.marker_name == "core_patch"]
    assert any(SPREADS_REVIEWS.encode() in data for data in patches)
    fired = [e.event_time.ToDatetime().replace(tzinfo=start_of(due).tzinfo) for e in history.events
             if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
    assert any(wake <= f < wake + timedelta(seconds=1) for f in fired), (wake, fired)  # to the server's ms
    advanced = [e.event_time.ToDatetime().replace(tzinfo=start_of(due).tzinfo) for e in history.events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                and e.activity_task_scheduled_event_attributes.activity_type.name == "agreement.advance"]
    assert advanced and wake <= advanced[-1] < start_of(add_days(due, 1))
    assert local_date(advanced[-1]) == due
