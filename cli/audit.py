"""`arrimage audit …`: the auditor's verbs over the legal record.

- `verify`, `checkpoint`, `shred`: the tamper-evident chain and erasure;
- `replay AGGREGATE [--as-of] --role`: one entente, crisis case or consent as it stood, as a role may
  see it (the replay is itself recorded as an access);
- `register --person`, `accesses`, `exceptions`: the register of communications, the access log,
  what an auditor looks at first; `export --out DIR`: all of it, hashed, to hand over.

Reads come from the record (no Temporal). Every read takes `--json`.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from eventsourcing.application import AggregateNotFoundError
from pydantic import ValidationError
from rich.console import Console

from cli import audit_export, audit_render
from cli.display import Limit, limited, print_more
from cli.errors import CliError, Exit, bad_input, fail, invalid, not_found, read_json, refused, reported
from domain.audit.checkpoint import Checkpoint, CheckpointError
from domain.audit.erasure import erasure_id
from adapters.record.keys import DEV_CHECKPOINT_KEYS, KeyConfigError, KeyRing, ring_or_default
from domain.audit.replay import AggregateRef
from domain.clock import QUEBEC, start_of
from domain.disclosure.model import Outcome
from domain.disclosure.roles import PurposeKind, Role
from domain.errors import NotFound
from adapters.record.record import Record
from usecases.audit.replays import ReaderFacts, Replays
from usecases.audit.trail import checkpoint as make_checkpoint
from usecases.audit.trail import shred as do_shred
from usecases.audit.trail import verify as run_verify
from usecases.disclosure import Disclosures
from workers.settings import Settings

AUDIT_EXIT_CODES = (
    "Exit codes: 0 done (verified; replay shown; no use of an expired consent); "
    "1 tampering found (verify, export), a record that holds no events (verify, unless --allow-empty), "
    "or an expired or withdrawn consent was used (exceptions); "
    "2 bad input, or the replay was refused by a rule (the refusal itself is recorded as an access); "
    "3 no such entente, case or consent (or none yet at --as-of), or no record where the settings point."
)

app = typer.Typer(
    help="Audit the record: verify the chain, replay an aggregate as a role sees it, the register, accesses, "
         "exceptions, an export to hand over; erase a person.",
    epilog=AUDIT_EXIT_CODES,
    no_args_is_help=True,
)
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
    allow_empty: bool = typer.Option(
        False, "--allow-empty", help="accept a record that holds no event yet (otherwise exit 1: nothing was verified)"
    ),
) -> None:
    """Stream the whole store and confirm it, or name the first event altered, inserted, reordered or removed."""
    try:
        cps = [Checkpoint.from_json(p.read_text()) for p in against]
        record, settings = _record_and_keys()
        report = run_verify(record, cps, checkpoint_keys=_ring(settings))
    except (OSError, CheckpointError, KeyConfigError) as e:
        console.print(f"[red]bad input:[/red] {e}")
        raise typer.Exit(2) from None
    if report.ok and report.events_checked == 0 and not allow_empty:
        # An empty record is intact only trivially: a record emptied, or looked for in the wrong place,
        # must not read as "verified".
        typer.echo("the record holds no events (pass --allow-empty to accept that)", err=True)
        raise typer.Exit(1)
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
        cp = make_checkpoint(record, checkpoint_keys=_ring(settings), now=datetime.now(UTC))
    except CheckpointError as e:
        fail(CliError(Exit.FAILED, str(e)))
    except KeyConfigError as e:
        fail(bad_input(str(e)))
    try:
        out.write_text(cp.to_json())
    except OSError as e:
        fail(CliError(Exit.REFUSED, f"cannot write {out}: {e.strerror or e}"))
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
    result = do_shred(record, subject_id, by=by, reason=reason, now=datetime.now(UTC))
    if as_json:
        print(json.dumps(result.__dict__))
    else:
        console.print(f"shredded {subject_id} (key {result.key_id}); erasure {result.erasure_id}")


# ---------------------------------------------------------------------- reading the record
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
Since = Annotated[str | None, typer.Option("--since", metavar="MOMENT", help="From this date or date-time.")]
Until = Annotated[
    str | None, typer.Option("--until", metavar="MOMENT", help="Before this date-time (a date: through that day).")
]


def parse_moment(value: str, option: str, *, day_end: bool = False, inclusive: bool = False) -> datetime:
    """An ISO date-time (naive: Québec time), or a date: its start, or with `day_end` the next day's start
    (with `inclusive`, the last microsecond of the day itself)."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        if not day_end:
            return start_of(day)
        return start_of(day + timedelta(days=1)) - (timedelta(microseconds=1) if inclusive else timedelta())
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise bad_input(f"{option} {value!r}: expected a date (2026-11-23) or a date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=QUEBEC)


@contextmanager
def _record() -> Iterator[Record]:
    record = Record(Settings().store_env())
    try:
        yield record
    finally:
        record.close()


def _actor(actor: str | None) -> str:
    return actor or os.environ.get("ARRIMAGE_USER") or getpass.getuser()


def _facts(path: Path | None) -> ReaderFacts:
    if path is None:
        return ReaderFacts()
    try:
        return ReaderFacts.model_validate(read_json(path))
    except ValidationError as err:
        raise invalid(err, whole=str(path)) from None


@app.command(epilog=AUDIT_EXIT_CODES)
def replay(
    aggregate: Annotated[str, typer.Argument(
        metavar="AGGREGATE",
        help="entente:CODE, case:CASE_CODE, consent:CONSENT_ID (as the register cites it) or consent:SUBJECT/KEY.",
    )],
    role: Annotated[Role, typer.Option("--role", help="The capacity in which the record is read.")],
    as_of: Annotated[str | None, typer.Option(
        "--as-of", metavar="MOMENT",
        help="Rebuild from the events recorded at or before this moment (a date: by the end of that day, "
             "Québec time). Default: now.",
    )] = None,
    actor: Annotated[str | None, typer.Option(
        "--actor", envvar="ARRIMAGE_USER", help="Who reads (default: $ARRIMAGE_USER, else your login).",
    )] = None,
    purpose: Annotated[PurposeKind | None, typer.Option(
        "--purpose", help="What for (default: audit for auditors and supervisors, care for intervenants…).",
    )] = None,
    facts: Annotated[Path | None, typer.Option(
        "--facts", metavar="FILE",
        help='JSON the record does not keep: {"authorisations": [...], "subject": {...}} (R-22.1, r. 1, s. 8).',
    )] = None,
    as_json: AsJson = False,
) -> None:
    """An entente, crisis case or consent as it stood at a moment, item by item as ROLE may see it.

    Each item is shown or withheld with the reason and the rule (disclosure rules for a person's
    aggregates; ententes are organisational). The replay is recorded as an access first, allowed or
    refused: it appears in `arrimage audit accesses`.
    """
    with reported():
        try:
            ref = AggregateRef.parse(aggregate)
        except ValueError as err:
            raise bad_input(str(err)) from None
        moment = parse_moment(as_of, "--as-of", day_end=True, inclusive=True) if as_of else None
        reader = _facts(facts)
        with _record() as record:
            result = Replays(record).replay(ref, role=role, actor_id=_actor(actor), moment=datetime.now(UTC),
                                            as_of=moment, purpose=purpose, facts=reader)
    if as_json:
        sys.stdout.write(audit_render.dumps(result))
    else:
        audit_render.show_replay(result)
    if result.outcome is Outcome.REFUSED:
        code = result.refusal.code if result.refusal else next((i.code for i in result.items if i.code), "refused")
        reason = result.refusal.reason if result.refusal else next((i.reason for i in result.items if i.reason), "")
        fail(refused(code or "refused", f"{reason} (this refused access is recorded: {result.access_id})"))


@app.command(epilog=AUDIT_EXIT_CODES)
def register(
    person: Annotated[str, typer.Option("--person", metavar="SUBJECT_ID", help="The person's opaque id.")],
    limit: Limit = None,
    as_json: AsJson = False,
) -> None:
    """The register entries about one person, as they obtain them (LSSSS 27.2 / LRSSS 265 with s. 18)."""
    with reported(), _record() as record:
        try:
            entries = Disclosures(record).register(person).communications
        except NotFound:
            if not _knows(record, person):
                raise not_found(
                    f"no register entries for person {person} (the record holds nothing about this person)"
                ) from None
            entries = []  # a person the record knows (a case, a consent, an erasure) with nothing communicated
    shown, left = limited(entries, limit, as_json)
    if as_json:
        sys.stdout.write(audit_render.dumps([e.model_dump(mode="json") for e in shown]))
    else:
        audit_render.console.print(audit_render.register_table(person, shown, total=len(entries)))
        print_more(audit_render.console, left)


def _knows(record: Record, person: str) -> bool:
    """Whether the record holds anything about the person: content sealed with their key, or its erasure."""
    if record.subject_keys.current_key_id(person) is not None:
        return True
    try:
        record.repository.get(erasure_id(person))
    except AggregateNotFoundError:
        return False
    return True


def access_log(record: Record, person: str | None, actor: str | None, since: datetime | None,
               until: datetime | None) -> list[dict[str, Any]]:
    disclosures = Disclosures(record)
    try:
        decisions = disclosures.accesses(subject_id=person, actor_id=actor, since=since, until=until)
    except NotFound:
        decisions = []  # no register: nobody accessed this person's record
    reads = [] if person else Replays(record, disclosures).entente_reads(actor_id=actor, since=since, until=until)
    return audit_render.access_rows(decisions, reads)


@app.command(epilog=AUDIT_EXIT_CODES)
def accesses(
    person: Annotated[
        str | None, typer.Option("--person", metavar="SUBJECT_ID", help="Only about this person.")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only by this reader.")] = None,
    since: Since = None, until: Until = None, limit: Limit = None, as_json: AsJson = False,
) -> None:
    """Every recorded access, allowed or refused: who, about whom, when, for what, on which basis."""
    with reported():
        start = parse_moment(since, "--since") if since else None
        end = parse_moment(until, "--until", day_end=True) if until else None
        with _record() as record:
            rows = access_log(record, person, actor, start, end)
    shown, left = limited(rows, limit, as_json)
    if as_json:
        sys.stdout.write(audit_render.dumps(shown))
    else:
        audit_render.console.print(audit_render.accesses_table(shown, total=len(rows)))
        print_more(audit_render.console, left)


@app.command(epilog=AUDIT_EXIT_CODES)
def exceptions(since: Since = None, until: Until = None, limit: Limit = None, as_json: AsJson = False) -> None:
    """Emergency disclosures and their reviews, communications without consent by basis, refusals, and any
    use of an expired or withdrawn consent (which must be none: exit 1 otherwise)."""
    now = datetime.now(UTC)
    with reported():
        start = parse_moment(since, "--since") if since else None
        end = parse_moment(until, "--until", day_end=True) if until else None
        with _record() as record:
            report = Disclosures(record).exceptions(now, since=start, until=end)
    data = audit_render.exceptions_data(report, now, start, end)
    if as_json:
        sys.stdout.write(audit_render.dumps(audit_render.limit_exceptions(data, limit, as_json=True)))
    else:
        audit_render.show_exceptions(audit_render.limit_exceptions(data, limit, as_json=False))
    raise typer.Exit(0 if data["expired_or_withdrawn_consent_uses"] == 0 else 1)


@app.command(epilog=AUDIT_EXIT_CODES)
def export(
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Directory to write the bundle in.")],
    since: Since = None, until: Until = None,
) -> None:
    """Write the auditor's bundle: verify report, a fresh signed checkpoint, register, accesses, exceptions
    (JSON, personal content withheld) and MANIFEST.json with the SHA-256 of each file."""
    with reported():
        start = parse_moment(since, "--since") if since else None
        end = parse_moment(until, "--until", day_end=True) if until else None
        settings = Settings()
        with _record() as record:
            bundle = audit_export.write_bundle(record, out, ring=_ring(settings), since=start, until=end,
                                               now=datetime.now(UTC))
    for name, entry in bundle.files.items():
        console.print(f"{name}  sha256 {entry['sha256']}")
    if bundle.verified:
        console.print(f"[green]verified[/green]; bundle in {out} (MANIFEST.json)")
    else:
        console.print(f"[red]TAMPERING[/red] {bundle.problem}; bundle in {out} has no checkpoint")
    raise typer.Exit(0 if bundle.verified else 1)
