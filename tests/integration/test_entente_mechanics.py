"""Mechanics of the entente workflow that its users rely on without seeing them:
continue-as-new over years of life, and tracing through client, workflow and activities."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.ententes import AdvanceInput, EntenteActivities, LoadInput
from adapters.record.record import Record
from domain.ententes import commands as c
from domain.ententes.state import EntentePolicy, EntenteStatus
from tests.factories import service_entente
from tests.integration.lifecycle import delivery_activities
from usecases.ententes import Ententes
from workers.bootstrap import data_converter
from workers.settings import Settings
from workers.worker import build_worker
from workflows.entente import EntenteWorkflow, EntenteWorkflowInput, workflow_id


async def start(client: Client, code: str, task_queue: str, **kw: object) -> WorkflowHandle:
    op = WithStartWorkflowOperation(
        EntenteWorkflow.run, EntenteWorkflowInput(code=code, **kw),
        id=workflow_id(code), task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await client.execute_update_with_start_workflow(
        EntenteWorkflow.draft, c.DraftEntente(by="superviseur", code=code, content=service_entente()),
        start_workflow_operation=op,
    )
    return await op.workflow_handle()


async def test_continue_as_new_carries_the_entente_across_runs(
    time_env: WorkflowEnvironment, task_queue: str, record: Record, tmp_path: Path
) -> None:
    """Years of life must not outgrow history limits: past `history_limit` events the workflow
    continues as new, carrying its view, and keeps accepting commands (issue 2, process)."""
    policy = EntentePolicy(signature_period_days=90, reminder_interval_days=1)
    settings = Settings(task_queue=task_queue, data_dir=tmp_path, entente_policy=policy)
    with ThreadPoolExecutor(4) as ex:
        async with build_worker(time_env.client, settings, record, executor=ex):
            handle = await start(time_env.client, "ENT-CAN", task_queue, policy=policy, history_limit=40)
            first_run = (await handle.describe()).run_id
            await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
            # 20 daily reminders: each is a timer and an activity, well past 40 history events.
            await time_env.sleep(timedelta(days=20, hours=1))
            latest = time_env.client.get_workflow_handle(workflow_id("ENT-CAN"))
            view = await latest.execute_update(
                EntenteWorkflow.act,
                c.SignEntente(by="p", party_id="cisss-laval", version=1, signatory="Directrice générale"),
            )
            assert (await latest.describe()).run_id != first_run
            first = time_env.client.get_workflow_handle(workflow_id("ENT-CAN"), run_id=first_run)
            events = [e.event_type async for e in first.fetch_history_events()]
            assert events[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert view.status is EntenteStatus.IN_SIGNATURE
    assert view.proposal is not None and view.proposal.reminders_sent == 20
    # Nothing lost or doubled in the record across runs: 20 reminders, one each.
    names = [h["event"] for h in Ententes(record).history("ENT-CAN")]
    assert names == ["Drafted", "SubmittedForSignature"] + ["SignatureReminderSent"] * 20 + ["Signed"]


async def test_spans_cover_client_workflow_and_activities(
    time_env: WorkflowEnvironment, task_queue: str, record: Record, tmp_path: Path
) -> None:
    """OpenTelemetry tracing is wired through client, workflows and activities (issue 2, foundation)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = await Client.connect(
        time_env.client.service_client.config.target_host,
        data_converter=data_converter(),
        interceptors=[TracingInterceptor(tracer=provider.get_tracer("arrimage-test"))],
    )
    settings = Settings(task_queue=task_queue, data_dir=tmp_path)
    with ThreadPoolExecutor(2) as ex:
        async with build_worker(traced, settings, record, executor=ex):
            handle = await start(traced, "ENT-OTEL", task_queue)
            await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
    names = {s.name for s in exporter.get_finished_spans()}
    assert "StartUpdateWithStartWorkflow:Entente" in names or "StartWorkflow:Entente" in names, names
    assert "RunWorkflow:Entente" in names
    assert "StartActivity:agreement.draft" in names and "RunActivity:agreement.draft" in names
    assert "StartActivity:agreement.execute" in names and "RunActivity:agreement.execute" in names


async def test_an_advance_that_records_nothing_never_spins_the_workflow(
    time_env: WorkflowEnvironment, task_queue: str, record: Record, tmp_path: Path
) -> None:
    """If the record ever disagrees with the workflow about what is due (a worker running other code),
    the workflow backs off instead of looping: its history stays bounded (Temporal's hard limit is
    51,200 events; a spinning loop reached ~20,000 in 3 s)."""
    real = EntenteActivities(Ententes(record))

    @activity.defn(name="agreement.advance")
    def advance_recording_nothing(inp: AdvanceInput) -> object:
        return real.load(LoadInput(code=inp.code))  # the view as it is: nothing new recorded

    with ThreadPoolExecutor(4) as ex:
        async with Worker(
            time_env.client, task_queue=task_queue, workflows=[EntenteWorkflow], activity_executor=ex,
            activities=[real.draft, real.execute, advance_recording_nothing, *delivery_activities(record)],
        ):
            handle = await start(time_env.client, "ENT-STALL", task_queue)
            await handle.execute_update(EntenteWorkflow.act, c.SubmitForSignature(by="superviseur"))
            await time_env.sleep(timedelta(days=8))  # a reminder falls due on day 7; advance adds nothing
            length = len([e async for e in handle.fetch_history_events()])
    # Backing off from 5 minutes to a day: about ten looks in that day, not thousands
    # (3,194 history events with a fixed 5-minute look, measured when this test was written).
    assert length < 200, length
