"""What the supervisor reads: short summaries, Rich tables, or JSON for scripts.

Times are shown in Québec time with their zone (`cli.display.when`); JSON gives them in UTC with
their offset. Statuses read in French (`cli.display.label`); JSON keeps the codes. Stored text is
printed escaped and never read as Rich markup: a title with brackets prints as written.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.table import Table

from cli.display import cell, label, printable, when
from domain.ententes.diff import Change
from domain.ententes.model import EntenteContent, EntenteKind, OrganisationType
from domain.ententes.state import EntenteStatus, EntenteView, Proposal, ProposalPurpose, ProposalStage, ReviewOutcome

__all__ = ["WorkflowAnswer", "console", "emit_json", "jsonable", "when"]

console = Console(highlight=False)


@dataclass(frozen=True)
class WorkflowAnswer:
    """What `show` says of the workflow: running, next wake-up, events seen, or why it could not be asked."""

    reachable: bool
    next_wakeup: datetime | None = None
    running: bool | None = None
    event_count: int | None = None  # the workflow's view, to compare with the record
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "reachable": self.reachable,
            "running": self.running,
            "next_wakeup": self.next_wakeup.isoformat() if self.next_wakeup else None,
            "event_count": self.event_count,
            "error": self.error,
        }

# A moment as pydantic writes it (`…Z`) or with any offset: JSON gives every one in UTC as `+00:00`.
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")


def _utc(data: Any) -> Any:
    if isinstance(data, str) and _MOMENT.match(data):
        return datetime.fromisoformat(data).astimezone(UTC).isoformat()
    if isinstance(data, dict):
        return {k: _utc(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_utc(v) for v in data]
    return data


def jsonable(data: Any) -> Any:
    """Plain JSON data, every moment in UTC with its offset (`2026-11-24T02:15:00+00:00`)."""
    return _utc(to_jsonable_python(data))


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(data), ensure_ascii=False, indent=2) + "\n")


_cell = cell


def signed_count(view: EntenteView) -> str:
    p, content = view.proposal, view.proposed_content
    if p is not None and content is not None:
        return f"{len(p.signatures)}/{len(content.parties)}"
    if view.in_force_version is not None:
        n = len(view.content.parties)
        return f"{n}/{n}"
    return "—"


def _awaiting(p: Proposal, content: EntenteContent) -> list[str]:
    return [x for x in content.party_ids if not p.signed_by(x)]


def brief(view: EntenteView) -> str:
    """A few lines after a command: where the entente stands now."""
    head = f"{view.code}: {label(EntenteStatus, view.status)}"
    if view.in_force_version is not None:
        head += f" · version {view.in_force_version} in force since {when(view.activated_on)}"
    lines = [head]
    p, content = view.proposal, view.proposed_content
    if p is not None and content is not None:
        line = (f"version {p.version} ({label(ProposalPurpose, p.purpose)}): {label(ProposalStage, p.stage)}"
                f" · signed {signed_count(view)}")
        waiting = _awaiting(p, content)
        if p.stage.value == "en_signature":
            line += f" · awaiting {', '.join(waiting)} · deadline {when(p.signature_deadline)}"
        lines.append(line)
    if view.next_review_due is not None and not view.status.ended:
        lines.append(f"next review due {when(view.next_review_due)}")
    if view.review_pending is not None:
        lines.append(f"review due since {when(view.review_pending)} (escalations: {view.review_escalations})")
    if view.revocation is not None:
        r = view.revocation
        lines.append(f"revocation by {r.party_id} effective {when(r.effective_date)}: {r.reason}")
    if view.status.ended:
        lines.append(f"ended on {when(view.ended_on)}: {view.end_reason}")
    return "\n".join(printable(line) for line in lines)


def list_table(views: Sequence[EntenteView], total: int | None = None) -> Table:
    table = Table(title=f"Ententes ({total if total is not None else len(views)})")
    table.add_column("code", no_wrap=True)
    for col in ("type", "title", "status", "in force", "next review", "signed"):
        table.add_column(col, overflow="fold")
    for v in views:
        table.add_row(
            _cell(v.code), _cell(label(EntenteKind, v.kind)), _cell(v.title),
            _cell(label(EntenteStatus, v.status)),
            _cell(v.in_force_version), _cell(when(v.next_review_due)), _cell(signed_count(v)),
        )
    return table


def show(view: EntenteView, answer: WorkflowAnswer) -> None:
    """Everything a supervisor checks on one entente, from the record, plus the workflow's timer."""
    summary = Table(title=_cell(f"{view.code} — {view.title}"), show_header=False)
    summary.add_column("field", style="bold")
    summary.add_column("value", overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("type", label(EntenteKind, view.kind)),
        ("status", label(EntenteStatus, view.status)),
        ("in force", f"version {view.in_force_version}" if view.in_force_version else None),
        ("activated on", view.activated_on),
        ("latest version", view.latest_version),
        ("next review due", view.next_review_due),
        ("review pending", f"{view.review_pending} (escalations: {view.review_escalations})"
         if view.review_pending else None),
        ("end date", view.end_date),
    ]
    if view.revocation is not None:
        r = view.revocation
        rows.append(("revocation", f"by {r.party_id}, effective {r.effective_date}, noticed {when(r.noticed_at)}: "
                                   f"{r.reason}"))
    if view.status.ended:
        rows.append(("ended", f"{when(view.ended_on)}: {view.end_reason}"))
    if answer.reachable:
        wake = when(answer.next_wakeup) if answer.next_wakeup else "nothing scheduled"
        state = "running" if answer.running else "closed"
        rows.append(("workflow", f"{state} · next wake-up {wake}"))
    else:
        rows.append(("workflow", f"not reachable ({answer.error}); shown from the record only"))
    for name, value in rows:
        summary.add_row(name, _cell(when(value) if isinstance(value, date | datetime) else value))
    console.print(summary)
    console.print(parties_table(view))
    console.print(versions_table(view))
    if view.reviews:
        reviews = Table(title="Reviews")
        for col in ("due on", "outcome", "decided", "by", "notes"):
            reviews.add_column(col, overflow="fold")
        for rec in view.reviews:
            reviews.add_row(_cell(rec.due_on), _cell(label(ReviewOutcome, rec.outcome)), _cell(when(rec.decided_at)),
                            _cell(rec.by), _cell(rec.notes))
        console.print(reviews)


def parties_table(view: EntenteView) -> Table:
    p = view.proposal
    content = view.proposed_content or view.content
    title = "Parties"
    if p is not None:
        title += (f" — signatures of version {p.version} ({label(ProposalPurpose, p.purpose)}, "
                  f"{label(ProposalStage, p.stage)})")
        if p.signature_deadline is not None and p.stage.value == "en_signature":
            title += f", deadline {when(p.signature_deadline)}"
    table = Table(title=_cell(title))
    for col in ("party", "name", "type", "signature"):
        table.add_column(col, overflow="fold")
    for party in content.parties:
        sig = next((s for s in p.signatures if s.party_id == party.party_id), None) if p else None
        if sig is not None:
            signature = f"{sig.signatory}{', ' + sig.title if sig.title else ''} — {when(sig.at)}"
        elif p is not None and p.stage.value == "en_signature":
            signature = "awaiting"
        elif p is None and view.in_force_version is not None:
            signature = f"signed version {view.in_force_version}"
        else:
            signature = "—"
        table.add_row(_cell(party.party_id), _cell(party.name), _cell(label(OrganisationType, party.type)),
                      _cell(signature))
    return table


def versions_table(view: EntenteView) -> Table:
    table = Table(title="Versions")
    for col in ("v", "at", "by", "reason", "fingerprint", ""):
        table.add_column(col, overflow="fold")
    for v in view.versions:
        mark = []
        if v.number == view.in_force_version:
            mark.append("in force")
        if view.proposal is not None and v.number == view.proposal.version:
            mark.append("proposed")
        table.add_row(_cell(v.number), _cell(when(v.at)), _cell(v.author), _cell(v.reason),
                      _cell(v.fingerprint[:12]), _cell(", ".join(mark)))
    return table


def content_summary(code: str, version: int, content: EntenteContent) -> None:
    table = Table(title=_cell(f"{code} version {version} — {content.title}"), show_header=False)
    table.add_column("section", style="bold")
    table.add_column("content", overflow="fold")
    services = "; ".join(f"{s.service.value} by {s.provider} ({', '.join(s.territories)}"
                         f"{', ' + s.hours if s.hours else ''})" for s in content.services)
    sharing = content.information_sharing
    rows = [
        ("type", label(EntenteKind, content.kind)),
        ("parties", "; ".join(f"{p.party_id}: {p.name}" for p in content.parties)),
        ("object", content.object.nature),
        ("services", services),
        ("may refer", ", ".join(content.access.may_refer)),
        ("information sharing", ("permitted — " + "; ".join(sharing.security_measures)) if sharing.permitted
         else "not permitted"),
        ("review every", f"{content.follow_up.review_interval_months} months"),
        ("duration", f"from {content.duration.effective_date or 'the last signature'} "
                     f"to {content.duration.end_date or 'no end date'}"),
        ("revocation notice", f"{content.provisions.revocation_notice_days} days"),
        ("fingerprint", content.fingerprint()),
    ]
    for name, value in rows:
        table.add_row(name, _cell(value))
    console.print(table)
    console.print("full text: add --json", markup=False)


def _details(row: dict[str, Any]) -> str:
    skip = {"seq", "event", "recorded_at", "by", "command_id", "at"}
    parts = []
    for key, value in row.items():
        if key in skip or value is None:
            continue
        parts.append(detail(key, value))
    return " · ".join(parts)


def detail(key: str, value: Any, coded: dict[str, type[Any]] | None = None) -> str:
    """One `key=value` of a history row as people read it: moments in Québec time, flags in words,
    statuses in French, fingerprints shortened."""
    if isinstance(value, bool):
        return FLAGS.get(key, (f"{key}: yes", f"{key}: no"))[0 if value else 1]
    if isinstance(value, date | datetime):
        shown: Any = when(value)
    elif isinstance(value, str) and key in (CODED if coded is None else coded):
        shown = label((CODED if coded is None else coded)[key], value)
    elif key == "fingerprint" and isinstance(value, str):
        shown = value[:12]
    else:
        shown = value
    return f"{key}={shown}"


# Internal flags of the record, in words.
FLAGS: dict[str, tuple[str, str]] = {
    "by_supervisor": ("asked by a supervisor", "asked by routing"),
    "assigned_by_supervisor": ("asked by a supervisor", "asked by routing"),
    "permitted": ("information sharing permitted", "information sharing not permitted"),
    "may_share_information": ("information sharing permitted", "information sharing not permitted"),
    "face_to_face_needed": ("face to face needed", "face to face not needed"),
    "p38_considered": ("P-38.001 considered", "P-38.001 not considered"),
    "p38_applied": ("P-38.001 applied", "P-38.001 not applied"),
    "awaiting_first_contact": ("awaiting first contact", "first contact made"),
    "urgent": ("urgent", "not urgent"),
}

# Coded fields of history rows shown in French.
CODED: dict[str, type[Any]] = {
    "status": EntenteStatus, "stage": ProposalStage, "purpose": ProposalPurpose, "outcome": ReviewOutcome,
    "kind": EntenteKind,
}


def history_table(code: str, rows: Sequence[dict[str, Any]], total: int | None = None) -> Table:
    table = Table(title=_cell(f"History of {code} ({total if total is not None else len(rows)} events)"))
    for col in ("#", "event", "at", "by", "details"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(_cell(row["seq"]), _cell(row["event"]), _cell(when(row.get("at") or row["recorded_at"])),
                      _cell(row.get("by")), _cell(_details(row)))
    return table


def diff_table(code: str, old: int, new: int, changes: Sequence[Change]) -> Table:
    plural = "s" if len(changes) != 1 else ""
    table = Table(title=_cell(f"{code}: version {old} → version {new} ({len(changes)} change{plural})"))
    for col in ("field", "change", "before", "after"):
        table.add_column(col, overflow="fold")
    for ch in changes:
        table.add_row(_cell(ch.path), _cell(ch.kind), _cell(_short(ch.before)), _cell(_short(ch.after)))
    return table


def _short(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 200 else text[:197] + "…"
