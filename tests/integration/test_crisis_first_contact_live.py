"""The AAOR callback clock (≤ 24 h, seed 001 L781-782) as a durable timer of the real workflow: a message
left and never returned is missed and escalated at the 24th hour, by time skipping."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from domain.crisis import commands as c
from domain.crisis.model import IntakeService, RequestMode, UrgencyLevel, new_case_code
from domain.crisis.state import DeadlineStatus
from domain.standards import config as s
from tests.crisis_builders import CSSS, act, crisis_worker, names, open_cmd, start_case, state


async def test_an_unreturned_callback_is_missed_at_24_hours_and_a_returned_one_is_met(
    time_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str], tmp_path: Path
) -> None:
    record = Record(store_env)
    async with crisis_worker(time_env.client, task_queue, record, tmp_path) as cases:
        waiting, returned = new_case_code(), new_case_code()
        handles = {}
        for code in (waiting, returned):
            cmd = open_cmd(code, service=IntakeService.AAOR, mode=RequestMode.PHONE, urgency=UrgencyLevel.NONE,
                           face=False).model_copy(update={"awaiting_first_contact": True})
            handles[code], _ = await start_case(time_env.client, cmd, task_queue)
        await time_env.sleep(timedelta(hours=3))
        await act(handles[returned], c.RecordFirstContact(by="accueil-1", actor_org=CSSS))
        await time_env.sleep(timedelta(hours=22))  # past the 24th hour since the message
        missed = (await state(handles[waiting])).deadline(s.AAOR_RETOUR_APPEL)
        met = (await state(handles[returned])).deadline(s.AAOR_RETOUR_APPEL)
        assert missed is not None and missed.status is DeadlineStatus.MISSED
        assert missed.missed_at == missed.due_at == missed.started_at + timedelta(hours=24)
        assert met is not None and met.status is DeadlineStatus.MET
        assert names(cases, waiting) == ["Opened", "DeadlineMissed", "Escalated"]
        assert names(cases, returned) == ["Opened", "FirstContactMade"]
    record.close()
