"""The baselines of `benchmarks.cases`: bare Temporal workflows with the crisis case's shape and no domain.

An `open` update (sent with update-with-start) and `act` updates, each running one no-op
activity under a lock, as `CrisisCaseWorkflow` runs `case.open` / `case.step`; the main loop
waits until the case is closed; a `state` query. Payloads are a few bytes: what remains is
Temporal's own cost for that shape on the same server.

Two of them:
- `BareCaseWorkflow` (``BareCaseShaped``): the case's whole history shape. Each step upserts the case's search
  attributes as the case does (all seven at opening, then those a step changes: one visibility write per step,
  which supervisors' `arrimage cases list` needs), and the main loop waits for the next command or a deadline as
  the case's calendar does (`workflows.common.run_calendar`): a durable timer while a deadline runs (after the
  request for a mobile team, replaced after its acceptance, cancelled on arrival), none otherwise. Same events,
  same counts as a case's history: the ratio's baseline.
- `PlainCaseWorkflow` (``BareCase``): the same updates and activities without the upserts and timers; shown
  beside, for what the case's visibility and deadlines cost on the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate

# The case's own search attribute keys, passed through the sandbox: constants of a module the benchmark has loaded.
with workflow.unsafe.imports_passed_through():
    from workflows.crisis import HOLDER, NEXT_DEADLINE, OPENED_AT, OVERDUE, STAGE, TEAM, TERRITORY

ACTIVITY_TIMEOUT = timedelta(seconds=30)
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))
STEPS = ("transfert", "intervention", "arrivee", "orientation", "fermee")  # the `act` steps after `open`
# A deadline runs (a timer) while a mobile team is asked and until it arrives, as in the case.
DEADLINE = {"transfert": timedelta(minutes=30), "intervention": timedelta(hours=1)}



@activity.defn(name="bare_case.noop")
def noop_step(step: str) -> str:
    return step


class _Steps:
    """The input, the updates, their no-op activity and the `state` query, common to both baselines."""

    @workflow.init
    def __init__(self, code: str) -> None:
        self.stage = ""
        self.changed = False
        self.lock = asyncio.Lock()

    async def _step(self, step: str) -> str:
        async with self.lock:
            await workflow.execute_activity(
                noop_step, step, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY
            )
            self._set(step)
            return self.stage

    def _set(self, step: str) -> None:
        self.stage = step
        self.changed = True

    @workflow.query
    def state(self) -> str:
        return self.stage

    @workflow.update
    async def open(self) -> str:
        return await self._step("accueil")

    @workflow.update
    async def act(self, step: str) -> str:
        return await self._step(step)


@workflow.defn(name="BareCaseShaped")
class BareCaseWorkflow(_Steps):
    @workflow.run
    async def run(self, code: str) -> str:
        await workflow.wait_condition(lambda: self.stage != "")
        while self.stage != "fermee":  # as `run_calendar`: the next command, or the next deadline
            self.changed = False
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.changed, timeout=DEADLINE.get(self.stage))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.stage

    def _set(self, step: str) -> None:
        super()._set(step)
        deadline = DEADLINE.get(step)
        updates: list[SearchAttributeUpdate[Any]] = [
            STAGE.value_set(step),
            NEXT_DEADLINE.value_set(workflow.now() + deadline) if deadline else NEXT_DEADLINE.value_unset(),
        ]
        if step == "accueil":  # the case's opening names them all
            updates += [HOLDER.value_set("bare"), TERRITORY.value_set("bare"), TEAM.value_set(""),
                        OVERDUE.value_set(False), OPENED_AT.value_set(workflow.now().astimezone(UTC))]
        workflow.upsert_search_attributes(updates)


@workflow.defn(name="BareCase")
class PlainCaseWorkflow(_Steps):
    @workflow.run
    async def run(self, code: str) -> str:
        await workflow.wait_condition(lambda: self.stage == "fermee")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.stage

