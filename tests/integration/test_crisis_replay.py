"""Recorded crisis case histories replay against the current `CrisisCaseWorkflow` (GUIDE: « a change that
breaks running workflows fails CI »). Histories come from real runs (`tests/histories/record_crisis.py`):
a full trajectory on the time-skipping server, and a decline-and-timeout cascade on the dev server with
search attributes, both recorded before the workflow's patches (no marker: they replay on the old paths);
and, of today's shape, a community organisation asked under its entente, with its intake's sending as a step
of its own (`case.send_intake`) and the patch markers, through to a référence personnalisée. Their payloads
are encrypted with the public DEVELOPMENT key; CI replays with the same default converter, which a clean
environment (no `ARRIMAGE_*` variable) must reproduce.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from workers.bootstrap import data_converter
from workflows.crisis import (
    DELIVERS,
    DELIVERS_REFERRALS,
    ENDS_WHEN_OPEN_REFUSED,
    NOTIFIES_SUBSCRIBERS,
    ONE_STEP,
    SENDS_INTAKE,
    CrisisCaseWorkflow,
)

HISTORIES = Path(__file__).parent.parent / "histories"
E = EventType


# The workflow a history was recorded under, where the server did not write it in the history (the
# time-skipping server): payloads recorded since the codec binds them to their workflow open only under it.
WORKFLOW_IDS = {"crisis_delivers_path.json": "case-C-FTOIIG477U", "crisis_notifies_path.json": "case-C-NE2D63QYY7",
                "crisis_one_step_path.json": "case-C-NJT7X6ITZJ"}


def _load(name: str) -> WorkflowHistory:
    path = HISTORIES / name
    workflow_id = next(
        e["workflowExecutionStartedEventAttributes"].get("workflowId", "")
        for e in json.loads(path.read_text())["events"] if "workflowExecutionStartedEventAttributes" in e
    ) or WORKFLOW_IDS.get(name) or path.stem
    return WorkflowHistory.from_json(workflow_id, path.read_text())


def _kinds(history: WorkflowHistory) -> Counter[int]:
    return Counter(e.event_type for e in history.events)


def _patches(history: WorkflowHistory) -> set[str]:
    """The patch ids the SDK recorded (its marker: {"id": <patch id>, "deprecated": …})."""
    return {json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
            for e in history.events if e.event_type == E.EVENT_TYPE_MARKER_RECORDED
            and "patch-data" in e.marker_recorded_event_attributes.details}


def _activities(history: WorkflowHistory) -> list[str]:
    return [e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]


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
    # Today's shape: open, request, decline (the community organisation is asked next), accept, arrive,
    # outcome, referral, acceptance, reached: 9 updates; both patch markers; one intake sending.
    "crisis_community_path.json": {E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: 9,
                                   E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: 1},
    # The same path with webhooks, recorded before referrals were delivered: the crisis centre told of its
    # handoff (one `delivery.deliver`), the receiving service (a partner with an endpoint) of nothing.
    "crisis_delivers_path.json": {E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: 9,
                                  E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: 1},
    # The same path with FHIR Task subscriptions: the crisis centre and the receiving service subscribed to
    # their own Tasks; each step that changed a Task looked its owner's subscriptions up and notified them.
    "crisis_notifies_path.json": {E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: 9,
                                  E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: 1},
    # The notifies path once a command is one activity (`case.step`, which looks up endpoints and subscribers
    # itself): no local activity left; the same deliveries and notifications.
    "crisis_one_step_path.json": {E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: 9,
                                  E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: 1},
    # The cascade again, started as a new case is today (`paths` MARKERLESS): no patch marker, only the search
    # attributes that changed upserted; the second team's answer timer fired (`case.advance`, no marker either).
    "crisis_markerless_cascade.json": {E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: 8,
                                       E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: 1},
}
# The histories recorded before the patches, and what they must not hold (or they would not test the old paths).
BEFORE_PATCHES = {"crisis_full_path.json", "crisis_cascade.json"}
COMMUNITY = "crisis_community_path.json"
DELIVERS_PATH = "crisis_delivers_path.json"
NOTIFIES_PATH = "crisis_notifies_path.json"
ONE_STEP_PATH = "crisis_one_step_path.json"
MARKERLESS_CASCADE = "crisis_markerless_cascade.json"


def test_the_histories_are_of_the_shapes_they_stand_for() -> None:
    """The old histories hold no patch marker and no `case.send_intake`; the new one holds both markers and
    the intake's sending as a step of its own, right after the command that asked the community team."""
    for name in BEFORE_PATCHES:
        history = _load(name)
        assert _patches(history) == set(), name
        assert "case.send_intake" not in _activities(history), name
    history = _load(COMMUNITY)
    assert _patches(history) == {ENDS_WHEN_OPEN_REFUSED, SENDS_INTAKE}
    assert _activities(history) == ["case.open", "case.act", "case.act", "case.send_intake", *["case.act"] * 6]
    history = _load(DELIVERS_PATH)
    assert _patches(history) == {ENDS_WHEN_OPEN_REFUSED, SENDS_INTAKE, DELIVERS}
    assert sorted(_activities(history)) == sorted(
        ["case.open", "case.send_intake", "delivery.deliver", *["case.act"] * 8])
    history = _load(NOTIFIES_PATH)
    assert _patches(history) == {ENDS_WHEN_OPEN_REFUSED, SENDS_INTAKE, DELIVERS, DELIVERS_REFERRALS,
                                 NOTIFIES_SUBSCRIBERS}
    # the centre's Task requested, accepted, in progress, completed; the referral's requested, accepted, completed
    assert sorted(_activities(history)) == sorted(
        ["case.open", "case.send_intake", *["delivery.deliver"] * 2, *["case.act"] * 8, *["fhir.notify"] * 7])
    history = _load(ONE_STEP_PATH)
    assert _patches(history) == {ENDS_WHEN_OPEN_REFUSED, ONE_STEP}  # it implies the others
    assert sorted(_activities(history)) == sorted(
        ["case.open", "case.send_intake", *["delivery.deliver"] * 2, *["case.step"] * 8, *["fhir.notify"] * 7])
    assert not [e for e in history.events if e.event_type == E.EVENT_TYPE_MARKER_RECORDED
                and e.marker_recorded_event_attributes.marker_name == "core_local_activity"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_recorded_crisis_histories_replay_against_the_current_workflow(name: str) -> None:
    """Replay determinism of `CrisisCaseWorkflow` (GUIDE, « How we test »): a recorded history replays
    without non-determinism, decrypting its payloads with the default converter."""
    history = _load(name)
    kinds = _kinds(history)
    for kind, count in EXPECTED[name].items():
        assert kinds[kind] == count, (E.Name(kind), kinds[kind])
    if name in BEFORE_PATCHES:
        assert kinds[E.EVENT_TYPE_TIMER_FIRED] >= 1
    if name in ("crisis_cascade.json", MARKERLESS_CASCADE):
        assert kinds[E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES] >= 8
        assert kinds[E.EVENT_TYPE_TIMER_FIRED] >= 1
    replayer = Replayer(workflows=[CrisisCaseWorkflow], data_converter=data_converter())
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None


async def test_a_workflow_that_stopped_sending_the_intake_fails_the_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check has teeth: the same workflow with its intake sending removed (an unguarded change) fails
    on the history that holds it, while it still replays the histories recorded before the patch.
    Unsandboxed, so that the replayed class is the one patched here."""
    async def sends_nothing(self: CrisisCaseWorkflow) -> None:
        return None

    monkeypatch.setattr(CrisisCaseWorkflow, "_send_intake", sends_nothing)
    replayer = Replayer(workflows=[CrisisCaseWorkflow], data_converter=data_converter(),
                        workflow_runner=UnsandboxedWorkflowRunner())
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(_load(COMMUNITY))
    for name in sorted(BEFORE_PATCHES):
        result = await replayer.replay_workflow(_load(name), raise_on_replay_failure=False)
        assert result.replay_failure is None, (name, result.replay_failure)


async def test_a_referral_delivery_without_its_own_patch_fails_the_history_recorded_before_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The delivers history has teeth for the referral's webhook: guarded by the patch already in that history
    (as if it had no patch of its own), the referral's endpoint lookup is a command the history does not hold."""
    import workflows.crisis as crisis

    monkeypatch.setattr(crisis, "DELIVERS_REFERRALS", DELIVERS)
    replayer = Replayer(workflows=[CrisisCaseWorkflow], data_converter=data_converter(),
                        workflow_runner=UnsandboxedWorkflowRunner())
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(_load(DELIVERS_PATH))


async def test_task_notifications_have_teeth_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    """The notifies history holds the subscribers' lookups and notifications: a workflow that stopped notifying
    fails it; and guarded by a patch already in the delivers history (as if it had no patch of its own), the
    lookup is a command that history does not hold."""
    import workflows.crisis as crisis

    replayer = Replayer(workflows=[CrisisCaseWorkflow], data_converter=data_converter(),
                        workflow_runner=UnsandboxedWorkflowRunner())

    async def notifies_nobody(self: CrisisCaseWorkflow) -> None:
        return None

    with monkeypatch.context() as patched:
        patched.setattr(CrisisCaseWorkflow, "_notify_subscribers", notifies_nobody)
        with pytest.raises(workflow.NondeterminismError):
            await replayer.replay_workflow(_load(NOTIFIES_PATH))
    monkeypatch.setattr(crisis, "NOTIFIES_SUBSCRIBERS", DELIVERS)
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(_load(DELIVERS_PATH))


async def test_one_activity_per_command_has_teeth_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-step history fails a workflow that acts as before it (`case.act` and local look-ups: its patch
    renamed, so never found); and the notifies history, recorded before it, fails a workflow that took the
    one-step path unguarded (its patch named as one already in that history)."""
    import workflows.crisis as crisis

    replayer = Replayer(workflows=[CrisisCaseWorkflow], data_converter=data_converter(),
                        workflow_runner=UnsandboxedWorkflowRunner())
    with monkeypatch.context() as patched:
        patched.setattr(crisis, "ONE_STEP", "not-this-patch")
        with pytest.raises(workflow.NondeterminismError):
            await replayer.replay_workflow(_load(ONE_STEP_PATH))
    monkeypatch.setattr(crisis, "ONE_STEP", SENDS_INTAKE)
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(_load(NOTIFIES_PATH))


def _upserted(history: WorkflowHistory) -> list[set[str]]:
    """The search attributes each upsert of the history set or unset, by name."""
    return [set(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
            for e in history.events if e.event_type == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES]


def test_a_new_case_asks_for_no_marker_and_upserts_only_what_changed() -> None:
    """Today's cascade beside the one recorded before the patches (same scenario, same server): today's paths
    (`case.step`, `case.advance`), yet no patch marker and no `TemporalChangeVersion`; after the first upsert,
    each names only the attributes its step changed (the stage, the team, the next deadline...)."""
    before, today = _load("crisis_cascade.json"), _load(MARKERLESS_CASCADE)
    assert _patches(today) == set()
    assert "case.step" in _activities(today) and "case.advance" in _activities(today)
    everything = {"CaseStage", "CaseHolder", "CaseTerritory", "CaseTeam", "CaseOverdue", "CaseOpenedAt",
                  "CaseNextDeadline"}
    assert all(names == everything for names in _upserted(before))
    upserts = _upserted(today)
    assert all("TemporalChangeVersion" not in names for names in upserts)
    assert upserts[0] == everything - {"CaseNextDeadline"}  # nothing due yet: nothing to unset
    assert all(names and names < everything for names in upserts[1:])
    assert sum(map(len, upserts)) < sum(map(len, _upserted(before))) // 2


async def test_a_markerless_run_replayed_as_one_that_asks_for_markers_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The markerless history has teeth: a workflow that ignores the input's `paths` and asks for patch markers
    finds none in it (so takes the oldest paths) and fails the replay."""
    def asks(self: CrisisCaseWorkflow, patch: str) -> bool:
        return workflow.patched(patch)

    monkeypatch.setattr(CrisisCaseWorkflow, "_since", asks)
    replayer = Replayer(workflows=[CrisisCaseWorkflow], data_converter=data_converter(),
                        workflow_runner=UnsandboxedWorkflowRunner())
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(_load(MARKERLESS_CASCADE))


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
        # As the console script leaves (cli.main `_leave`): Temporal's native threads can still hold Python objects
        # when the interpreter finalizes, which then aborts (exit -6, seen once in CI) after every replay passed.
        "import os, sys\n"
        "sys.stdout.flush()\n"
        "os._exit(0)\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")}
    root = Path(__file__).parent.parent.parent
    done = subprocess.run([sys.executable, "-c", script], env=clean, cwd=root, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == [w for n in sorted(EXPECTED) for w in (n, "replayed")], done.stdout
