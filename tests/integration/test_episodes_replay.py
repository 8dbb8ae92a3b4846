"""The recorded épisode de services history replays against the current `ServiceEpisodeWorkflow` (GUIDE: « a
change that breaks running workflows fails CI »). Recorded by `tests/histories/record_episodes.py` on the
time-skipping server: a consultation sociale accepted, its first-contact timer fired at 7 days, 13 meetings
(the 13th after a PI revision), follow-up started, closed. Payloads under the public DEVELOPMENT key."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from workers.bootstrap import data_converter
from workflows.episodes import ServiceEpisodeWorkflow, workflow_id

HISTORY = Path(__file__).parent.parent / "histories" / "episode_consultation_path.json"
E = EventType


def _load() -> WorkflowHistory:
    # The time-skipping server does not write the workflow id in the history; the payloads are bound to it.
    return WorkflowHistory.from_json(workflow_id("E-REPLAY2345"), HISTORY.read_text())


def _activities(history: WorkflowHistory) -> list[str]:
    return [e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]


def test_the_history_is_of_the_shape_it_stands_for() -> None:
    """21 accepted commands (the opening and 20 `act`), one timer fired and its `episode.advance`; the refused
    13th meeting is not in it."""
    history = _load()
    kinds = Counter(e.event_type for e in history.events)
    assert kinds[E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED] == 21
    assert kinds[E.EVENT_TYPE_TIMER_FIRED] >= 1
    assert _activities(history) == ["episode.open", "episode.act", "episode.advance", *["episode.act"] * 19]
    assert history.events[-1].event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED


async def test_the_recorded_history_replays_against_the_current_workflow() -> None:
    result = await Replayer(workflows=[ServiceEpisodeWorkflow], data_converter=data_converter()
                            ).replay_workflow(_load())
    assert result.replay_failure is None


async def test_a_workflow_that_stopped_recording_missed_deadlines_fails_the_replay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check has teeth: the same workflow with its calendar silenced (nothing ever due) fails the history
    that holds the timer and its `episode.advance`. Unsandboxed, so that the replayed class is the one patched."""
    monkeypatch.setattr(ServiceEpisodeWorkflow, "next_wakeup", lambda self: None)
    monkeypatch.setattr(ServiceEpisodeWorkflow, "due_now", lambda self, now: False)
    replayer = Replayer(workflows=[ServiceEpisodeWorkflow], data_converter=data_converter(),
                        workflow_runner=UnsandboxedWorkflowRunner())
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(_load())
