"""`arrimage`: the command line of supervisors and auditors."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table
from typer._click.core import Command, Context  # Typer's vendored Click
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer._click.shell_completion import CompletionItem
from typer._click.utils import PacifyFlushWrapper
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandInfo, TyperInfo

if TYPE_CHECKING:
    from workers.bootstrap import Root
    from workers.embedded import Endpoints
    from workers.settings import Settings


class _Arrimage(typer.Typer):
    """The console script: runs the command, then leaves without interpreter finalization.

    Temporal's native client (Rust threads) can still hold Python objects when the
    interpreter finalizes; about one exit in five then aborted with
    "PyGILState_Release … finalizing" (exit 134) after the work was done. Everything
    is flushed and closed first, so leaving with `os._exit` loses nothing.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        code = 0
        os.umask(0o077)  # what this process creates (the record, its WAL, exports, logs): its owner's only
        try:
            # Not standalone: Click's own error boxes and its "exit 1 on a closed pipe" are replaced below.
            done = super().__call__(*args, **{**kwargs, "standalone_mode": False})
            code = done if isinstance(done, int) else 0
        except BrokenPipeError:
            code = _pipe_closed()
        except NoArgsIsHelpError as help_:
            help_.show()  # `arrimage cases` alone: the group's help, and the usage error's exit code as before
            code = help_.exit_code
        except ClickException as err:
            from cli.errors import from_click, show  # on failure only, as in _failed

            failure = from_click(err)
            show(failure)
            code = int(failure.exit_code)
        except typer.Abort:
            print("aborted", file=sys.stderr)
            code = 1
        except SystemExit as done:
            if done.code == 1 and _reader_left():
                code = _pipe_closed()
            elif isinstance(done.code, int) or done.code is None:
                code = done.code or 0
            else:
                print(done.code, file=sys.stderr)
                code = 1
        except KeyboardInterrupt:
            code = 130
        except Exception as err:
            code = _failed(err)
        _leave(code)


def _failed(err: Exception) -> int:
    """Say why the command failed, in one line (or one problem object with --json); its exit code.

    The error vocabulary (cli.errors, which loads Temporal's exceptions) is imported here, when something failed,
    so that `arrimage --help` and every command that does not fail go without it. The exceptions named below come
    from modules already loaded by whoever raised them."""
    from cli.errors import show, translate, unexpected
    from workers.bootstrap import BadSettings, DevelopmentKeys, NoRecord

    if isinstance(err, BadSettings):  # every bad setting, one line each, before anything starts: exit 2
        print(err.message, file=sys.stderr)
        return 2
    if isinstance(err, DevelopmentKeys):  # outside development mode, a missing key: one line, exit 2
        print(err.message, file=sys.stderr)
        return 2
    if isinstance(err, NoRecord):  # a read where no record is: one line, exit 3 (not found)
        print(err.message, file=sys.stderr)
        return 3
    failure = translate(err) or unexpected(err, _log_traceback())
    show(failure)
    return int(failure.exit_code)


def _reader_left() -> bool:
    """Whether this exit is Click's or Rich's answer to a closed pipe (`arrimage … | head`): Click wraps stdout,
    Rich points it at the null device; both then exit 1, as if the reader leaving were a failure."""
    try:
        return isinstance(sys.stdout, PacifyFlushWrapper) or os.path.samestat(os.fstat(1), os.stat(os.devnull))
    except OSError:
        return False


def _pipe_closed() -> int:
    """The reader left (`arrimage … | head`): what it wanted it has; the rest goes nowhere, and that is done."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 0


def _log_traceback() -> Path | None:
    """Append the traceback of an unexpected failure to `<data dir>/arrimage-cli.log`; its path, or None."""
    try:
        data_dir = Path(os.environ.get("ARRIMAGE_DATA_DIR") or "var")
        data_dir.mkdir(parents=True, exist_ok=True)
        log = data_dir / "arrimage-cli.log"
        with log.open("a", encoding="utf-8") as out:
            out.write(f"--- {datetime.now(UTC).isoformat()} arrimage {' '.join(sys.argv[1:2])}\n")
            traceback.print_exc(file=out)
        return log
    except OSError:
        return None


def _leave(code: int) -> None:
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        shutdown()  # exports pending spans
    logging.shutdown()
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left before the last of the output: nothing is lost that was wanted
        _pipe_closed()
    sys.stderr.flush()
    os._exit(code)


# Every `arrimage` is a new process, and the command groups' modules load the whole engine (pydantic models of the
# domain, the record's adapters, Temporal's client): importing all of them cost about 2 s before any command ran,
# `arrimage --help` included. So the root knows its groups (and its two
# commands defined elsewhere) by name and help line only, and imports a group's module when that group is looked up
# to run, for its own help, or to complete its arguments. `arrimage --help` and the completion of a command name
# show the help lines of the table below; tests/unit/test_cli_lazy.py keeps them equal to each group's own.
# This is the one deferred loading of the CLI; elsewhere a module that only some commands need is imported inside
# those commands.
@dataclass(frozen=True)
class _Deferred:
    module: str
    attribute: str  # the module's Typer app (a group) or the command's function
    help: str  # the first paragraph of its help, as the root lists it
    hidden: bool = False


# Typer lists a group's commands before its subgroups: these two come before the commands defined in this module.
DEFERRED_COMMANDS = {
    "standards": _Deferred(
        "cli.standards", "standards",
        "The configuration in force: each standard's clock and deadline, the urgency scale, follow-up plans, caps."),
    "demo": _Deferred(
        "cli.demo", "demo",
        "A synthetic day against a running `arrimage up`: two ententes, then N crisis calls on every path."),
}
_ENTENTES = "Ententes: draft, sign, review, amend, renew, revoke — and read their record."
DEFERRED_GROUPS = {
    "ententes": _Deferred("cli.ententes", "app", _ENTENTES),
    # The name before the glossary settled on *entente*: kept for scripts written against it.
    "agreements": _Deferred("cli.ententes", "app", _ENTENTES, hidden=True),
    "cases": _Deferred(
        "cli.cases", "app", "Crisis cases: list, show, history — and the supervisor's reassign, extend, close."),
    "episodes": _Deferred(
        "cli.episodes", "app",
        "Épisodes de services (AAOR, consultations sociale et psychologique): open, meet, revise the PI, close; "
        "show, list, history."),
    "report": _Deferred("cli.report", "app", "Reports computed from the record."),
    "audit": _Deferred(
        "cli.audit", "app",
        "Audit the record: verify the chain, replay an aggregate as a role sees it, the register, accesses, "
        "exceptions, an export to hand over; erase a person."),
    "partners": _Deferred(
        "cli.partners", "app",
        "Partner organisations calling the gateway: add, list, rotate-key, revoke, endpoint, rotate-secret."),
    "users": _Deferred(
        "cli.users", "app",
        "People calling the gateway with their own token: add, list, revoke; their access authorisations "
        "(R-22.1, r. 1, s. 8): authorise, withdraw-authorisation."),
    "directory": _Deferred(
        "cli.directory", "app", "The directory of services: add, list, show, import, export (HSDS)."),
}


class _Commands(MutableMapping[str, Command]):
    """The root's commands by name, in the order Typer would list them. A deferred one is built (its module
    imported) when it is first looked up, except while the root only describes itself (`described`): then a
    stand-in with the table's help line answers."""

    def __init__(self, built: MutableMapping[str, Command]) -> None:
        self._built = dict(built)
        self._order = [*DEFERRED_COMMANDS, *built, *DEFERRED_GROUPS]
        self._describing = False

    def __getitem__(self, name: str) -> Command:
        if name not in self._built:
            deferred = DEFERRED_COMMANDS.get(name) or DEFERRED_GROUPS[name]  # KeyError: no such command
            if self._describing:
                return TyperCommand(name, help=deferred.help, hidden=deferred.hidden)
            self._built[name] = _build(name, deferred)
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        if name not in self._order:
            self._order.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._order.remove(name)
        self._built.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._order  # Mapping's would build it

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    @contextmanager
    def described(self) -> Iterator[None]:
        self._describing = True
        try:
            yield
        finally:
            self._describing = False


def _build(name: str, deferred: _Deferred) -> Command:
    """The command as `app.add_typer(…, name=name)` or `app.command(name)` would have made it (Typer's own builders)."""
    made = getattr(importlib.import_module(deferred.module), deferred.attribute)
    if isinstance(made, typer.Typer):
        return typer.main.get_group_from_info(
            TyperInfo(made, name=name, hidden=deferred.hidden), pretty_exceptions_short=app.pretty_exceptions_short,
            suggest_commands=app.suggest_commands, rich_markup_mode=app.rich_markup_mode)
    return typer.main.get_command_from_info(
        CommandInfo(name=name, callback=made, hidden=deferred.hidden),
        pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode)


class _Root(TyperGroup):
    """The root group over `_Commands`: its help and the completion of a command name describe the deferred
    commands without building them."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.deferred = _Commands(self.commands)
        self.commands = self.deferred

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)  # Typer's own goes through every (name, command): that would build them all

    def format_help(self, ctx: Context, formatter: Any) -> None:
        with self.deferred.described():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: Context, incomplete: str) -> list[CompletionItem]:
        with self.deferred.described():
            return super().shell_complete(ctx, incomplete)


def _refuse_loosened_standards(settings: Settings) -> None:
    """Before a long-running process starts (`up`, `gateway`, `worker`): a region file that loosens a fixed
    standard is refused, one clear line and its exit code (cli.standards)."""
    from cli.errors import reported
    from cli.standards import standards_in_force

    with reported():
        standards_in_force(settings)


app = _Arrimage(
    name="arrimage",
    cls=_Root,
    help="Ententes and crisis handoffs of Québec's health and social services network, kept as events.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()


@app.callback()
def _everywhere(
    config: Path | None = typer.Option(
        None, "--config", metavar="FILE",
        help="A TOML configuration file (as ARRIMAGE_CONFIG); the environment wins over it. Before the command: "
             "arrimage --config /etc/arrimage/arrimage.toml worker"),
) -> None:
    if config is not None:
        os.environ["ARRIMAGE_CONFIG"] = str(config)


class TemporalMode(StrEnum):
    start = "start"
    existing = "existing"


UP_EXIT_CODES = (
    "Exit codes: 0 stopped cleanly; 2 refused, nothing started: another `up` holds the data directory "
    "(its up.lock names the pid), or the Temporal gRPC or Web UI port is already in use; "
    "4 --temporal existing and no server answers; 1 unexpected failure."
)


@app.command(epilog=UP_EXIT_CODES)
def up(
    temporal: TemporalMode | None = typer.Option(
        None, "--temporal",
        help="start (default): start the Temporal dev server, refusing a port already in use; existing: run the "
             "worker on the server already at ARRIMAGE_TEMPORAL_ADDRESS (also ARRIMAGE_TEMPORAL_EXISTING=true).",
    ),
) -> None:
    """Start the embedded stack: Temporal dev server + worker + SQLite record. Ctrl-C stops it.

    One `up` per data directory (ARRIMAGE_DATA_DIR): a second one is refused while the first runs."""
    from workers.bootstrap import bootstrap, load_settings
    from workers.embedded import UpRefused, run_embedded

    settings = load_settings()
    if temporal is not None:
        settings = settings.model_copy(update={"temporal_existing": temporal is TemporalMode.existing})
    if "mode" not in settings.model_fields_set:  # the embedded stack is for trying arrimage: development mode
        settings = settings.model_copy(update={"mode": "development"})
    if not settings.temporal_existing and settings.temporal_tls is None:  # its own dev server, on 127.0.0.1
        settings = settings.model_copy(update={"temporal_tls": False})

    def ready(e: Endpoints) -> None:
        table = Table(title="arrimage is up", show_header=False)
        table.add_column("what", no_wrap=True)
        table.add_column("where", overflow="fold")  # paths stay whole, even in a narrow terminal or a log
        if e.started_server:
            table.add_row("Temporal (gRPC)", e.temporal)
            table.add_row("Temporal Web UI", e.ui or "")
        else:
            table.add_row("Temporal (gRPC)", f"{e.temporal} (an existing server, not started by arrimage)")
        table.add_row("Task queue", e.task_queue)
        if settings.development:
            missing = settings.missing_keys()
            table.add_row("Mode", "DEVELOPMENT (ARRIMAGE_MODE): "
                          + (f"public development keys for {', '.join(missing)}; " if missing else "")
                          + "not for real persons' data")
        table.add_row("Record (event store)", e.store)
        if e.gateway:
            table.add_row("Partner gateway", f"{e.gateway}/v1 (docs: {e.gateway}/v1/docs)")
        if e.started_server:
            table.add_row("Temporal database", str(e.temporal_db))
            table.add_row("Temporal server log", str(e.server_log))
        console.print(table)
        hint = "export ARRIMAGE_MODE=development, then " if settings.development and settings.missing_keys() else ""
        console.print(f"Ctrl-C to stop. In another shell: {hint}[bold]arrimage ententes --help[/bold]")

    _refuse_loosened_standards(settings)
    try:
        with bootstrap(settings, create=True) as engine:  # `up` creates the record
            from gateway.server import Gateway  # FastAPI and its routes: imported by the commands that serve only

            asyncio.run(run_embedded(engine, ready, beside=Gateway(engine)))
    except UpRefused as refusal:
        typer.echo(refusal.message, err=True)
        raise typer.Exit(refusal.exit_code) from None
    console.print("arrimage stopped.")


DOCTOR_EXIT_CODES = (
    "Exit codes: 0 production-ready (production mode, every key configured and none a public development key, "
    "TLS to Temporal and, on PostgreSQL, sslmode require/verify-ca/verify-full; and, unless --offline, no check "
    "failed: Temporal and its namespace answer, the case search attributes registered, the record's tables "
    "present, the gateway ready when ARRIMAGE_API_URL is set); 1 not production-ready (each reason listed, each "
    "failed check with its fix); 2 a bad setting (each named)."
)


@app.command(epilog=DOCTOR_EXIT_CODES)
def doctor(
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
    offline: bool = typer.Option(False, "--offline", help="The configuration only: connect nowhere."),
) -> None:
    """Is this deployment production-ready? The configuration (mode, each key development/production, never
    printed; TLS on each connection), then each check ok/warn/fail with its fix: Temporal and its namespace
    (a short timeout), the case search attributes, the record (PostgreSQL or SQLite) and its tables, the
    gateway's /readyz (ARRIMAGE_API_URL), the clock against PostgreSQL's. Writes nothing anywhere."""
    from workers import doctor as doctor_report
    from workers import doctor_live
    from workers.bootstrap import bootstrap

    with bootstrap(check_keys=False) as engine:  # reports missing keys instead of refusing on them
        found = engine.readiness()
        if not offline:
            found = doctor_live.combined(found, asyncio.run(doctor_live.checks(engine.settings)))
    if as_json:
        typer.echo(json.dumps(found, indent=2))
    else:
        said = doctor_report.lines(found)
        for line in said[:-1] + doctor_live.lines(found) + said[-1:]:
            typer.echo(line)
    raise typer.Exit(0 if found["production_ready"] else 1)


@app.command()
def gateway() -> None:
    """Run the partner gateway alone (ARRIMAGE_GATEWAY_HOST / ARRIMAGE_GATEWAY_PORT, default 127.0.0.1:8080),
    against the record and the Temporal server the settings name. Ctrl-C stops it."""
    async def main(engine: Root) -> None:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        from gateway.server import Gateway

        engine.serve_metrics()  # ARRIMAGE_METRICS: before the first request connects to Temporal
        server = Gateway(engine)
        address = await server.start()
        store = engine.settings.describe_store()
        console.print(f"partner gateway on {address}/v1 (docs: {address}/v1/docs); record {store}")
        views = engine.listings_runner.start()  # its lists caught up between requests (ARRIMAGE_VIEW_CATCHUP_SECONDS)
        try:
            await stop.wait()
        finally:
            await server.stop()
            await asyncio.to_thread(views.stop)

    from workers.bootstrap import bootstrap, load_settings

    settings = load_settings()
    _refuse_loosened_standards(settings)
    with bootstrap(settings) as engine:
        asyncio.run(main(engine))


@app.command("codec-server")
def codec_server(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8081, "--port", help="Port to listen on (0: a free one)."),
    cors_origin: list[str] = typer.Option(
        ["http://localhost:8233", "http://127.0.0.1:8233"], "--cors-origin",
        help="The Temporal UI's origin, allowed to call from the browser (repeat for several)."),
) -> None:
    """Run the codec server for Temporal's UI (POST /decode; /encode refused): payloads decoded only for the
    principals the disclosure rules allow, each decode registered as an access (gateway.codec_server)."""
    async def main(engine: Root) -> None:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        from gateway.codec_server import CodecServer  # FastAPI: imported by the commands that serve only

        server = CodecServer(engine, host, port, cors_origin)
        address = await server.start()
        console.print(f"codec server on {address} (POST /decode) for the UI at {', '.join(cors_origin)}; "
                      f"record {engine.settings.describe_store()}")
        try:
            await stop.wait()
        finally:
            await server.stop()

    from workers.bootstrap import bootstrap, load_settings

    settings = load_settings()
    with bootstrap(settings) as engine:
        engine.record  # noqa: B018 - no record there: refused now (exit 3), not at the first request
        asyncio.run(main(engine))


@app.command()
def worker() -> None:
    """Run a worker against an existing Temporal server (ARRIMAGE_TEMPORAL_ADDRESS)."""
    async def main(engine: Root) -> None:
        engine.serve_metrics()  # ARRIMAGE_METRICS: before the connection, whose runtime carries the SDK's metrics
        engine.use_client(await connect(engine.settings))
        console.print(f"worker on task queue {engine.settings.task_queue} at {engine.settings.temporal_address}")
        await run_until_signalled(engine)

    from workers.bootstrap import bootstrap, connect, load_settings
    from workers.worker import run_until_signalled

    settings = load_settings()
    _refuse_loosened_standards(settings)
    with bootstrap(settings, create=True) as engine:  # the worker creates the record
        asyncio.run(main(engine))


if __name__ == "__main__":
    app()
