"""No activity retries forever on a deterministic failure; a transient one is retried (issue 7).

`activities.errors.classified` sorts what an activity raises: a refusal or bad input or a bug is
final (attempted once), the store failing for a moment is retried. The workflows survive a bug
in `advance`: the calendar backs off, the entente stays readable and keeps taking commands, and
a command whose activity hits a bug fails with `internal_error` (the CLI's exit 1).

Real Temporal (time-skipping server), real activities over a real record (SQLite, then PostgreSQL; the locked
store: SQLite's file, or PostgreSQL's events table, locked by another connection).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.converter import WorkflowSerializationContext
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.ententes import AdvanceInput, EntenteActivities, ExecuteInput
from activities.errors import classified
from adapters.record.record import Record
from adapters.temporal.errors import InternalFailure
from cli.errors import Exit, translate
from domain.ententes import commands as c
from domain.ententes.state import EntenteStatus, EntenteView
from tests.factories import service_entente
from tests.integration.lifecycle import delivery_activities, start
from usecases.ententes import Ententes
from workers.bootstrap import bootstrap
from workers.settings import Settings
from workflows.entente import EntenteWorkflow

STARTED = EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
FAILED = EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED


@workflow.defn(name="SendsRawInput", sandboxed=False)  # a test helper: no sandbox re-import
class SendsRawInput:
    """Calls an activity by name with an input as another version of the code might send it."""

    @workflow.run
    async def run(self, name: str, raw: dict[str, Any]) -> str:
        try:
            await workflow.execute_activity(name, raw, start_to_close_timeout=timedelta(seconds=10))
        except ActivityError as err:
            assert isinstance(err.cause, ApplicationError)
            return f"{err.cause.type} non_retryable={err.cause.non_retryable}"
        return "completed"


class BuggyAdvance:
    """The real use cases called wrongly, as a buggy activity would: `advance` given a naive moment (a
    genuine TypeError, "can't compare offset-naive and offset-aware datetimes", from the real domain
    code), `execute` given a refusal of signature built without validation and missing its version (an
    AttributeError in the real rules)."""

    def __init__(self, ententes: Ententes) -> None:
        self.ententes = ententes

    @activity.defn(name="agreement.advance")
    @classified
    def advance(self, inp: AdvanceInput) -> EntenteView:
        return self.ententes.advance(inp.code, inp.now.replace(tzinfo=None), inp.policy)

    @activity.defn(name="agreement.execute")
    @classified
    def execute(self, inp: ExecuteInput) -> EntenteView:
        if isinstance(inp.command, c.RefuseSignature):  # a command that skipped its model's validation
            broken = c.RefuseSignature.model_construct(**inp.command.model_dump(exclude={"version"}))
            return self.ententes.execute(inp.code, broken, inp.at, inp.policy)
        return self.ententes.execute(inp.code, inp.command, inp.at, inp.policy)


async def _attempts(handle: WorkflowHandle[Any, Any], activity_type: str) -> list[tuple[int, str]]:
    """(attempt, outcome) of each recorded activity task of `activity_type`."""
    events = (await handle.fetch_history()).events
    scheduled = {e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name for e in events
                 if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}
    started = {e.event_id: (e.activity_task_started_event_attributes.attempt,
                            e.activity_task_started_event_attributes.scheduled_event_id)
               for e in events if e.event_type == STARTED}
    out = []
    for e in events:
        if e.event_type == FAILED:
            attempt, sched = started[e.activity_task_failed_event_attributes.started_event_id]
            if scheduled[sched] == activity_type:
                out.append((attempt, "failed"))
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attempt, sched = started[e.activity_task_completed_event_attributes.started_event_id]
            if scheduled[sched] == activity_type:
                out.append((attempt, "completed"))
    return out


async def test_input_that_does_not_decode_is_bad_input_attempted_once(
    time_env: WorkflowEnvironment, task_queue: str, record: Record
) -> None:
    """A naive moment (no time zone) where the activity's model wants an aware one: the SDK used to
    fail decoding it as a *retryable* error, attempted for ever; now it is `bad_input`, once."""
    real = EntenteActivities(Ententes(record))
    with ThreadPoolExecutor(2) as ex:
        async with Worker(time_env.client, task_queue=task_queue, workflows=[SendsRawInput],
                          activities=real.all(), activity_executor=ex):
            handle = await time_env.client.start_workflow(
                SendsRawInput.run, args=["agreement.advance", {"code": "ENT-X", "now": "2027-01-01T00:00:00"}],
                id=f"raw-{task_queue}", task_queue=task_queue,
            )
            outcome = await asyncio.wait_for(handle.result(), 30)
            assert outcome == "bad_input non_retryable=True"
            assert await _attempts(handle, "agreement.advance") == [(1, "failed")]
            failure = next(e for e in (await handle.fetch_history()).events if e.event_type == FAILED)
            # Payloads are bound to their workflow (issue 9): decoded in its context, as the SDK does.
            converter = time_env.client.data_converter.with_context(
                WorkflowSerializationContext(time_env.client.namespace, handle.id))
            decoded = await converter.decode_failure(failure.activity_task_failed_event_attributes.failure)
            assert isinstance(decoded, ApplicationError)
            assert decoded.message == "invalid AdvanceInput: now: timezone_aware"


async def test_a_bug_in_advance_is_attempted_once_and_the_entente_lives_on(
    time_env: WorkflowEnvironment, task_queue: str, record: Record, store_env: dict[str, str], tmp_path: Path
) -> None:
    """The reminder of day 7 falls due; `advance` hits a bug each time. Each look is attempted once
    (no hot retries), the workflow backs off instead of failing, the entente stays readable and
    still takes commands; a command whose activity hits a bug fails with `internal_error`."""
    ententes = Ententes(record)
    real = EntenteActivities(ententes)
    buggy = BuggyAdvance(ententes)
    with ThreadPoolExecutor(4) as ex:
        async with Worker(time_env.client, task_queue=task_queue, workflows=[EntenteWorkflow],
                          activities=[real.draft, buggy.execute, buggy.advance, *delivery_activities(record)],
                          activity_executor=ex):
            handle, _ = await start(time_env.client, "ENT-BUG", service_entente(), task_queue)
            await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
            await time_env.sleep(timedelta(days=8))  # reminder due on day 7

            attempts = await _attempts(handle, "agreement.advance")
            # Backing off from 5 minutes, doubling: 9 looks in the day after the reminder fell due.
            assert attempts == [(1, "failed")] * len(attempts) and 5 <= len(attempts) <= 12, attempts
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
            view = await handle.query(EntenteWorkflow.state)
            assert view is not None and view.status is EntenteStatus.IN_SIGNATURE
            assert [h["event"] for h in ententes.history("ENT-BUG")] == ["Drafted", "SubmittedForSignature"]

            # A command still works; one whose activity hits a bug fails with internal_error, once.
            settings = Settings(temporal_address=time_env.client.service_client.config.target_host,
                                task_queue=task_queue, data_dir=tmp_path)
            sign = c.SignEntente(by="cisss", party_id="cisss-laval", version=1, signatory="DG")
            engine = bootstrap(settings, record_env=store_env)
            signed = await engine.entente_client.command("ENT-BUG", sign, 30)
            assert signed.proposal is not None and signed.proposal.signed_by("cisss-laval")
            refuse = c.RefuseSignature(by="cc", party_id="cc-laval", version=1, reason="désaccord")
            with pytest.raises(InternalFailure) as failed:
                await engine.entente_client.command("ENT-BUG", refuse, 30)
            known = translate(failed.value)  # as the CLI says it
            assert known is not None and known.exit_code is Exit.FAILED
            assert known.message == (
                "unexpected failure: agreement.execute failed on an internal error (AttributeError): nothing was "
                "recorded by this attempt; see the worker log (workflow entente-ENT-BUG)"
            )
            assert (await _attempts(handle, "agreement.execute"))[-1] == (1, "failed")
            assert [h["event"] for h in ententes.history("ENT-BUG")] == ["Drafted", "SubmittedForSignature",
                                                                          "Signed"]
            await handle.terminate(reason="test over")
            engine.close()


class Locker:
    """Another connection holding the store's writes for `hold` seconds: SQLite's file in an exclusive
    transaction, PostgreSQL's events table in the mode the chained insert takes (reads still go through)."""

    def __init__(self, env: dict[str, str], record: Record, hold: float = 2.5) -> None:
        self.hold = hold
        self.conn: Any
        if "SQLITE_DBNAME" in env:
            self.conn = sqlite3.connect(env["SQLITE_DBNAME"], isolation_level=None, check_same_thread=False)
            self.conn.execute("BEGIN EXCLUSIVE")
        else:
            import psycopg
            from psycopg.sql import SQL

            from adapters.record.postgres import ChainingPostgresRecorder
            from tests.conftest import PG

            assert isinstance(record.recorder, ChainingPostgresRecorder)
            self.conn = psycopg.connect(**PG)  # not autocommit: the lock lasts until the rollback
            self.conn.execute(SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(
                record.recorder.dialect.tables["events"]))
        self.released = threading.Timer(hold, self.conn.rollback)
        self.released.start()

    def close(self) -> None:
        self.released.join()
        self.conn.close()


def _store_retries(record: Record) -> int:
    """The attempts the store's own back-off made again (`Retrying.retries`; SQLite has none)."""
    dialect = getattr(record.recorder, "dialect", None)
    return dialect.retrying.retries if dialect is not None else 0


async def test_a_locked_store_is_retried_until_the_command_is_recorded(
    time_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str]
) -> None:
    """Another connection holds the store's writes for a moment: the activity's insert fails on the lock
    (SQLite "database is locked"; PostgreSQL a lock timeout), transient, is retried, and records the command
    once. SQLite's error goes to Temporal, which attempts the activity again; PostgreSQL's lock timeout is an
    operational error the store's own back-off (`Dialect.retrying`) retries first, within the one attempt."""
    record = Record({**store_env, "SQLITE_LOCK_TIMEOUT": "1", "POSTGRES_LOCK_TIMEOUT": "1"})
    ententes = Ententes(record)
    real = EntenteActivities(ententes)
    try:
        with ThreadPoolExecutor(4) as ex:
            async with Worker(time_env.client, task_queue=task_queue, workflows=[EntenteWorkflow],
                              activities=[*real.all(), *delivery_activities(record)], activity_executor=ex):
                handle, _ = await start(time_env.client, "ENT-LOCK", service_entente(), task_queue)
                retried_before = _store_retries(record)
                locker = Locker(store_env, record)
                try:
                    view = await asyncio.wait_for(
                        handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur")), 60)
                finally:
                    locker.close()
                assert view.status is EntenteStatus.IN_SIGNATURE
                attempts = await _attempts(handle, "agreement.execute")
                assert len(attempts) == 1 and attempts[0][1] == "completed", attempts
                if "SQLITE_DBNAME" in store_env:
                    assert attempts[0][0] >= 2, attempts  # Temporal's retry
                else:  # the lock bit (the insert timed out on it at least once) and the store retried
                    assert _store_retries(record) > retried_before
                await handle.terminate(reason="test over")
        assert [h["event"] for h in ententes.history("ENT-LOCK")] == ["Drafted", "SubmittedForSignature"]
    finally:
        record.close()
