"""What a supervisor reads about épisodes de services: the list, one episode, its history.

Times in Québec time with their zone, durations as "3 d 4 h", codes in French words (`cli.display.label`).
Nothing typed about the person is shown: the view holds none (the evaluation, PI and PSI are dates and authors),
and the history masks the sealed parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rich.table import Table
from rich.text import Text

from cli.display import cell, label, printable, when
from cli.render import WorkflowAnswer, console
from cli.render_cases import duration, history_table, time_left, workflow_row
from domain.episodes import rules
from domain.episodes.model import SERVICE_NAMES, MeetingMode, RequestMode
from domain.episodes.state import ClockStatus, Document, EpisodeClock, EpisodeStage, EpisodeView
from domain.standards.config import MEETING_CAP_REFERENCES, StandardsConfig, UrgencyLevel

__all__ = ["EpisodeRow", "brief", "clock_json", "history_table", "list_table", "show", "summary_json"]

STAGES = {EpisodeStage.RECEIVED: "demande reçue", EpisodeStage.ACCEPTED: "demande acceptée",
          EpisodeStage.FOLLOW_UP: "suivi", EpisodeStage.CLOSED: "fermé"}
STATUSES = {ClockStatus.RUNNING: "en cours", ClockStatus.MET: "respecté", ClockStatus.MISSED: "manqué",
            ClockStatus.CANCELLED: "annulé"}


def stage(view: EpisodeView) -> str:
    return STAGES.get(view.stage, view.stage.value)


def overdue(view: EpisodeView, now: datetime) -> bool:
    """A clock running past its due moment, or missed and still open (the step it measures not yet done)."""
    return any((k.status.running and k.due_at < now) or (k.status is ClockStatus.MISSED and k.stopped_at is None)
               for k in view.clocks)


# ---------------------------------------------------------------------- meetings against the cap
def meetings_text(view: EpisodeView, config: StandardsConfig) -> str:
    """`5 / 12` — the cap and what PI revisions granted beyond it, with the seed line of the cap."""
    allowed = rules.meeting_cap(view, config)
    if allowed is None:
        return f"{len(view.meetings)} (no cap configured)"
    base = config.meeting_caps[view.service.value]
    granted = f" (cap {base} + {view.granted_meetings} granted by PI revision)" if view.granted_meetings else \
        f" (cap {base}, {MEETING_CAP_REFERENCES.get(view.service.value, 'standards configuration')})"
    return f"{len(view.meetings)} / {allowed}{granted}"


def meetings_short(view: EpisodeView, config: StandardsConfig) -> str:
    """`5 / 12`: held against allowed now."""
    return meetings_text(view, config).split(" (")[0]


def meetings_json(view: EpisodeView, config: StandardsConfig) -> dict[str, Any]:
    return {"held": len(view.meetings), "cap": config.meeting_caps.get(view.service.value),
            "granted": view.granted_meetings, "allowed": rules.meeting_cap(view, config),
            "revisions": len(view.revisions)}


# ---------------------------------------------------------------------- clocks
def clock_state(k: EpisodeClock, now: datetime) -> str:
    if k.status.running:
        left = k.due_at - now
        return f"{duration(left)} left" if left >= timedelta(0) else f"overrun by {duration(left)}"
    if k.stopped_at is not None:
        margin = k.due_at - k.stopped_at
        return f"stopped {duration(margin)} before due" if margin >= timedelta(0) else \
            f"stopped {duration(margin)} late"
    if k.status is ClockStatus.MISSED:
        return f"missed at {when(k.missed_at)}; overrun by {duration(now - k.due_at)}"
    return "cancelled"


def clock_json(k: EpisodeClock, now: datetime, config: StandardsConfig) -> dict[str, Any]:
    std = config.standards.get(k.standard_id)
    return {"standard_id": k.standard_id, "label": std.label if std else None, "status": k.status.value,
            "started_at": k.started_at.isoformat(), "due_at": k.due_at.isoformat(),
            "stopped_at": k.stopped_at.isoformat() if k.stopped_at else None,
            "seconds_left": round((k.due_at - now).total_seconds(), 1) if k.status.running else None,
            "state": clock_state(k, now)}


def summary_json(view: EpisodeView, config: StandardsConfig, now: datetime) -> dict[str, Any]:
    """What `show --json` adds to the view: each clock's state now, the meetings against the cap, overdue."""
    return {"clocks": [clock_json(k, now, config) for k in view.clocks], "meetings": meetings_json(view, config),
            "overdue": overdue(view, now)}


# ---------------------------------------------------------------------- one episode
def brief(view: EpisodeView, config: StandardsConfig, now: datetime) -> str:
    """A few lines after a command: where the episode stands now."""
    lines = [f"{view.episode_code}: {SERVICE_NAMES[view.service]} · {stage(view)} · meetings "
             f"{meetings_short(view, config)}"]
    wake = rules.next_wakeup(view)
    if wake is not None:
        lines.append(f"next deadline {time_left(wake, now)}")
    if view.closure is not None:
        lines.append(f"closed by {view.closure.by} {when(view.closure.at)}")
    return "\n".join(printable(line) for line in lines)


def _document(doc: Document | None) -> str:
    return "—" if doc is None else f"{when(doc.at)} by {doc.by}"


def show(view: EpisodeView, answer: WorkflowAnswer, config: StandardsConfig, now: datetime) -> None:
    summary = Table(title=f"Épisode de services {view.episode_code}", show_header=False)
    summary.add_column("field", style="bold")
    summary.add_column("value", overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("service", SERVICE_NAMES[view.service]),
        ("stage", stage(view)),
        ("responsible", view.responsible_org + (f" · team {view.team}" if view.team else "")),
        ("territory", view.territory),
        ("request", f"{when(view.received_at)} ({label(RequestMode, view.request_mode)}) · urgency "
                    f"{label(UrgencyLevel, view.urgency)}"),
        ("accepted", when(view.accepted_at) if view.accepted_at else "—"),
        ("first contact", when(view.first_contact_at) if view.first_contact_at else "—"),
        ("follow-up started", when(view.follow_up_started_at) if view.follow_up_started_at else "—"),
        ("meetings", meetings_text(view, config)),
        ("evaluation", _document(view.evaluation)),
        ("intervention plan (PI)", _document(view.intervention_plan)),
        ("PI revisions", "; ".join(f"{r.number}: +{r.additional_meetings} meetings, {when(r.at)} by {r.by}"
                                   for r in view.revisions) or "—"),
        ("service plan (PSI)", _document(view.service_plan)),
        ("next deadline", time_left(rules.next_wakeup(view), now)),
        ("overdue", "yes" if overdue(view, now) else "no"),
        ("events", view.event_count),
    ]
    if view.service.value == "aaor":
        rows.insert(8, ("analysis completed", when(view.analysis_completed_at) if view.analysis_completed_at else "—"))
        if view.orientation:
            rows.insert(9, ("orientation", view.orientation))
    if view.closure is not None:
        rows.append(("closed", f"{when(view.closure.at)} by {view.closure.by}"))
    rows.append(workflow_row(answer))
    for name, value in rows:
        summary.add_row(name, cell(value))
    console.print(summary)

    clocks = Table(title=f"Clocks ({len(view.clocks)})")
    for col in ("standard", "started", "due", "status", "time left / overrun"):
        clocks.add_column(col, overflow="fold")
    for k in sorted(view.clocks, key=lambda k: (k.started_at, k.standard_id)):
        style = "red" if k.status is ClockStatus.MISSED else ("green" if k.status is ClockStatus.MET else "")
        clocks.add_row(cell(k.standard_id), cell(when(k.started_at)), cell(when(k.due_at)),
                       Text(STATUSES.get(k.status, k.status.value), style=style), cell(clock_state(k, now)))
    console.print(clocks)
    if view.meetings:
        meetings = Table(title=f"Meetings ({len(view.meetings)})")
        for col in ("#", "held", "mode", "intervenant", "recorded by"):
            meetings.add_column(col, overflow="fold")
        for m in view.meetings:
            meetings.add_row(cell(m.number), cell(when(m.held_at)), cell(label(MeetingMode, m.mode)),
                             cell(m.intervenant_id), cell(m.recorded_by))
        console.print(meetings)


# ---------------------------------------------------------------------- the list
@dataclass(frozen=True)
class EpisodeRow:
    code: str
    service: str
    stage: str
    territory: str
    responsible_org: str
    meetings: str
    next_deadline: datetime | None
    overdue: bool
    opened_at: datetime

    @classmethod
    def of(cls, view: EpisodeView, config: StandardsConfig, now: datetime) -> EpisodeRow:
        return cls(code=view.episode_code, service=view.service.value, stage=view.stage.value,
                   territory=view.territory, responsible_org=view.responsible_org,
                   meetings=meetings_short(view, config), next_deadline=rules.next_wakeup(view),
                   overdue=overdue(view, now), opened_at=view.opened_at)

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {"episode_code": self.code, "service": self.service, "stage": self.stage,
                "territory": self.territory, "responsible_org": self.responsible_org, "meetings": self.meetings,
                "next_deadline": self.next_deadline.isoformat() if self.next_deadline else None,
                "overdue": self.overdue, "opened_at": self.opened_at.isoformat()}


def list_table(rows: Sequence[EpisodeRow], now: datetime, title: str, total: int | None = None) -> Table:
    table = Table(title=f"{title} ({total if total is not None else len(rows)})")
    table.add_column("code", no_wrap=True)
    for col in ("service", "stage", "territory", "meetings", "next deadline", "overdue", "opened"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(cell(r.code), cell(r.service.replace("_", " ")), cell(STAGES.get(EpisodeStage(r.stage))),
                      cell(r.territory), cell(r.meetings), cell(time_left(r.next_deadline, now)),
                      Text("OVERDUE", style="bold red") if r.overdue else cell("no"), cell(when(r.opened_at)))
    return table
