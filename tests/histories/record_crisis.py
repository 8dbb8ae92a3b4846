"""Record crisis case histories from real runs, for the replay test (`tests/integration/test_crisis_replay.py`).

    .venv/bin/python -m tests.histories.record_crisis

Writes, next to this file:
- `crisis_full_path.json` — time-skipping server: Info-Social → team accepts → arrival → outcome →
  post-crisis follow-up (a contact made, one missed by its timer, a deadline extended, the last made) →
  référence personnalisée accepted → person reached → closed;
- `crisis_cascade.json` — dev server with the case search attributes registered (so the history holds
  their upserts): a team declines, the next one does not answer (answer deadline shortened to 2 s in the
  case's configuration), escalation to a supervisor, reassignment, intervention, closed.

Payloads are encrypted by the data converter; record with ARRIMAGE_PAYLOAD_KEYS unset (the public
DEVELOPMENT key), which is what CI replays with. Run it again after a deliberate, versioned change of the
workflow, never to make a failing replay pass.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from adapters.standards_file import load_standards
from domain.crisis import commands as c
from domain.crisis.model import new_case_code
from domain.crisis.state import CaseStage
from tests.crisis_builders import (
    CSSS,
    DAY,
    HOUR,
    TEAM,
    TEAM_2,
    accept,
    accept_referral,
    act,
    arrive,
    contact,
    crisis_worker,
    decline,
    follow_up,
    open_cmd,
    outcome,
    reached,
    referral,
    request,
    start_case,
    sup,
    until,
    wait_for,
)
from workers.binaries import temporal_cli, temporal_test_server
from workers.bootstrap import data_converter
from workflows.crisis import SEARCH_ATTRIBUTES

HERE = Path(__file__).parent
FULL_PATH = HERE / "crisis_full_path.json"
CASCADE = HERE / "crisis_cascade.json"


async def _save(handle: WorkflowHandle[Any, Any], path: Path) -> None:
    history = await handle.fetch_history()
    path.write_text(history.to_json() + "\n")
    print(f"{path.name}: {len(history.events)} events, workflow {handle.id}")


async def record_full_path(tmp: Path) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(), data_converter=data_converter())
    record = Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp / "full.sqlite")})
    try:
        async with crisis_worker(env.client, "record-full", record, tmp):
            handle, _ = await start_case(env.client, open_cmd(new_case_code()), "record-full")
            for cmd in (request(), accept(), arrive(), outcome()):
                await act(handle, cmd)
            view = await act(handle, follow_up())
            start = view.follow_ups[0].started_at
            await env.sleep(until(start + DAY, await env.get_current_time()))
            await act(handle, contact(1))
            await env.sleep(until(start + 4 * DAY, await env.get_current_time()))
            await wait_for(handle, "contact 2 missed", lambda v: len(v.escalations) == 1)
            await act(handle, sup(c.ExtendDeadline, deadline_id="suivi.1.contact.3", until=start + 33 * DAY,
                                  reason="la personne est à l'extérieur"))
            await env.sleep(until(start + 32 * DAY + HOUR, await env.get_current_time()))
            await act(handle, contact(3))
            for step in (referral(), accept_referral(), reached()):
                await act(handle, step)
            await handle.result()
            await _save(handle, FULL_PATH)
    finally:
        record.close()
        await env.shutdown()


async def record_cascade(tmp: Path) -> None:
    standards = tmp / "region.toml"
    standards.write_text('region = "replay"\n\n[standards."crise.reponse_equipe"]\nduration = "PT2S"\n')
    cfg = load_standards(standards)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), data_converter=data_converter(), ui=False,
        search_attributes=SEARCH_ATTRIBUTES)
    record = Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp / "cascade.sqlite")})
    try:
        async with crisis_worker(env.client, "record-cascade", record, tmp, standards_file=standards):
            handle, _ = await start_case(env.client, open_cmd(new_case_code()), "record-cascade", config=cfg,
                                         search_attributes=True)
            await act(handle, request([TEAM, TEAM_2]))
            await act(handle, decline(TEAM))
            await wait_for(handle, "escalated", lambda v: v.stage is CaseStage.SUPERVISOR, within=30)
            await act(handle, sup(c.Reassign, team=TEAM, reason="équipe 1 de retour"))
            for cmd in (accept(TEAM), arrive(), outcome()):
                await act(handle, cmd)
            await act(handle, c.CloseCase(by="intervenant-1", actor_org=CSSS, reason="rien de plus requis"))
            await handle.result()
            await _save(handle, CASCADE)
    finally:
        record.close()
        await env.shutdown()


async def main() -> None:
    if os.environ.get("ARRIMAGE_PAYLOAD_KEYS"):
        sys.exit("unset ARRIMAGE_PAYLOAD_KEYS: recorded histories are encrypted with the development key")
    with tempfile.TemporaryDirectory() as tmp:
        await record_full_path(Path(tmp))
        await record_cascade(Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
