"""`arrimage directory …`: the local network's directory of services (issue 11; seed 002 L403-437).

Each service with its organisation, territory, hours, intake channel, the kind of link the network has with it
(corridor de services, protocole d'entente, agent de liaison) and, where known, its current wait. Referrals that
name a service id (`receiving.directory_service_id`) are checked against it. `import` / `export` read and write
Open Referral HSDS 3.0 JSON, so a region can load its 2-1-1 or local directory.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from cli import render
from cli.client import root
from cli.errors import EXIT_CODES_HELP, CliError, Exit, FieldError, invalid, read_json, reported
from cli.options import AsJson, By, who
from domain.directory.model import DirectoryService, IntakeChannel, LinkKind, Sector

app = typer.Typer(name="directory", help="The directory of services: add, list, show, import, export (HSDS).",
                  epilog=EXIT_CODES_HELP, no_args_is_help=True)

ServiceArg = Annotated[str, typer.Argument(metavar="SERVICE", help="The service id, e.g. omh-laval-logement.")]


def _now() -> datetime:
    return datetime.now(UTC)


@app.command()
def add(
    service_id: ServiceArg,
    name: Annotated[str, typer.Option("--name", help="The service's name.")],
    org: Annotated[str, typer.Option("--org", help="The organisation offering it (code).")],
    org_name: Annotated[str, typer.Option("--org-name", help="The organisation's name.")],
    territory: Annotated[str, typer.Option("--territory", help="The territory it serves (code).")],
    sector: Annotated[Sector, typer.Option("--sector", help="Its sector (seed 002 L413-427).")],
    link: Annotated[LinkKind, typer.Option("--link", help="How the network reaches it (seed 002 L435-437).")]
    = LinkKind.AUCUN,
    channel: Annotated[IntakeChannel, typer.Option("--channel", help="How it takes a person in.")]
    = IntakeChannel.TELEPHONE,
    hours: Annotated[str | None, typer.Option("--hours", help="Its hours, as it states them.")] = None,
    schedule: Annotated[str | None, typer.Option(
        "--schedule", help='Its hours structured, in Québec time, as JSON: {"windows": [{"days": [1,2,3,4,5], '
        '"opens": "08:30", "closes": "16:30"}], "closed_on": ["2027-06-24"]} (days 1 = Monday; routing does not '
        'ask a crisis service outside them).')] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="Its intake phone number.")] = None,
    wait: Annotated[str | None, typer.Option("--wait", help="Its current wait, where known (seed 003 L112).")]
    = None,
    replace: Annotated[bool, typer.Option("--replace", help="Change a service already listed.")] = False,
    by: By = None, as_json: AsJson = False,
) -> None:
    """Add a service to the directory (or change it with --replace)."""
    with root() as engine, reported():
        try:
            structured = json.loads(schedule) if schedule is not None else None
        except json.JSONDecodeError as err:
            message = f"not JSON ({err.msg})"
            raise CliError(Exit.REFUSED, f"invalid input: schedule: {message}",
                           errors=[FieldError("schedule", message)]) from None
        try:
            service = DirectoryService(
                service_id=service_id, name=name, organisation_id=org, organisation_name=org_name,
                territory=territory, sector=sector, link=link, intake_channel=channel, hours=hours, phone=phone,
                current_wait=wait, schedule=structured)
        except ValidationError as err:
            raise invalid(err) from None
        engine.directory.add(service, who(by), _now(), replace=replace)
    _one(service, as_json)


@app.command("list")
def list_(
    sector: Annotated[Sector | None, typer.Option("--sector", help="Only this sector.")] = None,
    territory: Annotated[str | None, typer.Option("--territory", help="Only this territory.")] = None,
    as_json: AsJson = False,
) -> None:
    """The services of the directory."""
    with root() as engine, reported():
        found = [s for s in engine.directory.list()
                 if (sector is None or s.sector is sector) and (territory is None or s.territory == territory)]
    if as_json:
        render.emit_json([s.model_dump(mode="json") for s in found])
        return
    table = Table(title=f"Directory of services ({len(found)})")
    for col in ("id", "name", "organisation", "territory", "sector", "link", "intake", "hours", "wait"):
        table.add_column(col, overflow="fold")
    for s in found:
        table.add_row(s.service_id, s.name, s.organisation_id, s.territory, s.sector.value, s.link.value,
                      s.intake_channel.value, s.hours or "—", s.current_wait or "—")
    render.console.print(table)


@app.command()
def show(service_id: ServiceArg, as_json: AsJson = False) -> None:
    """One service of the directory."""
    with root() as engine, reported():
        service = engine.directory.get(service_id)
    _one(service, as_json)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="An Open Referral HSDS 3.0 JSON document.")],
    by: By = None, as_json: AsJson = False,
) -> None:
    """Load an HSDS document (a 2-1-1 or local directory): each service added or changed; a bad document
    records nothing."""
    with root() as engine, reported():
        data = read_json(file)
        changed = engine.directory.import_hsds(data, who(by), _now())
    if as_json:
        render.emit_json({"recorded": changed})
    else:
        typer.echo(f"{changed} service(s) recorded")


@app.command()
def export(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file (default: stdout).")] = None,
) -> None:
    """The directory as an Open Referral HSDS 3.0 JSON document."""
    with root() as engine, reported():
        doc = engine.directory.export_hsds()
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")


def _one(service: DirectoryService, as_json: bool) -> None:
    if as_json:
        render.emit_json(service.model_dump(mode="json"))
        return
    for key, value in service.model_dump(mode="json").items():
        typer.echo(f"{key}: {value if value is not None else '—'}")
