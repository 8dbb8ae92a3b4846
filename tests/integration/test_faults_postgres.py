"""Fault tests (issue 12, « Proof ») with PostgreSQL as the record, under load: crisis cases and ententes are
driven through their whole trajectories, one after another on several lanes at once, by a real worker process
(`arrimage worker`, configured by environment only, its record on PostgreSQL), while one fault strikes mid-run:

- **PostgreSQL restarted**: a private server of the test's own (tests/private_postgres.py: the shared one on
  localhost:5432 is never touched) is stopped (fast shutdown: every connection of the worker's pool is cut) and
  started again 3 s later on its data; the worker process must ride it out, no restart of its own;
- **the worker killed** (SIGKILL) with commands in flight, and started again 2 s later;
- **the Temporal server restarted** on its database (SIGTERM, as `arrimage up` stops it), the client's calls
  sent again with the same update ids while it is away.

The load keeps going for a few seconds after the fault, then each lane ends the trajectory it is on. After each:
every case and entente holds exactly its trajectory's events, each command recorded once and exactly one per
update its workflow accepted, every workflow completed, the case nobody answers has each of its answer timers
once, at its due moment, and the audit verify use case (`arrimage audit verify`) passes over exactly those
events. Each test is bounded (`LOAD_WITHIN`) and stops by itself; the figures are printed (`-s`), nothing is
timed.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from adapters.record.environment import PostgresAddress, record_env
from adapters.record.record import Record
from adapters.standards_file import load_standards
from domain.crisis import commands as c
from domain.crisis.model import PhoneDisposition, UrgencyLevel, new_case_code
from domain.crisis.state import CaseStage, CaseView
from domain.ententes import commands as ec
from domain.ententes.state import EntentePolicy, EntenteStatus, EntenteView
from domain.standards.config import StandardsConfig
from tests.conftest import PG, PostgresSchema, require_postgres
from tests.crisis_builders import (
    CSSS,
    TEAM,
    TEAM_2,
    accept,
    arrive,
    command_ids,
    names,
    open_cmd,
    outcome,
    request,
    sup,
)
from tests.crisis_builders import accepted_update_ids as case_accepted
from tests.factories import service_entente
from tests.integration import lifecycle
from tests.integration.test_faults import _connect, answering, dev_server, start_server
from tests.integration.worker_process import WorkerProcess, running_worker
from tests.private_postgres import PrivatePostgres, private_postgres
from usecases.audit.trail import verify
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes
from workflows.crisis import CaseWorkflowInput, CrisisCaseWorkflow
from workflows.crisis import workflow_id as case_workflow_id
from workflows.entente import EntenteWorkflow, EntenteWorkflowInput
from workflows.entente import workflow_id as entente_workflow_id

pytestmark = pytest.mark.postgres

T = TypeVar("T")
# crise.reponse_equipe, shortened so that the unanswered case escalates within a minute; long enough that a lane's
# accept, held up by the fault, still comes before its team's answer deadline (6 s was not, under a load of 24)
ANSWER_WITHIN = "PT30S"
LOAD_WITHIN = 240.0  # seconds: the bound of a whole run (load, fault, every trajectory ended)
AFTER = 5.0  # seconds of load kept up after the fault is over
CALL_WITHIN = 120.0  # seconds a call is sent again while the server is away

HEAD = ["Opened", "MobileInterventionRequested", "TeamAsked"]
EXPECTED = {
    "handoff": [*HEAD, "HandoffAccepted", "ArrivedOnSite", "OutcomeRecorded", "CaseClosed"],
    "phone": ["Opened", "CaseClosed"],
    "unanswered": [*HEAD, "HandoffTimedOut", "TeamAsked", "HandoffTimedOut", "Escalated", "CaseClosed"],
    "entente": ["Drafted", "SubmittedForSignature", "Signed", "PartyWithdrew"],
}


def postgres_worker_env(address: PostgresAddress) -> dict[str, str]:
    """The worker's settings (`ARRIMAGE_*`) for a record on PostgreSQL at `address`."""
    return {
        "ARRIMAGE_STORE": "postgres",
        "ARRIMAGE_POSTGRES_HOST": address.host,
        "ARRIMAGE_POSTGRES_PORT": str(address.port),
        "ARRIMAGE_POSTGRES_DBNAME": address.dbname,
        "ARRIMAGE_POSTGRES_USER": address.user,
        "ARRIMAGE_POSTGRES_SCHEMA": address.schema,
    }


@contextmanager
def postgres_worker(
    address: str, tq: str, record: PostgresAddress, tmp_path: Path, standards: Path | None
) -> Iterator[WorkerProcess]:
    """`arrimage worker` over the PostgreSQL record at `record` (tests/integration/worker_process.py), started."""
    with running_worker(address, tq, tmp_path / "unused.sqlite", tmp_path) as worker:
        worker.env.pop("ARRIMAGE_SQLITE_PATH")
        worker.env.update(postgres_worker_env(record))
        if standards is not None:
            worker.env["ARRIMAGE_STANDARDS_FILE"] = str(standards)
        worker.start()
        yield worker


@pytest.fixture
def standards(tmp_path: Path) -> Path:
    path = tmp_path / "region.toml"
    path.write_text(f'region = "test-pg-faults"\n\n[standards."crise.reponse_equipe"]\nduration = "{ANSWER_WITHIN}"\n')
    return path


@pytest.fixture
def shared_schema() -> Iterator[PostgresAddress]:
    """A throw-away schema on the shared test server (the faults here leave the server itself alone)."""
    require_postgres()
    schema = PostgresSchema()
    try:
        yield PostgresAddress(**PG, schema=schema.name)
    finally:
        schema.drop()


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


@dataclass
class Load:
    """Lanes driving crisis cases and ententes through whole trajectories, one after another, until `stop`; every
    call is sent again with the same update id while the Temporal server is away (RPCError), so a command is
    never sent twice under two ids."""

    client: Client
    tq: str
    cfg: StandardsConfig
    unanswered_case: bool = True
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    cases: dict[str, tuple[str, WorkflowHandle[Any, Any]]] = field(default_factory=dict)
    ententes: dict[str, WorkflowHandle[Any, Any]] = field(default_factory=dict)
    commands: int = 0
    """Commands answered (updates: openings and acts), the figure the fault waits for; queries and results not."""
    resent: int = 0
    pending: dict[int, tuple[str, float]] = field(default_factory=dict)
    _keys: Iterator[int] = field(default_factory=itertools.count)

    async def call(self, what: str, send: Callable[[], Awaitable[T]]) -> T:
        """`send()` until the server answers (sent again on RPCError, bounded by `CALL_WITHIN`); `what` names the
        call while it is pending, for the message when the load does not end in time."""
        loop = asyncio.get_running_loop()
        key = next(self._keys)
        self.pending[key] = (what, loop.time())
        deadline = loop.time() + CALL_WITHIN
        try:
            while True:
                try:
                    result = await asyncio.wait_for(send(), max(deadline - loop.time(), 0.1))
                except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError):
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise
                    assert loop.time() < deadline, f"{what}: the Temporal server does not answer"
                    self.resent += 1
                    await asyncio.sleep(0.5)
                except TimeoutError:
                    raise AssertionError(f"{what}: no answer within {CALL_WITHIN} s") from None
                else:
                    if self._command(what):
                        self.commands += 1
                    return result
        finally:
            del self.pending[key]

    @staticmethod
    def _command(what: str) -> bool:
        return what.split()[0] not in ("state", "result")

    def in_flight(self) -> set[int]:
        """The commands sent and not answered yet."""
        return {key for key, (what, _) in self.pending.items() if self._command(what)}

    def stuck(self) -> list[str]:
        now = asyncio.get_running_loop().time()
        return [f"{what} (for {now - since:.0f} s)" for what, since in self.pending.values()]

    async def open(self, kind: str, cmd: c.OpenCase) -> WorkflowHandle[Any, Any]:
        code = cmd.case_code

        def send() -> Awaitable[CaseView]:
            op = WithStartWorkflowOperation(
                CrisisCaseWorkflow.run,
                CaseWorkflowInput.starting(code, self.cfg, search_attributes=True),
                id=case_workflow_id(code),
                task_queue=self.tq,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            return self.client.execute_update_with_start_workflow(
                CrisisCaseWorkflow.open, cmd, start_workflow_operation=op, id=f"open-{code}"
            )

        await self.call(f"open {code}", send)
        handle = self.client.get_workflow_handle(case_workflow_id(code), result_type=CaseView)
        self.cases[code] = (kind, handle)
        return handle

    async def act(self, handle: WorkflowHandle[Any, Any], step: str, cmd: c.Command) -> CaseView:
        return await self.call(
            f"{step} {handle.id}", lambda: handle.execute_update("act", cmd, id=step, result_type=CaseView)
        )

    async def case_lane(self, kind: str) -> None:
        while not self.stop.is_set():
            code = new_case_code()
            if kind == "phone":
                h = await self.open(kind, open_cmd(code, urgency=UrgencyLevel.NONE, face=False))
                await self.act(
                    h,
                    "close",
                    c.CloseAtPhone(
                        by="intervenant-1",
                        actor_org=CSSS,
                        disposition=PhoneDisposition.INFORMATION,
                        reason="information donnée",
                    ),
                )
                continue
            h = await self.open(kind, open_cmd(code))
            for step, cmd in (
                ("request", request([TEAM, TEAM_2])),
                ("accept", accept()),
                ("arrive", arrive()),
                ("outcome", outcome()),
                ("close", c.CloseCase(by="intervenant-1", actor_org=CSSS, reason="rien de plus requis")),
            ):
                await self.act(h, step, cmd)

    async def unanswered(self) -> None:
        """One case nobody answers: its two answer timers fall due and it is escalated, then closed."""
        h = await self.open("unanswered", open_cmd(new_case_code()))
        await self.act(h, "request", request([TEAM, TEAM_2]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOAD_WITHIN
        while (view := await self.call(f"state {h.id}", lambda: h.query(CrisisCaseWorkflow.state))) is None or (
            view.stage is not CaseStage.SUPERVISOR
        ):
            assert loop.time() < deadline, "never escalated"
            await asyncio.sleep(0.5)
        await self.act(h, "close", sup(c.SupervisorClose, reason="personne rejointe par la police"))

    async def entente_act(self, handle: WorkflowHandle[Any, Any], step: str, cmd: ec.Command) -> EntenteView:
        return await self.call(
            f"{step} {handle.id}", lambda: handle.execute_update("act", cmd, id=step, result_type=EntenteView)
        )

    async def entente_lane(self) -> None:
        for n in itertools.count(1):
            if self.stop.is_set():
                return
            code = f"ENT-PGF-{self.tq[3:]}-{n}".upper()

            def send(code: str = code) -> Awaitable[EntenteView]:
                op = WithStartWorkflowOperation(
                    EntenteWorkflow.run,
                    EntenteWorkflowInput(code=code, policy=EntentePolicy()),
                    id=entente_workflow_id(code),
                    task_queue=self.tq,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )
                return self.client.execute_update_with_start_workflow(
                    EntenteWorkflow.draft,
                    ec.DraftEntente(by="superviseur", code=code, content=service_entente(effective=None)),
                    start_workflow_operation=op,
                    id=f"draft-{code}",
                )

            await self.call(f"draft {code}", send)
            h = self.client.get_workflow_handle(entente_workflow_id(code), result_type=EntenteView)
            self.ententes[code] = h
            for step, cmd in (
                ("submit", ec.SubmitForSignature(by="dsp")),
                ("sign", ec.SignEntente(by="cisss-laval", party_id="cisss-laval", version=1, signatory="D.G.")),
                (
                    "withdraw",
                    ec.WithdrawFromEntente(
                        by="cc-laval", party_id="cc-laval", reason="le conseil d'administration se retire"
                    ),
                ),
            ):
                await self.entente_act(h, step, cmd)

    async def run(self, fault: Callable[[], Awaitable[str]]) -> str:
        """The lanes, the fault once `commands` shows the load under way, `AFTER` seconds more, then every lane ends
        its trajectory; bounded by `LOAD_WITHIN`. Returns what the fault said."""
        lanes = [
            asyncio.create_task(lane)
            for lane in (
                self.case_lane("handoff"),
                self.case_lane("handoff"),
                self.case_lane("phone"),
                self.entente_lane(),
            )
        ]
        if self.unanswered_case:
            lanes.append(asyncio.create_task(self.unanswered()))

        async def drive() -> str:
            while self.commands < 12:
                assert not any(t.done() for t in lanes), [t.exception() for t in lanes if t.done()]
                await asyncio.sleep(0.1)
            said = await fault()
            await asyncio.sleep(AFTER)
            self.stop.set()
            await asyncio.gather(*lanes)
            return said

        try:
            return await asyncio.wait_for(drive(), LOAD_WITHIN)
        except TimeoutError:
            raise AssertionError(f"the load did not end within {LOAD_WITHIN} s; pending: {self.stuck()}") from None
        finally:
            for t in lanes:
                t.cancel()


async def check(load: Load, record: Record, began: float, fault: str) -> None:
    """Every workflow completed; exactly each trajectory's events, each command once and once per accepted update;
    the unanswered case's timers once each, at their due moments; verify over exactly those events."""
    cases = CrisisCases(record, load.cfg)
    ententes = Ententes(record)
    expected_events = 0
    retried_activities = 0
    for code, (kind, handle) in load.cases.items():
        final = await load.call(f"result {handle.id}", handle.result)
        assert isinstance(final, CaseView) and final.stage is CaseStage.CLOSED, (code, kind)
        assert names(cases, code) == EXPECTED[kind], (code, kind)
        ids = command_ids(cases, code)
        assert len(ids) == len(set(ids)), (code, ids)
        assert set(ids) == {f"{case_workflow_id(code)}/{u}" for u in await case_accepted(handle)}, code
        expected_events += len(EXPECTED[kind])
        retried_activities += await _retried(handle)
        if kind == "unanswered":
            view = cases.view(code)
            six = load.cfg.standards["crise.reponse_equipe"].duration
            assert six is not None
            asked = view.attempts[0].asked_at
            assert [a.asked_at for a in view.attempts] == [asked, asked + six]  # each timer once, when due
            assert view.escalations[0].at == asked + 2 * six
    for code, handle in load.ententes.items():
        final = await load.call(f"result {handle.id}", handle.result)
        assert isinstance(final, EntenteView) and final.status is EntenteStatus.ABANDONED, code
        assert lifecycle.names(ententes, code) == EXPECTED["entente"], code
        ids = [h["command_id"] for h in ententes.history(code) if h.get("command_id")]
        assert len(ids) == len(set(ids)) == len(await lifecycle.accepted_update_ids(handle)), (code, ids)
        expected_events += len(EXPECTED["entente"])
        retried_activities += await _retried(handle)
    report = verify(record)
    assert report.ok, report.to_dict()
    assert report.events_checked == expected_events
    kinds = {k: sum(kind == k for kind, _ in load.cases.values()) for k in ("handoff", "phone", "unanswered")}
    print(
        f"\n{fault}; {len(load.cases)} cases {kinds} and {len(load.ententes)} ententes, {load.commands} commands "
        f"({load.resent} sent again), {retried_activities} activity attempts retried by Temporal; verify "
        f"{report.events_checked} events; {time.monotonic() - began:.1f} s"
    )


async def _retried(handle: WorkflowHandle[Any, Any]) -> int:
    events = (await handle.fetch_history()).events
    return sum(
        e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.attempt > 1
        for e in events
    )


@asynccontextmanager
async def reading(address: PostgresAddress) -> AsyncIterator[Record]:
    record = Record(record_env(postgres=address, create=False))
    try:
        yield record
    finally:
        record.close()


async def test_postgresql_restarted_mid_run_loses_and_doubles_nothing(
    visible_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, standards: Path, private_pg: PrivatePostgres
) -> None:
    """The record's server is stopped (fast: every pooled connection cut, transactions in flight rolled back) and
    started again 3 s later, while the lanes run: saves made meanwhile wait (adapters.record.sql.Retrying) or are
    retried by Temporal, the worker's pool recovers, the worker process never exits; nothing lost or doubled."""
    began = time.monotonic()
    load = Load(visible_env.client, task_queue, load_standards(standards))
    address = private_pg.address()
    with postgres_worker(
        visible_env.client.service_client.config.target_host, task_queue, address, tmp_path, standards
    ) as worker:

        async def restart() -> str:
            steps, in_flight = load.commands, load.in_flight()
            away = await asyncio.to_thread(private_pg.restart, 3.0)
            waited = len(in_flight & load.in_flight())  # sent before the stop, still unanswered when it is back
            assert waited, "no command was in flight across the outage"
            assert worker.proc is not None and worker.proc.poll() is None, "the worker exited"
            return (
                f"PostgreSQL restarted after {steps} commands: away {away:.1f} s (stop, 3 s, start), "
                f"{waited} of the {len(in_flight)} commands in flight at the stop answered only after it"
            )

        said = await load.run(restart)
        assert worker.proc is not None and worker.proc.poll() is None, "the worker exited"
        assert worker.starts == 1
        async with reading(
            address
        ) as record:  # the worker still running: the workflows complete after their last update
            await check(load, record, began, said)


async def test_a_worker_killed_under_load_on_postgresql_loses_and_doubles_nothing(
    visible_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, shared_schema: PostgresAddress
) -> None:
    """SIGKILL of the worker process while the lanes have commands in flight; a new one 2 s later. The standards
    are the default ones here (no case left unanswered): a new worker process takes seconds to start on a loaded
    machine, and a lane's accept must not race its team's shortened answer deadline (timers that fall due while no
    worker runs: test_crisis_worker_crash)."""
    began = time.monotonic()
    load = Load(visible_env.client, task_queue, StandardsConfig(), unanswered_case=False)
    with postgres_worker(
        visible_env.client.service_client.config.target_host, task_queue, shared_schema, tmp_path, None
    ) as worker:

        async def kill() -> str:
            steps, in_flight = load.commands, len(load.in_flight())
            assert in_flight, "no command in flight at the kill"
            worker.sigkill()
            await asyncio.sleep(2.0)
            worker.start()
            return f"worker SIGKILLed after {steps} commands with {in_flight} in flight, another started 2 s later"

        said = await load.run(kill)
        async with reading(shared_schema) as record:
            await check(load, record, began, said)


async def test_the_temporal_server_restarted_under_load_on_postgresql_loses_and_doubles_nothing(
    tmp_path: Path, standards: Path, shared_schema: PostgresAddress
) -> None:
    """The Temporal dev server stopped (SIGTERM) and started again on its database while the lanes run: their
    calls are sent again with the same update ids; the worker reconnects (restarted if it had exited, as its
    supervisor would: printed)."""
    began = time.monotonic()
    tq = "tq-pg-temporal-restart"
    async with dev_server(tmp_path) as (cmd, address, procs):
        start_server(cmd, procs, tmp_path / "temporal-1.log")
        client = await asyncio.wait_for(_connect(address), 60)
        load = Load(client, tq, load_standards(standards))
        with postgres_worker(address, tq, shared_schema, tmp_path, standards) as worker:

            async def restart() -> str:
                steps = load.commands
                procs[-1].terminate()
                await asyncio.to_thread(procs[-1].wait, 30)
                start_server(cmd, procs, tmp_path / "temporal-2.log")
                back = await answering(client)
                alive = worker.proc is not None and worker.proc.poll() is None
                if not alive:
                    worker.start()
                return (
                    f"Temporal restarted after {steps} commands, answering {back:.1f} s after its new start; "
                    f"worker {'kept running' if alive else 'had exited: restarted'}"
                )

            said = await load.run(restart)
            async with reading(shared_schema) as record:
                await check(load, record, began, said)
        assert worker.proc is not None and worker.proc.returncode in (0, -signal.SIGTERM)
