"""The worker process: the entente, crisis case and épisode de services workflows and their activities."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from activities.crisis import CrisisActivities
from activities.delivery import DeliveryActivities
from activities.ententes import EntenteActivities
from activities.episodes import EpisodeActivities
from adapters.record.record import Record
from adapters.temporal.case_keys import RecordCaseKeys
from adapters.temporal.client import with_case_keys
from adapters.webhooks.sender import WebhookSender
from workers.bootstrap import Root, UseCases, use_cases
from workers.settings import Settings
from workflows.crisis import CrisisCaseWorkflow
from workflows.entente import EntenteWorkflow
from workflows.episodes import ServiceEpisodeWorkflow
from workflows.task_notifications import SubscriptionWorkflow

WORKFLOWS = [EntenteWorkflow, CrisisCaseWorkflow, SubscriptionWorkflow, ServiceEpisodeWorkflow]
ACTIVITY_THREADS = 8
HEARTBEAT_SECONDS = 5.0  # ARRIMAGE_WORKER_HEALTH_FILE is rewritten this often while the worker runs


def worker_for(client: Client, task_queue: str, uses: UseCases, *, executor: ThreadPoolExecutor,
               graceful: float = 0.0, workflow_task_slots: int = 16, workflow_cache_size: int = 500) -> Worker:
    """Activities are synchronous (the event store's API is); they run in `executor`. On shutdown, in-flight
    activities get `graceful` seconds to finish before they are cancelled (ARRIMAGE_GRACEFUL_SHUTDOWN_SECONDS).
    At most `workflow_task_slots` workflow tasks at once, `workflow_cache_size` workflows kept in memory
    (ARRIMAGE_WORKFLOW_TASK_SLOTS, ARRIMAGE_WORKFLOW_CACHE_SIZE)."""
    ententes = EntenteActivities(uses.ententes)
    cases = CrisisActivities(uses.crisis_cases, uses.handoffs, uses.deliveries)
    deliveries = DeliveryActivities(uses.deliveries, WebhookSender())
    episodes = EpisodeActivities(uses.episodes)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[*ententes.all(), *cases.all(), *deliveries.all(), *episodes.all()],
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
        max_concurrent_workflow_tasks=workflow_task_slots,
        max_cached_workflows=workflow_cache_size,
        graceful_shutdown_timeout=timedelta(seconds=graceful),
    )


def build_worker(client: Client, settings: Settings, record: Record, *, executor: ThreadPoolExecutor) -> Worker:
    """A worker over a record the caller holds (tests, benchmarks), wired as `bootstrap` wires it: on the
    client's connection, with the codec that seals a case's payloads with its person's key in `record`."""
    bound = with_case_keys(client, settings, lambda: RecordCaseKeys.of(record))
    return worker_for(bound, settings.task_queue, use_cases(record, settings), executor=executor,
                      workflow_task_slots=settings.workflow_task_slots,
                      workflow_cache_size=settings.workflow_cache_size)


async def run_worker(root: Root, stop: asyncio.Event | None = None) -> None:
    """Run the root's worker until `stop` is set. The root was built with `create=True`: the worker (and so
    `up`) is what creates the record; every other process only opens it. The listings view is kept caught up
    beside it (`Root.listings_runner`, ARRIMAGE_VIEW_CATCHUP_SECONDS), stopped after the graceful shutdown."""
    client = await root.temporal.client()
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS, thread_name_prefix="activity") as executor:
        worker = worker_for(client, root.settings.task_queue, root.use_cases, executor=executor,
                            graceful=root.settings.graceful_shutdown_seconds,
                            workflow_task_slots=root.settings.workflow_task_slots,
                            workflow_cache_size=root.settings.workflow_cache_size)
        health = root.settings.worker_health_file
        beat = asyncio.create_task(_heartbeat(health))
        views = root.listings_runner.start()
        try:
            async with worker:
                await (stop.wait() if stop is not None else asyncio.Event().wait())
        finally:  # after the graceful shutdown: alive until the in-flight activities are done
            beat.cancel()
            await asyncio.to_thread(views.stop)  # the page it is writing finished, off the event loop
            if health is not None:
                health.unlink(missing_ok=True)


async def _heartbeat(path: Path | None) -> None:
    """Rewrite `path` (the moment, UTC) every HEARTBEAT_SECONDS while the worker runs, its graceful shutdown
    included: a liveness probe reads its age. Written from the event loop that drives the worker, so a blocked
    loop goes stale."""
    while path is not None:
        path.write_text(f"{datetime.now(UTC).isoformat()}\n", encoding="utf-8")
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def run_until_signalled(root: Root) -> None:
    """Run the worker until SIGINT or SIGTERM, then shut it down in order.

    The worker stops polling at once; in-flight activities get ARRIMAGE_GRACEFUL_SHUTDOWN_SECONDS to finish and
    report their result; anything cut short after that is retried by Temporal on another worker, and
    activities are idempotent.
    """
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_worker(root, stop)
