"""`arrimage standards`: the access standards in force, and the file they came from."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import render
from cli import render_cases as rc
from cli.client import load_settings
from cli.errors import CliError, Exit, reported


def source_of(settings_file: object) -> str:
    return str(settings_file) if settings_file else "ministry defaults (no ARRIMAGE_STANDARDS_FILE)"


AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def standards(as_json: AsJson = False) -> None:
    """The configuration in force: each standard's clock and deadline, the urgency scale, follow-up plans, caps."""
    settings = load_settings()
    with reported():
        try:
            config = settings.standards()
        except (OSError, ValueError) as err:
            raise CliError(Exit.REFUSED, f"invalid standards file {settings.standards_file}: {err}") from None
    source = source_of(settings.standards_file)
    if as_json:
        render.emit_json({
            "source": str(settings.standards_file) if settings.standards_file else "ministry defaults",
            "config": config.model_dump(mode="json"),
        })
    else:
        rc.standards_tables(config, source)
