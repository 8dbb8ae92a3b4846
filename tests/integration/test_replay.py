"""Recorded histories of the entente workflow replay against today's code (issue 2, compatibility).

Ententes live for years: a change to `EntenteWorkflow` that is not deterministic with respect to
existing histories would break every running entente on its next workflow task. The histories in
`tests/histories/entente-*.json` were recorded by `tests/histories/record.py` (see its docstring for
when to re-record: never to make this test pass; use `workflow.patched`). Two shapes are kept: the
`entente-REPLAY-ACT-*` histories send every command after the draft through `act` (issue 8); the others
were recorded before `act`, with one update per command (`submit`, `sign`…), and prove that runs of that
shape still replay on the delegations the workflow keeps.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from domain.clock import local_date, start_of
from domain.ententes.wakeup import review_wakeup
from workers.bootstrap import data_converter
from workflows.entente import SPREADS_REVIEWS, EntenteWorkflow, EntenteWorkflowInput

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
FILES = sorted(HISTORIES.glob("entente-*.json"))
PER_COMMAND = {
    "entente-REPLAY-SERVICE", "entente-REPLAY-CADRE", "entente-REPLAY-DEADLINE", "entente-REPLAY-ESCALATION",
    "entente-REPLAY-CAN.run1", "entente-REPLAY-CAN.run2",
}
ACT = {"entente-REPLAY-ACT-SERVICE", "entente-REPLAY-ACT-CADRE", "entente-REPLAY-ACT-DEADLINE",
       "entente-REPLAY-ACT-ESCALATION"}
# Recorded with webhooks to both parties (signature requests), before reminders and reviews were delivered.
DELIVERS = {"entente-REPLAY-DELIVERS"}
# Reviews woken later in their due day (patch `review-wakeup-spread`).
SPREAD = {"entente-REPLAY-SPREAD"}
EXPECTED = PER_COMMAND | ACT | DELIVERS | SPREAD


def load(path: Path) -> WorkflowHistory:
    workflow_id = path.stem.split(".run")[0]  # entente-REPLAY-CAN.run1 → entente-REPLAY-CAN
    return WorkflowHistory.from_json(workflow_id, path.read_text(encoding="utf-8"))


def test_the_recorded_scenarios_are_all_there() -> None:
    """The replay covers both kinds' full lives, deadlines, escalation and continue-as-new."""
    assert {p.stem for p in FILES} >= EXPECTED
    run1 = load(HISTORIES / "entente-REPLAY-CAN.run1.json")
    assert run1.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    service = load(HISTORIES / "entente-REPLAY-SERVICE.json")
    assert service.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    accepted = [e for e in service.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    assert len(accepted) >= 10


def _update_names(history: WorkflowHistory) -> set[str]:
    return {e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED}


def test_both_shapes_are_recorded() -> None:
    """The `act` histories carry no update of before, the others no `act`: each shape is replayed for real.
    Between them, every old update name a recorded run holds is covered."""
    for stem in ACT:
        history = load(HISTORIES / f"{stem}.json")
        assert _update_names(history) == {"draft", "act"}, stem
        assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, stem
    old = set().union(*(_update_names(load(HISTORIES / f"{stem}.json")) for stem in PER_COMMAND))
    assert "act" not in old
    assert old >= {"draft", "submit", "sign", "revise", "refuse", "withdraw", "amend", "review", "revoke"}
    act_service = load(HISTORIES / "entente-REPLAY-ACT-SERVICE.json")
    accepted = [e for e in act_service.events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]
    assert len(accepted) == 11  # draft, then submit, 2 signatures, 2 reviews, amendment, submit, 2 signatures, revoke


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_recorded_history_replays_on_the_current_workflow(path: Path) -> None:
    """Determinism: each recorded history replays on today's EntenteWorkflow without error."""
    replayer = Replayer(workflows=[EntenteWorkflow], data_converter=data_converter())
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure!r}"


@workflow.defn(name="Entente", sandboxed=False)
class ChangedWithoutPatch:
    """What an incompatible edit looks like: the same workflow type, calling a different activity first."""

    @workflow.run
    async def run(self, inp: EntenteWorkflowInput) -> None:
        await workflow.execute_activity("agreement.load", {"code": inp.code},
                                        start_to_close_timeout=timedelta(seconds=30))


@pytest.mark.parametrize("stem", ["entente-REPLAY-SERVICE", "entente-REPLAY-ACT-SERVICE"])
async def test_an_incompatible_change_fails_the_replay(stem: str) -> None:
    """The check has teeth: a workflow changed without `workflow.patched` fails on a recorded history
    (of either shape)."""
    replayer = Replayer(workflows=[ChangedWithoutPatch], data_converter=data_converter())
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load(HISTORIES / f"{stem}.json"))


async def test_calendar_deliveries_without_their_own_patch_fail_the_history_recorded_before_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """entente-REPLAY-DELIVERS has teeth for reminders and reviews: guarded by the patch already in it (as if
    they had no patch of their own), their endpoint lookup is a command that history does not hold."""
    import workflows.entente as entente

    monkeypatch.setattr(entente, "DELIVERS_CALENDAR", entente.DELIVERS)
    replayer = Replayer(workflows=[EntenteWorkflow], data_converter=data_converter(),
                        workflow_runner=UnsandboxedWorkflowRunner())
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load(HISTORIES / "entente-REPLAY-DELIVERS.json"))


def _patches(history: WorkflowHistory) -> set[str]:
    return {json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
            for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and e.marker_recorded_event_attributes.marker_name == "core_patch"}


def _review_timers_fired(stem: str) -> list[datetime]:
    """When the timers fired after which the history's `ReviewDue`s were recorded: the fired timers whose next
    workflow task scheduled `agreement.advance`, in a history whose reviews are due, not their escalations."""
    history = load(HISTORIES / f"{stem}.json")
    fired: list[datetime] = []
    last: datetime | None = None
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            last = e.event_time.ToDatetime().replace(tzinfo=UTC)
        elif (e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and last is not None
              and e.activity_task_scheduled_event_attributes.activity_type.name == "agreement.advance"):
            fired.append(last)
            last = None
    return fired


def test_the_review_wakeup_spread_is_recorded_in_its_own_history_only() -> None:
    """entente-REPLAY-SPREAD holds the new branch (it replays above): the patch marker, and each review's timer
    fired at the start of its due day plus the code's offset. The histories recorded before hold no such marker,
    and their review timers fired at the first instant of a Québec day: replaying them takes the old branch.
    (A timer's duration is not compared on replay, so this file, not a failing replay, is what shows the branch.)"""
    spread = load(HISTORIES / "entente-REPLAY-SPREAD.json")
    assert SPREADS_REVIEWS in _patches(spread)
    wakes = _review_timers_fired("entente-REPLAY-SPREAD")
    due_days = [local_date(w) for w in wakes if w - start_of(local_date(w)) >= timedelta(minutes=1)]
    assert len(due_days) >= 2
    for day in due_days:
        assert any(review_wakeup("REPLAY-SPREAD", day) <= w < review_wakeup("REPLAY-SPREAD", day)
                   + timedelta(seconds=1) for w in wakes), day
    for stem in ACT | DELIVERS:
        assert SPREADS_REVIEWS not in _patches(load(HISTORIES / f"{stem}.json")), stem
    before = _review_timers_fired("entente-REPLAY-ACT-SERVICE")  # activation, two reviews, revocation
    assert len(before) >= 3 and all(w - start_of(local_date(w)) < timedelta(seconds=1) for w in before), before
