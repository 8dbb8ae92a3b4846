"""The intake's sending to a community team is a step of the crisis workflow (issue 8).

Once a community organisation is asked (here: the CSSS team declines, the crisis centre under the
entente in force is asked next), the workflow calls `case.send_intake` for that attempt: the step is
in the history, it runs once per attempt (a later command decides nothing again), and the decision is
registered in the person's register (LSSSS 19.0.1 / LRSSS 74, consent, or nothing sent: here no
consent and no emergency attestation, so nothing but the call is sent, and the refusal is registered).
The use case's `send` is idempotent by attempt and refuses an attempt that asked no community team.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.crisis import commands as c
from domain.crisis.model import TeamRef, new_case_code
from domain.errors import RuleViolation
from tests.crisis_builders import (
    CSSS,
    SUBJECT,
    TEAM,
    accept,
    act,
    activate,
    crisis_content,
    decline,
    open_cmd,
    request,
    start_case,
)
from tests.crisis_world import CODE, World
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes
from usecases.handoff import HandoffDisclosures

CC = TeamRef(team_id="cc-laval", org_id="cc-laval")


async def _steps(handle: WorkflowHandle[Any, Any]) -> tuple[list[str], list[str]]:
    """The activities the workflow scheduled, by registered name, and the patch ids it recorded."""
    activities: list[str] = []
    markers: list[str] = []
    async for ev in handle.fetch_history_events():
        if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activities.append(ev.activity_task_scheduled_event_attributes.activity_type.name)
        elif ev.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            details = ev.marker_recorded_event_attributes.details
            if "patch-data" in details:  # the SDK's patch marker: {"id": <patch id>, "deprecated": …}
                markers.append(json.loads(details["patch-data"].payloads[0].data)["id"])
    return activities, markers


async def test_a_community_team_asked_gets_the_intake_sending_decided_once_as_a_workflow_step(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    env = time_env
    activate(Ententes(cases.record), "ENT-CC-LAVAL", crisis_content("cc-laval"), await env.get_current_time())
    code = new_case_code()
    handle, _ = await start_case(env.client, open_cmd(code), task_queue)
    await act(handle, request())
    activities, _ = await _steps(handle)
    assert "case.send_intake" not in activities  # the CSSS's own team: the care team, nothing is sent out
    view = await act(handle, decline())
    assert view.pending_attempt is not None and view.pending_attempt.candidate.team.team_id == "cc-laval"
    await act(handle, accept(CC))

    activities, markers = await _steps(handle)
    # one activity per command (`case.step`), the intake's sending a step of its own after the decline
    assert activities == ["case.open", "case.step", "case.step", "case.send_intake", "case.step"]
    assert markers == []  # a new case takes today's paths (`CaseWorkflowInput.starting`) without asking for a marker
    subject = cases.get(code).subject_id
    assert subject is not None
    register = Disclosures(cases.record).register(subject)
    assert [(d.recipient_id, d.allowed) for d in register.accesses] == [("cc-laval", [])]


def test_send_is_once_per_attempt_and_only_for_a_community_team() -> None:
    w = World()
    w.open()
    w.do(c.RequestMobileIntervention(by="intervenant-1", actor_org=CSSS, csss_teams=[TEAM]))
    w.do(c.DeclineHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id, reason="équipe déjà en intervention"))
    disclosures = Disclosures(w.record)
    handoff = HandoffDisclosures(w.cases, disclosures)
    first = handoff.send(CODE, 2)
    assert (first.attempt, first.team_org, first.basis) == (2, "cc-laval", "none")
    recorded = disclosures.register(SUBJECT).event_count
    assert handoff.send(CODE, 2) == first
    assert disclosures.register(SUBJECT).event_count == recorded  # the second call recorded nothing
    with pytest.raises(RuleViolation) as refused:
        handoff.send(CODE, 1)  # the CSSS's own team
    assert refused.value.code == "no_sending"
