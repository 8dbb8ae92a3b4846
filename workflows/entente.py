"""One long-lived workflow per entente, from the first draft to its end.

It waits for signatures (with a deadline and reminders), sleeps until the
effective date, wakes for each annual review and escalates one left undone,
carries amendments and renewals through signature while the current version
stays in force, and ends on revocation (after its notice) or expiry.

Exposes:
- update `draft` (the opening, used with update-with-start, like a case's `open`);
- update `act`: any later command, one typed object (`EntenteCommand`, discriminated
  by `type`), as a crisis case takes its commands. Its validator runs the domain
  rule for that command (`rules.check`) on the current view, so a refused command
  never reaches history; the handler records it through an activity and returns
  the new view. The updates of before `act`, one per command (`revise`, `submit`,
  `sign`…), are kept for running workflows and recorded histories and do the same;
- query `state` (the view) and `next_wakeup`.

Time-driven transitions are decided by the aggregate (`advance`), given
`workflow.now()`: the workflow only knows *when* to wake, from the rules.
Continue-as-new carries the view when the history grows long.

A party asked to sign whose organisation registered an endpoint is told by a signed webhook
(`DELIVERS`, `workflows.deliveries`), started beside the workflow: the signature deadline and its
reminders run as for any party. Since `DELIVERS_CALENDAR`, what the calendar records that asks the
parties is delivered too: each reminder to a party still to sign, and the annual review falling due to
every party.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow

# The domain and the workflows' own helpers (deterministic, no module state: workflows.common says why).
with workflow.unsafe.imports_passed_through():
    from activities.delivery import DeliverInput
    from activities.ententes import EntenteActivities
    from activities.inputs import AdvanceInput, DraftInput, ExecuteInput
    from domain.delivery.model import MessageType, SubjectKind
    from domain.ententes import commands as c
    from domain.ententes import rules
    from domain.ententes.model import EntenteCode
    from domain.ententes.state import EntentePolicy, EntenteStatus, EntenteView, ProposalStage
    from domain.errors import DomainError
    from workflows.common import advance, command_id, execute, execute_command, refused, run_calendar
    from workflows.deliveries import Deliveries, with_endpoint

STALL_BACKOFF = timedelta(minutes=5)
DRAFT_WAIT = timedelta(hours=1)  # a workflow started without its draft gives up after this
# Since this patch, each party asked to sign is told by webhook when it has an endpoint (issue 10).
DELIVERS = "entente-delivers-signature-requests"
# Since this patch, each signature reminder and each annual review falling due is delivered to the parties
# with an endpoint; runs that recorded them before replay without.
DELIVERS_CALENDAR = "entente-delivers-reminders-and-reviews"
# Since this patch, the timer of an annual review fires later in its due day (`domain.ententes.wakeup`), not at
# its first instant: ReviewDue still names the due date and is dated at the start of that day.
SPREADS_REVIEWS = "review-wakeup-spread"


def workflow_id(code: str) -> str:
    return f"entente-{code}"


class EntenteWorkflowInput(BaseModel):
    code: EntenteCode  # normalised: `ent-lav-2026-01` and `ENT-LAV-2026-01` are one entente
    policy: EntentePolicy = EntentePolicy()
    view: EntenteView | None = None  # carried across continue-as-new
    # Years of life must not outgrow Temporal's history limits (51,200 events hard, warning at
    # 10,240): continue as new past this length, or when the server suggests it.
    history_limit: int = 5_000
    # Whose delivery is decided: "<version>:<party>" (signature request), "reminder:<version>:<n>:<party>",
    # "review:<due on>:<party>".
    delivered: list[str] = []


@workflow.defn(name="Entente")
class EntenteWorkflow:
    stall_backoff = STALL_BACKOFF
    @workflow.init
    def __init__(self, inp: EntenteWorkflowInput) -> None:
        self.code = inp.code
        self.policy = inp.policy
        self.view: EntenteView | None = inp.view
        self.history_limit = inp.history_limit
        self.delivered = set(inp.delivered)
        self.deliveries = Deliveries()
        self.lock = asyncio.Lock()
        self.changed = False

    @workflow.run
    async def run(self, inp: EntenteWorkflowInput) -> EntenteView | None:
        try:
            await workflow.wait_condition(lambda: self.view is not None, timeout=DRAFT_WAIT)
        except TimeoutError:
            return None
        await run_calendar(self)
        return self.view

    # ------------------------------------------------------------------ the calendar (workflows.common.Calendar)
    def running(self) -> bool:
        return self.view is not None and not self.view.status.ended

    def due_now(self, now: datetime) -> bool:
        return self.view is not None and rules.due_now(self.view, self.policy, now)

    async def record_due(self, now: datetime) -> bool | None:
        assert self.view is not None  # the loop runs once drafted
        before = self.view.event_count
        advanced = await advance(
            EntenteActivities.advance, AdvanceInput(code=self.code, now=now, policy=self.policy), code=self.code
        )
        if advanced is None:
            return None
        self.view = advanced
        await self._deliver_calendar()
        return advanced.event_count != before

    def continue_as_new_input(self) -> EntenteWorkflowInput:
        return EntenteWorkflowInput(
            code=self.code, policy=self.policy, view=self.view, history_limit=self.history_limit,
            delivered=sorted(self.delivered),
        )

    def log_ids(self) -> dict[str, str]:
        return {"code": self.code}

    # ------------------------------------------------------------------ reading
    @workflow.query
    def state(self) -> EntenteView | None:
        return self.view

    @workflow.query
    def next_wakeup(self) -> datetime | None:
        """Asked (a query): the next moment something falls due, as the record will date it (a review: the start
        of its due day). Called by the calendar loop: when its timer fires; since `SPREADS_REVIEWS`, a review's
        wake-up later in its due day by an offset from the code (`domain.ententes.wakeup`), so that one day's
        anniversaries do not wake at one instant. A run that recorded its review timer before keeps it."""
        if self.view is None:
            return None
        due = rules.next_wakeup(self.view, self.policy)
        if workflow.unsafe.is_read_only():  # a query: no patch marker may be recorded from here
            return due
        wake = rules.next_wakeup(self.view, self.policy, spread=True)
        if wake != due and workflow.patched(SPREADS_REVIEWS):
            return wake
        return due

    # ------------------------------------------------------------------ creating
    @workflow.update
    async def draft(self, cmd: c.DraftEntente) -> EntenteView:
        async with self.lock:
            cmd = cmd.model_copy(update={"command_id": command_id()})
            self.view = await execute(EntenteActivities.draft, DraftInput(command=cmd, at=workflow.now()))
            self.changed = True
            return self.view

    @draft.validator
    def _validate_draft(self, cmd: c.DraftEntente) -> None:
        if self.view is not None or self.lock.locked():
            raise refused("duplicate_code", f"entente {self.code} already exists")
        if cmd.code != self.code:
            raise refused("wrong_workflow", f"this workflow carries entente {self.code}, not {cmd.code}")

    # ------------------------------------------------------------------ acting
    @workflow.update
    async def act(self, cmd: c.EntenteCommand) -> EntenteView:
        return await self._execute(cmd)

    @act.validator
    def _validate_act(self, cmd: c.EntenteCommand) -> None:
        self._check(cmd)

    # ------------------------------------------------------------------ kept: running workflows, recorded histories
    # One update per command, as before `act`: Temporal replays a history by the update names it
    # holds, and a running workflow may still be sent these by an older client. They do exactly
    # what `act` does with the same command.
    @workflow.update
    async def revise(self, cmd: c.ReviseDraft) -> EntenteView:
        return await self._execute(cmd)

    @revise.validator
    def _validate_revise(self, cmd: c.ReviseDraft) -> None:
        self._check(cmd)

    @workflow.update
    async def submit(self, cmd: c.SubmitForSignature) -> EntenteView:
        return await self._execute(cmd)

    @submit.validator
    def _validate_submit(self, cmd: c.SubmitForSignature) -> None:
        self._check(cmd)

    @workflow.update
    async def sign(self, cmd: c.SignEntente) -> EntenteView:
        return await self._execute(cmd)

    @sign.validator
    def _validate_sign(self, cmd: c.SignEntente) -> None:
        self._check(cmd)

    @workflow.update
    async def refuse(self, cmd: c.RefuseSignature) -> EntenteView:
        return await self._execute(cmd)

    @refuse.validator
    def _validate_refuse(self, cmd: c.RefuseSignature) -> None:
        self._check(cmd)

    @workflow.update
    async def withdraw(self, cmd: c.WithdrawFromEntente) -> EntenteView:
        return await self._execute(cmd)

    @withdraw.validator
    def _validate_withdraw(self, cmd: c.WithdrawFromEntente) -> None:
        self._check(cmd)

    @workflow.update
    async def amend(self, cmd: c.ProposeAmendment) -> EntenteView:
        return await self._execute(cmd)

    @amend.validator
    def _validate_amend(self, cmd: c.ProposeAmendment) -> None:
        self._check(cmd)

    @workflow.update
    async def renew(self, cmd: c.ProposeRenewal) -> EntenteView:
        return await self._execute(cmd)

    @renew.validator
    def _validate_renew(self, cmd: c.ProposeRenewal) -> None:
        self._check(cmd)

    @workflow.update
    async def review(self, cmd: c.RecordReview) -> EntenteView:
        return await self._execute(cmd)

    @review.validator
    def _validate_review(self, cmd: c.RecordReview) -> None:
        self._check(cmd)

    @workflow.update
    async def revoke(self, cmd: c.GiveRevocationNotice) -> EntenteView:
        return await self._execute(cmd)

    @revoke.validator
    def _validate_revoke(self, cmd: c.GiveRevocationNotice) -> None:
        self._check(cmd)

    # ------------------------------------------------------------------ helpers
    def _check(self, cmd: c.Command) -> None:
        """Validator side: refuse on the current view; nothing reaches history."""
        if self.view is None:
            raise refused("not_drafted", f"entente {self.code} is not drafted yet")
        try:
            rules.check(self.view, cmd, workflow.now(), self.policy)
        except DomainError as err:
            raise refused(err.code, err.message) from None

    async def _execute(self, cmd: c.Command) -> EntenteView:
        async with self.lock:
            # Another command may have been recorded since validation: check again on the
            # fresh view. A refusal here fails the update; the aggregate would refuse too.
            self._check(cmd)
            cmd = cmd.model_copy(update={"command_id": command_id()})
            self.view = await execute_command(
                EntenteActivities.execute,
                ExecuteInput(code=self.code, command=cmd, at=workflow.now(), policy=self.policy),
            )
            self.changed = True
            await self._deliver()
            return self.view

    async def _deliver(self) -> None:
        """Each party still to sign a version in signature, once, when it has an endpoint: started, not awaited."""
        assert self.view is not None
        proposal = self.view.proposal
        if proposal is None or proposal.stage is not ProposalStage.IN_SIGNATURE:
            return
        content = self.view.proposed_content or self.view.content
        new = {f"{proposal.version}:{p}": p for p in content.party_ids
               if not proposal.signed_by(p) and f"{proposal.version}:{p}" not in self.delivered}
        if not new or not workflow.patched(DELIVERS):
            return
        self.delivered.update(new)
        orgs = await with_endpoint(new.values(), code=self.code)
        for party in new.values():
            if party in orgs:
                self.deliveries.start(DeliverInput(
                    type=MessageType.SIGNATURE_REQUESTED, subject_kind=SubjectKind.ENTENTE, subject=self.code,
                    org_id=party, version=proposal.version,
                ))


    async def _deliver_calendar(self) -> None:
        """What the calendar just recorded that asks the parties, once each, to those with an endpoint: the
        latest reminder to each party still to sign, the annual review due to every party."""
        assert self.view is not None
        view = self.view
        wanted: dict[str, DeliverInput] = {}
        p = view.proposal
        if p is not None and p.stage is ProposalStage.IN_SIGNATURE and p.reminders_sent and p.last_reminder_at:
            content = view.proposed_content or view.content
            for party in content.party_ids:
                if not p.signed_by(party):
                    wanted[f"reminder:{p.version}:{p.reminders_sent}:{party}"] = DeliverInput(
                        type=MessageType.SIGNATURE_REMINDER, subject_kind=SubjectKind.ENTENTE, subject=self.code,
                        org_id=party, version=p.version, reminder=p.reminders_sent, at=p.last_reminder_at)
        if view.review_pending is not None and view.status is EntenteStatus.ACTIVE:
            for party in view.content.party_ids:
                wanted[f"review:{view.review_pending.isoformat()}:{party}"] = DeliverInput(
                    type=MessageType.REVIEW_DUE, subject_kind=SubjectKind.ENTENTE, subject=self.code,
                    org_id=party, due_on=view.review_pending)
        new = {key: inp for key, inp in wanted.items() if key not in self.delivered}
        if not new or not workflow.patched(DELIVERS_CALENDAR):
            return
        self.delivered.update(new)
        orgs = await with_endpoint((inp.org_id for inp in new.values()), code=self.code)
        for inp in new.values():
            if inp.org_id in orgs:
                self.deliveries.start(inp)


__all__ = ["EntenteWorkflow", "EntenteWorkflowInput", "workflow_id"]
