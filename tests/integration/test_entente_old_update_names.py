"""A running entente still takes its commands through the update names of before `act` (issue 8).

Clients of before `act` send one update per command (`submit`, `sign`, `review`…), by name; the workflow
keeps those updates as delegations to `act`'s code. On a real server (time-skipping), the same commands
given to one entente through the old names and to another through `act` record the same events in the
record and schedule the same activities in Temporal's history; a command refused through an old name is
refused by its validator exactly as through `act`, leaving no event and no accepted update.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from domain.ententes import commands as c
from domain.ententes.state import EntenteStatus, EntenteView
from tests.factories import service_entente
from tests.integration.lifecycle import Started, assert_rejected, start, terminate_open_workflows, wait_for
from usecases.ententes import Ententes
from workers.settings import Settings
from workers.worker import build_worker
from workflows.entente import EntenteWorkflow

PARTIES = ["cisss-laval", "cc-laval"]
# The commands of a life to activation, each with the update that carried it before `act`.
STEPS: list[tuple[str, c.EntenteCommand]] = [
    ("submit", c.SubmitForSignature(by="superviseur")),
    ("sign", c.SignEntente(by="cisss-laval", party_id="cisss-laval", version=1, signatory="DG cisss-laval")),
    ("sign", c.SignEntente(by="cc-laval", party_id="cc-laval", version=1, signatory="DG cc-laval")),
]


@pytest_asyncio.fixture
async def live(time_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str], tmp_path: Path
               ) -> AsyncIterator[tuple[Ententes, Started]]:
    """The production worker on a fresh task queue over the store under test (SQLite, then PostgreSQL)."""
    await terminate_open_workflows(time_env.client)
    record, started = Record(store_env), Started()
    with ThreadPoolExecutor(4) as executor:
        async with build_worker(time_env.client, Settings(task_queue=task_queue, data_dir=tmp_path), record,
                                executor=executor):
            try:
                yield Ententes(record), started
            finally:
                await started.terminate_running()
    record.close()


def _events(ententes: Ententes, code: str) -> list[dict[str, Any]]:
    """The record's events, without what differs between two ententes given the same commands
    (their code, moments and command ids)."""
    return [
        {k: v for k, v in h.items() if k != "command_id" and not isinstance(v, datetime) and v != code}
        for h in ententes.history(code)
    ]


async def _activities(handle: WorkflowHandle[Any, Any]) -> list[str]:
    return [ev.activity_task_scheduled_event_attributes.activity_type.name
            async for ev in handle.fetch_history_events()
            if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]


async def _updates(handle: WorkflowHandle[Any, Any]) -> list[str]:
    return [ev.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            async for ev in handle.fetch_history_events()
            if ev.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]


async def test_a_command_sent_by_its_old_update_name_records_what_act_records(
    time_env: WorkflowEnvironment, task_queue: str, live: tuple[Ententes, Started]
) -> None:
    ententes, started = live
    suffix = task_queue.removeprefix("tq-").upper()
    old_code, act_code = f"ENT-OLD-{suffix}", f"ENT-ACT-{suffix}"
    content = service_entente(effective=None)
    old, _ = await start(time_env.client, old_code, content, task_queue, started=started)
    new, _ = await start(time_env.client, act_code, content, task_queue, started=started)

    for name, cmd in STEPS:
        via_name: EntenteView = await old.execute_update(name, cmd, result_type=EntenteView)
        via_act = await new.execute_update(EntenteWorkflow.act, cmd)
        assert (via_name.status, via_name.latest_version, via_name.event_count) == (
            via_act.status, via_act.latest_version, via_act.event_count), name
        if cmd != STEPS[-1][1]:  # after the last signature, each activates on its own timer: compared below
            assert _events(ententes, old_code) == _events(ententes, act_code), name
        if cmd == STEPS[1][1]:
            # Refused through an old name (a second signature): the validator refuses it as through
            # `act`, with the same code and message, and nothing is recorded (assert_rejected).
            again = cmd.model_copy()
            by_name = await assert_rejected(old, ententes, old_code, "sign", again, "already_signed")
            by_act = await assert_rejected(new, ententes, act_code, EntenteWorkflow.act, again, "already_signed")
            assert by_name.message == by_act.message

    for handle in (old, new):
        await wait_for(handle, "activation", lambda v: v.status is EntenteStatus.ACTIVE)
    assert [h["event"] for h in ententes.history(old_code)] == [
        "Drafted", "SubmittedForSignature", "Signed", "Signed", "Activated"]
    assert _events(ententes, old_code) == _events(ententes, act_code)
    assert await _activities(old) == await _activities(new)
    assert await _updates(old) == ["draft", "submit", "sign", "sign"]  # the refused ones: never accepted
    assert await _updates(new) == ["draft", "act", "act", "act"]

    # Once in force, a signature through the old name is refused as through `act`.
    late = STEPS[2][1]
    by_name = await assert_rejected(old, ententes, old_code, "sign", late, "not_in_signature")
    by_act = await assert_rejected(new, ententes, act_code, EntenteWorkflow.act, late, "not_in_signature")
    assert by_name.message.replace(old_code, "X") == by_act.message.replace(act_code, "X")
    assert await _updates(old) == ["draft", "submit", "sign", "sign"]
