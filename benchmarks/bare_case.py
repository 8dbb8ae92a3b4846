"""The baseline of `benchmarks.cases`: a bare Temporal workflow with the crisis case's shape and no domain.

An `open` update (sent with update-with-start) and `act` updates, each running one no-op
activity under a lock, as `CrisisCaseWorkflow` runs `case.open` / `case.act`; the main loop
waits until the case is closed; a `state` query. Payloads are a few bytes: what remains is
Temporal's own cost for that shape on the same server.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

ACTIVITY_TIMEOUT = timedelta(seconds=30)
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))


@activity.defn(name="bare_case.noop")
def noop_step(step: str) -> str:
    return step


@workflow.defn(name="BareCase")
class BareCaseWorkflow:
    @workflow.init
    def __init__(self, code: str) -> None:
        self.code = code
        self.stage = ""
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self, code: str) -> str:
        await workflow.wait_condition(lambda: self.stage == "fermee")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.stage

    async def _step(self, step: str) -> str:
        async with self.lock:
            await workflow.execute_activity(
                noop_step, step, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY
            )
            self.stage = step
            return self.stage

    @workflow.query
    def state(self) -> str:
        return self.stage

    @workflow.update
    async def open(self) -> str:
        return await self._step("accueil")

    @workflow.update
    async def act(self, step: str) -> str:
        return await self._step(step)
