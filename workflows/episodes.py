"""One long-lived workflow per épisode de services (AAOR, consultation sociale, consultation psychologique).

From the request's reception until the episode closes: the AAOR's clocks run from the reception (first contact
≤ 2 h in person, callback ≤ 24 h, analysis ≤ 10 days, urgent ≤ 24 h: seed 001 L778-788), the consultations'
from the acceptance (first contact ≤ 7 days, follow-up started ≤ 30 days, urgent ≤ 24 h: L1485-1493,
L1731-1739); meetings are capped (AAOR 3, consultations 12, more only by a revision of the PI: L721-723,
L1423-1426, L1671-1674).

Exposes (workflow type `ServiceEpisode`, id `episode-<CODE>`, `workflow_id`):
- update `open` (`OpenEpisode`; used with update-with-start: the opening creates the episode);
- update `act`: any command of the episode, one typed object (`EpisodeCommand`, discriminated by `type`). Its
  validator runs the domain rule for that command on the current view (`domain.episodes.rules.check`), so a
  refused command (a 13th consultation meeting without a revised PI: `meeting_cap_reached`) is never accepted
  and leaves no event; the activity checks again in the aggregate;
- queries `state` (the `EpisodeView`, no personal content) and `next_wakeup`.

Every running clock is a durable timer: the workflow sleeps until the earliest due moment and lets the aggregate
record what fell due (`DeadlineMissed`, at its own moment). No search attributes: the record lists episodes.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow

# The domain and the workflows' own helpers (deterministic, no module state: workflows.common says why).
with workflow.unsafe.imports_passed_through():
    from activities.episodes import EpisodeActivities
    from activities.inputs import AdvanceEpisodeInput, EpisodeActInput, OpenEpisodeInput
    from domain.episodes import commands as c
    from domain.episodes import rules
    from domain.episodes.state import EpisodeStage, EpisodeView
    from domain.errors import DomainError
    from domain.standards.config import StandardsConfig
    from workflows.common import advance, command_id, execute_command, opened, record_opening, refused, run_calendar

STALL_BACKOFF = timedelta(minutes=1)
WORKFLOW_PREFIX = "episode-"


def workflow_id(episode_code: str) -> str:
    return f"{WORKFLOW_PREFIX}{episode_code}"


class EpisodeWorkflowInput(BaseModel):
    episode_code: str
    config: StandardsConfig = StandardsConfig()
    view: EpisodeView | None = None  # carried across continue-as-new
    history_limit: int = 5_000


@workflow.defn(name="ServiceEpisode")
class ServiceEpisodeWorkflow:
    stall_backoff = STALL_BACKOFF

    @workflow.init
    def __init__(self, inp: EpisodeWorkflowInput) -> None:
        self.episode_code = inp.episode_code
        self.config = inp.config
        self.view: EpisodeView | None = inp.view
        self.history_limit = inp.history_limit
        self.lock = asyncio.Lock()
        self.changed = False
        self.opening = False  # an `open` update was accepted (its handler runs)
        self.open_refused = False  # and the record refused it

    @workflow.run
    async def run(self, inp: EpisodeWorkflowInput) -> EpisodeView | None:
        if self.view is None and not await opened(self):  # `open` refused: end at once, leaving no episode
            return None
        await run_calendar(self)
        return self.view

    # ------------------------------------------------------------------ the calendar (workflows.common.Calendar)
    def running(self) -> bool:
        return self.view is not None and self.view.stage is not EpisodeStage.CLOSED

    def due_now(self, now: datetime) -> bool:
        return self.view is not None and rules.due_now(self.view, now)

    async def record_due(self, now: datetime) -> bool | None:
        assert self.view is not None  # the loop runs once open
        before = self.view.event_count
        advanced = await advance(
            EpisodeActivities.advance, AdvanceEpisodeInput(episode_code=self.episode_code, now=now),
            episode=self.episode_code,
        )
        if advanced is None:
            return None
        self.view = advanced
        return advanced.event_count != before

    def continue_as_new_input(self) -> EpisodeWorkflowInput:
        return EpisodeWorkflowInput(episode_code=self.episode_code, config=self.config, view=self.view,
                                    history_limit=self.history_limit)

    def log_ids(self) -> dict[str, str]:
        return {"episode": self.episode_code}

    # ------------------------------------------------------------------ reading
    @workflow.query
    def state(self) -> EpisodeView | None:
        return self.view

    @workflow.query
    def next_wakeup(self) -> datetime | None:
        return rules.next_wakeup(self.view) if self.view else None

    # ------------------------------------------------------------------ opening
    @workflow.update
    async def open(self, cmd: c.OpenEpisode) -> EpisodeView:
        return await record_opening(
            self, EpisodeActivities.open,
            lambda: OpenEpisodeInput(command=cmd.model_copy(update={"command_id": command_id()}), at=workflow.now()),
            self._set,
        )

    @open.validator
    def _validate_open(self, cmd: c.OpenEpisode) -> None:
        if self.view is not None or self.lock.locked():
            raise refused("duplicate_code", f"episode {self.episode_code} is already open")
        if cmd.episode_code != self.episode_code:
            raise refused("wrong_workflow",
                          f"this workflow carries episode {self.episode_code}, not {cmd.episode_code}")
        try:
            rules.check_open(cmd, workflow.now(), self.config)
        except DomainError as err:
            raise refused(err.code, err.message) from None

    # ------------------------------------------------------------------ acting
    @workflow.update
    async def act(self, cmd: c.EpisodeCommand) -> EpisodeView:
        async with self.lock:
            # Another command may have been recorded since validation: check again on the fresh view.
            self._check(cmd)
            cmd = cmd.model_copy(update={"command_id": command_id()})
            view = await execute_command(
                EpisodeActivities.act, EpisodeActInput(episode_code=self.episode_code, command=cmd, at=workflow.now()),
            )
            self._set(view)
            return view

    @act.validator
    def _validate_act(self, cmd: c.EpisodeCommand) -> None:
        self._check(cmd)

    def _check(self, cmd: c.Command) -> None:
        if self.view is None:
            raise refused("not_open", f"episode {self.episode_code} is not open yet")
        try:
            rules.check(self.view, cmd, workflow.now(), self.config)
        except DomainError as err:
            raise refused(err.code, err.message) from None

    def _set(self, view: EpisodeView) -> None:
        self.view = view
        self.changed = True
