"""The baseline: a bare Temporal workflow with the entente workflow's shape and no domain.

Same updates in the same order (draft by update-with-start, submit, sign, sign, revoke), each
running one activity under a lock; the same two calendar steps run by the main loop (activation
after the last signature, end after the revocation); a `state` query the client polls. Every
activity is a no-op (a synchronous function in the same kind of thread pool), payloads are a
few bytes: what remains is Temporal's own cost for that shape on the same server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

ACTIVITY_TIMEOUT = timedelta(seconds=30)
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))


@dataclass
class Step:
    code: str
    name: str


@activity.defn(name="bare.noop")
def noop(step: Step) -> str:
    return step.name


# Status after each step, as the agreement's: the main loop acts on "signe" and "revocation".
AFTER = {"draft": "brouillon", "submit": "en_signature", "sign1": "en_signature", "sign2": "signee",
         "activate": "en_vigueur", "revoke": "revocation", "end": "revoquee"}


@workflow.defn(name="BareEntente")
class BareWorkflow:
    @workflow.init
    def __init__(self, code: str) -> None:
        self.code = code
        self.status = ""
        self.signatures = 0
        self.lock = asyncio.Lock()

    @workflow.run
    async def run(self, code: str) -> str:
        await workflow.wait_condition(lambda: self.status != "")
        while self.status != "revoquee":
            await workflow.wait_condition(lambda: self.status in ("signee", "revocation"))
            async with self.lock:
                await self._step("activate" if self.status == "signee" else "end")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status

    async def _step(self, name: str) -> str:
        await workflow.execute_activity(
            noop, Step(self.code, name), start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=ACTIVITY_RETRY
        )
        self.status = AFTER[name]
        return self.status

    async def _locked(self, name: str) -> str:
        async with self.lock:
            return await self._step(name)

    @workflow.query
    def state(self) -> str:
        return self.status

    @workflow.update
    async def draft(self) -> str:
        return await self._locked("draft")

    @workflow.update
    async def submit(self) -> str:
        return await self._locked("submit")

    @workflow.update
    async def sign(self) -> str:
        self.signatures += 1
        return await self._locked(f"sign{self.signatures}")

    @workflow.update
    async def revoke(self) -> str:
        return await self._locked("revoke")

    @revoke.validator
    def _validate_revoke(self) -> None:
        if self.status != "en_vigueur":
            raise ValueError(f"not in force ({self.status})")
