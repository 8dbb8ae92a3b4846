"""What the supervisor reads: short summaries, Rich tables, or JSON for scripts.

Times are shown in Québec time (the record keeps UTC). Cell text is never read as
Rich markup: a title with brackets prints as written.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from pydantic_core import to_jsonable_python
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cli.client import WorkflowAnswer
from domain.agreements.diff import Change
from domain.agreements.model import AgreementContent
from domain.agreements.state import AgreementView, Proposal
from domain.clock import QUEBEC

console = Console(highlight=False)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable_python(data), ensure_ascii=False, indent=2) + "\n")


def when(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(QUEBEC).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _cell(value: Any) -> Text:
    return Text("—" if value is None or value == "" else str(value))


def signed_count(view: AgreementView) -> str:
    p, content = view.proposal, view.proposed_content
    if p is not None and content is not None:
        return f"{len(p.signatures)}/{len(content.parties)}"
    if view.in_force_version is not None:
        n = len(view.content.parties)
        return f"{n}/{n}"
    return "—"


def _awaiting(p: Proposal, content: AgreementContent) -> list[str]:
    return [x for x in content.party_ids if not p.signed_by(x)]


def brief(view: AgreementView) -> str:
    """A few lines after a command: where the entente stands now."""
    head = f"{view.code}: {view.status.value}"
    if view.in_force_version is not None:
        head += f" · version {view.in_force_version} in force since {when(view.activated_on)}"
    lines = [head]
    p, content = view.proposal, view.proposed_content
    if p is not None and content is not None:
        line = f"version {p.version} ({p.purpose.value}): {p.stage.value} · signed {signed_count(view)}"
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
    return "\n".join(lines)


def list_table(views: Sequence[AgreementView]) -> Table:
    table = Table(title=f"Ententes ({len(views)})")
    table.add_column("code", no_wrap=True)
    for col in ("type", "title", "status", "in force", "next review", "signed"):
        table.add_column(col, overflow="fold")
    for v in views:
        table.add_row(
            _cell(v.code), _cell(v.kind.value), _cell(v.title), _cell(v.status.value),
            _cell(v.in_force_version), _cell(when(v.next_review_due)), _cell(signed_count(v)),
        )
    return table


def show(view: AgreementView, answer: WorkflowAnswer) -> None:
    """Everything a supervisor checks on one entente, from the record, plus the workflow's timer."""
    summary = Table(title=f"{view.code} — {view.title}", show_header=False)
    summary.add_column("field", style="bold")
    summary.add_column("value", overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("type", view.kind.value),
        ("status", view.status.value),
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
            reviews.add_row(_cell(rec.due_on), _cell(rec.outcome.value), _cell(when(rec.decided_at)), _cell(rec.by),
                            _cell(rec.notes))
        console.print(reviews)


def parties_table(view: AgreementView) -> Table:
    p = view.proposal
    content = view.proposed_content or view.content
    title = "Parties"
    if p is not None:
        title += f" — signatures of version {p.version} ({p.purpose.value}, {p.stage.value})"
        if p.signature_deadline is not None and p.stage.value == "en_signature":
            title += f", deadline {when(p.signature_deadline)}"
    table = Table(title=title)
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
        table.add_row(_cell(party.party_id), _cell(party.name), _cell(party.type.value), _cell(signature))
    return table


def versions_table(view: AgreementView) -> Table:
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


def content_summary(code: str, version: int, content: AgreementContent) -> None:
    table = Table(title=f"{code} version {version} — {content.title}", show_header=False)
    table.add_column("section", style="bold")
    table.add_column("content", overflow="fold")
    services = "; ".join(f"{s.service.value} by {s.provider} ({', '.join(s.territories)}"
                         f"{', ' + s.hours if s.hours else ''})" for s in content.services)
    sharing = content.information_sharing
    rows = [
        ("type", content.kind.value),
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
        shown = when(value) if isinstance(value, date | datetime) else value
        if key == "fingerprint" and isinstance(value, str):
            shown = value[:12]
        parts.append(f"{key}={shown}")
    return " · ".join(parts)


def history_table(code: str, rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(title=f"History of {code} ({len(rows)} events)")
    for col in ("#", "event", "at", "by", "details"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(_cell(row["seq"]), _cell(row["event"]), _cell(when(row.get("at") or row["recorded_at"])),
                      _cell(row.get("by")), _cell(_details(row)))
    return table


def diff_table(code: str, old: int, new: int, changes: Sequence[Change]) -> Table:
    plural = "s" if len(changes) != 1 else ""
    table = Table(title=f"{code}: version {old} → version {new} ({len(changes)} change{plural})")
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
