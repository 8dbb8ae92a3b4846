"""Activities of the entente workflow: load, decide (in the aggregate), save.

Their inputs (`activities.inputs`) are typed; workflows call these methods by reference
(`workflow.execute_activity_method(EntenteActivities.execute, ExecuteInput(...))`) under the
names registered here, which running workflows and recorded histories rely on.

Each is idempotent. Commands carry a `command_id` (the workflow id and the
Temporal update id): the aggregate remembers the ids it applied, so a retried
activity finds its command already recorded and appends nothing. `advance`
records only what the calendar makes due, and nothing is due twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from temporalio import activity

from activities.errors import classified
from activities.inputs import AdvanceInput, DraftInput, ExecuteInput, LoadInput
from domain.ententes.state import EntenteView

if TYPE_CHECKING:  # the workflows import this module in their sandbox: no use case, no record there
    from usecases.ententes import Ententes

__all__ = ["AdvanceInput", "DraftInput", "EntenteActivities", "ExecuteInput", "LoadInput"]


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
