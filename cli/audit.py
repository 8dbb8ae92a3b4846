"""`arrimage audit verify|checkpoint|shred`: the auditor's verbs over the tamper-evident chain.

Exit codes scripts can trust: 0 verified (or done), 1 tampering found, 2 bad input.
Register in cli/main.py with: ``app.add_typer(audit.app, name="audit")``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from domain.audit.checkpoint import Checkpoint, CheckpointError
from domain.audit.keys import DEV_CHECKPOINT_KEYS, KeyConfigError, KeyRing, ring_or_default
from domain.audit.service import checkpoint as make_checkpoint
from domain.audit.service import shred as do_shred
from domain.audit.service import verify as run_verify
from domain.record import Record
from workers.settings import Settings

app = typer.Typer(help="Tamper-evident audit trail: verify the chain, sign its head, erase a person.")
console = Console()


def _record_and_keys() -> tuple[Record, Settings]:
    settings = Settings()
    return Record(settings.store_env()), settings


def _ring(settings: Settings) -> KeyRing:
    return ring_or_default(settings.checkpoint_keys.get_secret_value(), DEV_CHECKPOINT_KEYS)


@app.command()
def verify(
    against: list[Path] = typer.Option([], "--against", help="checkpoint file(s) kept elsewhere"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Stream the whole store and confirm it, or name the first event altered, inserted, reordered or removed."""
    try:
        cps = [Checkpoint.from_json(p.read_text()) for p in against]
        record, settings = _record_and_keys()
        report = run_verify(record, cps, checkpoint_keys=_ring(settings))
    except (OSError, CheckpointError, KeyConfigError) as e:
        console.print(f"[red]bad input:[/red] {e}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(report.to_dict()))
    elif report.ok:
        console.print(f"[green]verified[/green] {report.events_checked:,} events ({report.events_per_second:,.0f}/s)")
    elif report.problem is not None:
        console.print(f"[red]TAMPERING[/red] {report.problem.describe()}")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def checkpoint(out: Path = typer.Option(..., "--out", help="where to write the signed head")) -> None:
    """Verify, then sign the chain head; keep the file somewhere the database's operators cannot edit."""
    try:
        record, settings = _record_and_keys()
        cp = make_checkpoint(record, checkpoint_keys=_ring(settings))
    except CheckpointError as e:
        console.print(f"[red]{e}[/red]")
        raise typer.Exit(1) from None
    except KeyConfigError as e:
        console.print(f"[red]bad input:[/red] {e}")
        raise typer.Exit(2) from None
    out.write_text(cp.to_json())
    console.print(f"signed head: notification {cp.notification_id}, {cp.count:,} events, key {cp.key_id} → {out}")


@app.command()
def shred(
    subject_id: str,
    by: str = typer.Option(..., "--by"),
    reason: str = typer.Option(..., "--reason", help="a decision reference, never personal content"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Erase a person's content by destroying their key; the erasure is recorded as an event."""
    record, _ = _record_and_keys()
    result = do_shred(record, subject_id, by=by, reason=reason)
    if as_json:
        print(json.dumps(result.__dict__))
    else:
        console.print(f"shredded {subject_id} (key {result.key_id}); erasure {result.erasure_id}")
