"""`arrimage`: the command line of supervisors and auditors."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table

from workers import logs, tracing
from workers.embedded import Endpoints, run_embedded
from workers.settings import Settings
from workers.temporal import connect
from workers.worker import run_worker

app = typer.Typer(
    name="arrimage",
    help="Ententes and crisis handoffs of Québec's health and social services network, kept as events.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()


def load_settings() -> Settings:
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    tracing.configure(settings.otel_exporter, settings.otel_endpoint)
    return settings


@app.command()
def up() -> None:
    """Start the embedded stack: Temporal dev server + worker + SQLite record. Ctrl-C stops it."""
    settings = load_settings()

    def ready(e: Endpoints) -> None:
        table = Table(title="arrimage is up", show_header=False)
        table.add_row("Temporal (gRPC)", e.temporal)
        table.add_row("Temporal Web UI", e.ui)
        table.add_row("Task queue", e.task_queue)
        table.add_row("Record (event store)", e.store)
        table.add_row("Temporal database", str(e.temporal_db))
        table.add_row("Temporal server log", str(e.server_log))
        console.print(table)
        console.print("Ctrl-C to stop. In another shell: [bold]arrimage agreements --help[/bold]")

    asyncio.run(run_embedded(settings, ready))
    console.print("arrimage stopped.")


@app.command()
def worker() -> None:
    """Run a worker against an existing Temporal server (ARRIMAGE_TEMPORAL_ADDRESS)."""
    settings = load_settings()

    async def main() -> None:
        client = await connect(settings)
        console.print(f"worker on task queue {settings.task_queue} at {settings.temporal_address}")
        await run_worker(settings, client)

    asyncio.run(main())


if __name__ == "__main__":
    app()
