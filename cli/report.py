"""`arrimage report standards`: each access standard's compliance over a period, computed from the record.

The cases and épisodes de services are those opened in the period (Québec dates, both included), found
through the listings view (their `Opened` events as the projection keeps them: the same list as the scan of the
notification log, `adapters.record.listings`), so only the period's are loaded; their clocks are read from the
record as it stands now, so a clock still running is counted as open (overdue or not yet due) at this moment.
Figures are exact: counts, an exact ratio, nearest-rank median and 90th percentile.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from cli import audit_render, render
from cli import render_cases as rc
from cli.cases import skipped_case
from cli.client import root
from cli.episodes import skipped_episode
from cli.errors import EXIT_CODES_HELP, bad_input, reported
from cli.options import AsJson, Purpose, ReadBy, ReaderRole, reader
from cli.parsing import day
from cli.standards import standards_in_force
from domain.audit.record_reads import ReadKind
from domain.clock import start_of
from domain.standards import compliance
from domain.standards.compliance import Observation, info_social_call

app = typer.Typer(name="report", help="Reports computed from the record.", epilog=EXIT_CODES_HELP,
                  no_args_is_help=True)


@app.command("standards", epilog=EXIT_CODES_HELP)
def standards_report(
    from_: Annotated[str, typer.Option("--from", metavar="DATE", help="First day (Québec time), included.")],
    to: Annotated[str, typer.Option("--to", metavar="DATE", help="Last day, included.")],
    by: ReadBy = None, role: ReaderRole = None, purpose: Purpose = None,
    as_json: AsJson = False,
) -> None:
    """For the crisis cases and épisodes de services opened in the period: per standard, in time, late, open
    overdue, median and p90 delay. The report reads every case and episode of the period: it is a read across
    persons, decided and registered first."""
    with root() as engine, reported():
        first, last = day("--from", from_), day("--to", to)
        if last < first:
            raise bad_input(f"--to {last} is before --from {first}")
        read = engine.reads.across(ReadKind.STANDARDS_REPORT, reader(by, role, purpose), datetime.now(UTC),
                                   {"from": first.isoformat(), "to": last.isoformat()})
        if not read.allowed:
            raise audit_render.record_read_refusal(read)
        start, end = start_of(first), start_of(last + timedelta(days=1))
        config = standards_in_force(engine.settings)
        observations: list[Observation] = []
        count = 0
        cases = engine.crisis_cases
        wanted = cases.opened_in(start, end)  # the listings view: only the period's cases are loaded
        for _, _, view in cases.views(wanted, skipped=skipped_case):
            count += 1
            observations += view.observations()
        # The épisodes de services opened in the period (issue 11): the AAOR's and the consultations' clocks
        # (first contact ≤ 7 days, follow-up ≤ 30 days: seed 001 L1485-1493, L1731-1739).
        episodes = engine.episodes
        opened = episodes.opened_in(start, end)
        episode_count = 0
        for _, _, episode in episodes.views(opened, skipped=skipped_episode):
            episode_count += 1
            observations += episode.observations()
        as_of = datetime.now(UTC)
        figures = list(compliance(observations, as_of, config.targets()).values())
        # Beside the 90 % in 4 minutes: the 25-minute average call (seed 001 L1030-1031). The record holds
        # no call durations: the indicator says so instead of a figure.
        call = info_social_call([])
    labels = {sid: std.label for sid, std in config.standards.items()}
    if as_json:
        render.emit_json({
            "from": first.isoformat(), "to": last.isoformat(), "as_of": as_of.isoformat(), "cases": count,
            "episodes": episode_count,
            "region": config.region, "standards": [rc.figures_json(f, labels.get(f.standard_id)) for f in figures],
            "indicators": {"info_social.duree_moyenne_appel": call.model_dump(mode="json")},
        })
        return
    episodes_text = (f", {episode_count} épisode{'s' if episode_count != 1 else ''} de services" if episode_count
                     else "")
    title = (f"Access standards — cases opened {first} … {last}: {count} case{'s' if count != 1 else ''}"
             f"{episodes_text}, {len(observations)} clocks (as of {render.when(as_of)}, region {config.region})")
    render.console.print(rc.report_table(figures, title))
    if not figures:
        render.console.print("no case nor episode opened in this period", markup=False)
    seed = f"seed {rc.duration(call.seed_average)}, {call.reference}"
    measured = (f"not measured: {call.not_measured}" if call.measured_average is None
                else f"{rc.duration(call.measured_average)} over {call.calls} calls")
    render.console.print(f"Info-Social average call ({seed}): {measured}", markup=False)
