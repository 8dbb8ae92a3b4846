"""`arrimage standards`: the access standards in force, and the file they came from."""

from __future__ import annotations

import json

from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from cli import render
from cli import render_cases as rc
from cli.client import root
from cli.errors import CliError, Exit, invalid, no_such_file, not_json, reported
from cli.options import AsJson
from domain.standards.config import StandardsConfig
from domain.standards.provenance import figures
from workers.settings import Settings


def source_of(settings_file: object) -> str:
    return str(settings_file) if settings_file else "ministry defaults (no ARRIMAGE_STANDARDS_FILE)"


def standards_in_force(settings: Settings) -> StandardsConfig:
    """The configuration, or why the region's file (ARRIMAGE_STANDARDS_FILE) cannot be used, in one line each."""
    path = settings.standards_file
    try:
        return settings.standards()
    except ValidationError as err:
        raise invalid(err, whole=str(path)) from None
    except json.JSONDecodeError as err:
        raise not_json(path or "", err) from None
    except (FileNotFoundError, NotADirectoryError):
        raise no_such_file(path or "") from None
    except (OSError, ValueError) as err:  # unreadable, not TOML, not .toml/.json
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise CliError(Exit.REFUSED, f"invalid standards file {path}: {reason}") from None


def standards(as_json: AsJson = False) -> None:
    """The configuration in force: each standard's clock and deadline, the urgency scale, follow-up plans, caps."""
    with root() as engine:
        settings = engine.settings
    with reported():
        config = standards_in_force(settings)
    source = source_of(settings.standards_file)
    if as_json:
        render.emit_json({
            "source": str(settings.standards_file) if settings.standards_file else "ministry defaults",
            "config": config.model_dump(mode="json"),
            # each figure: where it comes from (ministere: its seed line; fichier_region; defaut_moteur: an engine
            # default the seed does not give) and whether the ministry fixed it (a region only tightens it)
            "figures": [f.model_dump(mode="json") for f in figures(config)],
        })
    else:
        rc.standards_tables(config, source)
        render.console.print(provenance_table(config))


_PROVENANCE = {"ministere": "ministry", "fichier_region": "region file",
               "defaut_moteur": "engine default (not in the seed)"}


def provenance_table(config: StandardsConfig) -> Table:
    """Where each figure comes from, and whether the ministry fixed it."""
    table = Table(title="Where each figure comes from (fixed: a region may tighten it, never loosen it)")
    for column in ("figure", "from", "fixed", "reference"):
        table.add_column(column)
    for f in figures(config):
        table.add_row(Text(f.key), _PROVENANCE[f.provenance], "fixed" if f.fixed else "", Text(f.reference))
    return table
