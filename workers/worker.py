"""The worker process: the entente and crisis case workflows and their activities."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.crisis import CrisisActivities
from activities.ententes import EntenteActivities
from adapters.record.record import Record
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes
from usecases.handoff import HandoffDisclosures
from workers.settings import Settings
from workflows.crisis import CrisisCaseWorkflow
from workflows.entente import EntenteWorkflow

WORKFLOWS = [EntenteWorkflow, CrisisCaseWorkflow]


def open_record(settings: Settings) -> Record:
    """The worker (and so `up`) is what creates the record; every other process only opens it."""
    return Record(settings.store_env(create=True))


def build_worker(client: Client, settings: Settings, record: Record, *, executor: ThreadPoolExecutor) -> Worker:
    """Activities are synchronous (the event store's API is); they run in `executor`."""
    agreements = EntenteActivities(Ententes(record, settings.entente_policy))
    crisis_cases = CrisisCases(record, settings.standards())
    cases = CrisisActivities(crisis_cases, HandoffDisclosures(crisis_cases, Disclosures(record)))
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=[*agreements.all(), *cases.all()],
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
    )


async def run_worker(settings: Settings, client: Client, stop: asyncio.Event | None = None) -> None:
    record = open_record(settings)
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="activity") as executor:
        worker = build_worker(client, settings, record, executor=executor)
        async with worker:
            await (stop.wait() if stop is not None else asyncio.Event().wait())
    record.close()


async def run_until_signalled(settings: Settings, client: Client) -> None:
    """Run the worker until SIGINT or SIGTERM, then shut it down in order.

    In-flight activities get the worker's graceful period; anything cut short is
    retried by Temporal on another worker, and activities are idempotent.
    """
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_worker(settings, client, stop)
