"""`arrimage users …`: people (supervisors, intervenants, auditors) with a local token bound to their
organisation and role, the embedded default. In production people sign in with OIDC (a seam in
`usecases.principals`, not built yet); these local tokens are then for service accounts and tests.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli import principals as pr
from cli import render
from cli.client import root
from cli.errors import EXIT_CODES_HELP, reported
from cli.options import AsJson, By, who
from domain.disclosure.roles import Role
from domain.principals.model import PrincipalKind

HELP = EXIT_CODES_HELP.replace("no such entente or version", "no such user")
app = typer.Typer(name="users", help="People calling the gateway with their own token: add, list, revoke.",
                  epilog=HELP, no_args_is_help=True)
USER = PrincipalKind.USER

UserArg = Annotated[str, typer.Argument(metavar="USER", help="The person's user id, e.g. marie.tremblay.")]


@app.command(epilog=HELP)
def add(
    user: UserArg,
    org: Annotated[str, typer.Option("--org", help="The organisation the person acts for.")],
    role: Annotated[Role, typer.Option("--role", help="The role the person reads and acts in.")],
    name: Annotated[str, typer.Option("--name", help="Full name (default: the user id).")] = "",
    by: By = None, as_json: AsJson = False,
) -> None:
    """Add a person and print their token (once); org and role come from here, never from a request."""
    with root() as engine, reported(), pr.refusals():
        done = engine.principals.add_user(pr.code(user, "a user id"), pr.code(org), role, name=name, by=who(by),
                                          at=pr.now())
    pr.issued(done, as_json, "added")


@app.command("list", epilog=HELP)
def list_(as_json: AsJson = False) -> None:
    """Every person, their organisation, role and status (key ids only)."""
    pr.show_list(USER, "Users", as_json)


@app.command(epilog=HELP)
def revoke(user: UserArg, reason: Annotated[str, typer.Option("--reason", help="Why, for the record.")],
           by: By = None, as_json: AsJson = False) -> None:
    """Revoke the person's tokens now: their next request is refused."""
    with root() as engine, reported(), pr.refusals():
        view = engine.principals.revoke(USER, pr.code(user, "a user id"), reason, by=who(by), at=pr.now())
    if as_json:
        render.emit_json(pr.as_json(view))
    else:
        typer.echo(f"revoked user {view.principal_id}: their tokens are refused from now on")
