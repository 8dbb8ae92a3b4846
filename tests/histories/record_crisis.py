"""Record crisis case histories from real runs, for the replay test (`tests/integration/test_crisis_replay.py`).

    .venv/bin/python -m tests.histories.record_crisis                   # the files not yet recorded
    .venv/bin/python -m tests.histories.record_crisis community_path    # some (full_path, cascade, community_path)

Writes, next to this file, each only when it does not exist yet (`--replace` to overwrite one: see below).

Recorded before `case.send_intake` (commit ec6de09) and before the opening patch: their runs decide every
intake sending inside `case.act` / `case.advance` and carry no patch marker; they prove such running cases
still replay on the old paths. Re-running their scenario today records today's shape instead: do not replace
them with it.
- `crisis_full_path.json` — time-skipping server: Info-Social → team accepts → arrival → outcome →
  post-crisis follow-up (a contact made, one missed by its timer, a deadline extended, the last made) →
  référence personnalisée accepted → person reached → closed;
- `crisis_cascade.json` — dev server with the case search attributes registered (so the history holds
  their upserts): a team declines, the next one does not answer (answer deadline shortened to 2 s in the
  case's configuration), escalation to a supervisor, reassignment, intervention, closed.

Today's shape (patch markers `crisis-case-ends-when-open-refused` and `crisis-case-sends-intake`):
- `crisis_community_path.json` — time-skipping server, with the crisis centre's entente in force in the
  record: the CSSS team declines, the community organisation under the entente is asked (its intake
  sending decided by `case.send_intake`, a step of its own), accepts, arrives, records the outcome,
  makes a référence personnalisée, accepted → person reached → closed.
- `crisis_delivers_path.json` — the same path with webhooks (patch `crisis-case-delivers-to-partners`,
  recorded before referrals were delivered, commit 32c04b5): the crisis centre and the receiving service
  are partners with endpoints (receivers on loopback); the centre is told of its handoff by
  `delivery.endpoints` + `delivery.deliver`, the receiving service of nothing (the referral's delivery came
  later, behind a patch of its own): such running cases must replay without it. Its payloads are bound to
  its workflow id (printed when recorded): `test_crisis_replay.WORKFLOW_IDS` names it.

- `crisis_notifies_path.json` — the same path with FHIR Task subscriptions too (patch
  `crisis-case-notifies-task-subscribers`): the crisis centre and the receiving service each subscribed to
  their own Tasks (handshake taken) before the case; after each step that changed a Task, the workflow looks
  up its owner's subscriptions (`fhir.subscribers`, local) and starts `fhir.notify` per change. Its payloads
  are bound to its workflow id (printed when recorded).

- `crisis_one_step_path.json` — the notifies scenario again, recorded once a command became one activity (patch
  `crisis-case-one-activity-per-command`): each command is `case.step`, which also looks up the endpoints and the
  subscribers the workflow asked for as local activities before (none left); the same deliveries and
  notifications. Its payloads are bound to its workflow id (printed when recorded).

- `crisis_markerless_cascade.json` — the cascade scenario again (dev server, search attributes), recorded once a
  new case's input says it takes today's paths (`CaseWorkflowInput.starting`, `paths` = `MARKERLESS`): no patch
  marker and no `TemporalChangeVersion` upsert; each step upserts only the search attributes that changed, and
  none when nothing did. Its due step (`case.advance` when the second team did not answer) asks for no marker either.

Payloads are encrypted by the data converter; record with ARRIMAGE_PAYLOAD_KEYS unset (the public
DEVELOPMENT key), which is what CI replays with.

When to record: after a deliberate, versioned change of the workflow (`workflow.patched`), add a scenario
and a new file here and keep the old ones — they stand for the cases still running. Never re-record to make
a failing replay pass; replace a file only once no running case can have its shape (every run of that code
closed, its patches deprecated), and say so in the commit message.
"""

from __future__ import annotations

import argparse
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
from domain.crisis.model import TeamRef, new_case_code
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
    activate,
    arrive,
    contact,
    crisis_content,
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
from usecases.ententes import Ententes
from workers.binaries import temporal_cli, temporal_test_server
from workers.bootstrap import data_converter
from workflows.crisis import SEARCH_ATTRIBUTES

HERE = Path(__file__).parent
FULL_PATH = HERE / "crisis_full_path.json"
CASCADE = HERE / "crisis_cascade.json"
COMMUNITY_PATH = HERE / "crisis_community_path.json"
CC = TeamRef(team_id="cc-laval", org_id="cc-laval")


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


async def record_cascade(tmp: Path, path: Path | None = None) -> None:
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
            await _save(handle, path or CASCADE)
    finally:
        record.close()
        await env.shutdown()


async def record_community_path(tmp: Path) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(), data_converter=data_converter())
    record = Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp / "community.sqlite")})
    try:
        activate(Ententes(record), "ENT-CC-LAVAL", crisis_content("cc-laval"), await env.get_current_time())
        async with crisis_worker(env.client, "record-community", record, tmp):
            handle, _ = await start_case(env.client, open_cmd(new_case_code()), "record-community")
            await act(handle, request())
            view = await act(handle, decline())
            assert view.pending_attempt is not None and view.pending_attempt.candidate.team.team_id == CC.team_id, view
            for cmd in (accept(CC), arrive(CC.org_id), outcome(org=CC.org_id), referral(org=CC.org_id),
                        accept_referral(), reached()):
                await act(handle, cmd)
            await handle.result()
            await _save(handle, COMMUNITY_PATH)
    finally:
        record.close()
        await env.shutdown()


async def record_delivers_path(tmp: Path) -> None:
    from datetime import datetime

    from tests.crisis_builders import RECEIVING
    from tests.webhook_receiver import arrived, receiving
    from usecases.principals import Principals
    from workers.bootstrap import use_cases
    from workers.settings import Settings

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(), data_converter=data_converter())
    record = Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp / "delivers.sqlite")})
    try:
        activate(Ententes(record), "ENT-CC-LAVAL", crisis_content("cc-laval"), await env.get_current_time())
        deliveries = use_cases(record, Settings()).deliveries
        with receiving() as centre, receiving() as clsc:
            for org, partner in ((CC.org_id, centre), (RECEIVING, clsc)):
                now = datetime.now().astimezone()
                Principals(record).add_partner(org, f"Organisme {org}", by="admin", at=now)
                secret = deliveries.register(org, partner.url, by="admin", at=now).secret
                assert secret is not None
                partner.secret = secret
            async with crisis_worker(env.client, "record-delivers", record, tmp):
                handle, _ = await start_case(env.client, open_cmd(new_case_code()), "record-delivers")
                await act(handle, request())
                view = await act(handle, decline())
                assert view.pending_attempt is not None and view.pending_attempt.candidate.team.team_id == CC.team_id
                await arrived(centre, 1)
                for cmd in (accept(CC), arrive(CC.org_id), outcome(org=CC.org_id), referral(org=CC.org_id),
                            accept_referral(), reached()):
                    await act(handle, cmd)
                await handle.result()
                assert [d.verdict for d in centre.got] == ["ok"] and clsc.got == []
                await _save(handle, DELIVERS_PATH)
    finally:
        record.close()
        await env.shutdown()


async def record_notifies_path(tmp: Path, path: Path | None = None) -> None:
    import uuid

    from adapters.temporal.subscriptions import start_subscription
    from tests.crisis_builders import RECEIVING
    from tests.webhook_receiver import arrived, receiving
    from usecases.principals import Principals
    from workers.bootstrap import use_cases
    from workers.settings import Settings

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(), data_converter=data_converter())
    record = Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp / "notifies.sqlite")})
    try:
        activate(Ententes(record), "ENT-CC-LAVAL", crisis_content("cc-laval"), await env.get_current_time())
        deliveries = use_cases(record, Settings()).deliveries
        with receiving() as centre, receiving() as clsc:
            async with crisis_worker(env.client, "record-notifies", record, tmp):
                for org, partner in ((CC.org_id, centre), (RECEIVING, clsc)):
                    now = await env.get_current_time()
                    Principals(record).add_partner(org, f"Organisme {org}", by="admin", at=now)
                    secret = deliveries.register(org, partner.url, by="admin", at=now).secret
                    assert secret is not None
                    partner.secret = secret
                    made = deliveries.subscriptions.request(org, org, partner.url, "", None, "http://gateway/fhir",
                                                            uuid.uuid4().hex, org, now)
                    await start_subscription(env.client, "record-notifies", made.subscription_id)
                    await arrived(partner, 1)  # its handshake
                    while deliveries.subscriptions.get(made.subscription_id).status.value != "active":
                        await asyncio.sleep(0.05)
                handle, _ = await start_case(env.client, open_cmd(new_case_code()), "record-notifies")
                await act(handle, request())
                view = await act(handle, decline())
                assert view.pending_attempt is not None and view.pending_attempt.candidate.team.team_id == CC.team_id
                await arrived(centre, 3)  # its Task requested (FHIR) and its handoff (webhook)
                for cmd in (accept(CC), arrive(CC.org_id), outcome(org=CC.org_id), referral(org=CC.org_id),
                            accept_referral(), reached()):
                    await act(handle, cmd)
                await handle.result()
                await _save(handle, path or NOTIFIES_PATH)
                print("recorded", handle.id, [d.verdict for d in centre.got], [d.verdict for d in clsc.got])
    finally:
        record.close()
        await env.shutdown()


DELIVERS_PATH = HERE / "crisis_delivers_path.json"
NOTIFIES_PATH = HERE / "crisis_notifies_path.json"
ONE_STEP_PATH = HERE / "crisis_one_step_path.json"


async def record_one_step_path(tmp: Path) -> None:
    await record_notifies_path(tmp, ONE_STEP_PATH)


MARKERLESS_CASCADE = HERE / "crisis_markerless_cascade.json"


async def record_markerless_cascade(tmp: Path) -> None:
    await record_cascade(tmp, MARKERLESS_CASCADE)


RECORDERS = {"full_path": (FULL_PATH, record_full_path), "cascade": (CASCADE, record_cascade),
             "community_path": (COMMUNITY_PATH, record_community_path),
             "delivers_path": (DELIVERS_PATH, record_delivers_path),
             "notifies_path": (NOTIFIES_PATH, record_notifies_path),
             "one_step_path": (ONE_STEP_PATH, record_one_step_path),
             "markerless_cascade": (MARKERLESS_CASCADE, record_markerless_cascade)}


async def main(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            await RECORDERS[name][1](Path(tmp))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Record crisis case histories (see the module docstring).")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"among {', '.join(RECORDERS)}; default: those whose file does not exist")
    parser.add_argument("--replace", action="store_true", help="overwrite existing files (see the docstring)")
    args = parser.parse_args()
    if unknown := [n for n in args.names if n not in RECORDERS]:
        parser.error(f"unknown history {', '.join(unknown)}: choose among {', '.join(RECORDERS)}")
    if os.environ.get("ARRIMAGE_PAYLOAD_KEYS"):
        sys.exit("unset ARRIMAGE_PAYLOAD_KEYS: recorded histories are encrypted with the development key")
    names = args.names or [n for n, (path, _) in RECORDERS.items() if not path.exists()]
    if not args.replace and (existing := [RECORDERS[n][0].name for n in names if RECORDERS[n][0].exists()]):
        parser.error(f"{', '.join(existing)} exist(s): not overwritten (see the docstring; --replace to do so)")
    asyncio.run(main(names))
