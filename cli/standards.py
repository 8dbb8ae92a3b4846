"""`arrimage standards`: the access standards in force, and the file they came from."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from cli import render
from cli import render_cases as rc
from cli.client import root
from cli.errors import CliError, Exit, invalid, no_such_file, not_json, reported
from cli.options import AsJson
from domain.crisis.availability import Coverage, crisis_coverage
from domain.ententes.state import EntenteView
from domain.standards.availability import AAOR_HOURS_REFERENCE, AAOR_WEEKLY_FLOOR_HOURS, AaorWeek, aaor_weeks
from domain.standards.config import StandardsConfig
from domain.standards.provenance import figures
from workers.bootstrap import NoRecord, Root
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
        with reported():  # the region's file first: a bad one is refused (exit 2) without opening the record
            config = standards_in_force(settings)
        views = ententes_in_record(engine)
    coverage = coverage_in_force(views, config)
    aaor = aaor_weeks(config.aaor_hours)
    source = source_of(settings.standards_file)
    if as_json:
        render.emit_json({
            "source": str(settings.standards_file) if settings.standards_file else "ministry defaults",
            "config": config.model_dump(mode="json"),
            # each figure: where it comes from (ministere: its seed line; fichier_region; defaut_moteur: an engine
            # default the seed does not give) and whether the ministry fixed it (a region only tightens it)
            "figures": [f.model_dump(mode="json") for f in figures(config)],
            # the 24/7 services (seed 001 L1013-1014, L1259-1260): covered by the ententes in force? (null: no record)
            "coverage": None if coverage is None else [c.model_dump(mode="json") for c in coverage],
            # the AAOR's weekly hours per territory and channel against the 70 h floor (seed 001 L767-770;
            # null: the region file declares none)
            "aaor_hours": None if config.aaor_hours is None else [w.model_dump(mode="json") for w in aaor],
        })
    else:
        rc.standards_tables(config, source)
        render.console.print(provenance_table(config))
        render.console.print(coverage_table(coverage))
        render.console.print(aaor_table(config.aaor_hours is not None, aaor))


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


def ententes_in_record(engine: Root) -> list[EntenteView] | None:
    """The ententes of the record (None: no record here)."""
    try:
        return engine.ententes.list(from_view=True)
    except NoRecord:
        return None


def coverage_in_force(views: list[EntenteView] | None, config: StandardsConfig) -> list[Coverage] | None:
    """The mobile crisis service's 24/7 coverage now, from the ententes in force in the record and the CSSS teams
    the region file declares (the teams routing asks when a request names none). None: no record here and no
    team declared."""
    if views is None and not config.csss_teams:
        return None
    return crisis_coverage(views or [], datetime.now(UTC), region_teams=config.csss_teams or [])


def coverage_table(coverage: list[Coverage] | None) -> Table | Text:
    """Whether the ententes in force and the declared CSSS teams cover the mobile crisis service 24/7/365."""
    if coverage is None:
        return Text("24/7 coverage: no record here, no entente to read, no CSSS team declared")
    table = Table(title="24/7 coverage of the mobile crisis service by the ententes in force and the CSSS teams "
                        "of the region file (seed 001 L1259-1260)")
    for column in ("territory", "providers", "24/7", "gaps (Québec time)"):
        table.add_column(column)
    for c in coverage:
        providers = ", ".join(f"{p.provider} ({p.entente or 'CSSS'}{'' if p.hours else ', always'})"
                              for p in c.providers)
        gaps = "; ".join(c.weekly_gaps + [f"closed {d.isoformat()}" for d in c.uncovered_dates])
        table.add_row(Text(c.territory), Text(providers), "yes" if c.covers_24_7 else "NO", Text(gaps))
    return table


def aaor_table(declared: bool, weeks: list[AaorWeek]) -> Table | Text:
    """The AAOR's weekly hours per territory and channel against the 70 h floor (seed 001 L767-770)."""
    if not declared:
        return Text(f"AAOR hours: none declared in the region file (floor: {AAOR_WEEKLY_FLOOR_HOURS} h a week by "
                    f"telephone and in person, {AAOR_HOURS_REFERENCE})")
    table = Table(title=f"AAOR hours a week against the {AAOR_WEEKLY_FLOOR_HOURS} h floor ({AAOR_HOURS_REFERENCE})")
    for column in ("territory", "channel", "hours a week", "floor", "met"):
        table.add_column(column)
    for w in weeks:
        table.add_row(Text(w.territory), w.channel.value, f"{w.weekly_hours:g}", f"{w.floor_hours}",
                      "yes" if w.meets_floor else "NO")
    return table
