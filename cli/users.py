"""`arrimage users …`: people (supervisors, intervenants, auditors) with a local token bound to their
organisation and role, the embedded default. In production people sign in with their identity provider's
tokens (OIDC): `--oidc-subject` on `add`, or `link`, says which subject is which user; the organisation and role
stay the ones given here. Local tokens are then for service accounts and tests.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli import parsing, render
from cli import principals as pr
from cli.client import root
from cli.errors import EXIT_CODES_HELP, reported
from cli.options import AsJson, By, who
from domain.disclosure.model import AccessAuthorisation
from domain.disclosure.roles import ItemCategory, Role
from domain.principals.model import PrincipalKind, PrincipalView

HELP = EXIT_CODES_HELP.replace("no such entente or version", "no such user")
app = typer.Typer(name="users", help="People calling the gateway with their own token: add, list, revoke; their "
                  "access authorisations (R-22.1, r. 1, s. 8): authorise, withdraw-authorisation.",
                  epilog=HELP, no_args_is_help=True)
USER = PrincipalKind.USER

SUBJECT_HELP = "The person's subject (sub) at the identity provider."
OidcSubject = Annotated[str | None, typer.Option("--oidc-subject", help=SUBJECT_HELP + " They may then sign in "
                                                 "with its tokens (OIDC).")]
OidcIssuer = Annotated[str | None, typer.Option("--oidc-issuer", help="The provider's issuer (default: "
                                                "ARRIMAGE_OIDC_ISSUER).")]
UserArg = Annotated[str, typer.Argument(metavar="USER", help="The person's user id, e.g. marie.tremblay.")]


@app.command(epilog=HELP)
def add(
    user: UserArg,
    org: Annotated[str, typer.Option("--org", help="The organisation the person acts for.")],
    role: Annotated[Role, typer.Option("--role", help="The role the person reads and acts in.")],
    name: Annotated[str, typer.Option("--name", help="Full name (default: the user id).")] = "",
    oidc_subject: OidcSubject = None, oidc_issuer: OidcIssuer = None,
    by: By = None, as_json: AsJson = False,
) -> None:
    """Add a person and print their token (once); org and role come from here, never from a request."""
    with root() as engine, reported(), pr.refusals():
        subject = pr.oidc_subject(engine, oidc_subject, oidc_issuer) if oidc_subject else None
        done = engine.principals.add_user(pr.code(user, "a user id"), pr.code(org), role, name=name, by=who(by),
                                          at=pr.now(), subject=subject)
    pr.issued(done, as_json, "added")


@app.command(epilog=HELP)
def link(user: UserArg, oidc_subject: Annotated[str, typer.Option("--oidc-subject", help=SUBJECT_HELP)],
         oidc_issuer: OidcIssuer = None, by: By = None, as_json: AsJson = False) -> None:
    """Let the person sign in with the identity provider (OIDC) as this subject: their org and role stay these."""
    with root() as engine, reported(), pr.refusals():
        view = engine.principals.link_subject(pr.code(user, "a user id"), pr.oidc_subject(engine, oidc_subject,
                                                                                          oidc_issuer),
                                              by=who(by), at=pr.now())
    if as_json:
        render.emit_json(pr.as_json(view))
    else:
        found = view.oidc_subjects[-1]
        typer.echo(f"user {view.principal_id} signs in as {found.subject} of {found.issuer} "
                   f"({view.org_id}, {view.role.value})")


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


@app.command(epilog=HELP)
def authorise(
    user: UserArg,
    granted_by: Annotated[str, typer.Option("--granted-by", help="Who gave it: the highest authority or the "
                                            "designated professional (an id).")],
    valid_from: Annotated[str, typer.Option("--from", help="From this moment (a date: its start; a date-time "
                                            "without offset: Québec time).")],
    valid_until: Annotated[str, typer.Option("--until", help="Until this moment (a date: through that day).")],
    training_until: Annotated[str, typer.Option("--training-until", help="Protection training current through "
                                                "this date (R-22.1, r. 2: its annual refresher).")],
    undertaking_signed: Annotated[bool, typer.Option("--undertaking-signed", help="The discretion undertaking "
                                                     "is signed (required).")] = False,
    category: Annotated[list[ItemCategory] | None, typer.Option("--category", help="Only these categories of "
                                                                "content (repeat; default: every category).")] = None,
    by: By = None, as_json: AsJson = False,
) -> None:
    """Record an access authorisation the person holds (R-22.1, r. 1, s. 8): their reads through the gateway, and
    the local reads they make with --by (cases show|history, episodes show|history, audit register), are decided
    with it from the next one, and no longer take --facts authorisations."""
    user_id = pr.code(user, "a user id")
    terms = AccessAuthorisation(
        holder_id=user_id, granted_by=pr.code(granted_by, "an id"),
        valid_from=parsing.moment(valid_from, "--from"),
        valid_until=parsing.moment(valid_until, "--until", day_end=True),
        training_current_until=parsing.day("--training-until", training_until),
        discretion_undertaking_signed=undertaking_signed, categories=list(category or []),
    )
    with root() as engine, reported(), pr.refusals():
        view = engine.principals.authorise(user_id, terms, by=who(by), at=pr.now())
    done = view.authorisations[-1] if view.authorisations else None
    _show(view, as_json, f"user {view.principal_id}: access authorisation {done.number if done else '?'} recorded")


@app.command("withdraw-authorisation", epilog=HELP)
def withdraw_authorisation(
    user: UserArg,
    number: Annotated[int, typer.Argument(metavar="NUMBER", help="The authorisation's number (users list --json).")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the record.")],
    by: By = None, as_json: AsJson = False,
) -> None:
    """Withdraw one of the person's access authorisations now: their next read is refused without another."""
    with root() as engine, reported(), pr.refusals():
        view = engine.principals.withdraw_authorisation(pr.code(user, "a user id"), number, reason, by=who(by),
                                                        at=pr.now())
    _show(view, as_json, f"user {view.principal_id}: access authorisation {number} withdrawn from now on")


def _show(view: PrincipalView, as_json: bool, said: str) -> None:
    if as_json:
        render.emit_json(pr.as_json(view))
    else:
        typer.echo(said)
