"""Activities of the crisis case workflow: load, decide (in the aggregate), save.

Idempotent like the entente's: commands carry the workflow id and the Temporal
update id as `command_id`, which the aggregate remembers; `advance` records only
what the calendar makes due. Routing reads the ententes of the same record, so a
revoked or expired entente stops routing to its organisation at once.

Once a step asked a community team, the workflow calls `case.send_intake` for that
attempt (a step of its own, visible in the history): the intake's sending is decided
and registered by the disclosure rules (`HandoffDisclosures`): consent, the emergency
path (LSSSS 19.0.1 / LRSSS 74), or nothing sent. It is keyed by case and attempt, so a
retried activity registers nothing twice. Runs recorded before that step existed have
`case.act` / `case.advance` decide every sending after their save (`sends_intake`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from temporalio import activity

from activities.errors import classified
from activities.inputs import ActInput, AdvanceCaseInput, OpenInput, SendIntakeInput
from domain.crisis.handoff import Sending
from domain.crisis.model import CandidateKind
from domain.crisis.state import CaseView

if TYPE_CHECKING:  # the workflows import this module in their sandbox: no use case, no record there
    from usecases.crisis import CrisisCases
    from usecases.handoff import HandoffDisclosures

__all__ = ["ActInput", "AdvanceCaseInput", "CrisisActivities", "OpenInput", "SendIntakeInput"]


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
        view = self.cases.execute(inp.case_code, inp.command, inp.at)
        return self._sends_intake(view) if inp.sends_intake else view

    @activity.defn(name="case.advance")
    @classified
    def advance(self, inp: AdvanceCaseInput) -> CaseView:
        view = self.cases.advance(inp.case_code, inp.now)
        return self._sends_intake(view) if inp.sends_intake else view

    @activity.defn(name="case.send_intake")
    @classified
    def send_intake(self, inp: SendIntakeInput) -> Sending:
        """Once per attempt: the decision is registered under `<case>/envoi/<attempt>`, so a retry
        finds it and records nothing."""
        return self.handoffs.send(inp.case_code, inp.attempt)

    def _sends_intake(self, view: CaseView) -> CaseView:
        """Runs recorded before the workflow sent the intake itself: decide every sending after the save."""
        if any(a.candidate.kind is CandidateKind.COMMUNITY_ORG for a in view.attempts):
            self.handoffs.ensure(view.case_code)
        return view

    def all(self) -> list[Callable[..., Any]]:
        return [self.open, self.act, self.advance, self.send_intake]
