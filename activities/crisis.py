"""Activities of the crisis case workflow: load, decide (in the aggregate), save.

Idempotent like the entente's: commands carry the workflow id and the Temporal
update id as `command_id`, which the aggregate remembers; `advance` records only
what the calendar makes due. Routing reads the ententes of the same record, so a
revoked or expired entente stops routing to its organisation at once.

After any step that asked a community team, the intake's sending to that team is
decided and registered by the disclosure rules (`HandoffDisclosures`): consent, the
emergency path (LSSSS 19.0.1 / LRSSS 74), or nothing sent. It is keyed by case and
attempt, so a retried activity registers nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from temporalio import activity

from activities.errors import classified
from activities.inputs import ActInput, AdvanceCaseInput, OpenInput
from domain.crisis.model import CandidateKind
from domain.crisis.state import CaseView

if TYPE_CHECKING:  # the workflows import this module in their sandbox: no use case, no record there
    from usecases.crisis import CrisisCases
    from usecases.handoff import HandoffDisclosures

__all__ = ["ActInput", "AdvanceCaseInput", "CrisisActivities", "OpenInput"]


class CrisisActivities:
    def __init__(self, cases: CrisisCases, handoffs: HandoffDisclosures) -> None:
        self.cases = cases
        self.handoffs = handoffs

    @activity.defn(name="case.open")
    @classified
    def open(self, inp: OpenInput) -> CaseView:
        return self.cases.open(inp.command, inp.at)

    @activity.defn(name="case.act")
    @classified
    def act(self, inp: ActInput) -> CaseView:
        return self._register_sendings(self.cases.execute(inp.case_code, inp.command, inp.at))

    @activity.defn(name="case.advance")
    @classified
    def advance(self, inp: AdvanceCaseInput) -> CaseView:
        return self._register_sendings(self.cases.advance(inp.case_code, inp.now))

    def _register_sendings(self, view: CaseView) -> CaseView:
        if any(a.candidate.kind is CandidateKind.COMMUNITY_ORG for a in view.attempts):
            self.handoffs.ensure(view.case_code)
        return view

    def all(self) -> list[Callable[..., Any]]:
        return [self.open, self.act, self.advance]
