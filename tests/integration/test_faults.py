"""Fault tests (issue 12, « Proof »), each bounded in time and stopping by itself; after each, every case and
entente ends with exactly the events it should have, each command recorded once, and the audit verify use case
(`arrimage audit verify`) passes.

Which test proves which fault of the issue:

- SIGKILL of a worker under load: test_crisis_worker_crash, test_worker_crash, test_update_retry (a worker
  process killed while commands are in flight);
- PostgreSQL backends terminated mid-append, PostgreSQL down then back: test_record_pg_faults;
- PostgreSQL **restarted** (a private server, stopped and started again) under a worker process's load, and the
  worker SIGKILL and the Temporal restart above with PostgreSQL as the record: test_faults_postgres;
- a partner endpoint down (503), answering 4xx, unreachable, or whose 200 is lost: test_webhooks,
  test_partner_journeys; one that **hangs, answers 500, then answers slowly**: here;
- the Temporal server restarted on its database: here;
- the gateway's idempotent retries: test_gateway_api, test_partner_journeys (the answer lost, the gateway alive);
  the gateway **killed mid-request** (SIGKILL) and retried with the same key: here (and the reservation a dead
  process leaves, taken over once after its lease, on both stores).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from adapters.record.idempotency import IdempotencyStore, Kept
from adapters.record.record import Record
from adapters.standards_file import load_standards
from domain.crisis import commands as c
from domain.crisis.model import PhoneDisposition, UrgencyLevel, new_case_code
from domain.crisis.state import CaseStage
from domain.delivery.model import Outcome, SubjectKind
from domain.disclosure.roles import Role
from domain.ententes import commands as ec
from domain.ententes.state import EntenteStatus, EntenteView
from tests.crisis_builders import (
    CSSS,
    TEAM,
    TEAM_2,
    accept,
    accepted_update_ids,
    act,
    activate,
    arrive,
    command_ids,
    crisis_content,
    names,
    open_cmd,
    outcome,
    request,
    start_case,
    state,
    sup,
    until,
    wait_for,
)
from tests.e2e.harness import free_port
from tests.factories import service_entente
from tests.integration import lifecycle
from tests.integration.test_webhooks import deliveries_of, logged, partner_endpoint, to_community_team
from tests.integration.worker_process import ARRIMAGE, running_worker
from tests.webhook_receiver import Receiver, arrived, receiving
from usecases.audit.trail import verify
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes
from workers.bootstrap import bootstrap, data_converter
from workers.embedded import server_command
from workers.settings import Settings
from workflows.crisis import workflow_id

HANG = 15.0  # seconds a hanging partner holds a POST: longer than the sender waits (adapters.webhooks.sender, 10 s)
SLOW = 2.0  # seconds a slow partner takes to answer: within what the sender waits


async def test_a_partner_that_hangs_then_answers_500_then_slowly_holds_nothing_and_the_case_completes(
    time_env: WorkflowEnvironment, task_queue: str, cases: CrisisCases
) -> None:
    """The community organisation asked for a handoff has an endpoint that hangs on the first POST (the sender
    gives up after its timeout: ReadTimeout), answers 500 to the second, and takes the third after a slow answer.
    Meanwhile the case is not held: it answers while the POST hangs, its answer deadline (crise.reponse_equipe)
    falls at its due moment and escalates as for a team that does not answer (workflows.deliveries: the workflow
    never waits for a delivery), and the supervisor closes it. One message, three attempts, the same event id."""
    env = time_env
    activate(Ententes(cases.record), "ENT-CC-LAVAL", crisis_content("cc-laval"), await env.get_current_time())
    deliveries = deliveries_of(cases)
    answers = {2: 500}
    holds = {1: HANG, 3: SLOW}
    begun = time.monotonic()
    partner = Receiver(answer=lambda verdict: answers.get(len(partner.got) + 1, 200),
                       hold=lambda number: holds.get(number, 0.0))
    with receiving(partner):
        partner.secret = partner_endpoint(deliveries, partner.url)
        code, view = await to_community_team(env, task_queue)
        handle = env.client.get_workflow_handle(f"case-{code}")
        await arrived(partner, 1)
        assert partner.holding == 1  # the first POST hangs …
        during = await state(handle)  # … and the case answers meanwhile: nothing is held
        assert during.stage is CaseStage.HANDOFF and during.pending_attempt is not None

        # each attempt recorded once the partner's answer (or the sender's timeout) came; the back-off skipped
        await logged(deliveries, code, lambda log: bool(log) and len(log[0].attempts) == 1)
        await env.sleep(timedelta(seconds=8))  # the first back-off (5 s)
        await logged(deliveries, code, lambda log: len(log[0].attempts) == 2)
        await env.sleep(timedelta(seconds=15))  # the second (10 s); the slow answer comes within the attempt's time
        [message] = await logged(deliveries, code, lambda log: log[0].outcome is Outcome.DELIVERED)
    assert [(a.attempt, a.status, a.error, a.outcome) for a in message.attempts] == [
        (1, None, "ReadTimeout", Outcome.RETRYING), (2, 500, None, Outcome.RETRYING),
        (3, 200, None, Outcome.DELIVERED)]
    assert len(partner.got) == 3 and {d.headers["Arrimage-Event-Id"] for d in partner.got} == {message.event_id}
    assert [d.verdict for d in partner.got] == ["ok", "duplicate", "duplicate"]  # the partner keeps it once

    # the answer deadline runs as for a team that does not answer: timed out at its due moment, escalated
    attempt = view.pending_attempt
    assert attempt is not None
    due = view.deadline(attempt.answer_deadline)
    assert due is not None
    await env.sleep(until(due.due_at, await env.get_current_time()))
    await wait_for(handle, "escalated to a supervisor", lambda v: v.stage is CaseStage.SUPERVISOR)
    timed_out = [h for h in cases.history(code) if h["event"] == "HandoffTimedOut"]
    assert [h["at"] for h in timed_out] == [due.due_at]
    await handle.execute_update("act", sup(c.SupervisorClose, reason="personne rejointe par la police"))

    assert names(cases, code) == ["Opened", "MobileInterventionRequested", "TeamAsked", "HandoffDeclined", "TeamAsked",
                               "HandoffTimedOut", "Escalated", "CaseClosed"]
    ids = command_ids(cases, code)
    assert len(ids) == len(set(ids))
    assert len(deliveries.log(SubjectKind.CASE, code)[0].attempts) == 3  # nothing sent after it was taken
    report = verify(cases.record)
    assert report.ok, report.to_dict()
    print(f"\nhanging partner: {len(message.attempts)} attempts "
          f"({', '.join(f'{a.status or a.error} in {a.duration_ms} ms' for a in message.attempts)}), "
          f"{len(names(cases, code))} events, verify {report.events_checked} events; "
          f"{time.monotonic() - begun:.1f} s")


ANSWER_WITHIN = "PT6S"  # crise.reponse_equipe, shortened so that the answer timers fall due within seconds


@asynccontextmanager
async def dev_server(tmp_path: Path) -> AsyncIterator[tuple[list[str], str, list[subprocess.Popen[bytes]]]]:
    """`temporal server start-dev` as `arrimage up` starts it (workers.embedded.server_command: its own database
    file, the case search attributes), on free ports; each process in its own group, all stopped at the end."""
    address = f"127.0.0.1:{free_port()}"
    settings = Settings(data_dir=tmp_path / "temporal", temporal_address=address, temporal_ui_port=free_port())
    settings.data_dir.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield server_command(settings), address, procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def start_server(cmd: list[str], procs: list[subprocess.Popen[bytes]], log: Path) -> None:
    with log.open("ab") as out:
        procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))


async def answering(client: Client, within: float = 60.0) -> float:
    """Seconds until the server behind `client` answers (bounded in real time)."""
    loop = asyncio.get_running_loop()
    begun = loop.time()
    while True:
        try:
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return loop.time() - begun
        except RPCError:
            assert loop.time() - begun < within, "the Temporal server does not answer"
            await asyncio.sleep(0.2)


async def test_the_temporal_server_restarted_on_its_database_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """The dev server is stopped (SIGTERM, as `up` stops it) and started again on the same database file and port
    while crisis cases and an entente are mid-flight with timers pending: answer deadlines (6 s here) and the
    entente's signature deadline. The client made before the restart and the worker process (`arrimage worker`)
    reconnect by themselves (a worker that had exited would be restarted, as its supervisor does: printed).
    Everything is then driven to its end: the answer timers fire once, at their due moments; every case and the
    entente hold exactly their trajectory's events, each accepted command recorded once; verify passes."""
    standards = tmp_path / "region.toml"
    standards.write_text(f'region = "test-restart"\n\n[standards."crise.reponse_equipe"]\n'
                         f'duration = "{ANSWER_WITHIN}"\n')
    cfg = load_standards(standards)
    record_path = tmp_path / "record.sqlite"
    tq = "tq-restart"
    async with dev_server(tmp_path) as (cmd, address, procs):
        start_server(cmd, procs, tmp_path / "temporal-1.log")
        client = await asyncio.wait_for(_connect(address), 60)
        with running_worker(address, tq, record_path, tmp_path) as worker:
            worker.env["ARRIMAGE_STANDARDS_FILE"] = str(standards)
            worker.start()
            codes = {k: new_case_code() for k in "ABC"}
            h: dict[str, WorkflowHandle[Any, Any]] = {}
            h["A"], _ = await start_case(client, open_cmd(codes["A"]), tq, config=cfg, search_attributes=True)
            await act(h["A"], request([TEAM, TEAM_2]))  # nobody will answer: two answer timers, then escalation
            h["B"], _ = await start_case(client, open_cmd(codes["B"]), tq, config=cfg, search_attributes=True)
            await act(h["B"], request([TEAM, TEAM_2]))
            await act(h["B"], accept())
            h["C"], _ = await start_case(client, open_cmd(codes["C"], urgency=UrgencyLevel.NONE, face=False), tq,
                                         config=cfg, search_attributes=True)
            entente = "ENT-RESTART"
            eh, _ = await lifecycle.start(client, entente, service_entente(effective=None), tq)
            await eh.execute_update("act", ec.SubmitForSignature(by="dsp"), result_type=EntenteView)

            pending = await state(h["A"])  # its first answer timer still pending when the server stops
            assert pending.stage is CaseStage.HANDOFF and len(pending.attempts) == 1, pending.attempts
            begun = time.monotonic()
            procs[-1].terminate()  # SIGTERM, as `up` stops its server; its database file is kept
            await asyncio.to_thread(procs[-1].wait, 30)
            stopped = time.monotonic() - begun
            start_server(cmd, procs, tmp_path / "temporal-2.log")
            back = await answering(client)  # the client made before the restart, not a new one
            alive = worker.proc is not None and worker.proc.poll() is None
            if not alive:
                worker.start()  # what its supervisor does
            print(f"\nTemporal restart: stopped in {stopped:.1f} s, the old client answered {back:.1f} s after "
                  f"the new start; worker process {'kept running' if alive else 'had exited: restarted'}")

            # everything driven to its end after the restart
            await act(h["B"], arrive())
            await act(h["B"], outcome())
            await act(h["B"], c.CloseCase(by="intervenant-1", actor_org=CSSS, reason="rien de plus requis"))
            await act(h["C"], c.CloseAtPhone(by="intervenant-1", actor_org=CSSS,
                                             disposition=PhoneDisposition.INFORMATION, reason="information donnée"))
            await wait_for(h["A"], "escalated to a supervisor", lambda v: v.stage is CaseStage.SUPERVISOR, within=60)
            await act(h["A"], sup(c.SupervisorClose, reason="personne rejointe par la police"))
            for party in ("cisss-laval", "cc-laval"):
                view = await eh.execute_update("act", ec.SignEntente(by=party, party_id=party, version=1,
                                                                     signatory="D.G."), result_type=EntenteView)
            assert view.status in (EntenteStatus.SIGNED, EntenteStatus.ACTIVE)
            await lifecycle.wait_for(eh, "in force", lambda v: v.status is EntenteStatus.ACTIVE, within=30)
            finals = {k: await handle.result() for k, handle in h.items()}
            assert all(v is not None and v.stage is CaseStage.CLOSED for v in finals.values())
            accepted = {k: await accepted_update_ids(handle) for k, handle in h.items()}
            entente_accepted = await lifecycle.accepted_update_ids(eh)
            await eh.terminate(reason="end of test")  # in force for years: its review timer is not this test's
        assert worker.proc is not None and worker.proc.returncode in (0, -signal.SIGTERM)

    record = Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(record_path)})
    try:
        cases = CrisisCases(record, cfg)
        head = ["Opened", "MobileInterventionRequested", "TeamAsked"]
        assert names(cases, codes["A"]) == [*head, "HandoffTimedOut", "TeamAsked", "HandoffTimedOut", "Escalated",
                                            "CaseClosed"]
        assert names(cases, codes["B"]) == [*head, "HandoffAccepted", "ArrivedOnSite", "OutcomeRecorded",
                                            "CaseClosed"]
        assert names(cases, codes["C"]) == ["Opened", "CaseClosed"]
        a_view = cases.view(codes["A"])
        six = cfg.standards["crise.reponse_equipe"].duration
        assert six is not None
        asked = a_view.attempts[0].asked_at
        assert [a.asked_at for a in a_view.attempts] == [asked, asked + six]  # each timer fired once, when due
        assert a_view.escalations[0].at == asked + 2 * six
        for k, code in codes.items():
            ids = command_ids(cases, code)
            assert len(ids) == len(set(ids)), (k, ids)
            assert set(ids) == {f"{workflow_id(code)}/{u}" for u in accepted[k]}, k
        ententes = Ententes(record)
        entente_events = lifecycle.names(ententes, entente)
        print(f"entente events: {entente_events}; {len(entente_accepted)} updates accepted")
        assert entente_events == ["Drafted", "SubmittedForSignature", "Signed", "Signed", "Activated"]
        report = verify(record)
        assert report.ok, report.to_dict()
        print(f"after the restart: {sum(len(names(cases, code)) for code in codes.values())} case events, "
              f"{len(entente_events)} entente events, verify {report.events_checked} events")
    finally:
        record.close()


async def _connect(address: str) -> Client:
    while True:
        with suppress(RuntimeError):
            return await Client.connect(address, data_converter=data_converter())
        await asyncio.sleep(0.3)


LEASE = 5.0  # ARRIMAGE_GATEWAY_IDEMPOTENCY_LEASE_SECONDS, shortened (default 120 s): about a gateway restart


class GatewayProcess:
    """`arrimage gateway` as its own process, configured by environment only, on a fixed port across restarts."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.env = {**env, "ARRIMAGE_GATEWAY_PORT": str(self.port),
                    "ARRIMAGE_GATEWAY_IDEMPOTENCY_LEASE_SECONDS": str(LEASE)}
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.runs += 1
        with (self.cwd / f"gateway-{self.runs}.log").open("wb") as log:
            self.proc = subprocess.Popen([str(ARRIMAGE), "gateway"], env=self.env, cwd=self.cwd, stdout=log,
                                         stderr=subprocess.STDOUT)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        async with httpx.AsyncClient() as http:
            while True:
                assert self.proc.poll() is None, f"the gateway exited ({self.proc.returncode})"
                with suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return
                assert loop.time() < deadline, "the gateway did not start"
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


async def killed_mid_request(gw: GatewayProcess, http: httpx.AsyncClient, path: str, body: dict[str, Any],
                             headers: dict[str, str], sent: Callable[[], Awaitable[bool]]) -> None:
    """POST, then SIGKILL the gateway once `sent()` says the command reached Temporal (no worker takes it)."""
    request = asyncio.create_task(http.post(f"{gw.url}{path}", json=body, headers=headers))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while not await sent():
        assert not request.done(), request.result()
        assert loop.time() < deadline, "the command did not reach Temporal"
        await asyncio.sleep(0.1)
    gw.kill()
    with suppress(httpx.HTTPError):
        await request  # the connection is cut: no answer
    assert request.done() and request.exception() is not None


async def retried(gw: GatewayProcess, http: httpx.AsyncClient, path: str, body: dict[str, Any],
                  headers: dict[str, str]) -> tuple[httpx.Response, int]:
    """The client's retries with the same key and body: 409 (in progress) while the dead process's reservation
    holds, then the answer; bounded. Returns it and the number of 409s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    busy = 0
    while (answer := await http.post(f"{gw.url}{path}", json=body, headers=headers, timeout=60)).status_code == 409:
        assert answer.json()["code"] == "idempotency_key_in_progress"
        assert loop.time() < deadline
        busy += 1
        await asyncio.sleep(float(answer.headers["Retry-After"]))
    return answer, busy


async def test_the_gateway_killed_mid_request_and_retried_with_its_key_records_each_command_once(
    visible_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str], tmp_path: Path
) -> None:
    """`arrimage gateway` is killed (SIGKILL) while a command it sent is in flight (no worker runs: Temporal holds
    it), twice: the opening of a case, then a request for a mobile team. The gateway is started again and the
    client retries with the same Idempotency-Key and body: while the dead process's reservation holds it is told
    409 (Retry-After), then the request runs again under the same update id (adapters.temporal.updates.sent_as),
    so Temporal answers the command the first run sent and the record holds it once; a further retry gets that
    answer again (Idempotent-Replayed). The case is then closed; exact events, each command once, verify passes."""
    env, tq = visible_env, task_queue
    record_path = Path(store_env.get("SQLITE_DBNAME", tmp_path / "unused.sqlite"))
    record_env = store_env  # SQLite, then PostgreSQL: the idempotency reservations are the record's
    root = bootstrap(Settings(_env_file=None, mode="development", task_queue=tq, data_dir=tmp_path / "data"),
                     record_env=record_env, client=env.client)
    try:
        key = root.principals.add_user("superviseure", CSSS, Role.SUPERVISOR, by="t", at=datetime.now(UTC)).key
    finally:
        root.close()
    found: list[str] = []  # the case's code, made by the gateway (none given): the same when the request runs again

    async def started() -> bool:
        found[:] = [w.id async for w in env.client.list_workflows(f'TaskQueue="{tq}"')]
        return bool(found)

    async def asked() -> bool:
        handle = env.client.get_workflow_handle(found[0])
        history = await handle.fetch_history()
        return sum(e.HasField("workflow_execution_update_admitted_event_attributes")
                   or e.HasField("workflow_execution_update_accepted_event_attributes") for e in history.events) > 1 \
            or await _update_pending(handle)

    begun = time.monotonic()
    with running_worker(env.client.service_client.config.target_host, tq, record_path, tmp_path) as worker:
        if store_env["PERSISTENCE_MODULE"] == "adapters.record.postgres":  # the worker and gateway on that schema
            worker.env.pop("ARRIMAGE_SQLITE_PATH")
            worker.env.update({"ARRIMAGE_STORE": "postgres", **{
                f"ARRIMAGE_POSTGRES_{part}": store_env[f"POSTGRES_{part}"]
                for part in ("HOST", "PORT", "DBNAME", "USER", "PASSWORD", "SCHEMA")}})
        gw = GatewayProcess(worker.env, tmp_path)
        try:
            await gw.start()
            auth = {"Authorization": f"Bearer {key}"}
            intake = {"responsible_org": CSSS, "territory": "laval", "subject_id": "p-7f3a9c2e",
                      "personal": {"reason": "Idees suicidaires apres rupture"},
                      "intake": {"service": "info_social", "request_mode": "telephone", "urgency": "urgent",
                                 "face_to_face_needed": True, "risks": {"suicide": "eleve"}}}
            mobile = {"type": "request_mobile", "csss_teams": [{"team_id": TEAM.team_id, "org_id": TEAM.org_id}]}
            answers: dict[str, tuple[str, int]] = {}
            codes: set[str] = set()
            async with httpx.AsyncClient(timeout=60) as http:
                for path, body, sent in (("/v1/cases", intake, started), ("/v1/cases/{code}/commands", mobile, asked)):
                    path = path.format(code=found[0].removeprefix("case-") if found else "")
                    headers = {**auth, "Idempotency-Key": f"k-{len(answers)}-{tq}"}
                    await killed_mid_request(gw, http, path, body, headers, sent)
                    worker.start()  # a worker takes the command the dead gateway sent
                    await gw.start()
                    answer, busy = await retried(gw, http, path, body, headers)
                    assert answer.status_code in (200, 201), answer.text
                    again = await http.post(f"{gw.url}{path}", json=body, headers=headers)
                    assert (again.status_code, again.json()) == (answer.status_code, answer.json())
                    assert again.headers["Idempotent-Replayed"] == "true"
                    answers[path] = (answer.json()["stage"], busy)
                    codes.add(answer.json()["case_code"])
                    worker.stop()  # held again for the next command
                worker.start()
                code = found[0].removeprefix("case-")
                assert [w.id async for w in env.client.list_workflows(f'TaskQueue="{tq}"')] == found  # one case
                closed = await http.post(f"{gw.url}/v1/cases/{code}/commands", json={
                    "type": "supervisor_close", "reason": "personne rejointe par la police"},
                    headers={**auth, "Idempotency-Key": f"k-close-{code}"})
                assert closed.status_code == 200 and closed.json()["stage"] == "fermee", closed.text
        finally:
            gw.stop()
    assert [stage for stage, _ in answers.values()] == ["accueil", "transfert"]
    assert {answer for answer in codes} == {code}  # the rerun opened the case the first run opened
    history = (await env.client.get_workflow_handle(workflow_id(code)).fetch_history()).events
    accepted = [e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
                for e in history if e.HasField("workflow_execution_update_accepted_event_attributes")]

    record = Record(record_env)
    try:
        cases = CrisisCases(record)
        assert names(cases, code) == ["Opened", "MobileInterventionRequested", "TeamAsked", "CaseClosed"]
        ids = command_ids(cases, code)
        assert len(ids) == len(set(ids)) == 3
        assert all(i.startswith(f"{workflow_id(code)}/idem-") for i in ids)  # each under its key's update id
        assert sorted(accepted) == sorted(i.split("/", 1)[1] for i in ids)  # each accepted once by its workflow
        report = verify(record)
        assert report.ok, report.to_dict()
        print(f"\ngateway killed mid-request twice: retries answered 409 {[b for _, b in answers.values()]} times "
              f"before running again; {len(names(cases, code))} events, verify {report.events_checked} events; "
              f"{time.monotonic() - begun:.1f} s")
    finally:
        record.close()


async def _update_pending(handle: WorkflowHandle[Any, Any]) -> bool:
    """An update sent and not yet accepted (no worker) shows in the workflow's description only."""
    desc = await handle.describe()
    return bool(desc.raw_description.pending_workflow_task is not None
                and desc.raw_description.pending_workflow_task.ByteSize())


def test_a_reservation_left_by_a_dead_gateway_is_taken_over_once_after_its_lease(record: Record) -> None:
    """The store under the gateway's Idempotency-Key (SQLite, PostgreSQL): a reservation without an answer is
    in progress for another request until its lease has run; then the same request (same fingerprint) takes it
    over, once (compare-and-set: a second taker finds it in progress again), with the first request's id (so it
    sends the same updates); another request with that key never does; a kept answer is never taken over."""
    live = IdempotencyStore.of(record)
    first = live.reserve("user:a", "k1", "f1")
    assert first.request_id is not None and first.status is None
    assert live.reserve("user:a", "k1", "f1") == Kept("f1", None, None)  # within the lease: in progress
    assert live.reserve("user:a", "k2", "f1").request_id not in (None, first.request_id)  # each its own id
    expired = IdempotencyStore.of(record, lease=1e-6)
    time.sleep(0.01)  # past a lease of a microsecond
    assert expired.reserve("user:a", "k1", "f2") == Kept("f1", None, None)  # another request: never taken over
    assert expired.reserve("user:a", "k1", "f1") == Kept("f1", None, None, first.request_id)  # taken over
    assert live.reserve("user:a", "k1", "f1") == Kept("f1", None, None)  # the taker's lease runs afresh
    expired.keep("user:a", "k1", 201, {"stage": "accueil"})
    time.sleep(0.01)
    assert expired.reserve("user:a", "k1", "f1") == Kept("f1", 201, {"stage": "accueil"})  # answered: kept
    # Released (the engine did not answer; the command may still run): the same request takes it over at once,
    # with its request id; another request with that key is refused as ever.
    third = live.reserve("user:a", "k3", "f3")
    live.release("user:a", "k3")
    assert live.reserve("user:a", "k3", "f4") == Kept("f3", None, None)
    assert live.reserve("user:a", "k3", "f3") == Kept("f3", None, None, third.request_id)
    assert live.reserve("user:a", "k3", "f3") == Kept("f3", None, None)  # taken over once: in progress again
