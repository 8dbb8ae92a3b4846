"""The worker's workflow task slots and cache (issue 12, mass wake-up): ARRIMAGE_WORKFLOW_TASK_SLOTS and
ARRIMAGE_WORKFLOW_CACHE_SIZE. The cache defaults to 500, half the Temporal SDK's 1,000 (a crisis case weighs ~1.0 MiB
in the cache: 1,000 cases put a worker past 1 GiB); the slots to 16, not the SDK's 100 (a mass wake-up collapsed
with 100); a value the SDK would refuse is refused at start beside every other bad value."""

from __future__ import annotations

import inspect

import pytest
from temporalio.worker import Worker, WorkerTuner

from workers.bootstrap import load_settings
from workers.config import BadSettings
from workers.settings import Settings
from workers.worker import worker_for


def test_the_defaults(clean: pytest.MonkeyPatch) -> None:
    """The cache is 500, not the SDK's 1,000 (over 1 GiB full of cases); the slots are 16, not the SDK's 100, which
    collapsed a mass wake-up."""
    settings = Settings()
    sdk = inspect.signature(Worker.__init__).parameters
    assert sdk["max_cached_workflows"].default == 1000
    assert settings.workflow_cache_size == 500
    # unset, the SDK gives each kind of task a fixed 100 slots
    assert sdk["max_concurrent_workflow_tasks"].default is None
    fixed = WorkerTuner.create_fixed()
    assert fixed.workflow_slot_supplier.num_slots == 100  # type: ignore[attr-defined]
    assert settings.workflow_task_slots == 16
    ours = inspect.signature(worker_for).parameters
    assert (ours["workflow_task_slots"].default, ours["workflow_cache_size"].default) == (16, 500)


def test_set_by_the_environment(clean: pytest.MonkeyPatch) -> None:
    clean.setenv("ARRIMAGE_WORKFLOW_TASK_SLOTS", "4")
    clean.setenv("ARRIMAGE_WORKFLOW_CACHE_SIZE", "0")
    settings = Settings()
    assert (settings.workflow_task_slots, settings.workflow_cache_size) == (4, 0)


@pytest.mark.parametrize("slots", ["1", "0", "-3", "many"])
def test_fewer_than_two_slots_or_a_negative_cache_is_refused(clean: pytest.MonkeyPatch, slots: str) -> None:
    clean.setenv("ARRIMAGE_WORKFLOW_TASK_SLOTS", slots)
    clean.setenv("ARRIMAGE_WORKFLOW_CACHE_SIZE", "-1")
    with pytest.raises(BadSettings) as caught:
        load_settings()
    wrong = (
        "not a whole number; set a whole number"
        if slots == "many"
        else "expected at least 2; set a value of at least 2"
    )
    assert caught.value.message.splitlines() == [
        f"ARRIMAGE_WORKFLOW_TASK_SLOTS: {wrong}",
        "ARRIMAGE_WORKFLOW_CACHE_SIZE: expected at least 0; set a value of at least 0",
    ]
