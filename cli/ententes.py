"""`arrimage ententes …`: a supervisor runs an entente's whole life from the shell.

Commands (draft, revise, submit, sign, …) go through the entente's workflow, whose
validators apply the rules: a refused command records nothing. Reads (list, show,
history, diff) come from the record, the legal one, and work with the engine down.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from cli import parsing, remote, render
from cli import render_cases as rc
from cli.client import ask, root, run
from cli.display import Limit, limited, print_more
from cli.errors import (
    EXIT_CODES_HELP,
    CliError,
    Exit,
    bad_input,
    invalid,
    no_such_file,
    not_json,
    read_text,
    reported,
)
from cli.options import DEFAULT_TIMEOUT, AsJson, By, Timeout, who
from cli.render import WorkflowAnswer
from cli.templates import template as content_template
from domain.delivery.model import SubjectKind
from domain.ententes import commands as c
from domain.ententes.model import EntenteCode, EntenteContent, EntenteKind
from domain.ententes.state import EntenteStatus, EntenteView, ReviewOutcome
from domain.values import MAX_COMMAND_BYTES

app = typer.Typer(
    name="ententes",
    help="Ententes: draft, sign, review, amend, renew, revoke — and read their record.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
)

M = TypeVar("M", bound=BaseModel)

# Option names as the supervisor typed them, for error messages about command fields.
OPTION_NAMES = {
    "code": "CODE", "by": "--by", "party_id": "--party", "version": "--version", "signatory": "--signatory",
    "title": "--title", "reason": "--reason", "end_date": "--until", "effective_date": "--effective",
    "notes": "--notes", "outcome": "--outcome", "signature_deadline": "--deadline",
}

entente_code = parsing.code_argument(EntenteCode, "CODE", "letters, digits, '.', '_' or '-' (e.g. ENT-LAV-2026-01)")
CodeArg = Annotated[
    str,
    typer.Argument(metavar="CODE", callback=entente_code,
                   help="Code of the entente, e.g. ENT-LAV-2025-01 (case does not matter)."),
]
ContentFile = Annotated[
    Path, typer.Option("--file", "-f", help="Content file (.json or .toml); start from `template`.")
]
Party = Annotated[str, typer.Option("--party", help="party_id of the party acting.")]
Version = Annotated[int, typer.Option("--version", help="Version number (see `show`).")]
Reason = Annotated[str, typer.Option("--reason", help="Why, for the record.")]


# ---------------------------------------------------------------------- helpers
def _build(model: type[M], **fields: Any) -> M:
    try:
        return model.model_validate(fields)
    except ValidationError as err:
        errors = err.errors()
        if len(errors) == 1 and not errors[0]["loc"]:  # the whole command (its byte budget): one line
            raise bad_input(errors[0]["msg"].removeprefix("Value error, ")) from None
        raise invalid(err, OPTION_NAMES) from None


def load_content(path: Path) -> EntenteContent:
    """Read and validate a content file; every invalid field is reported, nothing is sent."""
    if not path.is_file():
        raise no_such_file(path)
    size = path.stat().st_size
    if size > MAX_COMMAND_BYTES:
        # Refused before it is read: recorded, it would block every later command on the entente.
        raise bad_input(
            f"{path} is {size:,} bytes; an entente command may not exceed {MAX_COMMAND_BYTES:,} bytes "
            f"({MAX_COMMAND_BYTES // 1024} KiB)"
        )
    text = read_text(path)
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except json.JSONDecodeError as err:
        raise not_json(path, err) from None
    except tomllib.TOMLDecodeError as err:
        raise CliError(Exit.REFUSED, f"not valid TOML: {path}: {err}") from None
    try:
        return EntenteContent.model_validate(data)
    except ValidationError as err:
        raise invalid(err, whole=str(path)) from None


def _ctx_timeout(ctx: typer.Context) -> float:
    """The command's `--timeout` (cli/options.py: the same option on every command that waits for a worker)."""
    return float(ctx.params.get("timeout", DEFAULT_TIMEOUT))


def _done(view: EntenteView, as_json: bool) -> None:
    if as_json:
        render.emit_json(view.model_dump(mode="json"))
    else:
        typer.echo(render.brief(view))


def _give(ctx: typer.Context, code: str, model: type[c.Command], as_json: bool, **fields: Any) -> None:
    with root(person=True) as engine, reported():
        if (gateway := remote.through(engine)) is not None:  # who acts: the token's person, for their organisation
            data = remote.body(model, fields, remote.me(gateway), OPTION_NAMES, actor_org=False)
            view = EntenteView.model_validate(gateway.post(f"/v1/ententes/{code}/commands", data))
        else:
            cmd = _build(model, **fields)
            view = run(engine.entente_client.command(code, cmd, _ctx_timeout(ctx)))
    _done(view, as_json)


# ---------------------------------------------------------------------- writing
@app.command(epilog=EXIT_CODES_HELP)
def template(
    kind: Annotated[EntenteKind, typer.Option("--kind", help="Type of entente.")] = EntenteKind.SERVICE,
) -> None:
    """Print a realistic content file (JSON) to start from: edit it, then `draft`."""
    render.emit_json(content_template(kind))


@app.command(epilog=EXIT_CODES_HELP)
def draft(
    ctx: typer.Context, code: CodeArg, file: ContentFile, by: By = None, timeout: Timeout = DEFAULT_TIMEOUT,
    as_json: AsJson = False,
) -> None:
    """Create an entente (version 1, in drafting) from a content file."""
    with root(person=True) as engine, reported():
        content = load_content(file)
        if (gateway := remote.through(engine)) is not None:
            data = remote.body(c.DraftEntente, {"code": code, "content": content}, remote.me(gateway), OPTION_NAMES,
                               actor_org=False)
            view = EntenteView.model_validate(gateway.post("/v1/ententes", data))
        else:
            cmd = _build(c.DraftEntente, by=who(by), code=code, content=content)
            view = run(engine.entente_client.draft(cmd, _ctx_timeout(ctx)))
    _done(view, as_json)


@app.command(epilog=EXIT_CODES_HELP)
def revise(
    ctx: typer.Context, code: CodeArg, file: ContentFile,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the record.")] = None,
    by: By = None, timeout: Timeout = DEFAULT_TIMEOUT, as_json: AsJson = False,
) -> None:
    """Replace the open draft with a new version (signatures collected so far are void)."""
    with reported():
        content = load_content(file)
    _give(ctx, code, c.ReviseDraft, as_json, by=who(by), content=content, reason=reason)


@app.command(epilog=EXIT_CODES_HELP)
def submit(
    ctx: typer.Context, code: CodeArg,
    deadline: Annotated[
        str | None,
        typer.Option("--deadline", metavar="DATE",
                     help="Last day to sign, Québec time (default: the policy's signature period)."),
    ] = None,
    by: By = None, timeout: Timeout = DEFAULT_TIMEOUT, as_json: AsJson = False,
) -> None:
    """Submit the open draft for signature by every party."""
    with reported():
        moment = parsing.deadline(deadline) if deadline else None
    _give(ctx, code, c.SubmitForSignature, as_json, by=who(by), signature_deadline=moment)


@app.command(epilog=EXIT_CODES_HELP)
def sign(
    ctx: typer.Context, code: CodeArg, party: Party, version: Version,
    signatory: Annotated[str, typer.Option("--signatory", help="Name of the person who signs.")],
    title: Annotated[str | None, typer.Option("--title", help="Their title.")] = None,
    by: By = None, timeout: Timeout = DEFAULT_TIMEOUT, as_json: AsJson = False,
) -> None:
    """Record a party's signature of the version in signature (bound to its exact text)."""
    _give(ctx, code, c.SignEntente, as_json, by=who(by), party_id=party,
          version=version, signatory=signatory, title=title)


@app.command(epilog=EXIT_CODES_HELP)
def refuse(
    ctx: typer.Context, code: CodeArg, party: Party, version: Version, reason: Reason,
    by: By = None, timeout: Timeout = DEFAULT_TIMEOUT, as_json: AsJson = False,
) -> None:
    """Record a party's refusal to sign: the version goes back to drafting."""
    _give(ctx, code, c.RefuseSignature, as_json, by=who(by), party_id=party,
          version=version, reason=reason)


@app.command(epilog=EXIT_CODES_HELP)
def withdraw(
    ctx: typer.Context, code: CodeArg, party: Party, reason: Reason, by: By = None,
    timeout: Timeout = DEFAULT_TIMEOUT, as_json: AsJson = False,
) -> None:
    """A party withdraws before the entente (or its amendment) takes effect."""
    _give(ctx, code, c.WithdrawFromEntente, as_json, by=who(by), party_id=party,
          reason=reason)


@app.command(epilog=EXIT_CODES_HELP)
def amend(
    ctx: typer.Context, code: CodeArg, file: ContentFile, reason: Reason, by: By = None,
    timeout: Timeout = DEFAULT_TIMEOUT, as_json: AsJson = False,
) -> None:
    """Propose a new version of an entente in force; the current one stays in force until it is signed."""
    with reported():
        content = load_content(file)
    _give(ctx, code, c.ProposeAmendment, as_json, by=who(by), content=content,
          reason=reason)


@app.command(epilog=EXIT_CODES_HELP)
def renew(
    ctx: typer.Context, code: CodeArg, reason: Reason,
    until: Annotated[str | None, typer.Option("--until", metavar="DATE", help="New end date.")] = None,
    no_end: Annotated[bool, typer.Option("--no-end", help="Renew without an end date.")] = False,
    by: By = None, timeout: Timeout = DEFAULT_TIMEOUT, as_json: AsJson = False,
) -> None:
    """Propose a renewal (same text, new end date), to be signed by every party."""
    if (until is None) == (not no_end):
        with reported():
            raise bad_input("give exactly one of --until DATE or --no-end")
    _give(ctx, code, c.ProposeRenewal, as_json, by=who(by), end_date=until, reason=reason)


@app.command(epilog=EXIT_CODES_HELP)
def review(
    ctx: typer.Context, code: CodeArg,
    outcome: Annotated[ReviewOutcome, typer.Option("--outcome", help="Decision of the comité de suivi.")],
    notes: Annotated[str | None, typer.Option("--notes", help="Minutes, in short.")] = None,
    by: By = None, timeout: Timeout = DEFAULT_TIMEOUT, as_json: AsJson = False,
) -> None:
    """Record the annual review by the comité de suivi (open from the review window before the due date)."""
    _give(ctx, code, c.RecordReview, as_json, by=who(by), outcome=outcome, notes=notes)


@app.command(epilog=EXIT_CODES_HELP)
def revoke(
    ctx: typer.Context, code: CodeArg, party: Party, reason: Reason,
    effective: Annotated[str, typer.Option("--effective", metavar="DATE", help="Date the revocation takes effect.")],
    by: By = None, timeout: Timeout = DEFAULT_TIMEOUT, as_json: AsJson = False,
) -> None:
    """Give notice of revocation (at least the entente's notice period ahead)."""
    _give(ctx, code, c.GiveRevocationNotice, as_json, by=who(by), party_id=party,
          reason=reason, effective_date=effective)


# ---------------------------------------------------------------------- reading
@app.command("list", epilog=EXIT_CODES_HELP)
def list_(
    status: Annotated[EntenteStatus | None, typer.Option("--status", help="Only ententes with this status.")] = None,
    limit: Limit = None,
    as_json: AsJson = False,
) -> None:
    """Every entente in the record, in the order they were drafted (through the gateway: your organisation's)."""
    with root(person=True) as engine, reported():
        if (gateway := remote.through(engine)) is not None:
            found = gateway.get("/v1/ententes", {"status": status})["ententes"]
            views = [EntenteView.model_validate(v) for v in found]
        else:
            views = [v for v in engine.ententes.list(from_view=True) if status is None or v.status is status]
    shown, left = limited(views, limit, as_json)
    if as_json:
        render.emit_json([v.model_dump(mode="json") for v in shown])
    else:
        render.console.print(render.list_table(shown, total=len(views)))
        print_more(render.console, left)


@app.command(epilog=EXIT_CODES_HELP)
def show(
    code: CodeArg,
    version: Annotated[int | None, typer.Option("--version", help="Show the text of this version instead.")] = None,
    as_json: AsJson = False,
) -> None:
    """One entente: status, parties and signatures, reviews, versions, and the workflow's next wake-up."""
    with root(person=True) as engine:
        with reported():
            if (gateway := remote.through(engine)) is not None:
                if version is not None:
                    raise remote.not_served("--version")
                read = gateway.get(f"/v1/ententes/{code}")  # registered in the entente's reads log there
                found = EntenteView.model_validate(read["entente"])
                told = WorkflowAnswer(False, error="not asked: read through the gateway")
                if as_json:
                    return render.emit_json({"view": found.model_dump(mode="json"), "workflow": told.as_json(),
                                             "access": read["access"]})
                return render.show(found, told)
            if version is not None:
                content = engine.ententes.content(code, version)
            else:
                view = engine.ententes.view(code)
                deliveries = engine.deliveries.log(SubjectKind.ENTENTE, code)  # webhooks sent about it (issue 10)
        if version is not None:
            if as_json:
                render.emit_json(content.model_dump(mode="json"))
            else:
                render.content_summary(code, version, content)
            return
        answer = run(ask(lambda: engine.entente_client.ask(code)))
    if as_json:
        render.emit_json({"view": view.model_dump(mode="json"), "workflow": answer.as_json(),
                          "deliveries": [rc.delivery_json(m) for m in deliveries]})
    else:
        render.show(view, answer)
        if deliveries:
            render.console.print(rc.deliveries_table(deliveries))


@app.command(epilog=EXIT_CODES_HELP)
def history(code: CodeArg, limit: Limit = None, as_json: AsJson = False) -> None:
    """Every event recorded for the entente, in order, from the record."""
    with root(person=True) as engine, reported():
        e = engine.ententes
        rows = e.history(code)
    shown, left = limited(rows, limit, as_json)
    if as_json:
        render.emit_json(shown)
    else:
        render.console.print(render.history_table(code, shown, total=len(rows)))
        print_more(render.console, left)


@app.command(epilog=EXIT_CODES_HELP)
def diff(
    code: CodeArg,
    v1: Annotated[int, typer.Argument(metavar="V1", help="Older version.")],
    v2: Annotated[int, typer.Argument(metavar="V2", help="Newer version.")],
    as_json: AsJson = False,
) -> None:
    """What changed between two versions, field by field."""
    with root(person=True) as engine, reported():
        e = engine.ententes
        changes = e.diff(code, v1, v2)
    if as_json:
        render.emit_json([ch.model_dump(mode="json") for ch in changes])
    else:
        render.console.print(render.diff_table(code, v1, v2, changes))
