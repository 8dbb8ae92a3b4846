"""`arrimage audit …`: the auditor's verbs over the legal record.

- `verify`, `checkpoint`, `shred`: the tamper-evident chain and erasure;
- `replay AGGREGATE [--as-of] --role`: one entente, crisis case or consent as it stood, as a role may
  see it (the replay is itself recorded as an access);
- `register --person`, `accesses`, `exceptions`: the register of communications, the access log,
  what an auditor looks at first; `export --out DIR`: all of it, hashed, to hand over.

Reads come from the record (no Temporal). Every read takes `--json`, and is itself an access, decided
and registered before anything is shown, with the reader's `--by`, `--role` ($ARRIMAGE_ROLE; required)
and `--purpose`: `register --person` in that person's register, the others in the record-level reads log.
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli import audit_proofs, audit_render, audit_witness, remote
from cli.audit_export import access_log, bundle_problem, write_bundle
from cli.client import root
from cli.display import Limit, limited, print_more
from cli.errors import CliError, Exit, bad_input, fail, not_found, read_text, refused, reported
from cli.options import AsJson, By, Facts, Purpose, ReadBy, ReaderRole, reader, who
from cli.parsing import day as parse_day
from cli.parsing import moment as parse_moment
from domain.audit.checkpoint import Checkpoint, CheckpointError
from domain.audit.note import NoteError, parse_checkpoint, parse_note
from domain.audit.own_register import OWN_REGISTER_READERS, NotAnOwnRegisterReader, check_own_register_reader
from domain.audit.record_reads import ReadKind, RecordRead
from domain.audit.replay import AggregateKind, AggregateRef, Replay
from domain.disclosure.facts import FactKind, PersonFact, RecordFact
from domain.disclosure.model import Outcome
from domain.disclosure.roles import Role
from usecases.audit.proofs import verify_since_note
from usecases.audit.reads import Reader
from usecases.audit.trail import checkpoint as make_checkpoint
from usecases.audit.trail import knows, pinned_key, trust_basis
from usecases.audit.trail import rewrap as do_rewrap
from usecases.audit.trail import shred as do_shred
from usecases.audit.trail import verify as run_verify
from verifier import BadInput, Source, verify_bundle
from verifier import render as render_offline
from verifier.bundle_since import verify_bundle_since
from verifier.trusted import Keys
from workers.bootstrap import KeyConfigError, Root, checkpoint_keys

AUDIT_EXIT_CODES = (
    "Exit codes: 0 done (verified; replay shown; no use of an expired consent); "
    "1 tampering found (verify, export), a record that holds no events (verify, unless --allow-empty), "
    "or an expired or withdrawn consent was used (exceptions); "
    "2 bad input (a read without --role), or the read was refused by a rule (the refusal itself is recorded "
    "as an access); "
    "3 no such entente, case or consent (or none yet at --as-of), or no record where the settings point."
)

app = typer.Typer(
    help="Audit the record: verify the chain, replay an aggregate as a role sees it, the register, accesses, "
         "exceptions, an export to hand over; erase a person.",
    epilog=AUDIT_EXIT_CODES,
    no_args_is_help=True,
)
console = Console()


TrustedKeys = Annotated[list[str], typer.Option(
    "--trusted-key", metavar="FILE|BASE64",
    help="A public key you trust (base64, as checkpoints print it, or a file holding it or a PEM key); "
         "repeatable. Given, only checkpoints and manifests signed by a pinned key are accepted, whatever the "
         "engine's configuration (environment, .env) says.",
)]


TrustEngineKey = Annotated[bool, typer.Option(
    "--trust-engine-key",
    help="Check signatures against this machine's configured checkpoint key instead of a pinned one "
         "(an operator's own check; an auditor pins with --trusted-key). Needed outside development mode "
         "when no --trusted-key is given.",
)]


def _pinned(values: list[str]) -> list[str]:
    try:
        return [pinned_key(v) for v in values]
    except CheckpointError as e:
        raise bad_input(e.message) from None


def _require_trust(development: bool, pinned: list[str], trust_engine_key: bool) -> None:
    """Outside development mode a signature is checked against a key the reader holds, or the reader says
    explicitly that this machine's configuration is trusted: a `.env` or environment on the machine being
    audited must not decide silently which key signs the checkpoints (issue 9)."""
    if not development and not pinned and not trust_engine_key:
        raise bad_input("give --trusted-key FILE|BASE64 (the checkpoint public key kept away from the operator), "
                        "or --trust-engine-key to rely on this machine's configuration")


@app.command()
def verify(
    against: list[Path] = typer.Option([], "--against", help="checkpoint file(s) kept elsewhere"),
    trusted_key: TrustedKeys = [],  # noqa: B006 (typer's repeatable option)
    bundle: Annotated[Path | None, typer.Option(
        "--bundle", metavar="DIR",
        help="Check an `audit export` bundle instead of the record: its signed manifest and every file.",
    )] = None,
    trust_engine_key: TrustEngineKey = False,
    log_key: Annotated[list[str], typer.Option(
        "--log-key", metavar="VKEY|FILE",
        help="With --bundle: check its record.jsonl offline (the verifier, `python -m verifier`) against the "
             "--against checkpoints (C2SP notes or JSON), signed by this log key (<name>+<key ID>+<base64>, as "
             "`audit log-key` prints it, or a file holding it); the manifest's signature is checked with it too. "
             "Repeatable.",
    )] = [],  # noqa: B006 (typer's repeatable option)
    as_json: bool = typer.Option(False, "--json"),
    allow_empty: bool = typer.Option(
        False, "--allow-empty", help="accept a record that holds no event yet (otherwise exit 1: nothing was verified)"
    ),
    since_checkpoint: Annotated[Path | None, typer.Option(
        "--since-checkpoint", metavar="FILE",
        help="Incremental: check this signed checkpoint (the last one a full verify passed: a JSON checkpoint, or "
             "a C2SP note of `audit checkpoint --note`, whose tree must still give its signed root) and that the "
             "store still holds its head, then verify only the events after it. An event altered before it is "
             "the full verify's to find. With --bundle and --log-key: a note, and only the bundle's lines after "
             "it are checked (verifier/README.md §7).",
    )] = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", min=1, metavar="N",
        help="Processes that verify ranges of the store at once (default: this machine's cores; 1: one pass). "
             "The report is the one pass's; a store of under 50,000 events per range is verified in one pass.",
    )] = None,
) -> None:
    """Stream the whole store and confirm it, or name the first event altered, inserted, reordered or removed."""
    with reported():
        pinned = _pinned(trusted_key)
        if log_key and bundle is None:
            raise bad_input("--log-key checks an export bundle offline: give --bundle DIR")
        if bundle is not None and log_key:
            _verify_offline(bundle, against, log_key, pinned, as_json, since_checkpoint)
        if bundle is not None:
            _verify_bundle(bundle, pinned, as_json, trust_engine_key)
        cps = [_checkpoint_file(path) for path in against]
        since, since_note = _since_file(since_checkpoint) if since_checkpoint is not None else (None, None)
        with root() as engine:
            _require_trust(engine.settings.development, pinned, trust_engine_key)
            try:
                if since_note is not None:  # a tree checkpoint: the chain and the tree resume from it
                    report = verify_since_note(engine.record, since_note, checkpoint_keys(engine.settings),
                                               against=cps, pinned_keys=pinned, jobs=jobs)
                else:
                    report = run_verify(engine.record, cps, checkpoint_keys=checkpoint_keys(engine.settings),
                                        pinned_keys=pinned, since=since, jobs=jobs)
            except KeyConfigError as e:
                raise bad_input(str(e)) from None
            except CheckpointError as e:  # one the store keeps (`audit checkpoint` saves a copy) is unreadable
                raise CliError(Exit.REFUSED, f"invalid checkpoint kept in the record: {e.message}") from None
    if report.ok and report.events_checked == 0 and report.since is None and not allow_empty:
        # An empty record is intact only trivially: a record emptied, or looked for in the wrong place,
        # must not read as "verified".
        typer.echo("the record holds no events (pass --allow-empty to accept that)", err=True)
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(report.to_dict()))
    elif report.ok:
        after = (f" after checkpoint position {report.since.seq:,} (notification {report.since.notification_id})"
                 if report.since is not None else "")
        console.print(f"[green]verified[/green] {report.events_checked:,} events{after} "
                      f"({report.events_per_second:,.0f}/s)")
        for line in report.trust:  # what the checkpoints' check rests on
            console.print(line, markup=False)
    elif report.problem is not None:
        console.print(f"[red]TAMPERING[/red] {escape(report.problem.describe())}", soft_wrap=True)
    raise typer.Exit(0 if report.ok else 1)


def _verify_bundle(out: Path, pinned: list[str], as_json: bool, trust_engine_key: bool) -> None:
    """`verify --bundle DIR`: the export's manifest signature and files; exits 0 or 1."""
    ring = None
    if not pinned:
        with root() as engine:
            _require_trust(engine.settings.development, pinned, trust_engine_key)
            ring = checkpoint_keys(engine.settings)
    problem = bundle_problem(out, pinned, ring)
    trust = trust_basis(pinned).replace("checkpoint signatures", "the manifest's signature")
    if as_json:
        print(json.dumps({"ok": problem is None, "bundle": str(out), "problem": problem, "trust": [trust]}))
    elif problem is None:
        console.print(f"[green]bundle verified[/green] {out}")
        console.print(trust, markup=False)
    else:
        console.print(f"[red]TAMPERING[/red] bundle {escape(str(out))}: {escape(problem)}", soft_wrap=True)
    raise typer.Exit(0 if problem is None else 1)


def _verify_offline(out: Path, against: list[Path], log_keys: list[str], pinned: list[str], as_json: bool,
                    since: Path | None = None) -> None:
    """`verify --bundle DIR --log-key VKEY [--against F…] [--since-checkpoint OLD.note]`: nothing of the engine's
    configuration is read. The verifier recomputes record.jsonl (only its lines after OLD.note's size with `since`)
    and checks it against each checkpoint; then the manifest's signature is checked against the log key (the same
    Ed25519 key signs both) and the pinned keys, and every file it lists (with `since`, record.jsonl by its size
    and the head its new lines reach, so that the pass costs the new lines); exits 0 or 1 (2: bad input)."""
    keys = [read_text(Path(k)).strip() if Path(k).is_file() else k for k in log_keys]
    sources = [Source(str(path), read_text(path)) for path in against]
    try:
        trusted = Keys.parse(keys)
        report = verify_bundle(out, sources, keys) if since is None else \
            verify_bundle_since(out, sources, keys, Source(str(since), read_text(since)))
    except BadInput as e:
        raise bad_input(str(e)) from None
    # Incremental: record.jsonl is not hashed whole (its size, and the head its new lines reach = the manifest's
    # signed head); every other file is (verifier/README.md §7.1).
    manifest = bundle_problem(out, [*pinned, *(base64.b64encode(k).decode() for k in trusted.raw)],
                              incremental=since is not None, head=report.head if report.ok else None)
    covers = ("every file hashed" if since is None else
              "every file hashed but record.jsonl: its size, and its new lines' head is the one it signs "
              "(hashed whole if it signs none)")
    ok = manifest is None and report.ok
    if as_json:
        print(json.dumps({"ok": ok, "bundle": str(out), "manifest_problem": manifest, "manifest_covers": covers,
                          "record": report.to_dict()}))
    else:
        if manifest is None:
            console.print(f"[green]manifest verified[/green] {escape(str(out))} (signed by the log key; {covers})")
        else:
            console.print(f"[red]TAMPERING[/red] bundle {escape(str(out))}: {escape(manifest)}", soft_wrap=True)
        for line in render_offline(report, str(out / "record.jsonl")):
            console.print(line, markup=False, soft_wrap=True)
    raise typer.Exit(0 if ok else 1)


def _since_file(path: Path) -> tuple[Checkpoint | None, str | None]:
    """--since-checkpoint: a JSON checkpoint, or a C2SP tree checkpoint note (`audit checkpoint --note`, GET
    /v1/audit/checkpoint); a file that is neither is bad input (exit 2)."""
    text = read_text(path)
    if text.lstrip().startswith("{"):
        return _checkpoint_file(path), None
    try:
        parse_checkpoint(parse_note(text).text)
    except NoteError as e:
        raise bad_input(f"invalid checkpoint {path}: neither a JSON checkpoint nor a checkpoint note ({e})") from None
    return None, text


def _checkpoint_file(path: Path) -> Checkpoint:
    """A checkpoint file the auditor named: missing, unreadable or malformed is their input (exit 2), one line."""
    try:
        return Checkpoint.from_json(read_text(path))
    except CheckpointError as e:
        raise CliError(Exit.REFUSED, f"invalid checkpoint {path}: {e.message}") from None


@app.command()
def checkpoint(
    out: Path = typer.Option(..., "--out", help="where to write the signed head"),
    note: Annotated[Path | None, typer.Option(
        "--note", metavar="FILE",
        help="Also write the Merkle tree's signed checkpoint (C2SP signed note, the format of transparency logs) "
             "of the same head, for `audit prove` and `audit consistency`; prints the log key to pin.",
    )] = None,
) -> None:
    """Verify, then sign the chain head; keep the file somewhere the database's operators cannot edit."""
    if note is not None:
        audit_proofs.checkpoint_with_note(out, note)
        return
    try:
        with root() as engine:
            cp = make_checkpoint(engine.record, checkpoint_keys=checkpoint_keys(engine.settings), now=datetime.now(UTC))
    except CheckpointError as e:
        fail(CliError(Exit.FAILED, str(e)))
    except KeyConfigError as e:
        fail(bad_input(str(e)))
    try:
        out.write_text(cp.to_json())
    except OSError as e:
        fail(CliError(Exit.REFUSED, f"cannot write {out}: {e.strerror or e}"))
    console.print(f"signed head: notification {cp.notification_id}, {cp.count:,} events, key {cp.key_id} → {out}")
    console.print(f"store {cp.store_id}; public key {cp.public_key} (an auditor pins it: --trusted-key)",
                  markup=False, soft_wrap=True)


@app.command()
def shred(
    subject_id: str,
    by: str = typer.Option(..., "--by"),
    reason: str = typer.Option(..., "--reason", help="a decision reference, never personal content"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Erase a person's content by destroying their key; the erasure is recorded as an event."""
    with root() as engine, reported():
        result = do_shred(engine.record, subject_id, by=by, reason=reason, now=datetime.now(UTC))
    if as_json:
        print(json.dumps(result.__dict__))
    else:
        key = f"key {result.key_id}" if result.key_id else "no key was held"
        console.print(f"shredded {subject_id} ({key}); erasure {result.erasure_id}", markup=False)
    for line in result.residue:  # the key is destroyed and its erasure recorded; a copy is still in the store
        typer.echo(f"not yet erased everywhere: {line}", err=True)


@app.command()
def rewrap(as_json: bool = typer.Option(False, "--json")) -> None:
    """KEK rotation: wrap every person's key with the active key-encryption key (the first of
    ARRIMAGE_SUBJECT_KEKS, the old one still listed after it); then the old one may be removed."""
    with root() as engine, reported():
        result = do_rewrap(engine.record)
    if as_json:
        print(json.dumps(result.__dict__))
    else:
        console.print(f"re-wrapped {result.rewrapped} person key(s) with the active key-encryption key",
                      markup=False)
    for line in result.residue:
        typer.echo(f"old wrappings not yet erased everywhere: {line}", err=True)


# ---------------------------------------------------------------------- reading the record
Since = Annotated[str | None, typer.Option("--since", metavar="MOMENT", help="From this date or date-time.")]
Until = Annotated[
    str | None, typer.Option("--until", metavar="MOMENT", help="Before this date-time (a date: through that day).")
]


def _across(engine: Root, kind: ReadKind, who_reads: Reader, moment: datetime, **scope: object) -> RecordRead:
    """Register a read across persons before it happens; a refused one ends the command (exit 2)."""
    read = engine.reads.across(kind, who_reads, moment, scope)
    if not read.allowed:
        raise audit_render.record_read_refusal(read)
    return read


@app.command(epilog=AUDIT_EXIT_CODES)
def fact(
    subject: Annotated[str, typer.Argument(metavar="SUBJECT", help="The person's opaque id.")],
    kind: Annotated[FactKind, typer.Option("--kind", help="What the fact is.")],
    on: Annotated[str | None, typer.Option("--on", metavar="DATE", help="The date of a birth or death.")] = None,
    holder: Annotated[str | None, typer.Option(
        "--holder", help="Who the standing names (parent, representative, mandatary, court, researcher). A parent "
                         "or representative: their id, which is also their usager account's user id, so that "
                         "account reads the person's register (`my-register --person`).")] = None,
    reference: Annotated[str | None, typer.Option(
        "--reference", help="The judgment, mandate, order or authorisation number.")] = None,
    valid_from: Annotated[str | None, typer.Option("--from", metavar="DATE", help="In force from.")] = None,
    valid_until: Annotated[str | None, typer.Option("--until", metavar="DATE", help="Last day in force.")] = None,
    lift: Annotated[bool, typer.Option("--lift", help="The fact no longer holds (a flag or standing ends).")] = False,
    by: By = None,
    command_id: Annotated[str | None, typer.Option("--command-id", help="Retry key: a retry records nothing new.")
                          ] = None,
    as_json: AsJson = False,
) -> None:
    """Record a fact a disclosure decision rests on (issue 11): an age, a death, a youth-protection file, a
    refusal, or a standing (parent, representative, mandate, court order, research authorisation). Sealed with
    the person's key; replays as of any later moment decide with it, and `--facts` is then refused."""
    with reported():
        try:
            cmd = RecordFact(by=who(by), command_id=command_id or "", subject_id=subject, fact=PersonFact(
                kind=kind, on=parse_day("--on", on) if on else None, holds=not lift, holder_id=holder,
                reference=reference, valid_from=parse_day("--from", valid_from) if valid_from else None,
                valid_until=parse_day("--until", valid_until) if valid_until else None))
        except ValidationError as err:
            raise bad_input("; ".join(str(e["msg"]) for e in err.errors())) from None
        with root(person=True) as engine:
            if remote.through(engine) is not None:
                raise remote.not_served("recording a person fact")
            done = engine.person_facts.record_fact(cmd, datetime.now(UTC))
    if as_json:
        sys.stdout.write(done.model_dump_json() + "\n")
    else:
        Console().print(f"fact {done.number} recorded for {escape(subject)}: {done.fact.kind.value}"
                        f"{' (lifted)' if not done.fact.holds else ''}")


@app.command(epilog=AUDIT_EXIT_CODES)
def replay(
    aggregate: Annotated[str, typer.Argument(
        metavar="AGGREGATE",
        help="entente:CODE, case:CASE_CODE, consent:CONSENT_ID (as the register cites it) or consent:SUBJECT/KEY.",
    )],
    role: ReaderRole = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", metavar="MOMENT",
        help="Rebuild from the events recorded at or before this moment (a date: by the end of that day, "
             "Québec time). Default: now.",
    )] = None,
    actor: Annotated[str | None, typer.Option(
        "--by", "--actor", envvar="ARRIMAGE_USER", help="Who reads (default: $ARRIMAGE_USER, else your login).",
    )] = None,
    purpose: Purpose = None,
    facts: Facts = None,
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
        with root(person=True) as engine:
            if (gateway := remote.through(engine)) is not None:  # in the token's role, registered there
                if ref.kind is AggregateKind.CONSENT:
                    raise remote.not_served("a consent's replay")
                result = Replay.model_validate(gateway.get("/v1/audit/replay", {
                    "aggregate": str(ref), "as_of": moment, "purpose": purpose}))
            else:
                who_reads = reader(actor, role, purpose, facts)
                result = engine.replays.replay(ref, role=who_reads.role, actor_id=who_reads.actor_id,
                                               moment=datetime.now(UTC), as_of=moment, purpose=who_reads.purpose,
                                               facts=who_reads.facts)
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
    by: ReadBy = None, role: ReaderRole = None, purpose: Purpose = None, facts: Facts = None,
    limit: Limit = None,
    as_json: AsJson = False,
) -> None:
    """The register entries about one person: whole for the person themselves (LSSSS 27.2 / LRSSS 265 with
    s. 18: --role usager --by THEIR_ID, their birth date in --facts), their words withheld from an auditor or a
    supervisor. The read is an access in that person's register, allowed or refused."""
    with root(person=True) as engine, reported():
        if (gateway := remote.through(engine)) is not None:  # in the token's role, registered there
            entries = gateway.get("/v1/audit/register", {"person": person, "purpose": purpose})["entries"]
        else:
            who_reads = reader(by, role, purpose, facts, engine.principals)
            if not knows(engine.record, person):  # nothing to decide, and no register opened for a stranger
                raise not_found(f"no register entries for person {person} (the record holds nothing about this "
                                "person)")
            read = engine.reads.register(person, who_reads, datetime.now(UTC))
            if read.entries is None:
                raise audit_render.read_refusal(read.decision)
            entries = read.entries
    shown, left = limited(entries, limit, as_json)
    if as_json:
        sys.stdout.write(audit_render.dumps(shown))
    else:
        audit_render.console.print(audit_render.register_table(person, shown, total=len(entries)))
        print_more(audit_render.console, left)


@app.command(epilog=AUDIT_EXIT_CODES)
def accesses(
    person: Annotated[
        str | None, typer.Option("--person", metavar="SUBJECT_ID", help="Only about this person.")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only by this reader.")] = None,
    since: Since = None, until: Until = None, limit: Limit = None, as_json: AsJson = False,
    by: ReadBy = None, role: ReaderRole = None, purpose: Purpose = None,
) -> None:
    """Every recorded access, allowed or refused: who, about whom (a person, an entente, or the record across
    persons), when, for what, on which basis. Reading it is itself an access (auditors, supervisors)."""
    with reported():
        start = parse_moment(since, "--since") if since else None
        end = parse_moment(until, "--until", day_end=True) if until else None
        with root() as engine:
            who_reads = reader(by, role, purpose)
            if person is not None and not knows(engine.record, person):  # as `register`: exit 3 only then
                raise not_found(f"the record holds nothing about person {person}")
            _across(engine, ReadKind.ACCESS_LOG, who_reads, datetime.now(UTC), person=person, actor=actor,
                    since=start, until=end)
            rows = access_log(engine, person, actor, start, end)
    shown, left = limited(rows, limit, as_json)
    if as_json:
        sys.stdout.write(audit_render.dumps(shown))
    else:
        audit_render.console.print(audit_render.accesses_table(shown, total=len(rows)))
        print_more(audit_render.console, left)


@app.command(epilog=AUDIT_EXIT_CODES)
def exceptions(
    since: Since = None, until: Until = None, limit: Limit = None, as_json: AsJson = False,
    by: ReadBy = None, role: ReaderRole = None, purpose: Purpose = None,
) -> None:
    """Emergency disclosures and their reviews, communications without consent by basis, refusals, and any
    use of an expired or withdrawn consent (which must be none: exit 1 otherwise). Reading it is an access."""
    now = datetime.now(UTC)
    with reported():
        start = parse_moment(since, "--since") if since else None
        end = parse_moment(until, "--until", day_end=True) if until else None
        with root() as engine:
            who_reads = reader(by, role, purpose)
            _across(engine, ReadKind.EXCEPTIONS, who_reads, now, since=start, until=end)
            report = engine.disclosures.exceptions(now, since=start, until=end)
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
    against: Annotated[list[Path], typer.Option(
        "--against", metavar="FILE",
        help="The last trusted checkpoint, kept elsewhere: the head is signed only if the store extends it.",
    )] = [],  # noqa: B006 (typer's repeatable option)
    trusted_key: TrustedKeys = [],  # noqa: B006
    trust_engine_key: TrustEngineKey = False,
    first_export: Annotated[bool, typer.Option(
        "--first-export",
        help="There is no trusted checkpoint yet to check the head against (outside development mode, "
             "either this or --against is needed).",
    )] = False,
    by: ReadBy = None, role: ReaderRole = None, purpose: Purpose = None,
) -> None:
    """Write the auditor's bundle: verify report, a fresh signed checkpoint, register, accesses, exceptions
    (JSON, personal content withheld) and MANIFEST.json with the SHA-256 of each file, signed. The export is
    itself an access, registered first (period, who, role, purpose) and named in the manifest."""
    with reported():
        start = parse_moment(since, "--since") if since else None
        end = parse_moment(until, "--until", day_end=True) if until else None
        pinned = _pinned(trusted_key)
        cps = [_checkpoint_file(path) for path in against]
        with root() as engine:
            who_reads = reader(by, role, purpose)
            _require_trust(engine.settings.development, pinned, trust_engine_key)
            if not engine.settings.development and not cps and not first_export:
                # Signing a head nobody compared with an earlier trusted one would certify a rechained store.
                raise bad_input("give --against FILE (the last checkpoint you trust, kept away from the operator), "
                                "or --first-export when there is none yet")
            now = datetime.now(UTC)
            read = _across(engine, ReadKind.EXPORT, who_reads, now, since=start, until=end, out=str(out))
            bundle = write_bundle(engine, out, ring=checkpoint_keys(engine.settings), since=start, until=end,
                                  now=now, against=cps, pinned_keys=pinned, read=read)
    for name, entry in bundle.files.items():
        console.print(f"{name}  sha256 {entry['sha256']}")
    if bundle.verified:
        for line in bundle.trust:
            console.print(line, markup=False)
        if not cps:
            console.print("the signed head was not checked against a trusted checkpoint (pass --against FILE)",
                          markup=False)
        console.print(f"[green]verified[/green]; bundle in {out} (MANIFEST.json)")
    else:
        console.print(f"[red]TAMPERING[/red] {escape(str(bundle.problem))}; bundle in {escape(str(out))} has no "
                      "checkpoint", soft_wrap=True)
    raise typer.Exit(0 if bundle.verified else 1)


# --------------------------------------------------------------------------- the person, and the field's format

Born = Annotated[str | None, typer.Option(
    "--born", metavar="DATE", help="The person's birth date (YYYY-MM-DD), only when the record holds none: from 14 "
                                   "one reads one's own record (LRSSS s. 17); used for the age on the day, never "
                                   "recorded. Refused (facts_in_record) when the record holds a birth date "
                                   "(`audit fact --kind date_naissance`): the recorded one is used.")]


@app.command("my-register", epilog=AUDIT_EXIT_CODES)
def my_register(
    person: Annotated[str | None, typer.Option(
        "--person", metavar="SUBJECT_ID",
        help="Whose register (default: --by, you yourself): a person the record names you the parent or "
             "representative of (`audit fact P --kind autorite_parentale|representant --holder YOU`), while "
             "that standing is in force; otherwise refused (not_the_person_or_representative), nothing "
             "recorded.")] = None,
    by: ReadBy = None,
    role: Annotated[Role | None, typer.Option("--role", help="Default: usager, you (or, with --person, the "
                                                             "standing the record holds for you). representant: "
                                                             "in the person's name, on a --facts file only for a "
                                                             "record without person facts.")]
    = None,
    born: Born = None, facts: Facts = None, limit: Limit = None, as_json: AsJson = False,
) -> None:
    """« Qui a vu mon dossier ? »: every access to your record and every communication of it (who, for which
    organisation, when, which items, on which basis and article), partner reads of your cases included
    (LRSSS s. 265 with s. 18; LSSSS 27.2), or to the record of a person you are the recorded parent or
    representative of (LRSSS 23-24; LSSSS 22, whose LRSSS counterpart was not located: refused
    lrsss_counterpart_not_located after 2024-07-01). Reading it is itself an access, recorded in that register
    first; another role is refused (exit 2, nothing recorded)."""
    with root(person=True) as engine, reported():
        if (gateway := remote.through(engine)) is not None:  # the token's account is the person
            rows = gateway.get("/v1/me/register", {"person": person, "born": born})["seen"]
        else:
            day = parse_day("--born", born) if born is not None else None
            who_reads = reader(by, role or Role.USAGER, OWN_REGISTER_READERS.get(role or Role.USAGER), facts,
                               engine.principals)
            whose = person or who_reads.actor_id
            try:
                check_own_register_reader(who_reads.role)
            except NotAnOwnRegisterReader as err:
                raise refused(err.code, err.message) from None
            if not knows(engine.record, whose):
                raise not_found(f"the record holds nothing about person {whose}")
            orgs = {p.principal_id: p.org_id for p in engine.principals.list()}
            now = datetime.now(UTC)
            try:
                if role in (None, Role.USAGER):  # the person, or the standing the record holds for them
                    read = engine.reads.register_of(whose, who_reads.actor_id, now, orgs, born=day,
                                                    facts=who_reads.facts)
                else:
                    read = engine.reads.own_register(whose, who_reads.model_copy(update={"born": day}), now, orgs)
            except NotAnOwnRegisterReader as err:
                raise refused(err.code, err.message) from None
            if read.seen is None:
                raise audit_render.read_refusal(read.decision)
            rows = [s.model_dump(mode="json") for s in read.seen]
    shown, left = limited(rows, limit, as_json)
    if as_json:
        sys.stdout.write(audit_render.dumps(shown))
        return
    table = Table(title=f"Qui a vu mon dossier ({len(rows)})")
    for col in ("quand", "qui", "organisation", "quoi", "fondement", "article", "en clair"):
        table.add_column(col, overflow="fold")
    for s in shown:
        table.add_row(escape(s["at"]), escape(f"{s['who']} ({s['role']})"), escape(s["organisation"] or ""),
                      escape(", ".join(s["items"])), escape(s["basis"] or ""), escape(s["article"] or ""),
                      escape(s["summary"]))
    audit_render.console.print(table)
    print_more(audit_render.console, left)


@app.command("fhir-events", epilog=AUDIT_EXIT_CODES)
def fhir_events(
    person: Annotated[str | None, typer.Option("--person", metavar="SUBJECT_ID", help="Only about this person.")]
    = None,
    since: Since = None, until: Until = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="FILE", help="Write the Bundle here (default: "
                                                                          "standard output).")] = None,
    by: ReadBy = None, role: ReaderRole = None, purpose: Purpose = None,
) -> None:
    """Every access and communication as FHIR R4 AuditEvent resources following IHE Basic Audit Log Patterns
    (PatientRead for accesses, Query for reads across persons, Privacy Disclosure for communications), in one
    `collection` Bundle an audit repository can take. Auditors and supervisors, for an audit; the export is
    itself a read registered first (refused: exit 2, only the refusal recorded)."""
    with reported():
        start = parse_moment(since, "--since") if since else None
        end = parse_moment(until, "--until", day_end=True) if until else None
        with root(person=True) as engine:
            if (gateway := remote.through(engine)) is not None:  # in the token's role, registered there
                dates = [f"ge{start.isoformat()}"] if start else []
                dates += [f"lt{end.isoformat()}"] if end else []
                bundle = gateway.get("/fhir/AuditEvent", {"patient": person, "date": dates or None})
            else:
                who_reads = reader(by, role, purpose)
                if person is not None and not knows(engine.record, person):
                    raise not_found(f"the record holds nothing about person {person}")
                now = datetime.now(UTC)
                trail = engine.reads.audit_trail(who_reads, now, person=person, since=start, until=end)
                if not trail.read.allowed:
                    raise audit_render.record_read_refusal(trail.read)
                from adapters.fhir.auditevent import trail_bundle  # FHIR's models, ~0.5 s: this command's only

                bundle = trail_bundle(trail.decisions, trail.communications, trail.record_reads,
                                      trail.case_subjects, now).model_dump(mode="json")
    text = json.dumps(bundle, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"{len(bundle.get('entry') or [])} AuditEvent(s) in {escape(str(out))}")


# Witnessed checkpoints (issue 13, c2sp.org/tlog-witness): cli/audit_witness.py
app.add_typer(audit_witness.witness_app, name="witness")
app.command("compare")(audit_witness.compare)
app.command("publish")(audit_witness.publish)


# The record's Merkle proofs (issue 13): cli/audit_proofs.py.
app.command("log-key", epilog=audit_proofs.PROOF_EXIT_CODES)(audit_proofs.log_key)
app.command("prove", epilog=audit_proofs.PROOF_EXIT_CODES)(audit_proofs.prove)
app.command("consistency", epilog=audit_proofs.PROOF_EXIT_CODES)(audit_proofs.consistency)
