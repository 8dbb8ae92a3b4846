"""Options shared by the commands (`--timeout`, `--json`, `--by`, and the reader's `--role`, `--purpose`,
`--facts`), defined once so they cannot drift."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from cli.errors import bad_input, invalid, read_json
from domain.disclosure.roles import PurposeKind, Role
from usecases.audit.reads import Reader
from usecases.audit.replays import ReaderFacts
from usecases.principals import Principals

DEFAULT_TIMEOUT = 30.0
TIMEOUT_HELP = (
    "Seconds to wait for a worker to complete the command (default 30; $ARRIMAGE_CLI_TIMEOUT); "
    "past it: exit 4, and the command may still be applied later."
)

# `--timeout SECONDS`, after the verb: `arrimage ententes sign … --timeout 60`, `arrimage cases close … --timeout 60`.
Timeout = Annotated[
    float,
    typer.Option("--timeout", envvar="ARRIMAGE_CLI_TIMEOUT", min=1, metavar="SECONDS", help=TIMEOUT_HELP),
]

# `--json`: machine-readable output on stdout (and a problem object on stderr when it fails).
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]

# `--by`: who acts, for the record.
By = Annotated[
    str | None,
    typer.Option("--by", envvar="ARRIMAGE_USER", help="Who acts (default: $ARRIMAGE_USER, else your login)."),
]


def who(by: str | None) -> str:
    """Who acts: `--by`, else $ARRIMAGE_USER, else the login."""
    return by or os.environ.get("ARRIMAGE_USER") or getpass.getuser()


# ---------------------------------------------------------------------- who reads the record
# Every read of the record's content is an access, decided and registered with the reader's role and
# purpose (issue 9). No implicit role: a read without one is refused before the record is opened.
ReadBy = Annotated[
    str | None,
    typer.Option("--by", envvar="ARRIMAGE_USER", help="Who reads (default: $ARRIMAGE_USER, else your login)."),
]
ReaderRole = Annotated[
    Role | None,
    typer.Option("--role", envvar="ARRIMAGE_ROLE",
                 help="The capacity in which you read the record (default: $ARRIMAGE_ROLE; required)."),
]
Purpose = Annotated[
    PurposeKind | None,
    typer.Option("--purpose",
                 help="What you read it for (default: audit for auditors and supervisors, care for intervenants…)."),
]
Facts = Annotated[
    Path | None,
    typer.Option("--facts", metavar="FILE",
                 help='JSON the record does not keep: {"authorisations": [...], "subject": {...}} '
                      "(R-22.1, r. 1, s. 8; the person's birth date for their own access). Authorisations only "
                      "for a reader without a user account: one with an account reads with those registered on "
                      "it (`arrimage users authorise`)."),
]
NO_ROLE = "give the role you read in with --role (or set ARRIMAGE_ROLE): every read of the record is registered"


def reader_facts(path: Path | None) -> ReaderFacts:
    if path is None:
        return ReaderFacts()
    try:
        return ReaderFacts.model_validate(read_json(path))
    except ValidationError as err:
        raise invalid(err, whole=str(path)) from None


def reader(
    by: str | None, role: Role | None, purpose: PurposeKind | None, facts: Path | None = None,
    principals: Principals | None = None,
) -> Reader:
    """Who reads, in which role, for what: `bad_input` (exit 2) without a role. With `principals` (the record's
    user accounts), a reader who has an account reads with the access authorisations registered on it
    (`arrimage users authorise`), as through the gateway, and `--facts` authorisations are refused
    (`facts_in_record`, exit 2, nothing recorded); a reader without one still gives them in `--facts`."""
    if role is None:
        raise bad_input(NO_ROLE)
    actor, given = who(by), reader_facts(facts)
    if principals is not None:
        given = given.model_copy(update={
            "authorisations": principals.reader_authorisations(actor, list(given.authorisations))})
    return Reader.of(actor, role, purpose, given)
