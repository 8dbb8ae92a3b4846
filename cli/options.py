"""Options shared by every command that waits for the workflows, defined once so they cannot drift."""

from __future__ import annotations

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
