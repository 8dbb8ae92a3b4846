"""Record an épisode de services history from a real run, for the replay test (`tests/integration/
test_episodes_replay.py`).

    .venv/bin/python -m tests.histories.record_episodes            # writes episode_consultation_path.json if absent
    .venv/bin/python -m tests.histories.record_episodes --replace  # overwrite it (see below: almost never)

- `episode_consultation_path.json` — time-skipping server, workflow `episode-E-REPLAY2345` (the code is fixed,
  so that its payloads, bound to their workflow id, open on replay): a consultation sociale opened and
  accepted; nobody reaches the person in 7 days (the first-contact timer records `DeadlineMissed`); first
  contact, evaluation, PI, 12 meetings; a 13th refused by the validator (not in the history); the PI revised
  with one more meeting; the 13th; follow-up started; closed.

Payloads are encrypted by the data converter; record with ARRIMAGE_PAYLOAD_KEYS unset (the public DEVELOPMENT
key), which is what CI replays with. As for the crisis histories (`record_crisis.py`): after a deliberate,
versioned change of the workflow (`workflow.patched`), add a scenario and a new file and keep the old ones;
never re-record to make a failing replay pass.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from adapters.record.environment import record_env
from adapters.record.record import Record
from domain.episodes import commands as c
from domain.episodes.model import MeetingMode
from domain.standards import config as s
from tests.episode_builders import CSSS, accept, act, episodes_worker, missed, start, wait_for
from workers.binaries import temporal_test_server
from workers.bootstrap import data_converter

HERE = Path(__file__).parent
CODE = "E-REPLAY2345"
FILE = "episode_consultation_path.json"


def meeting() -> c.RecordMeeting:
    return c.RecordMeeting(by="ts-12", actor_org=CSSS, mode=MeetingMode.IN_PERSON, intervenant_id="ts-12",
                           personal={"notes": "rencontre"})


async def record_consultation_path(path: Path) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(), data_converter=data_converter())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            record = Record(record_env(sqlite=Path(tmp) / "record.sqlite"))
            queue = f"tq-{uuid.uuid4().hex[:8]}"
            async with episodes_worker(env.client, queue, record, Path(tmp)):
                handle, _ = await start(env.client, queue, code=CODE)
                await act(handle, accept())
                await env.sleep(timedelta(days=7, hours=1))
                await wait_for(handle, missed(s.CONSULTATION_SOCIALE_PREMIER_CONTACT))
                await act(handle, c.RecordFirstContact(by="ts-12", actor_org=CSSS))
                await act(handle, c.RecordEvaluation(by="ts-12", actor_org=CSSS, personal={"evaluation": "…"}))
                await act(handle, c.RecordInterventionPlan(by="ts-12", actor_org=CSSS, personal={"objectifs": "…"}))
                for _ in range(12):
                    await act(handle, meeting())
                try:
                    await act(handle, meeting())
                    raise SystemExit("the 13th meeting was accepted without a revised PI")
                except WorkflowUpdateFailedError:
                    pass
                await act(handle, c.ReviseInterventionPlan(by="ts-12", actor_org=CSSS, additional_meetings=1,
                                                           personal={"justification": "fin proche"}))
                await act(handle, meeting())
                await act(handle, c.StartFollowUp(by="ts-12", actor_org=CSSS))
                await act(handle, c.CloseEpisode(by="ts-12", actor_org=CSSS, personal={"raison": "objectifs"}))
                await handle.result()
                history = await handle.fetch_history()
            record.close()
        path.write_text(history.to_json() + "\n")
        print(f"wrote {path} ({len(history.events)} events, workflow {handle.id})")
    finally:
        await env.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replace", action="store_true", help="overwrite the file if it exists")
    args = parser.parse_args()
    path = HERE / FILE
    if path.exists() and not args.replace:
        print(f"{path} exists: kept (use --replace to overwrite it)")
        return
    asyncio.run(record_consultation_path(path))


if __name__ == "__main__":
    main()
