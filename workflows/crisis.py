"""One long-lived workflow per crisis case, from intake until the person has reached the next service.

The trajectory of the seed (001, L645-671, L1162-1243): intake at Info-Social or
AAOR → handoff to a mobile crisis team (routed by territory and ententes in
force; a team that declines or does not answer is skipped) → intervention in
the community → post-crisis follow-up → référence personnalisée, closed only
when the person is confirmed to have reached the service.

Exposes:
- update `open` (used with update-with-start: the first partner message creates the case);
- update `act`: any command of the case, one typed object (`CaseCommand`, discriminated by
  `type`). Its validator runs the domain rule for that command on the current view, so a
  command out of turn, from the wrong party or malformed never reaches history;
- query `state` (the `CaseView`: stage, holder, deadlines, handoffs; no personal content).

Once a step has asked a community team (another body than the establishment), the workflow calls
`case.send_intake` for that attempt: the intake's sending is decided by the disclosure rules and
registered once per attempt, as a step of its own in the history (`SENDS_INTAKE`).

Each team asked whose organisation registered an endpoint is told by a signed webhook (`DELIVERS`,
`workflows.deliveries`), and so is the receiving service of each référence personnalisée (`DELIVERS_REFERRALS`):
the delivery runs beside the workflow and never holds it, so a partner that stays unreachable is, for the case,
exactly a team (or a service) that does not answer (its deadline runs, cascades, escalates).

One activity per command (`ONE_STEP`): `case.step` records the command and, in the same activity, asks the
record what the workflow asked it right after, as local activities (which partners have an endpoint, who
listens to the Tasks that changed); runs recorded before it keep `case.act` and their local activities.

Every deadline is a durable timer: the workflow sleeps until the earliest running
deadline (`rules.next_wakeup`) and lets the aggregate record what fell due
(`advance`): a miss and its escalation, a team that did not answer, a missed
follow-up contact. Search attributes carry opaque codes only (stage, holder
organisation, territory, team, overdue): never a person's details, since Temporal
stores them unencrypted.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

# The domain and the workflows' own helpers (deterministic, no module state: workflows.common says why).
with workflow.unsafe.imports_passed_through():
    from activities.crisis import CrisisActivities, Found, StepInput
    from activities.delivery import DeliverInput
    from activities.inputs import ActInput, AdvanceCaseInput, OpenInput, SendIntakeInput
    from domain.crisis import commands as c
    from domain.crisis import rules
    from domain.crisis.model import CandidateKind
    from domain.crisis.state import AttemptStatus, CaseStage, CaseView, DeadlineStatus, ReferralStatus
    from domain.delivery.model import MessageType, SubjectKind
    from domain.errors import DomainError
    from domain.fhir.subscriptions import owners, statuses, task_changes
    from workflows.common import (
        advance,
        command_id,
        execute_command,
        opened,
        record_opening,
        refused,
        run_calendar,
        try_step,
    )
    from workflows.crisis_input import MARKERLESS, CaseWorkflowInput
    from workflows.deliveries import Deliveries, with_endpoint
    from workflows.task_notifications import listeners, notify

STALL_BACKOFF = timedelta(minutes=1)
OPEN_WAIT = timedelta(hours=1)  # a workflow started without its intake gives up after this
# Since this patch, a workflow whose opening was refused ends at once instead of waiting OPEN_WAIT:
# older runs (a timer started in their first task) replay on the old path.
ENDS_WHEN_OPEN_REFUSED = "crisis-case-ends-when-open-refused"
# Since this patch, the workflow sends the intake to each community team asked as a step of its own
# (`case.send_intake`, once per attempt); runs recorded before it let `case.act` / `case.advance`
# decide every sending after their save, and keep doing so.
SENDS_INTAKE = "crisis-case-sends-intake"
# Since this patch, each team asked is told by webhook when its organisation has an endpoint (issue 10).
DELIVERS = "crisis-case-delivers-to-partners"
# Since this patch, the receiving service of each referral is told by webhook when it has an endpoint; runs
# that made referrals before it replay without (and a run that first looks at it in replay keeps without).
DELIVERS_REFERRALS = "crisis-case-delivers-referrals"
# Since this patch, each Task created or whose status changed in a step is told to the FHIR subscriptions of its
# owner (`workflows.task_notifications`, id-only); runs recorded before it replay without.
NOTIFIES_SUBSCRIBERS = "crisis-case-notifies-task-subscribers"
# Since this patch, a command is one activity (`case.step`): the command, then the endpoint and subscriber
# look-ups the workflow made as local activities after it, in one activity that loads the case once. It implies
# every patch above (a run that records it runs today's code), so that path asks for none of them. Runs
# recorded before it replay with `case.act` and their local activities.
ONE_STEP = "crisis-case-one-activity-per-command"

# Visibility for supervisors (`arrimage cases list`): opaque codes only.
STAGE = SearchAttributeKey.for_keyword("CaseStage")
HOLDER = SearchAttributeKey.for_keyword("CaseHolder")
TERRITORY = SearchAttributeKey.for_keyword("CaseTerritory")
TEAM = SearchAttributeKey.for_keyword("CaseTeam")
OVERDUE = SearchAttributeKey.for_bool("CaseOverdue")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("CaseNextDeadline")
OPENED_AT = SearchAttributeKey.for_datetime("CaseOpenedAt")
SEARCH_ATTRIBUTES: list[SearchAttributeKey[Any]] = [STAGE, HOLDER, TERRITORY, TEAM, OVERDUE, NEXT_DEADLINE, OPENED_AT]


def workflow_id(case_code: str) -> str:
    return f"case-{case_code}"


def overdue(view: CaseView) -> bool:
    """A deadline passed while its step is still to be done."""
    return any(d.status is DeadlineStatus.MISSED and d.stopped_at is None for d in view.deadlines)


def current_team(view: CaseView) -> str:
    if view.intervention is not None:
        return view.intervention.team.team_id
    attempt = view.pending_attempt
    return attempt.candidate.team.team_id if attempt is not None else ""


@workflow.defn(name="CrisisCase")
class CrisisCaseWorkflow:
    stall_backoff = STALL_BACKOFF
    @workflow.init
    def __init__(self, inp: CaseWorkflowInput) -> None:
        self.case_code = inp.case_code
        self.config = inp.config
        self.view: CaseView | None = inp.view
        self.history_limit = inp.history_limit
        self.search_attributes = inp.search_attributes
        self.markerless = inp.paths >= MARKERLESS  # today's paths, no patch marker asked (`crisis_input`)
        self.intake_sent = set(inp.intake_sent)
        self.delivered = set(inp.delivered)
        self.referrals_delivered = set(inp.referrals_delivered)
        self.deliveries = Deliveries()
        self.task_statuses = statuses(inp.view)  # each Task's status as last told to subscribers
        self.lock = asyncio.Lock()
        self.changed = False
        self.opening = False  # an `open` update was accepted (its handler runs)
        self.open_refused = False  # and the record refused it (no entente, code taken)
        self.found: Found | None = None  # while delivering after `case.step`: what it looked up

    @workflow.run
    async def run(self, inp: CaseWorkflowInput) -> CaseView | None:
        if self.view is None and self._since(ENDS_WHEN_OPEN_REFUSED):
            # `open` refused: end at once, leaving no case behind, instead of an empty one listed for an hour.
            if not await opened(self):
                return None
        else:
            try:
                await workflow.wait_condition(lambda: self.view is not None, timeout=OPEN_WAIT)
            except TimeoutError:
                return None
        await run_calendar(self)
        return self.view

    # ------------------------------------------------------------------ the calendar (workflows.common.Calendar)
    def running(self) -> bool:
        return self.view is not None and self.view.stage is not CaseStage.CLOSED

    def due_now(self, now: datetime) -> bool:
        return self.view is not None and rules.due_now(self.view, self.config, now)

    async def record_due(self, now: datetime) -> bool | None:
        assert self.view is not None  # the loop runs once open
        before = self.view.event_count
        sends = self._since(SENDS_INTAKE)
        advanced = await advance(
            CrisisActivities.advance, AdvanceCaseInput(case_code=self.case_code, now=now, sends_intake=not sends),
            case=self.case_code,
        )
        if advanced is None:
            return None
        self._set(advanced)
        if sends:
            await self._send_intake()  # a team that did not answer: the next one may be a community team
            await self._deliver()
        return advanced.event_count != before

    def continue_as_new_input(self) -> CaseWorkflowInput:
        return CaseWorkflowInput(
            case_code=self.case_code, config=self.config, view=self.view, history_limit=self.history_limit,
            intake_sent=sorted(self.intake_sent), delivered=sorted(self.delivered),
            referrals_delivered=sorted(self.referrals_delivered),
            # A new run asks for no marker, even after an older one: fresh, it would take every patch anyway.
            search_attributes=self.search_attributes, paths=MARKERLESS,
        )

    def log_ids(self) -> dict[str, str]:
        return {"case": self.case_code}

    # ------------------------------------------------------------------ reading
    @workflow.query
    def state(self) -> CaseView | None:
        return self.view

    @workflow.query
    def next_wakeup(self) -> datetime | None:
        return rules.next_wakeup(self.view, self.config) if self.view else None

    # ------------------------------------------------------------------ opening
    @workflow.update
    async def open(self, cmd: c.OpenCase) -> CaseView:
        # Whether a partner may open a case depends on the ententes in force: the
        # activity checks it against the record; its refusal fails this update.
        return await record_opening(
            self, CrisisActivities.open,
            lambda: OpenInput(command=cmd.model_copy(update={"command_id": command_id()}), at=workflow.now()),
            self._set,
        )

    @open.validator
    def _validate_open(self, cmd: c.OpenCase) -> None:
        if self.view is not None or self.lock.locked():
            raise refused("duplicate_code", f"crisis case {self.case_code} is already open")
        if cmd.case_code != self.case_code:
            raise refused("wrong_workflow", f"this workflow carries case {self.case_code}, not {cmd.case_code}")
        # The rules that need no record, on the workflow's clock: refused here, nothing reaches history.
        try:
            rules.check_open_command(cmd, workflow.now(), self.config)
        except DomainError as err:
            raise refused(err.code, err.message) from None

    # ------------------------------------------------------------------ acting
    @workflow.update
    async def act(self, cmd: c.CaseCommand) -> CaseView:
        async with self.lock:
            # Another command may have been recorded since validation: check again on the fresh view.
            self._check(cmd)
            cmd = cmd.model_copy(update={"command_id": command_id()})
            if self._since(ONE_STEP):
                return await self._step(cmd)
            sends = self._since(SENDS_INTAKE)
            view = await execute_command(
                CrisisActivities.act,
                ActInput(case_code=self.case_code, command=cmd, at=workflow.now(), sends_intake=not sends),
            )
            self._set(view)
            if sends:
                await self._send_intake()
                await self._deliver()
            return view

    @act.validator
    def _validate_act(self, cmd: c.CaseCommand) -> None:
        self._check(cmd)

    async def _step(self, cmd: c.CaseCommand) -> CaseView:
        """The command in one activity (`ONE_STEP`), which also looks up what delivering it needs; then the
        intake's sending to a community team asked (a step of its own), and the deliveries."""
        step = await execute_command(CrisisActivities.step, StepInput(
            case_code=self.case_code, command=cmd, at=workflow.now(), delivered=sorted(self.delivered),
            referrals_delivered=sorted(self.referrals_delivered), task_statuses=self.task_statuses,
        ))
        self._set(step.view)
        await self._send_intake()
        self.found = step.found
        try:
            await self._deliver()
        finally:
            self.found = None
        return step.view

    # ------------------------------------------------------------------ helpers
    def _since(self, patch: str) -> bool:
        """Whether this run takes the path of `patch`: a run started on today's code does, without a marker."""
        return self.markerless or workflow.patched(patch)

    def _check(self, cmd: c.Command) -> None:
        if self.view is None:
            raise refused("not_open", f"crisis case {self.case_code} is not open yet")
        try:
            rules.check(self.view, cmd, workflow.now(), self.config)
        except DomainError as err:
            raise refused(err.code, err.message) from None

    async def _send_intake(self) -> None:
        """Each community team asked gets the intake's sending decided and registered once, as a step of
        its own (consent, the emergency path, or nothing sent). One that failed for good (a bug) is left
        for the next step to try again: the command it followed is recorded and stands."""
        assert self.view is not None
        for attempt in self.view.attempts:
            if attempt.candidate.kind is not CandidateKind.COMMUNITY_ORG or attempt.number in self.intake_sent:
                continue
            sent = await try_step(
                CrisisActivities.send_intake, SendIntakeInput(case_code=self.case_code, attempt=attempt.number),
                "intake sending failed: tried again at the next step", case=self.case_code,
            )
            if sent is not None:
                self.intake_sent.add(attempt.number)

    async def _deliver(self) -> None:
        """With `self.found`, the look-ups `case.step` made (`ONE_STEP`); without, the workflow makes them (local
        activities)."""
        await self._deliver_handoffs()
        await self._deliver_referrals()
        await self._notify_subscribers()

    async def _notify_subscribers(self) -> None:
        """Each Task created or changed since the last step, to its owner's FHIR subscriptions: started, not
        awaited (`workflows.task_notifications`)."""
        assert self.view is not None
        found = self.found
        changes = task_changes(self.task_statuses, self.view)
        if not changes:
            return
        self.task_statuses = statuses(self.view)
        if found is None and not self._since(NOTIFIES_SUBSCRIBERS):
            return
        who = found.listeners if found is not None else await listeners(
            owners(changes), max(c.at for c in changes), case=self.case_code)
        notify(self.deliveries, changes, who)

    async def _deliver_handoffs(self) -> None:
        """Each team asked, once, when its organisation has an endpoint: the webhook is started, not awaited
        (after the intake's sending, so the message carries its decision)."""
        assert self.view is not None
        found = self.found
        new = [a for a in self.view.attempts if a.number not in self.delivered]
        if not new or (found is None and not self._since(DELIVERS)):
            return
        self.delivered.update(a.number for a in new)
        pending = [a for a in new if a.status is AttemptStatus.PENDING]
        orgs = set(found.handoff_orgs) if found is not None else await with_endpoint(
            (a.candidate.team.org_id for a in pending), case=self.case_code)
        for a in pending:
            if a.candidate.team.org_id in orgs:
                self.deliveries.start(DeliverInput(
                    type=MessageType.HANDOFF_REQUESTED, subject_kind=SubjectKind.CASE, subject=self.case_code,
                    org_id=a.candidate.team.org_id, attempt=a.number,
                ))

    async def _deliver_referrals(self) -> None:
        """Each referral still awaiting its receiving service's decision, once, when that service has an
        endpoint: started, not awaited."""
        assert self.view is not None
        found = self.found
        new = [r for r in self.view.referrals if r.number not in self.referrals_delivered]
        if not new or (found is None and not self._since(DELIVERS_REFERRALS)):
            return
        self.referrals_delivered.update(r.number for r in new)
        sent = [r for r in new if r.status is ReferralStatus.SENT]
        orgs = set(found.referral_orgs) if found is not None else await with_endpoint(
            (r.receiving.org_id for r in sent), case=self.case_code)
        for r in sent:
            if r.receiving.org_id in orgs:
                self.deliveries.start(DeliverInput(
                    type=MessageType.REFERRAL_SENT, subject_kind=SubjectKind.CASE, subject=self.case_code,
                    org_id=r.receiving.org_id, referral=r.number,
                ))

    def _set(self, view: CaseView) -> None:
        self.view = view
        self.changed = True
        if not self.search_attributes:
            return
        wake = rules.next_wakeup(view, self.config)
        updates: list[SearchAttributeUpdate] = [
            STAGE.value_set(view.stage.value),
            HOLDER.value_set(view.holder or ""),
            TERRITORY.value_set(view.territory),
            TEAM.value_set(current_team(view)),
            OVERDUE.value_set(overdue(view)),
            OPENED_AT.value_set(view.opened_at),
            NEXT_DEADLINE.value_set(wake) if wake is not None else NEXT_DEADLINE.value_unset(),
        ]
        if self.markerless:  # only what changed (nothing: no upsert): each upsert is a visibility write
            held = workflow.info().typed_search_attributes
            updates = [u for u in updates if held.get(u.key) != u.value]
            if not updates:
                return
        workflow.upsert_search_attributes(updates)
