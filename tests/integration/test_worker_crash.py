"""A worker killed with SIGKILL mid-command loses nothing and doubles nothing (issue 2).

The worker runs as its own process (`arrimage worker`, as operators run it) against the Temporal dev
server, recording into a SQLite file, then into PostgreSQL (`tests.integration.stores`). Several
ententes are driven to between steps, a burst of commands is sent, and the worker is killed (SIGKILL: no
shutdown, no flush) as soon as the first of them is recorded. A new worker process then picks up what
was cut short: workflow tasks time out and are retried, activities time out and are retried, and the
aggregate recognises a command it already applied by its `command_id`. Every lifecycle is then finished
and the record checked event by event.

With the dev server, time is real: ententes take effect on their last signature (no effective date),
give a revocation notice of 0 days, and the one time-driven step in flight is a signature deadline a
few seconds away (effective *dates* are civil dates, at Québec midnight, so they cannot be seconds away).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.clock import local_date
from domain.ententes import commands as c
from domain.ententes.state import EntenteStatus
from tests.factories import entente_cadre, service_entente
from tests.integration.lifecycle import names, start, wait_for
from tests.integration.stores import StoreUnderTest
from tests.integration.worker_process import WorkerProcess
from usecases.ententes import Ententes
from workflows.entente import EntenteWorkflow

pytestmark = pytest.mark.slow

SERVICE = ["cisss-laval", "cc-laval"]
CADRE = ["cisss-laval", "cc-laval", "cps-laval"]
# A dead worker's activities are retried after their start-to-close timeout (30 s): be patient.
PATIENCE = 120.0


def _sign(party: str, version: int = 1) -> c.SignEntente:
    return c.SignEntente(by=party, party_id=party, version=version, signatory=f"DG {party}")


async def test_sigkill_mid_command_loses_and_doubles_nothing(
    dev_env: WorkflowEnvironment, task_queue: str, worker: WorkerProcess, store: StoreUnderTest
) -> None:
    """Idempotent recording: after a SIGKILL of the worker while commands are in flight and a restart,
    every entente ends with exactly the events of its life — none missing, none twice."""
    client = dev_env.client
    suffix = task_queue.removeprefix("tq-")
    record = store.record()
    ententes = Ententes(record)
    worker.start()
    handles: dict[str, WorkflowHandle[Any, Any]] = {}
    try:
        # ---- between steps: every entente submitted, some partly signed
        plan = {
            f"SVC-A-{suffix}": (service_entente(effective=None, notice_days=0), SERVICE),
            f"SVC-B-{suffix}": (service_entente(effective=None, notice_days=0), SERVICE),
            f"CADRE-A-{suffix}": (entente_cadre(effective=None, notice_days=0), CADRE),
            f"CADRE-B-{suffix}": (entente_cadre(effective=None, notice_days=0), CADRE),
            f"DEADLINE-{suffix}": (service_entente(effective=None, notice_days=0), SERVICE),
            f"REVISED-{suffix}": (service_entente(effective=None, notice_days=0), SERVICE),
        }
        for code, (content, _) in plan.items():
            handles[code], _ = await start(client, code, content, task_queue)
        deadline_code, revised_code = f"DEADLINE-{suffix}", f"REVISED-{suffix}"
        for code, handle in handles.items():
            deadline = datetime.now(UTC) + timedelta(seconds=4) if code == deadline_code else None
            cmd = c.SubmitForSignature(by="superviseur", signature_deadline=deadline)
            await handle.execute_update(EntenteWorkflow.act, cmd)
        for code in (f"SVC-A-{suffix}", f"CADRE-A-{suffix}", deadline_code, revised_code):
            await handles[code].execute_update(EntenteWorkflow.act, _sign("cisss-laval"))
        before_burst = {code: names(ententes, code) for code in plan}

        # ---- a burst of commands, and SIGKILL as soon as the first is recorded
        burst: list[asyncio.Task[Any]] = [
            asyncio.create_task(handles[f"SVC-A-{suffix}"].execute_update(EntenteWorkflow.act, _sign("cc-laval"))),
            *(asyncio.create_task(handles[f"SVC-B-{suffix}"].execute_update(EntenteWorkflow.act, _sign(p)))
              for p in SERVICE),
            *(asyncio.create_task(handles[f"CADRE-A-{suffix}"].execute_update(EntenteWorkflow.act, _sign(p)))
              for p in CADRE[1:]),
            *(asyncio.create_task(handles[f"CADRE-B-{suffix}"].execute_update(EntenteWorkflow.act, _sign(p)))
              for p in CADRE),
            asyncio.create_task(handles[revised_code].execute_update(
                EntenteWorkflow.act,
                c.ReviseDraft(by="conseillere", content=service_entente(effective=None, notice_days=0,
                                                                           title="Version révisée"))),
            ),
        ]
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 30
        while all(names(ententes, code) == before_burst[code] for code in plan) and loop.time() < give_up:
            await asyncio.sleep(0.005)
        worker.sigkill()
        in_flight = sum(not t.done() for t in burst)
        assert in_flight > 0, "every command finished before the kill: nothing was cut short"

        # ---- a new worker finishes what was cut short
        worker.start()
        results = await asyncio.wait_for(asyncio.gather(*burst), PATIENCE)
        assert all(r is not None for r in results)

        # The deadline passed (with or without a worker): the version went back to drafting.
        await wait_for(handles[deadline_code], "deadline missed", lambda v: v.status is EntenteStatus.DRAFT,
                       within=PATIENCE)

        # ---- finish every lifecycle: signed by all, in force, revoked
        for code in (deadline_code, revised_code):
            view = await handles[code].execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="s"))
            assert view.proposal is not None
            for party in SERVICE:
                await handles[code].execute_update(EntenteWorkflow.act, _sign(party, view.proposal.version))
        for handle in handles.values():
            await wait_for(handle, "activation", lambda v: v.status is EntenteStatus.ACTIVE, within=PATIENCE)
            notice = c.GiveRevocationNotice(by="cisss", party_id="cisss-laval", reason="fin du projet",
                                            effective_date=local_date(datetime.now(UTC)))
            await handle.execute_update(EntenteWorkflow.act, notice)
        for code, handle in handles.items():
            final = await asyncio.wait_for(handle.result(), PATIENCE)
            assert final is not None and final.status is EntenteStatus.REVOKED, code
    finally:
        worker.stop()

    # ---- the record: exactly the events of each life, each command once
    end = ["Activated", "RevocationNoticeGiven", "Revoked"]
    expected = {
        f"SVC-A-{suffix}": ["Drafted", "SubmittedForSignature", "Signed", "Signed", *end],
        f"SVC-B-{suffix}": ["Drafted", "SubmittedForSignature", "Signed", "Signed", *end],
        f"CADRE-A-{suffix}": ["Drafted", "SubmittedForSignature", "Signed", "Signed", "Signed", *end],
        f"CADRE-B-{suffix}": ["Drafted", "SubmittedForSignature", "Signed", "Signed", "Signed", *end],
        deadline_code: ["Drafted", "SubmittedForSignature", "Signed", "SignatureDeadlineMissed",
                        "SubmittedForSignature", "Signed", "Signed", *end],
        revised_code: ["Drafted", "SubmittedForSignature", "Signed", "DraftRevised",
                       "SubmittedForSignature", "Signed", "Signed", *end],
    }
    try:
        for code, events in expected.items():
            history = ententes.history(code)
            assert [h["event"] for h in history] == events, code
            command_ids = [h["command_id"] for h in history if h.get("command_id")]
            assert len(command_ids) == len(set(command_ids)), (code, command_ids)
            # Within each round of signature (from a submission on), each party signed once.
            rounds: list[list[str]] = []
            for h in history:
                if h["event"] == "SubmittedForSignature":
                    rounds.append([])
                elif h["event"] == "Signed":
                    rounds[-1].append(h["party_id"])
            assert all(len(r) == len(set(r)) for r in rounds), (code, rounds)
        assert ententes.view(revised_code).title == "Version révisée"
        assert ententes.view(revised_code).in_force_version == 2
        assert worker.starts == 2
    finally:
        record.close()
