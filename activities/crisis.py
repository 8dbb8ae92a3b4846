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

`case.step` (since the workflow's `ONE_STEP` patch) is `case.act` and what the workflow asked the record right
after it, as local activities, in one activity: which partners among the teams newly asked and the receiving
services of new referrals have an endpoint (`delivery.endpoints`), and which FHIR subscriptions listen to the
owners of the Tasks the command changed (`fhir.subscribers`, as of the latest change). One load of the case, one
activity per command. A lookup that fails leaves `found` empty: the workflow then asks as before, with the
lookups' own retries, and the command (recorded once) stands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from temporalio import activity

from activities.errors import classified
from activities.fhir_subscriptions import Listener
from activities.inputs import ActInput, AdvanceCaseInput, OpenInput, SendIntakeInput
from domain.crisis.handoff import Sending
from domain.crisis.model import CandidateKind
from domain.crisis.state import AttemptStatus, CaseView, ReferralStatus
from domain.fhir.subscriptions import owners, task_changes

if TYPE_CHECKING:  # the workflows import this module in their sandbox: no use case, no record there
    from usecases.crisis import CrisisCases
    from usecases.delivery import Deliveries
    from usecases.handoff import HandoffDisclosures

__all__ = ["ActInput", "AdvanceCaseInput", "CrisisActivities", "Found", "OpenInput", "SendIntakeInput", "StepInput",
           "StepResult"]
log = logging.getLogger("arrimage.activities")


class StepInput(ActInput):
    """A command, and what the workflow has already told partners (so that the activity looks up only the new)."""

    sends_intake: bool = False  # the workflow sends the intake itself (`case.send_intake`)
    delivered: list[int] = Field(default_factory=list)  # the attempts whose delivery to their team is decided
    # the referrals whose delivery to their receiving service is decided
    referrals_delivered: list[int] = Field(default_factory=list)
    task_statuses: dict[str, str] = Field(default_factory=dict)  # each Task's status as last told to subscribers


class Found(BaseModel):
    """What the workflow would otherwise ask the record itself after the command (local activities)."""

    handoff_orgs: list[str] = []  # among the teams newly asked and still pending: those with an endpoint
    referral_orgs: list[str] = []  # among the new referrals' receiving services, sent: those with an endpoint
    listeners: list[Listener] = []  # the subscriptions listening to the owners of the Tasks the command changed


class StepResult(BaseModel):
    view: CaseView
    found: Found | None = None  # None: a lookup failed (the workflow asks again itself)


class CrisisActivities:
    def __init__(self, cases: CrisisCases, handoffs: HandoffDisclosures, deliveries: Deliveries | None = None) -> None:
        self.cases = cases
        self.handoffs = handoffs
        self.deliveries = deliveries

    @activity.defn(name="case.open")
    @classified
    def open(self, inp: OpenInput) -> CaseView:
        return self.cases.open(inp.command, inp.at)

    @activity.defn(name="case.act")
    @classified
    def act(self, inp: ActInput) -> CaseView:
        view = self.cases.execute(inp.case_code, inp.command, inp.at)
        return self._sends_intake(view) if inp.sends_intake else view

    @activity.defn(name="case.step")
    @classified
    def step(self, inp: StepInput) -> StepResult:
        """`case.act` and the look-ups that follow it, in one activity (one load of the case)."""
        view = self.cases.execute(inp.case_code, inp.command, inp.at)
        try:
            found = self._found(inp, view)
        except Exception:  # the command is recorded: the workflow looks up again, with retries
            log.warning("look-ups after the command failed: the workflow asks again", exc_info=True,
                        extra={"case": inp.case_code})
            found = None
        return StepResult(view=view, found=found)

    def _found(self, inp: StepInput, view: CaseView) -> Found:
        """The same questions the workflow asks after a step (`_deliver_handoffs`, `_deliver_referrals`,
        `_notify_subscribers`), on the same view: only those it would ask, so the answers are the same."""
        assert self.deliveries is not None  # wired by the worker
        teams = [a.candidate.team.org_id for a in view.attempts
                 if a.number not in inp.delivered and a.status is AttemptStatus.PENDING]
        services = [r.receiving.org_id for r in view.referrals
                    if r.number not in inp.referrals_delivered and r.status is ReferralStatus.SENT]
        changes = task_changes(inp.task_statuses, view)
        return Found(
            handoff_orgs=self.deliveries.with_endpoint(sorted(set(teams))) if teams else [],
            referral_orgs=self.deliveries.with_endpoint(sorted(set(services))) if services else [],
            listeners=[Listener(subscription_id=s.subscription_id, org_id=s.org_id) for s in
                       self.deliveries.subscriptions.listening(owners(changes), max(c.at for c in changes))]
            if changes else [],
        )

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
        return [self.open, self.act, self.step, self.advance, self.send_intake]
