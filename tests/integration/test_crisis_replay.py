"""Recorded crisis case histories replay against the current `CrisisCaseWorkflow` (GUIDE: « a change that
breaks running workflows fails CI »). Histories come from real runs (`tests/histories/record_crisis.py`):
a full trajectory on the time-skipping server, and a decline-and-timeout cascade on the dev server with
search attributes. Their payloads are encrypted with the public DEVELOPMENT key; CI replays with the same
default converter, which a clean environment (no `ARRIMAGE_*` variable) must reproduce.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workers.bootstrap import data_converter
from workflows.crisis import CrisisCaseWorkflow

HISTORIES = Path(__file__).parent.parent / "histories"
E = EventType


def _load(name: str) -> WorkflowHistory:
    path = HISTORIES / name
    workflow_id = next(
        e["workflowExecutionStartedEventAttributes"].get("workflowId", "")
        for e in json.loads(path.read_text())["events"] if "workflowExecutionStartedEventAttributes" in e
    ) or path.stem
    return WorkflowHistory.from_json(workflow_id, path.read_text())


def _kinds(history: WorkflowHistory) -> Counter[int]:
    return Counter(e.event_type for e in history.events)


# What each history must exercise for its replay to mean something.
EXPECTED = {
    # 13 updates: open, request, accept, arrive, outcome, follow-up, contact 1, extension, contact 3,
    # referral, acceptance, reached; timers: contact 2 missed (fired), and the others re-armed.
    "crisis_full_path.json": {E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: 12,
                              E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: 1},
    # open, request, decline, reassign, accept, arrive, outcome, close: 8 updates; the search attributes
    # upserted after every recorded step; the second team's answer timer fired.
    "crisis_cascade.json": {E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: 8,
                            E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: 1},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_recorded_crisis_histories_replay_against_the_current_workflow(name: str) -> None:
    """Replay determinism of `CrisisCaseWorkflow` (GUIDE, « How we test »): a recorded history replays
    without non-determinism, decrypting its payloads with the default converter."""
    history = _load(name)
    kinds = _kinds(history)
    for kind, count in EXPECTED[name].items():
        assert kinds[kind] == count, (E.Name(kind), kinds[kind])
    assert kinds[E.EVENT_TYPE_TIMER_FIRED] >= 1
    if name == "crisis_cascade.json":
        assert kinds[E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES] >= 8
    replayer = Replayer(workflows=[CrisisCaseWorkflow], data_converter=data_converter())
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None


def test_histories_replay_from_a_clean_environment() -> None:
    """CI has no `ARRIMAGE_*` setting: the default converter (public DEVELOPMENT key) must decrypt and replay
    the recorded histories there too — checked in a fresh interpreter with every such variable removed."""
    script = (
        "import asyncio\n"
        "from temporalio.worker import Replayer\n"
        "from tests.integration.test_crisis_replay import EXPECTED, _load\n"
        "from workers.bootstrap import data_converter\n"
        "from workflows.crisis import CrisisCaseWorkflow\n"
        "async def main():\n"
        "    replayer = Replayer(workflows=[CrisisCaseWorkflow], data_converter=data_converter())\n"
        "    for name in sorted(EXPECTED):\n"
        "        await replayer.replay_workflow(_load(name))\n"
        "        print(name, 'replayed')\n"
        "asyncio.run(main())\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")}
    root = Path(__file__).parent.parent.parent
    done = subprocess.run([sys.executable, "-c", script], env=clean, cwd=root, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == [w for n in sorted(EXPECTED) for w in (n, "replayed")], done.stdout
