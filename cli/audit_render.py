"""What the auditor reads: replays, the register, the access log and the exceptions, as Rich tables
or as plain data for `--json` and the export bundle.

Audit outputs show metadata only: whatever an event or a register entry holds
about the person in words (its `personal` part) is passed through
`register.for_reader(…, Role.AUDITOR)` and comes out withheld. `register --person`
prints the entries as the read's decision laid them out (`domain.audit.reads`): whole
for the person themselves (LSSSS 27.2 / LRSSS 265 with s. 18), words withheld otherwise.
Every read is registered first; `read_refusal` is the refusal of a read (exit 2, nothing of
the content printed, the recorded access named).

Tables show moments in Québec time with their zone and codes in French words (`cli.display`);
`--json` and the bundle keep UTC moments and the codes. Stored text is printed escaped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from cli.display import cell, label, limited, print_more, printable, when
from cli.errors import CliError, refused
from cli.render import console
from cli.render import jsonable as _jsonable
from domain.audit.entente_reads import EntenteRead
from domain.audit.record_reads import RecordRead
from domain.audit.replay import ItemStatus, Replay
from domain.disclosure.exceptions import ExceptionReport
from domain.disclosure.model import Decision, Outcome
from domain.disclosure.register import CommunicationEntry, EmergencyDisclosureView, for_reader
from domain.disclosure.roles import PurposeKind, Role

EXPIRED_STATEMENT = "uses of an expired or withdrawn consent: {n}"


def jsonable(data: Any) -> Any:
    """Plain JSON data, moments in UTC with their offset (as every `--json` of the CLI)."""
    return _jsonable(data)


def dumps(data: Any) -> str:
    return json.dumps(jsonable(data), ensure_ascii=False, indent=2) + "\n"


def _cell(value: Any) -> Text:
    if isinstance(value, list):
        return cell(", ".join(str(v) for v in value))
    return cell(value)


def _short(value: Any, width: int = 90) -> str:
    text = value if isinstance(value, str) else json.dumps(jsonable(value), ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


# --------------------------------------------------------------------------- replay


def show_replay(r: Replay) -> None:
    head = Table(title=_cell(f"{r.aggregate} as of {when(r.as_of) if r.as_of else 'now'}"), show_header=False)
    head.add_column("field", style="bold")
    head.add_column("value", overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("replayed", f"{r.version} of {r.latest_version} events (last recorded {when(r.recorded_at)})"),
        ("person", r.subject_id),
        ("reader", f"{r.actor_id} as {label(Role, r.role)}, for {label(PurposeKind, r.purpose)}"),
        ("outcome", label(Outcome, r.outcome)),
        ("basis", r.basis),
        ("metadata basis", r.metadata_basis),
        ("access recorded", r.access_id),
    ]
    if r.readers is not None:
        rows.append(("roles that read ententes", [label(Role, x) for x in r.readers]))
    if r.refusal is not None:
        rows.append(("refusal", f"{r.refusal.article}: {r.refusal.reason} — recourse {r.refusal.recourse_article} "
                                f"by {r.refusal.recourse_deadline}"))
    for name, value in rows:
        head.add_row(name, _cell(value))
    console.print(head)

    items = Table(title="Items")
    for col in ("item", "status", "reason", "rule"):
        items.add_column(col, overflow="fold")
    for it in r.items:
        items.add_row(_cell(it.name), _cell(it.status.value), _cell(it.reason), _cell(it.article))
    console.print(items)

    state = next((it for it in r.items if it.status is ItemStatus.SHOWN and isinstance(it.value, dict)), None)
    if state is not None:
        table = Table(title=f"State ({state.name})", show_header=False)
        table.add_column("field", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        for key, value in state.value.items():
            table.add_row(_cell(key), _cell(_short(value)))
        console.print(table)
    for it in r.items:
        if it.status is ItemStatus.SHOWN and isinstance(it.value, list):
            for occ in it.value:
                console.print(_cell(f"{it.name} (event {occ['seq']}): {occ['value']}"))
    if r.events is not None:
        events = Table(title="Events")
        for col in ("#", "event", "recorded", "details"):
            events.add_column(col, overflow="fold")
        for ev in r.events:
            payload = dict(ev.payload)
            if "content" in payload:
                payload["content"] = f"<version text, {len(str(payload['content']))} chars>"
            events.add_row(_cell(ev.seq), _cell(ev.event), _cell(ev.recorded_at), _cell(_short(payload, 160)))
        console.print(events)


# --------------------------------------------------------------------------- register


def register_table(subject_id: str, entries: Sequence[dict[str, Any]], total: int | None = None) -> Table:
    """The entries as the read's decision laid them out (`domain.audit.reads.entries_shown`)."""
    n = total if total is not None else len(entries)
    table = Table(title=_cell(f"Register of communications about {subject_id} ({n}) — LSSSS 27.2 / LRSSS 265"))
    for col in ("communicated", "recipient", "role", "nature", "purpose", "basis", "article", "intended use",
                "justification"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(_cell(datetime.fromisoformat(e["communicated_at"])), _cell(e["recipient_id"]),
                      _cell(label(Role, e["role"])), _cell(e["nature"]), _cell(label(PurposeKind, e["purpose"])),
                      _cell(f"consent {e['consent_id']}" if e["consent_id"] else e["basis_code"]),
                      _cell(e["register_article"]), _cell(e["intended_use"]), _cell(e["justification"]))
    return table


def entry_for_auditor(e: CommunicationEntry) -> dict[str, Any]:
    """A register entry with its words about the person withheld (the auditor's rule)."""
    d = e.model_dump(mode="json")
    personal = {k: d.pop(k) for k in ("intended_use", "justification", "purpose_text")}
    return for_reader({**d, "personal": personal}, Role.AUDITOR)


# --------------------------------------------------------------------------- accesses


def access_rows(decisions: Sequence[Decision], reads: Sequence[EntenteRead],
                record_reads: Sequence[RecordRead] = ()) -> list[dict[str, Any]]:
    """One row per access, persons', ententes' and reads across persons alike, in time order."""
    rows = [{
        "moment": d.moment, "about": f"person:{d.subject_id}", "actor_id": d.actor_id, "role": d.role.value,
        "purpose": d.purpose.value, "outcome": d.outcome.value, "allowed": d.allowed,
        "withheld": [{"item": w.item, "code": w.code, "article": w.article} for w in d.withheld],
        "basis": d.basis.code if d.basis else None, "metadata_basis": d.metadata_basis,
        "refusal": d.refusal.code if d.refusal else None, "log_article": d.log_article, "access_id": d.decision_id,
    } for d in decisions] + [{
        "moment": r.moment, "about": f"entente:{r.code}", "actor_id": r.actor_id, "role": r.role.value,
        "purpose": r.purpose.value, "outcome": r.outcome.value,
        "allowed": ["entente", "journal des evenements"] if r.outcome.value == "autorise" else [],
        "withheld": [] if r.outcome.value == "autorise" else [
            {"item": i, "code": "not_an_entente_reader", "article": r.rule}
            for i in ("entente", "journal des evenements")
        ],
        "basis": r.rule if r.outcome.value == "autorise" else None, "metadata_basis": None,
        "refusal": None if r.outcome.value == "autorise" else "not_an_entente_reader", "log_article": r.rule,
        "access_id": r.read_id,
    } for r in reads] + [{
        "moment": r.moment, "about": f"record:{r.kind.value}", "actor_id": r.actor_id, "role": r.role.value,
        "purpose": r.purpose.value, "outcome": r.outcome.value, "allowed": [r.kind.value] if r.allowed else [],
        "withheld": [] if r.allowed else [{"item": r.kind.value, "code": "not_a_metadata_reader", "article": r.rule}],
        "basis": r.rule if r.allowed else None, "metadata_basis": None,
        "refusal": None if r.allowed else "not_a_metadata_reader", "log_article": r.rule, "access_id": r.read_id,
        "scope": r.scope,
    } for r in record_reads]
    return sorted(rows, key=lambda row: row["moment"])


# --------------------------------------------------------------------------- every read is an access


def read_refusal(decision: Decision) -> CliError:
    """A read of one person's record refused by the disclosure rules; the refusal is already recorded."""
    code = decision.refusal.code if decision.refusal else next((w.code for w in decision.withheld), "refused")
    reason = decision.refusal.reason if decision.refusal else next((w.reason for w in decision.withheld), "")
    return refused(code, f"{reason} (this refused access is recorded: {decision.decision_id})")


def record_read_refusal(read: RecordRead) -> CliError:
    """A read across persons refused; the refusal is already registered in the reads log."""
    return refused("not_a_metadata_reader", f"{read.reason} (this refused access is recorded: {read.read_id})")


def accesses_table(rows: Sequence[dict[str, Any]], total: int | None = None) -> Table:
    table = Table(title=f"Accesses ({total if total is not None else len(rows)})")
    for col in ("when", "about", "actor", "role", "purpose", "outcome", "allowed", "withheld", "basis", "access"):
        table.add_column(col, overflow="fold")
    for row in rows:
        withheld = [f"{w['item']} ({w['code']})" for w in row["withheld"]]
        table.add_row(_cell(row["moment"]), _cell(row["about"]), _cell(row["actor_id"]),
                      _cell(label(Role, row["role"])), _cell(label(PurposeKind, row["purpose"])),
                      _cell(label(Outcome, row["outcome"])), _cell(row["allowed"]), _cell(withheld),
                      _cell(row["basis"] or row["metadata_basis"]), _cell(row["access_id"]))
    return table


# --------------------------------------------------------------------------- exceptions


def emergency_for_auditor(e: EmergencyDisclosureView) -> dict[str, Any]:
    """An emergency disclosure's metadata; its record note and review notes withheld (the auditor's rule)."""
    d = e.model_dump(mode="json")
    p = d.pop("particulars")
    clear = ("occurred_at", "recipient_capacity", "mode", "directive_version")
    personal = {k: v for k, v in p.items() if k not in clear}
    review = d.pop("review")
    if review is not None:
        personal["review_notes"] = review.pop("notes")
    shown = for_reader({**d, **{k: p[k] for k in clear}, "review": review, "personal": personal}, Role.AUDITOR)
    shown["pending"] = e.pending
    return shown


def exceptions_data(report: ExceptionReport, now: datetime, since: datetime | None,
                    until: datetime | None) -> dict[str, Any]:
    return jsonable({
        "now": now, "since": since, "until": until,
        "expired_or_withdrawn_consent_uses": len(report.expired_consent_uses),
        "expired_consent_uses": report.expired_consent_uses,
        "emergencies": [emergency_for_auditor(e) for e in report.emergencies],
        "pending_reviews": [e.disclosure_id for e in report.pending_reviews],
        "overdue_reviews": [e.disclosure_id for e in report.overdue_reviews],
        "without_consent_by_basis": report.without_consent_by_basis,
        "refusals": [r.model_dump(mode="json") for r in report.refusals],
    })


def limit_exceptions(data: dict[str, Any], limit: int | None, *, as_json: bool) -> dict[str, Any]:
    """The emergencies and refusals lists cut to `limit` (see `cli.display.limited`); the counts of
    what was left out under `left_out`, for the tables' last lines. Every other figure stays whole."""
    out = dict(data)
    left_out = {}
    for key in ("emergencies", "refusals"):
        out[key], left_out[key] = limited(data[key], limit, as_json)
    if not as_json:
        out["left_out"] = left_out
    return out


def show_exceptions(data: dict[str, Any]) -> None:
    left_out = data.get("left_out", {})
    n_emergencies = len(data["emergencies"]) + left_out.get("emergencies", 0)
    emergencies = Table(title=f"Emergency disclosures ({n_emergencies}) — LSSSS 19.0.1 / LRSSS 74")
    for col in ("occurred", "person", "discloser", "recipient", "basis", "items", "review due", "review"):
        emergencies.add_column(col, overflow="fold")
    overdue = set(data["overdue_reviews"])
    for e in data["emergencies"]:
        review = "pending" if e["pending"] else ("conforming" if e["review"]["conforming"] else "not conforming")
        if e["disclosure_id"] in overdue:
            review = "OVERDUE"
        emergencies.add_row(_cell(datetime.fromisoformat(e["occurred_at"])), _cell(e["subject_id"]),
                            _cell(e["discloser_id"]), _cell(f"{e['recipient_id']} ({e['recipient_role']})"),
                            _cell(e["basis_code"]), _cell(e["items"]),
                            _cell(datetime.fromisoformat(e["review_due"])), _cell(review))
    console.print(emergencies)
    print_more(console, left_out.get("emergencies", 0))
    bases = Table(title="Communications without consent, by legal basis")
    bases.add_column("basis")
    bases.add_column("count", justify="right")
    for code, n in data["without_consent_by_basis"].items():
        bases.add_row(_cell(code), _cell(n))
    console.print(bases)
    refusals = Table(title=f"Refusals ({len(data['refusals']) + left_out.get('refusals', 0)})")
    for col in ("notified", "person", "actor", "role", "article", "code"):
        refusals.add_column(col, overflow="fold")
    for r in data["refusals"]:
        refusals.add_row(_cell(datetime.fromisoformat(r["notified_at"])), _cell(r["subject_id"]),
                         _cell(r["actor_id"]), _cell(label(Role, r["role"])), _cell(r["article"]), _cell(r["code"]))
    console.print(refusals)
    print_more(console, left_out.get("refusals", 0))
    console.print(Text(f"pending reviews: {len(data['pending_reviews'])} (overdue: {len(overdue)})"))
    n = data["expired_or_withdrawn_consent_uses"]
    which = "" if n == 0 else f" — {', '.join(data['expired_consent_uses'])}"
    console.print(Text(printable(EXPIRED_STATEMENT.format(n=n) + which), style="green" if n == 0 else "bold red"))
