"""What a supervisor reads about crisis cases: the list, one case, its history, the standards, the report.

Times are shown in Québec time with their zone; durations as "1 h 05", "12 min", "3 d 4 h"; stages and
statuses in French (`cli.display.label`). No personal content is ever shown: the case view has none,
and the history masks it. Stored text is printed escaped, never as Rich markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from rich.table import Table
from rich.text import Text

from adapters.temporal.cases import VisibleCase
from cli.display import cell, label, printable, when
from cli.render import WorkflowAnswer, console, detail
from domain.audit.erasure import ERASED_TEXT
from domain.crisis import rules
from domain.crisis.model import (
    CandidateKind,
    CrisisType,
    IntakeService,
    InterventionOutcome,
    ReferralMeasure,
    RequestMode,
    RiskLevel,
)
from domain.crisis.state import AttemptStatus, CaseStage, CaseView, Deadline, DeadlineStatus, ReferralStatus
from domain.delivery.model import Attempt, Message
from domain.standards.compliance import ComplianceFigures
from domain.standards.config import ClockEvent, StandardsConfig, Timing, UrgencyLevel

_cell = cell


def duration(td: timedelta) -> str:
    """A duration as people read it: 45 s, 12 min, 1 h 05, 3 d 4 h."""
    seconds = int(abs(td).total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d}"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


# ---------------------------------------------------------------------- the list
@dataclass(frozen=True)
class CaseRow(VisibleCase):
    """One line of `cases list`: what visibility (open cases) or the record (closed ones) says."""

    source: str  # "temporal" (visibility) or "record"
    pivot: str | None = None  # "<intervenant> (<org>)", "" when none is named; None: not known (visibility)

    @classmethod
    def of(cls, view: CaseView, config: StandardsConfig) -> CaseRow:
        pivot = f"{view.pivot.intervenant_id} ({view.pivot.org_id})" if view.pivot else ""
        return cls(**vars(VisibleCase.of(view, config)), source="record", pivot=pivot)

    def as_json(self, now: datetime) -> dict[str, Any]:
        left = (self.next_deadline - now).total_seconds() if self.next_deadline else None
        return {
            "case_code": self.code, "stage": self.stage, "holder": self.holder or None,
            "territory": self.territory, "team": self.team or None,
            "next_deadline": self.next_deadline.isoformat() if self.next_deadline else None,
            "seconds_left": round(left, 1) if left is not None else None, "overdue": self.overdue,
            "opened_at": self.opened_at.isoformat() if self.opened_at else None, "source": self.source,
            **({"pivot": self.pivot or None} if self.pivot is not None else {}),
        }


def time_left(due: datetime | None, now: datetime) -> str:
    if due is None:
        return "—"
    left = due - now
    return f"{when(due)} (in {duration(left)})" if left >= timedelta(0) else f"{when(due)} (overrun {duration(left)})"


def workflow_row(answer: WorkflowAnswer) -> tuple[str, str]:
    """The summary's `workflow` row: running or closed and its next wake-up, or why it could not be asked."""
    if answer.reachable:
        wake = when(answer.next_wakeup) if answer.next_wakeup else "nothing scheduled"
        return ("workflow", f"{'running' if answer.running else 'closed'} · next wake-up {wake}")
    return ("workflow", f"not reachable ({answer.error}); shown from the record only")


def list_table(rows: Sequence[CaseRow], now: datetime, title: str, total: int | None = None) -> Table:
    table = Table(title=f"{title} ({total if total is not None else len(rows)})")
    table.add_column("code", no_wrap=True)
    for col in ("stage", "holder", "territory", "team", "next deadline", "overdue", "opened"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            _cell(r.code), _cell(label(CaseStage, r.stage)), _cell(r.holder), _cell(r.territory), _cell(r.team),
            _cell(time_left(r.next_deadline, now)), Text("OVERDUE", style="bold red") if r.overdue else _cell("no"),
            _cell(when(r.opened_at)),
        )
    return table


# ---------------------------------------------------------------------- one case
def brief(view: CaseView, config: StandardsConfig, now: datetime) -> str:
    """A few lines after a command: where the case stands now."""
    lines = [f"{view.case_code}: {label(CaseStage, view.stage)} · holder {view.holder or '—'}"]
    wake = rules.next_wakeup(view, config)
    if wake is not None:
        lines.append(f"next deadline {time_left(wake, now)}")
    if view.pivot is not None:
        lines.append(f"personne pivot {view.pivot.intervenant_id} ({view.pivot.org_id})")
    attempt = view.pending_attempt
    if attempt is not None:
        lines.append(f"asking team {attempt.candidate.team.team_id} ({attempt.candidate.team.org_id})")
    if view.closure is not None:
        lines.append(f"closed ({label(type(view.closure.kind), view.closure.kind)}) by {view.closure.by}: "
                     f"{view.closure.reason}")
    return "\n".join(printable(line) for line in lines)


def deadline_state(d: Deadline, now: datetime) -> str:
    """Status and time left or overrun, relative to now for a running clock."""
    if d.status.running:
        left = d.due_at - now
        return f"{duration(left)} left" if left >= timedelta(0) else f"overrun by {duration(left)}"
    if d.stopped_at is not None:
        margin = d.due_at - d.stopped_at
        return (f"stopped {duration(margin)} before due" if margin >= timedelta(0)
                else f"stopped {duration(margin)} late")
    if d.status is DeadlineStatus.MISSED:
        return f"missed at {when(d.missed_at)}; overrun by {duration(now - d.due_at)}"
    return "cancelled"


def deadline_json(d: Deadline, now: datetime) -> dict[str, Any]:
    return {
        "deadline_id": d.deadline_id, "standard_id": d.standard_id, "status": d.status.value,
        "due_at": d.due_at.isoformat(),
        "seconds_left": round((d.due_at - now).total_seconds(), 1) if d.status.running else None,
        "state": deadline_state(d, now),
    }


def show(view: CaseView, answer: WorkflowAnswer, config: StandardsConfig, now: datetime,
         deliveries: Sequence[Message] = ()) -> None:
    summary = Table(title=f"Crisis case {view.case_code}", show_header=False)
    summary.add_column("field", style="bold")
    summary.add_column("value", overflow="fold")
    i = view.intake
    erased = i.crisis_type is CrisisType.ERASED  # the characterisation went with the person's key (issue 9)
    rows: list[tuple[str, Any]] = [
        ("stage", label(CaseStage, view.stage)),
        ("holder", view.holder),
        ("personne pivot", f"{view.pivot.intervenant_id} ({view.pivot.org_id})" if view.pivot else "—"),
        ("responsible", view.responsible_org),
        ("territory", view.territory),
        ("opened", f"{when(view.opened_at)} by {view.intake_org} ({label(IntakeService, i.service)}, "
                   f"{label(RequestMode, i.request_mode)})"),
        ("intake", f"urgency {label(UrgencyLevel, i.urgency)} · "
                   f"{ERASED_TEXT if erased else label(CrisisType, i.crisis_type)} · face to face "
                   f"{'needed' if i.face_to_face_needed else 'not needed'}"
                   f"{' · P-38.001 considered' if i.p38_considered else ''}"),
        ("risks", ERASED_TEXT if erased else
                  f"suicide {label(RiskLevel, i.risks.suicide)} · dangerousness "
                  f"{label(RiskLevel, i.risks.dangerousness)} · "
                  f"decompensation {label(RiskLevel, i.risks.decompensation)}"),
        ("referring entente", view.referring_agreement),
        ("next deadline", time_left(rules.next_wakeup(view, config), now)),
        ("overdue", "yes" if CaseRow.of(view, config).overdue else "no"),
        ("events", view.event_count),
    ]
    if view.closure is not None:
        c = view.closure
        rows.append(("closed", f"{when(c.at)} · {label(type(c.kind), c.kind)} by {c.by}: {c.reason}"))
    rows.append(workflow_row(answer))
    for name, value in rows:
        summary.add_row(name, _cell(value))
    console.print(summary)

    deadlines = Table(title=f"Deadlines ({len(view.deadlines)})")
    for col in ("deadline", "standard", "started", "due", "status", "time left / overrun", "extensions"):
        deadlines.add_column(col, overflow="fold")
    for d in sorted(view.deadlines, key=lambda d: (d.started_at, d.deadline_id)):
        ext = "; ".join(f"→ {when(e.until)} by {e.by}: {e.reason}" for e in d.extensions)
        style = "red" if d.status is DeadlineStatus.MISSED else ("green" if d.status is DeadlineStatus.MET else "")
        deadlines.add_row(_cell(d.deadline_id), _cell(d.standard_id), _cell(when(d.started_at)), _cell(when(d.due_at)),
                          Text(label(DeadlineStatus, d.status), style=style), _cell(deadline_state(d, now)),
                          _cell(ext))
    console.print(deadlines)

    if view.attempts:
        handoffs = Table(title=f"Handoffs ({len(view.attempts)})")
        for col in ("#", "team", "organisation", "kind", "entente", "asked", "answer", "at", "reason"):
            handoffs.add_column(col, overflow="fold")
        for a in view.attempts:
            kind = label(CandidateKind, a.candidate.kind) + (" (supervisor)" if a.assigned_by_supervisor else "")
            handoffs.add_row(_cell(a.number), _cell(a.candidate.team.team_id), _cell(a.candidate.team.org_id),
                             _cell(kind), _cell(a.candidate.agreement_code), _cell(when(a.asked_at)),
                             _cell(label(AttemptStatus, a.status)), _cell(when(a.answered_at)), _cell(a.reason))
        console.print(handoffs)
    if deliveries:
        console.print(deliveries_table(deliveries))
    if view.escalations:
        esc = Table(title=f"Escalations ({len(view.escalations)})")
        for col in ("#", "at", "deadline", "reason"):
            esc.add_column(col, overflow="fold")
        for e in view.escalations:
            esc.add_row(_cell(e.number), _cell(when(e.at)), _cell(e.deadline_id), _cell(e.reason))
        console.print(esc)
    if view.intervention is not None:
        iv = view.intervention
        parts = [f"team {iv.team.team_id} ({iv.team.org_id})", f"accepted {when(iv.accepted_at)}",
                 f"arrived {when(iv.arrived_at)}", f"outcome {label(InterventionOutcome, iv.outcome)}"]
        if iv.emergency_services:
            parts.append("with " + ", ".join(label(type(e), e) for e in iv.emergency_services))
        if iv.p38_applied:
            parts.append("P-38.001 applied")
        parts.append(f"information sharing {'permitted' if iv.may_share_information else 'not permitted'}")
        console.print(_cell("Intervention: " + " · ".join(parts)))
    for f in view.follow_ups:
        made = sum(1 for x in f.contacts if x.made_at is not None)
        done = f"completed {when(f.completed_at)}" if f.completed_at else "in progress"
        console.print(_cell(f"Follow-up {f.number}: plan {f.plan} by {f.provider}, started {when(f.started_at)}, "
                           f"contacts made {made}/{len(f.contacts)}, {done}"))
    for r in view.referrals:
        line = (f"Referral {r.number}: {label(ReferralMeasure, r.measure)} to {r.receiving.org_id} "
                f"({label(type(r.receiving.service), r.receiving.service)}) by {r.referred_by} via "
                f"{label(type(r.channel), r.channel)}, sent {when(r.sent_at)} · {label(ReferralStatus, r.status)}")
        if r.decided_at:
            line += f" {when(r.decided_at)}"
        if r.refusal_reason:
            line += f": {r.refusal_reason}"
        if r.reached_at:
            line += f" · reached {when(r.reached_at)}"
        console.print(_cell(line))


def deliveries_table(messages: Sequence[Message]) -> Table:
    """Every webhook sent about the case or entente and every attempt (issue 10): when, what answered, what came
    of it."""
    table = Table(title=f"Webhooks ({len(messages)})")
    for col in ("#", "partner", "message", "attempt", "at", "answer", "outcome"):
        table.add_column(col, overflow="fold")
    for m in messages:
        step = next((f" ({k} {m.data[k]})" for k in ("attempt", "referral", "reminder", "version") if k in m.data), "")
        what = m.type.value + step
        attempts: list[Attempt | None] = [*m.attempts] or [None]
        for a in attempts:
            answer = "" if a is None else (f"HTTP {a.status}" if a.status is not None else a.error or "no answer")
            style = "" if a is None else {"delivered": "green", "refused": "red", "abandoned": "red"}.get(a.outcome, "")
            table.add_row(_cell(m.sequence), _cell(m.org_id), _cell(what), _cell(a.attempt if a else "–"),
                          _cell(when(a.at) if a else when(m.queued_at)), _cell(answer),
                          Text(a.outcome.value if a else "queued", style=style))
    return table


def delivery_json(m: Message) -> dict[str, Any]:
    return {"event_id": m.event_id, "type": m.type.value, "org_id": m.org_id, "url": m.url, "sequence": m.sequence,
            "queued_at": m.queued_at.isoformat(), "outcome": m.outcome.value if m.outcome else "queued",
            "data": m.data, "attempts": [a.model_dump(mode="json") for a in m.attempts]}


# ---------------------------------------------------------------------- history
def _short(value: Any) -> str:
    if isinstance(value, date | datetime):
        return when(value)
    if isinstance(value, dict):
        for key in ("deadline_id", "org_id"):
            if key in value:
                return str(value[key])
        if isinstance(value.get("team"), dict):
            return str(value["team"].get("team_id"))
        return f"<{len(value)} field(s)>"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]" if len(value) <= 6 else f"<{len(value)} items>"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


# Coded fields of case events shown in French.
CODED: dict[str, type[Any]] = {"stage": CaseStage, "outcome": InterventionOutcome, "urgency": UrgencyLevel,
                               "crisis_type": CrisisType, "measure": ReferralMeasure}


def _detail(key: str, value: Any) -> str:
    if isinstance(value, bool | date | datetime) or (isinstance(value, str) and key in CODED):
        return detail(key, value, CODED)
    return f"{key}={_short(value)}"


def history_table(code: str, rows: Sequence[dict[str, Any]], total: int | None = None) -> Table:
    n = total if total is not None else len(rows)
    table = Table(title=_cell(f"History of {code} ({n} events; personal content masked)"))
    for col in ("#", "event", "at", "by", "org", "details"):
        table.add_column(col, overflow="fold")
    skip = {"seq", "event", "recorded_at", "by", "at", "command_id", "actor_org"}
    for row in rows:
        shown = {k: v for k, v in row.items() if k not in skip and v not in (None, "", [], {})}
        details = " · ".join(_detail(k, v) for k, v in shown.items())
        table.add_row(_cell(row["seq"]), _cell(row["event"]), _cell(when(row.get("at") or row["recorded_at"])),
                      _cell(row.get("by")), _cell(row.get("actor_org")), _cell(details))
    return table


# ---------------------------------------------------------------------- standards
def _rule(config: StandardsConfig, standard_id: str) -> str:
    std = config.standards[standard_id]
    if std.timing is Timing.FIXED and std.duration is not None:
        return duration(std.duration)
    if std.timing is Timing.IMMEDIATE:
        return f"immediate ({config.immediate_minutes} min)"
    if std.timing is Timing.BY_URGENCY:
        return "by urgency level"
    return "by follow-up plan"


SET_BY = {"ministere": "the ministry (MSSS standard)", "region": "the region (regional default)"}


def standards_tables(config: StandardsConfig, source: str) -> None:
    head = Table(title=f"Access standards in force — region {config.region}", show_header=False)
    head.add_column("field", style="bold")
    head.add_column("value", overflow="fold")
    head.add_row("from", _cell(source))
    head.add_row("« immédiat »", _cell(f"{config.immediate_minutes} min"))
    head.add_row("meeting caps", _cell(", ".join(f"{k}: {v}" for k, v in sorted(config.meeting_caps.items()))))
    console.print(head)
    # Where each figure comes from (`reference`: the document and its lines) is for `--json`; people read
    # whose figure it is.
    table = Table(title=f"Standards ({len(config.standards)})")
    for col in ("id", "label", "clock", "deadline", "target", "set by"):
        table.add_column(col, overflow="fold")
    for sid, std in config.standards.items():
        clock = f"{label(ClockEvent, std.starts_on)} → {label(ClockEvent, std.stops_on)}"
        table.add_row(_cell(sid), _cell(std.label), _cell(clock),
                      _cell(_rule(config, sid)), _cell(f"{std.target_ratio:.0%}" if std.target_ratio else None),
                      _cell(SET_BY[std.source]))
    console.print(table)
    urgency = Table(title="Urgency scale")
    for col in ("level", "label", "urgent", "within"):
        urgency.add_column(col)
    for level, rule in config.urgency.items():
        within = f"{config.immediate_minutes} min (immédiat)" if rule.immediate else (
            duration(rule.within) if rule.within else None)
        urgency.add_row(_cell(label(UrgencyLevel, level)), _cell(rule.label), _cell("yes" if rule.urgent else "no"),
                        _cell(within))
    console.print(urgency)
    plans = Table(title="Post-crisis follow-up plans")
    for col in ("plan", "label", "contacts (due after start, window)"):
        plans.add_column(col, overflow="fold")
    for pid, plan in config.follow_up_plans.items():
        contacts = "; ".join(f"{x.label}: +{duration(x.offset) if x.offset else '0'}, within {duration(x.within)}"
                             for x in plan.contacts)
        plans.add_row(_cell(pid), _cell(plan.label), _cell(contacts))
    console.print(plans)


# ---------------------------------------------------------------------- compliance report
def figures_json(f: ComplianceFigures, label: str | None) -> dict[str, Any]:
    ratio = f.in_time_ratio
    decided = f.in_time + f.late + f.open_overdue
    return {
        "standard_id": f.standard_id, "label": label, "observations": f.observations, "in_time": f.in_time,
        "late": f.late, "open_overdue": f.open_overdue, "open_in_time": f.open_in_time,
        "in_time_ratio": f"{f.in_time}/{decided}" if ratio is not None else None,
        "in_time_percent": round(float(ratio) * 100, 1) if ratio is not None else None,
        "median_delay_seconds": f.median_delay.total_seconds() if f.median_delay is not None else None,
        "p90_delay_seconds": f.p90_delay.total_seconds() if f.p90_delay is not None else None,
        "target_ratio": f.target_ratio, "meets_target": f.meets_target,
    }


def _percent(f: ComplianceFigures) -> str | None:
    decided = f.in_time + f.late + f.open_overdue
    return None if f.in_time_ratio is None else f"{float(f.in_time_ratio) * 100:.1f} % ({f.in_time}/{decided})"


def report_table(figures: Sequence[ComplianceFigures], title: str) -> Table:
    table = Table(title=title)
    table.add_column("standard", no_wrap=True)
    for col in ("clocks", "in time", "late", "open overdue", "open in time", "in time %", "median delay",
                "p90 delay", "target", "met"):
        table.add_column(col, overflow="fold")
    for f in figures:
        met = None if f.meets_target is None else ("yes" if f.meets_target else "NO")
        table.add_row(
            _cell(f.standard_id), _cell(f.observations), _cell(f.in_time), _cell(f.late), _cell(f.open_overdue),
            _cell(f.open_in_time), _cell(_percent(f)),
            _cell(duration(f.median_delay) if f.median_delay is not None else None),
            _cell(duration(f.p90_delay) if f.p90_delay is not None else None),
            _cell(f"{f.target_ratio:.0%}" if f.target_ratio else None), _cell(met),
        )
    return table
