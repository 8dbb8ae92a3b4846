"""`arrimage cases …`: a supervisor follows the crisis cases of the territory and acts on them.

Reads: `list` asks Temporal's visibility for open cases (search attributes carry opaque codes
only) and the record for closed ones; `show` and `history` read the record — the legal one —
and work with the engine down (`show` adds what the workflow says when it answers).
Every read is made in a declared role (`--role` / $ARRIMAGE_ROLE, `--purpose`) and is an access:
`show` and `history` are decided and recorded in the case's person's register before anything is
shown (refused: exit 2, nothing of the case printed); a listing read from the record is registered
in the record-level reads log, and a role that may not list cases is refused (and registered) whatever
the source.
Commands go through the case's workflow (`act` update), whose validator runs the domain rule:
a command out of turn or from the wrong organisation is refused and records nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError

from adapters.temporal.errors import Unreachable
from cli import audit_render, parsing, remote, render
from cli import render_cases as rc
from cli.client import ask, root, run
from cli.display import Limit, limited, print_more
from cli.errors import EXIT_CODES_HELP, bad_input, fail, invalid, read_json, refused, reported
from cli.options import AsJson, By, Facts, Purpose, ReadBy, ReaderRole, Timeout, reader, who
from cli.render import WorkflowAnswer
from cli.templates import case_template, without_comments
from domain.audit.reads import CaseItem
from domain.audit.record_reads import ReadKind
from domain.crisis import commands as c
from domain.crisis.model import CaseCode, IntakeService, TeamRef, new_case_code
from domain.crisis.state import CaseStage, CaseView
from domain.delivery.model import SubjectKind
from domain.disclosure.model import Decision
from domain.disclosure.roles import PurposeKind
from domain.errors import DomainError
from domain.standards.config import StandardsConfig
from domain.values import MAX_COMMAND_BYTES
from usecases.audit.reads import Reader
from usecases.crisis import CrisisCases
from workers.bootstrap import Root

if TYPE_CHECKING:
    from adapters.gateway_client.client import GatewayClient

CASES_HELP = EXIT_CODES_HELP.replace("no such entente or version", "no such case").replace(
    "nothing recorded (", "nothing recorded but a refused read, which is an access (")

app = typer.Typer(
    name="cases",
    help="Crisis cases: list, show, history — and the supervisor's reassign, extend, close.",
    epilog=CASES_HELP,
    no_args_is_help=True,
)

COMMAND = TypeAdapter(c.CaseCommand)
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

case_code = parsing.code_argument(CaseCode, "CASE", "C- and 10 letters or digits 2-7 (e.g. C-ABCDEFGH23)")
CaseArg = Annotated[
    str,
    typer.Argument(metavar="CASE", callback=case_code,
                   help="Opaque code of the case, e.g. C-ABCDEFGH23 (case does not matter)."),
]
Org = Annotated[
    str | None,
    typer.Option("--org", envvar="ARRIMAGE_ORG",
                 help="Your organisation (default: $ARRIMAGE_ORG); a supervisor's must be the case's responsible one."),
]
Reason = Annotated[str, typer.Option("--reason", help="Why, for the record (no personal details).")]


def _org(org: str | None) -> str:
    if not org:
        raise bad_input("give your organisation with --org (or set ARRIMAGE_ORG)")
    return org


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------- input
def _code_option(name: str, value: str | None) -> str | None:
    if value is not None and not CODE_RE.match(value):
        raise bad_input(f"{name} {value!r}: expected a code (letters, digits, '.', '_', '-')")
    return value


def _read_json(path: Path) -> dict[str, Any]:
    # A file this large cannot hold a command within the byte budget, however it is written (each
    # character escaped takes at most 12 bytes for 4): refused before it is read.
    if path.is_file() and (size := path.stat().st_size) > 4 * MAX_COMMAND_BYTES:
        raise bad_input(f"{path} is {size:,} bytes; a case command may not exceed {MAX_COMMAND_BYTES:,} bytes "
                        f"({MAX_COMMAND_BYTES // 1024} KiB)")
    data = read_json(path)
    if not isinstance(data, dict):
        raise bad_input(f"{path}: expected a JSON object")
    return data


def _fill(data: dict[str, Any], by: str | None, org: str | None) -> dict[str, Any]:
    """`by` and `actor_org` from the options when the file does not give them."""
    out = dict(data)
    out.setdefault("by", who(by))
    if "actor_org" not in out and org:
        out["actor_org"] = org
    return out


def _done(view: CaseView, config: StandardsConfig, as_json: bool) -> None:
    if as_json:
        render.emit_json(view.model_dump(mode="json"))
    else:
        typer.echo(rc.brief(view, config, _now()))


def _give(code: str, fields: Callable[[str], dict[str, Any]], model: type[c.Command], timeout: float, as_json: bool,
          by: str | None, org: str | None) -> None:
    """A supervisor's command: `fields(acting organisation)` and who acts, from the options or (through the
    gateway) from the token."""
    names = {"deadline_id": "--deadline", "until": "--until", "reason": "--reason", "by": "--by",
             "actor_org": "--org"}
    with root(person=True) as engine:
        with reported():
            if (gateway := remote.through(engine)) is not None:
                me = remote.me(gateway)
                data = remote.body(model, fields(me.org_id), me, names)
                view = CaseView.model_validate(gateway.post(f"/v1/cases/{code}/commands", data))
            else:
                actor = _org(org)
                try:
                    cmd = model.model_validate({**fields(actor), "by": who(by), "actor_org": actor})
                except ValidationError as err:
                    raise invalid(err, names) from None
                view = run(engine.case_client.act(code, cmd, timeout))
        _done(view, engine.settings.standards(), as_json)


# ---------------------------------------------------------------------- reading
@app.command("list", epilog=CASES_HELP)
def list_(
    stage: Annotated[CaseStage | None, typer.Option("--stage", help="Only cases at this stage.")] = None,
    team: Annotated[str | None, typer.Option("--team", help="Only cases with this team (asked or on site).")] = None,
    territory: Annotated[str | None, typer.Option("--territory", help="Only cases of this territory.")] = None,
    holder: Annotated[str | None, typer.Option("--holder", help="Only cases this organisation must act on.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only cases with a deadline passed.")] = False,
    since: Annotated[str | None, typer.Option("--since", metavar="DATE", help="Only cases opened since.")] = None,
    closed: Annotated[bool, typer.Option("--closed", help="Closed cases instead (from the record).")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Open cases and closed ones.")] = False,
    without_pivot: Annotated[bool, typer.Option(
        "--without-pivot", help="Only cases with no personne pivot named (read from the record).")] = False,
    limit: Limit = None,
    as_json: AsJson = False,
    by: ReadBy = None, role: ReaderRole = None, purpose: Purpose = None,
) -> None:
    """Open cases from Temporal's visibility (filters combine); --closed / --all read closed ones from the record
    (a read registered in the record's reads log)."""
    with root(person=True) as engine:
        now = _now()
        with reported():
            if (gateway := remote.through(engine)) is not None:
                _role_purpose(purpose)
                if without_pivot:
                    raise bad_input("--without-pivot reads the record: use it on the server's CLI")
                found = gateway.get("/v1/cases", {
                    "stage": stage, "team": _code_option("--team", team),
                    "territory": _code_option("--territory", territory), "holder": _code_option("--holder", holder),
                    "overdue": overdue, "since": parsing.since(since) if since else None, "closed": closed,
                    "all": all_})
                listed = [rc.CaseRow(code=r["case_code"], stage=r["stage"], holder=r["holder"] or "",
                                     territory=r["territory"], team=r["team"] or "", next_deadline=_moment(
                                         r["next_deadline"]), overdue=r["overdue"], opened_at=_moment(r["opened_at"]),
                                     source="gateway") for r in found["cases"]]
                return _list_rows(listed, now, closed, all_, limit, as_json)
            who_reads = reader(by, role, purpose)
            for name, value in (("--team", team), ("--territory", territory), ("--holder", holder)):
                _code_option(name, value)
            moment = parsing.since(since) if since else None
            rows: list[rc.CaseRow] = []
            from_record = closed or all_  # closed cases are only in the record
            scope = {"closed": closed, "all": all_, "stage": stage, "team": team, "territory": territory,
                     "holder": holder, "overdue": overdue, "since": moment}
            if without_pivot:
                scope["without_pivot"] = True
            listing = _Listing(engine, who_reads, now, scope)
            listing.check(register=from_record or without_pivot)
            if without_pivot:
                # The personne pivot is in the record, not in visibility's search attributes: every case is read
                # there (seed 002 L349-350: the supervisor sees who has none).
                rows = [r for r in _record_rows(engine, stage, team, territory, holder, overdue, moment,
                                                open_=not closed, closed=from_record) if not r.pivot]
                return _list_rows(rows, now, closed, all_, limit, as_json)
            if not closed:
                cases = engine.case_client
                query = cases.visibility_query(stage=stage, team=team, territory=territory, holder=holder,
                                               overdue=overdue, since=moment)
                try:
                    rows += [rc.CaseRow(**vars(v), source="temporal") for v in run(cases.running(query))]
                except Unreachable:
                    # Reads work with the engine down: the record knows every open case, its stage, holder and
                    # deadlines; only the workflows' own wake-ups (reminders, escalations) are unknown.
                    typer.echo("Temporal unreachable: listed from the record; next wake-ups unknown", err=True)
                    listing.check(register=True)
                    rows += _record_rows(engine, stage, team, territory, holder, overdue, moment, open_=True,
                                         closed=False)
            if from_record:
                rows += _record_rows(engine, stage, team, territory, holder, overdue, moment, open_=False,
                                     closed=True)
    _list_rows(rows, now, closed, all_, limit, as_json)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _list_rows(rows: list[rc.CaseRow], now: datetime, closed: bool, all_: bool, limit: int | None,
               as_json: bool) -> None:
    rows.sort(key=lambda r: (r.opened_at or now, r.code))
    shown, left = limited(rows, limit, as_json)
    if as_json:
        render.emit_json([r.as_json(now) for r in shown])
    else:
        title = "Closed crisis cases" if closed else ("Crisis cases" if all_ else "Open crisis cases")
        render.console.print(rc.list_table(shown, now, title, total=len(rows)))
        print_more(render.console, left)


class _Listing:
    """The listing's one access: its role checked before anything is listed (a refusal is registered and ends
    the command), and registered once when the record is read (visibility's opaque codes are not)."""

    def __init__(self, engine: Root, who_reads: Reader, now: datetime, scope: dict[str, Any]) -> None:
        self.engine, self.reader, self.now = engine, who_reads, now
        self.scope = scope
        self.registered = False

    def check(self, *, register: bool) -> None:
        reads = self.engine.reads
        if self.registered or (not register and reads.may(ReadKind.CASE_LISTING, self.reader, self.now)):
            return
        read = reads.across(ReadKind.CASE_LISTING, self.reader, self.now, self.scope)
        self.registered = True
        if not read.allowed:
            raise audit_render.record_read_refusal(read)


def skipped_case(skipped: tuple[str, str]) -> None:
    """A case a listing or report could not read: named on stderr, the others still listed."""
    code, why = skipped
    typer.echo(f"skipped case {code}: unreadable ({why})", err=True)


def _record_rows(
    engine: Root, stage: CaseStage | None, team: str | None, territory: str | None, holder: str | None,
    overdue: bool, since: datetime | None, *, open_: bool, closed: bool,
) -> list[rc.CaseRow]:
    """The cases as the record has them (open ones, closed ones or both), with the same filters as visibility."""
    config = engine.settings.standards()
    cases: CrisisCases = engine.crisis_cases
    out = []
    # The listings view (caught up first): only the open cases are loaded unless closed ones are asked for.
    listed = cases.opened(from_view=True) if closed else cases.still_open(from_view=True)
    wanted = [(code, at) for code, at in listed if since is None or at >= since]
    for _, _, view in cases.views(wanted, skipped=skipped_case):
        is_closed = view.stage is CaseStage.CLOSED
        if (stage is not None and view.stage is not stage) or not (closed if is_closed else open_):
            continue
        row = rc.CaseRow.of(view, config)
        if (team and row.team != team) or (territory and row.territory != territory) or (
                holder and row.holder != holder) or (overdue and not row.overdue):
            continue
        out.append(row)
    return out


def _access(decision: Decision) -> dict[str, Any]:
    return {"access_id": decision.decision_id, "outcome": decision.outcome.value, "role": decision.role.value,
            "purpose": decision.purpose.value, "actor_id": decision.actor_id,
            "basis": decision.basis.code if decision.basis else decision.metadata_basis}


@app.command(epilog=CASES_HELP)
def show(
    code: CaseArg, by: ReadBy = None, role: ReaderRole = None, purpose: Purpose = None, facts: Facts = None,
    as_json: AsJson = False,
) -> None:
    """One case: stage, holder, each deadline with its time left or overrun, handoffs, escalations, what followed.
    An access to the person's record, decided and recorded in their register first."""
    with root(person=True) as engine:
        with reported():
            if (gateway := remote.through(engine)) is not None:
                _role_purpose(purpose)
                return _show_read(gateway, code, engine.settings.standards(), as_json)
            read = engine.reads.case(code, CaseItem.STATE, reader(by, role, purpose, facts, engine.principals), _now())
        if read.view is None:
            fail(audit_render.read_refusal(read.decision))
        view = read.view
        deliveries = engine.deliveries.log(SubjectKind.CASE, view.case_code)  # webhooks sent about it (issue 10)
        answer = run(ask(lambda: engine.case_client.ask(code)))
        config = engine.settings.standards()
    now = _now()
    if as_json:
        render.emit_json({
            "view": view.model_dump(mode="json"),
            "deadlines": [rc.deadline_json(d, now) for d in view.deadlines],
            "deliveries": [rc.delivery_json(m) for m in deliveries],
            "workflow": answer.as_json(),
            "access": _access(read.decision),
        })
    else:
        rc.show(view, answer, config, now, deliveries)


def _role_purpose(purpose: PurposeKind | None) -> None:
    if purpose is not None:
        raise remote.not_served("--purpose on a case read (your role's usual purpose applies)")


def _show_read(gateway: GatewayClient, code: str, config: StandardsConfig, as_json: bool) -> None:
    """`cases show` through the gateway: the case as the token's person may read it, the read registered there.
    The workflow is not asked and the webhooks sent are not listed (what the gateway answers is the record's)."""
    read = gateway.get(f"/v1/cases/{code}")
    if "responsible_org" not in read["case"]:  # a partner organisation's person: its operational view, as given
        if not as_json:
            typer.echo(f"{code}: the operational view of {read['case'].get('org_id')} (a partner of the case)")
        return render.emit_json(read if as_json else read["case"])
    view = CaseView.model_validate(read["case"])
    answer = WorkflowAnswer(False, error="not asked: read through the gateway")
    now = _now()
    if as_json:
        render.emit_json({"view": view.model_dump(mode="json"),
                          "deadlines": [rc.deadline_json(d, now) for d in view.deadlines],
                          "deliveries": [], "workflow": answer.as_json(), "access": read["access"]})
    else:
        rc.show(view, answer, config, now, [])


@app.command(epilog=CASES_HELP)
def history(
    code: CaseArg, by: ReadBy = None, role: ReaderRole = None, purpose: Purpose = None, facts: Facts = None,
    limit: Limit = None, as_json: AsJson = False,
) -> None:
    """Every event recorded for the case, in order, personal content masked. An access to the person's record,
    decided and recorded in their register first (`audit accesses` lists it)."""
    with root(person=True) as engine, reported():
        if (gateway := remote.through(engine)) is not None:
            _role_purpose(purpose)
            rows = gateway.get(f"/v1/cases/{code}/history")["events"]
        else:
            read = engine.reads.case(code, CaseItem.EVENTS, reader(by, role, purpose, facts, engine.principals), _now())
            if read.history is None:
                raise audit_render.read_refusal(read.decision)
            rows = read.history
    shown, left = limited(rows, limit, as_json)
    if as_json:
        render.emit_json(shown)
    else:
        render.console.print(rc.history_table(code, shown, total=len(rows)))
        print_more(render.console, left)


# ---------------------------------------------------------------------- writing
@app.command(epilog=CASES_HELP)
def template(
    kind: Annotated[IntakeService, typer.Option("--kind", help="Who takes the call or request.")]
    = IntakeService.INFO_SOCIAL,
) -> None:
    """Print an intake (JSON, each field explained by a `// field` comment) that `open --file` accepts as is."""
    render.emit_json(case_template(kind))


@app.command("open", epilog=CASES_HELP)
def open_(
    file: Annotated[Path, typer.Option("--file", "-f", help="Intake (JSON): the fields of an OpenCase command.")],
    by: By = None, org: Org = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """Open a case from an intake file; a fresh opaque code is made when the file gives none."""
    with root(person=True) as engine, reported():
        config = engine.settings.standards()
        if (gateway := remote.through(engine)) is not None:  # the gateway makes the code when the file gives none
            sent = remote.no_identity_in(without_comments(_read_json(file)), str(file))
            return _done(CaseView.model_validate(gateway.post("/v1/cases", sent)), config, as_json)
        data = _fill(without_comments(_read_json(file)), by, org)
        data.setdefault("case_code", new_case_code())
        try:
            cmd = c.OpenCase.model_validate(data)
        except ValidationError as err:
            raise invalid(err, whole=str(file)) from None
        try:
            # The opening's rules on the record as it stands (ententes in force, the code free), before
            # anything starts; the workflow's validator and its activity decide again on their own clock.
            engine.crisis_cases.check_opening(cmd, _now())
            view = run(engine.case_client.open(cmd, timeout))
        except DomainError as err:
            raise refused(err.code, err.message) from None
    _done(view, config, as_json)


@app.command("act", epilog=CASES_HELP)
def act_(
    code: CaseArg,
    file: Annotated[Path, typer.Option("--file", "-f", help="A case command (JSON, with its \"type\").")],
    by: By = None, org: Org = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """Give any command of the case (accept, decline, arrive, outcome, refer…) from a JSON file."""
    with root(person=True) as engine:
        with reported():
            if (gateway := remote.through(engine)) is not None:
                sent = remote.no_identity_in(_read_json(file), str(file))
                view = CaseView.model_validate(gateway.post(f"/v1/cases/{code}/commands", sent))
                return _done(view, engine.settings.standards(), as_json)
            data = _fill(_read_json(file), by, org)
            try:
                cmd = COMMAND.validate_python(data)
            except ValidationError as err:
                raise invalid(err, whole=str(file)) from None
            view = run(engine.case_client.act(code, cmd, timeout))
        _done(view, engine.settings.standards(), as_json)


@app.command(epilog=CASES_HELP)
def reassign(
    code: CaseArg,
    team: Annotated[str, typer.Option("--team", help="Team to ask now.")],
    reason: Reason,
    team_org: Annotated[str | None, typer.Option("--team-org", help="The team's organisation (default: --org).")]
    = None,
    by: By = None, org: Org = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """Supervisor: ask this team now (a team of the CSSS, or an organisation routing proposed)."""
    with reported():
        if not CODE_RE.match(team):
            raise bad_input(f"--team {team!r}: expected a code")
    _give(code, lambda actor: {"reason": reason, "team": TeamRef(team_id=team, org_id=team_org or actor)},
          c.Reassign, timeout, as_json, by, org)


@app.command("name-pivot", epilog=CASES_HELP)
def name_pivot(
    code: CaseArg,
    intervenant: Annotated[str, typer.Option("--intervenant", help="The intervenant's id (staff, not the person).")],
    pivot_org: Annotated[str | None, typer.Option(
        "--pivot-org", help="The intervenant's organisation (default: --org).")] = None,
    by: By = None, org: Org = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """Name (or change) the personne pivot who accompanies the person across handoffs (seed 002 L349-350)."""
    _give(code, lambda actor: {"intervenant_id": intervenant, "org_id": pivot_org or actor}, c.NamePivot, timeout,
          as_json, by, org)


@app.command(epilog=CASES_HELP)
def extend(
    code: CaseArg,
    deadline: Annotated[str, typer.Option("--deadline", help="Deadline id (see `cases show`).")],
    until: Annotated[str, typer.Option("--until", metavar="MOMENT", help="+90m, +2h, +1d, or a date-time.")],
    reason: Reason,
    by: By = None, org: Org = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """Supervisor: give a running deadline more time, with a reason (the report still measures the original)."""
    _give(code, lambda _: {"deadline_id": deadline, "until": parsing.later(until, _now()), "reason": reason},
          c.ExtendDeadline, timeout, as_json, by, org)


@app.command(epilog=CASES_HELP)
def close(
    code: CaseArg, reason: Reason, by: By = None, org: Org = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """Supervisor: close the case, with a reason; its running deadlines are cancelled."""
    _give(code, lambda _: {"reason": reason}, c.SupervisorClose, timeout, as_json, by, org)
