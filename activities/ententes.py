"""Activities of the entente workflow: load, decide (in the aggregate), save.

Their inputs' moments carry a time zone (`AwareDatetime`): a naive one is refused when
the input is read, never taken for local or UTC time.

Each is idempotent. Commands carry a `command_id` (the workflow id and the
Temporal update id): the aggregate remembers the ids it applied, so a retried
activity finds its command already recorded and appends nothing. `advance`
records only what the calendar makes due, and nothing is due twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import AwareDatetime, BaseModel
from temporalio import activity

from activities.errors import classified
from domain.ententes import commands as c
from domain.ententes.state import EntentePolicy, EntenteView
from usecases.ententes import Ententes


class DraftInput(BaseModel):
    command: c.DraftEntente
    at: AwareDatetime


class ExecuteInput(BaseModel):
    code: str
    command: c.EntenteCommand
    at: AwareDatetime
    policy: EntentePolicy | None = None  # the workflow's; None (older histories): the worker's


class AdvanceInput(BaseModel):
    code: str
    now: AwareDatetime
    policy: EntentePolicy | None = None  # the workflow's; None (older histories): the worker's


class LoadInput(BaseModel):
    code: str


class EntenteActivities:
    def __init__(self, ententes: Ententes) -> None:
        self.ententes = ententes

    @activity.defn(name="agreement.draft")
    @classified
    def draft(self, inp: DraftInput) -> EntenteView:
        return self.ententes.draft(inp.command, inp.at)

    @activity.defn(name="agreement.execute")
    @classified
    def execute(self, inp: ExecuteInput) -> EntenteView:
        return self.ententes.execute(inp.code, inp.command, inp.at, inp.policy)

    @activity.defn(name="agreement.advance")
    @classified
    def advance(self, inp: AdvanceInput) -> EntenteView:
        return self.ententes.advance(inp.code, inp.now, inp.policy)

    @activity.defn(name="agreement.load")
    @classified
    def load(self, inp: LoadInput) -> EntenteView:
        return self.ententes.view(inp.code)

    def all(self) -> list[Callable[..., Any]]:
        return [self.draft, self.execute, self.advance, self.load]
