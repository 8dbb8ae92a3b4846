"""Issue 3, what must hold: « Workflow ids and search attributes carry no personal information (opaque case
codes only) ». Temporal stores workflow ids and search attributes in clear (the payload codec never sees
them), so they are read back the way a supervisor's `list` would see them, from the dev server's visibility
store with the case search attributes registered, at every stage of a few cases.

The intakes carry distinctive personal strings (reason, person reference, subject id, notes); none may show
in an id, a search attribute, or — payloads being encrypted — anywhere in Temporal's raw history.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from domain.crisis.model import TeamRef, new_case_code
from domain.crisis.state import CaseStage
from tests.crisis_builders import (
    CSSS,
    NOTE,
    PERSON_REF,
    REASON,
    SUBJECT,
    TEAM,
    accept,
    act,
    activate,
    arrive,
    crisis_content,
    crisis_worker,
    decline,
    open_cmd,
    outcome,
    referral,
    request,
    start_case,
)
from usecases.ententes import Ententes
from workflows.crisis import SEARCH_ATTRIBUTES

PERSONAL = [REASON, PERSON_REF, SUBJECT, NOTE, "Jean", "Tremblay", "RAMQ"]
CODE_ID = re.compile(r"^case-C-[A-Z2-7]{10}$")
ORGS = {CSSS, "cc-laval", "clsc-ouest", ""}
TEAMS = {TEAM.team_id, "cc-laval", ""}
STAGES = {s.value for s in CaseStage}


async def _listed(client: Client, task_queue: str, expected: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The cases of this task queue as visibility lists them, once it shows each at its expected stage
    (visibility is eventually consistent: polled, bounded in real time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while True:
        seen: dict[str, dict[str, Any]] = {}
        async for wf in client.list_workflows(f'TaskQueue = "{task_queue}"'):
            seen[wf.id] = {"workflow_type": wf.workflow_type, **{
                pair.key.name: pair.value for pair in wf.typed_search_attributes}}
        if {k: v.get("CaseStage") for k, v in seen.items()} == expected:
            return seen
        if loop.time() > deadline:
            pytest.fail(f"visibility never showed {expected}; last: {seen}")
        await asyncio.sleep(0.2)


def _assert_opaque(listed: dict[str, dict[str, Any]]) -> None:
    for wf_id, attrs in listed.items():
        assert CODE_ID.match(wf_id), wf_id
        # Ours, and the server's own `BuildIds` (worker build hashes), checked for personal strings below too.
        # `TemporalChangeVersion` lists the workflow's patch ids (fixed strings of the code).
        assert set(attrs) <= {"workflow_type", "BuildIds", "TemporalChangeVersion",
                              *(k.name for k in SEARCH_ATTRIBUTES)}, attrs
        assert attrs["CaseStage"] in STAGES and attrs["CaseHolder"] in ORGS and attrs["CaseTeam"] in TEAMS
        assert attrs["CaseTerritory"] == "laval" and isinstance(attrs["CaseOverdue"], bool)
        assert isinstance(attrs["CaseOpenedAt"], datetime)
        assert isinstance(attrs.get("CaseNextDeadline", datetime.min), datetime)
        text = f"{wf_id} {attrs}"
        for personal in PERSONAL:
            assert personal not in text, (personal, text)


async def _raw_history_is_opaque(handle: WorkflowHandle[Any, Any]) -> None:
    """Every payload of the history is encrypted: no personal string in its raw bytes nor in its JSON."""
    history = await handle.fetch_history()
    raw = b"".join(e.SerializeToString() for e in history.events)
    as_json = history.to_json()
    for personal in PERSONAL:
        assert personal.encode() not in raw and personal not in as_json, personal


async def test_workflow_ids_and_search_attributes_carry_only_opaque_codes(
    visible_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 3 (privacy) and the GUIDE's rule « search attributes and workflow ids carry opaque codes only »:
    ids are `case-<opaque case code>`; search attributes hold stage values, organisation and team codes, the
    territory code, a flag and moments — at intake, handoff to an organisation under entente, intervention,
    referral; none holds the reason, the person reference, the subject id or the notes of the intake."""
    env = visible_env
    record = Record(store_env)
    try:
        activate(Ententes(record), "ENT-CC-PRIV", crisis_content("cc-laval"), await env.get_current_time())
        async with crisis_worker(env.client, task_queue, record, tmp_path):
            a, b, k = new_case_code(), new_case_code(), new_case_code()
            ha, _ = await start_case(env.client, open_cmd(a), task_queue, search_attributes=True)
            hb, _ = await start_case(env.client, open_cmd(b), task_queue, search_attributes=True)
            hk, _ = await start_case(env.client, open_cmd(k), task_queue, search_attributes=True)
            ids = {h: f"case-{code}" for h, code in ((ha, a), (hb, b), (hk, k))}
            _assert_opaque(await _listed(env.client, task_queue, dict.fromkeys(ids.values(), "accueil")))

            await act(ha, request())
            await act(ha, decline())  # now the centre de crise is asked, under its entente
            await act(hb, request())
            await act(hb, accept())
            listed = await _listed(env.client, task_queue, {ids[ha]: "transfert", ids[hb]: "intervention",
                                                             ids[hk]: "accueil"})
            _assert_opaque(listed)
            assert (listed[ids[ha]]["CaseTeam"], listed[ids[ha]]["CaseHolder"]) == ("cc-laval", CSSS)
            assert listed[ids[hb]]["CaseTeam"] == TEAM.team_id

            await act(ha, accept(TeamRef(team_id="cc-laval", org_id="cc-laval")))
            await act(hb, arrive())
            await act(hb, outcome())
            await act(hb, referral())
            listed = await _listed(env.client, task_queue, {ids[ha]: "intervention", ids[hb]: "reference",
                                                             ids[hk]: "accueil"})
            _assert_opaque(listed)
            assert listed[ids[ha]]["CaseHolder"] == "cc-laval"
            for h in ids:
                await _raw_history_is_opaque(h)
                await h.terminate(reason="end of test")
    finally:
        record.close()
