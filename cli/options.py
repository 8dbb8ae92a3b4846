"""Options shared by the commands (`--timeout`, `--json`, `--by`), defined once so they cannot drift."""

from __future__ import annotations

import getpass
import os
from typing import Annotated

import typer

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
