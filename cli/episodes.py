"""`arrimage episodes …`: the épisodes de services of the services sociaux généraux (AAOR, consultation sociale,
consultation psychologique; issue 11), opened and followed by the CSSS's own people.

Commands go through the episode's workflow (`act` update), whose validator runs the domain rule
(`domain.episodes.rules`): a command out of turn is refused with the rule's code — the 13th meeting of a
consultation without a revised PI is `refused [meeting_cap_reached]`, exit 2 — and records nothing.
Reads come from the record, the legal one, and work with the engine down: `show` and `history` are accesses to
the person's file, decided and recorded in their register first (as `cases show`); `list` reads many persons'
metadata and is registered in the record-level reads log. Nothing a person said is ever shown: the evaluation,
the PI and the PSI show as their dates and authors only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError

from cli import audit_render, parsing, remote, render
from cli import render_episodes as re_
from cli.cases import CASES_HELP, Org, _fill, _org, _read_json
from cli.client import ask, root, run
from cli.display import Limit, limited, print_more
from cli.errors import bad_input, fail, invalid, refused, reported
from cli.options import AsJson, By, Facts, Purpose, ReadBy, ReaderRole, Timeout, reader, who
from domain.audit.reads import CaseItem
from domain.episodes import commands as c
from domain.episodes.model import EpisodeCode, MeetingMode, RequestMode, ServiceKind, new_episode_code
from domain.episodes.state import EpisodeStage, EpisodeView
from domain.errors import DomainError
from domain.standards.config import StandardsConfig, UrgencyLevel
from workers.bootstrap import Root

EPISODES_HELP = CASES_HELP.replace("no such case", "no such episode")

app = typer.Typer(
    name="episodes",
    help="Épisodes de services (AAOR, consultations sociale et psychologique): open, meet, revise the PI, close; "
         "show, list, history.",
    epilog=EPISODES_HELP,
    no_args_is_help=True,
)

COMMAND = TypeAdapter(c.EpisodeCommand)
episode_code = parsing.code_argument(EpisodeCode, "EPISODE", "E- and 10 letters or digits 2-7 (e.g. E-ABCDEFGH23)")
EpisodeArg = Annotated[
    str,
    typer.Argument(metavar="EPISODE", callback=episode_code,
                   help="Opaque code of the episode, e.g. E-ABCDEFGH23 (case does not matter)."),
]
At = Annotated[str | None, typer.Option(
    "--at", metavar="MOMENT", help="When it happened (a date-time, Québec time without an offset; default: now).")]


def _now() -> datetime:
    return datetime.now(UTC)


def _at(value: str | None, option: str = "--at") -> datetime | None:
    return None if value is None else parsing.moment(value, option, example="2026-12-01T09:30")


def _done(view: EpisodeView, config: StandardsConfig, as_json: bool) -> None:
    if as_json:
        render.emit_json(view.model_dump(mode="json"))
    else:
        typer.echo(re_.brief(view, config, _now()))


def _give(code: str, fields: Callable[[], dict[str, Any]], model: type[c.Command], names: dict[str, str],
          timeout: float, as_json: bool, by: str | None, org: str | None) -> None:
    """One command of the episode, built from the options (who acts: --by/--org, or the gateway's token)."""
    names = {**names, "by": "--by", "actor_org": "--org"}
    with root(person=True) as engine:
        with reported():
            if (gateway := remote.through(engine)) is not None:
                data = remote.body(model, fields(), remote.me(gateway), names)
                view = EpisodeView.model_validate(gateway.post(f"/v1/episodes/{code}/commands", data))
            else:
                actor = _org(org)
                try:
                    cmd = model.model_validate({**fields(), "by": who(by), "actor_org": actor})
                except ValidationError as err:
                    raise invalid(err, names) from None
                view = run(engine.episode_client.act(code, cmd, timeout))
        _done(view, engine.settings.standards(), as_json)


# ---------------------------------------------------------------------- writing
@app.command("open", epilog=EPISODES_HELP)
def open_(
    service: Annotated[ServiceKind | None, typer.Option("--service", help="The service asked for.")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="The person's opaque id (never a name).")] = None,
    territory: Annotated[str | None, typer.Option("--territory", help="The territory (a code).")] = None,
    request_mode: Annotated[RequestMode | None, typer.Option("--request-mode", help="How the request came.")] = None,
    urgency: Annotated[UrgencyLevel | None, typer.Option("--urgency", help="Degree of urgency at reception.")] = None,
    team: Annotated[str | None, typer.Option("--team", help="The responsible team within the CSSS.")] = None,
    received_at: Annotated[str | None, typer.Option(
        "--received-at", metavar="MOMENT", help="When the request came (default: now); the AAOR clocks start there.")]
    = None,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="The fields of an OpenEpisode command (JSON); options given override it.")] = None,
    by: By = None, org: Org = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """Open an épisode de services for a request received by the CSSS; a fresh opaque code is made when none is
    given. `responsible_org` is your organisation (--org): a CSSS opens its own episodes."""
    with root(person=True) as engine, reported():
        config = engine.settings.standards()
        data = _read_json(file) if file is not None else {}
        given = {"service": service, "subject_id": subject, "territory": territory, "request_mode": request_mode,
                 "urgency": urgency, "team": team, "received_at": _at(received_at, "--received-at")}
        data.update({k: v for k, v in given.items() if v is not None})
        names = {"service": "--service", "subject_id": "--subject", "territory": "--territory",
                 "request_mode": "--request-mode", "urgency": "--urgency", "team": "--team",
                 "received_at": "--received-at", "by": "--by", "actor_org": "--org"}
        if (gateway := remote.through(engine)) is not None:
            sent = remote.no_identity_in(render.jsonable(data), str(file or "the options"))
            return _done(EpisodeView.model_validate(gateway.post("/v1/episodes", sent)), config, as_json)
        actor = _org(org)
        data.setdefault("by", who(by))
        data.setdefault("actor_org", actor)
        data.setdefault("responsible_org", actor)
        data.setdefault("episode_code", new_episode_code())
        try:
            cmd = c.OpenEpisode.model_validate(data)
        except ValidationError as err:
            raise invalid(err, names, whole=str(file or "(options)")) from None
        try:
            # The opening's rules on the record as it stands (the code free), before any workflow starts.
            engine.episodes.check_opening(cmd, _now())
            view = run(engine.episode_client.open(cmd, timeout))
        except DomainError as err:
            raise refused(err.code, err.message) from None
    _done(view, config, as_json)


@app.command("act", epilog=EPISODES_HELP)
def act_(
    code: EpisodeArg,
    file: Annotated[Path, typer.Option("--file", "-f", help="An episode command (JSON, with its \"type\").")],
    by: By = None, org: Org = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """Give any command of the episode from a JSON file: accept, first_contact, meeting, evaluation,
    intervention_plan, revise_plan, service_plan, follow_up, analysis, close."""
    with root(person=True) as engine:
        with reported():
            if (gateway := remote.through(engine)) is not None:
                sent = remote.no_identity_in(_read_json(file), str(file))
                view = EpisodeView.model_validate(gateway.post(f"/v1/episodes/{code}/commands", sent))
                return _done(view, engine.settings.standards(), as_json)
            data = _fill(_read_json(file), by, org)
            try:
                cmd = COMMAND.validate_python(data)
            except ValidationError as err:
                raise invalid(err, whole=str(file)) from None
            view = run(engine.episode_client.act(code, cmd, timeout))
        _done(view, engine.settings.standards(), as_json)


@app.command(epilog=EPISODES_HELP)
def accept(
    code: EpisodeArg, at: At = None,
    urgency: Annotated[UrgencyLevel | None, typer.Option("--urgency", help="Urgency as assessed now.")] = None,
    by: By = None, org: Org = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """The request is accepted: a consultation's clocks start (first contact ≤ 7 days, follow-up ≤ 30 days)."""
    _give(code, lambda: {"accepted_at": _at(at), "urgency": urgency}, c.AcceptRequest,
          {"accepted_at": "--at", "urgency": "--urgency"}, timeout, as_json, by, org)


@app.command("first-contact", epilog=EPISODES_HELP)
def first_contact(
    code: EpisodeArg, at: At = None, by: By = None, org: Org = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """The professional reached the person: the first-contact clock stops."""
    _give(code, lambda: {"at": _at(at)}, c.RecordFirstContact, {"at": "--at"}, timeout, as_json, by, org)


@app.command(epilog=EPISODES_HELP)
def meeting(
    code: EpisodeArg,
    intervenant: Annotated[str, typer.Option("--intervenant", help="Who held it (staff id, not the person).")],
    mode: Annotated[MeetingMode, typer.Option("--mode", help="How it was held.")] = MeetingMode.IN_PERSON,
    at: At = None, by: By = None, org: Org = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """A meeting held with the person; refused past the service's cap (AAOR 3, consultations 12) unless a PI
    revision granted more (`revise-plan --meetings`)."""
    _give(code, lambda: {"held_at": _at(at), "mode": mode, "intervenant_id": intervenant}, c.RecordMeeting,
          {"held_at": "--at", "mode": "--mode", "intervenant_id": "--intervenant"}, timeout, as_json, by, org)


@app.command("revise-plan", epilog=EPISODES_HELP)
def revise_plan(
    code: EpisodeArg,
    meetings: Annotated[int, typer.Option("--meetings", min=0, help="Meetings granted beyond the cap (0-12).")] = 0,
    justification: Annotated[str | None, typer.Option(
        "--justification", help="Why the intervention is prolonged (sealed with the person's key; required with "
                                "--meetings).")] = None,
    by: By = None, org: Org = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """The intervention plan (PI) revised, to prolong the intervention by --meetings (seed 001 L1424-1426)."""
    _give(code, lambda: {"additional_meetings": meetings,
                         "personal": {c.JUSTIFICATION: justification} if justification else {}},
          c.ReviseInterventionPlan, {"additional_meetings": "--meetings", "personal": "--justification"},
          timeout, as_json, by, org)


@app.command("follow-up", epilog=EPISODES_HELP)
def follow_up(
    code: EpisodeArg, at: At = None, by: By = None, org: Org = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """The professional starts the follow-up: the 30-day clock stops."""
    _give(code, lambda: {"at": _at(at)}, c.StartFollowUp, {"at": "--at"}, timeout, as_json, by, org)


@app.command(epilog=EPISODES_HELP)
def close(
    code: EpisodeArg,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (sealed with the person's key).")] = None,
    by: By = None, org: Org = None, timeout: Timeout = 30.0, as_json: AsJson = False,
) -> None:
    """Close the episode; its running clocks are cancelled."""
    _give(code, lambda: {"personal": {"reason": reason} if reason else {}}, c.CloseEpisode, {"personal": "--reason"},
          timeout, as_json, by, org)


# ---------------------------------------------------------------------- reading
def _access(read: Any) -> dict[str, Any]:
    d = read.decision
    return {"access_id": d.decision_id, "outcome": d.outcome.value, "role": d.role.value,
            "purpose": d.purpose.value, "actor_id": d.actor_id,
            "basis": d.basis.code if d.basis else d.metadata_basis}


@app.command(epilog=EPISODES_HELP)
def show(
    code: EpisodeArg, by: ReadBy = None, role: ReaderRole = None, purpose: Purpose = None, facts: Facts = None,
    as_json: AsJson = False,
) -> None:
    """One episode: service, stage, each clock with its deadline and status, meetings against the cap, the
    evaluation, PI and PSI dates (never their content). An access to the person's file, recorded first."""
    with root(person=True) as engine:
        with reported():
            if (gateway := remote.through(engine)) is not None:
                if purpose is not None:
                    raise remote.not_served("--purpose on an episode read (your role's usual purpose applies)")
                read_remote = gateway.get(f"/v1/episodes/{code}")
                view, access, answer = (EpisodeView.model_validate(read_remote["episode"]), read_remote["access"],
                                        render.WorkflowAnswer(False, error="not asked: read through the gateway"))
            else:
                who_reads = reader(by, role, purpose, facts, engine.principals)
                read = engine.episode_reads.episode(code, CaseItem.STATE, who_reads, _now())
                if read.view is None:
                    fail(audit_render.read_refusal(read.decision))
                view, access = read.view, _access(read)
                answer = run(ask(lambda: engine.episode_client.ask(code)))
        config = engine.settings.standards()
    now = _now()
    if as_json:
        render.emit_json({"view": view.model_dump(mode="json"), **re_.summary_json(view, config, now),
                          "workflow": answer.as_json(), "access": access})
    else:
        re_.show(view, answer, config, now)


@app.command(epilog=EPISODES_HELP)
def history(
    code: EpisodeArg, by: ReadBy = None, role: ReaderRole = None, purpose: Purpose = None, facts: Facts = None,
    limit: Limit = None, as_json: AsJson = False,
) -> None:
    """Every event recorded for the episode, in order, personal content masked. An access to the person's file,
    recorded in their register first."""
    with root(person=True) as engine, reported():
        if remote.through(engine) is not None:
            raise remote.not_served("`episodes history`")
        who_reads = reader(by, role, purpose, facts, engine.principals)
        read = engine.episode_reads.episode(code, CaseItem.EVENTS, who_reads, _now())
        if read.history is None:
            raise audit_render.read_refusal(read.decision)
        rows = read.history
    shown, left = limited(rows, limit, as_json)
    if as_json:
        render.emit_json(shown)
    else:
        render.console.print(re_.history_table(code, shown, total=len(rows)))
        print_more(render.console, left)


@app.command("list", epilog=EPISODES_HELP)
def list_(
    service: Annotated[ServiceKind | None, typer.Option("--service", help="Only episodes of this service.")] = None,
    stage: Annotated[EpisodeStage | None, typer.Option("--stage", help="Only episodes at this stage.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only episodes with a clock passed.")] = False,
    since: Annotated[str | None, typer.Option("--since", metavar="DATE", help="Only episodes opened since.")] = None,
    closed: Annotated[bool, typer.Option("--closed", help="Closed episodes instead.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Open episodes and closed ones.")] = False,
    limit: Limit = None, as_json: AsJson = False,
    by: ReadBy = None, role: ReaderRole = None, purpose: Purpose = None,
) -> None:
    """Episodes from the record (open ones by default; filters combine): a read across persons, registered."""
    with root(person=True) as engine:
        now = _now()
        with reported():
            if remote.through(engine) is not None:
                raise remote.not_served("`episodes list`")
            if closed and all_:  # refused before the listing is registered: bad input records nothing
                raise bad_input("--closed and --all: give one of them")
            who_reads = reader(by, role, purpose)
            moment = parsing.since(since) if since else None
            read = engine.episode_reads.listing(who_reads, now, {
                "service": service, "stage": stage, "overdue": overdue, "since": moment, "closed": closed,
                "all": all_})
            if not read.allowed:
                raise audit_render.record_read_refusal(read)
            rows = _rows(engine, service, stage, overdue, moment, closed, all_, now)
    shown, left = limited(rows, limit, as_json)
    if as_json:
        render.emit_json([r.as_json(now) for r in shown])
    else:
        title = "Closed episodes" if closed else ("Épisodes de services" if all_ else "Open episodes")
        render.console.print(re_.list_table(shown, now, title, total=len(rows)))
        print_more(render.console, left)


def skipped_episode(skipped: tuple[str, str]) -> None:
    code, why = skipped
    typer.echo(f"skipped episode {code}: unreadable ({why})", err=True)


def _rows(engine: Root, service: ServiceKind | None, stage: EpisodeStage | None, overdue: bool,
          since: datetime | None, closed: bool, all_: bool, now: datetime) -> list[re_.EpisodeRow]:
    config = engine.settings.standards()
    episodes = engine.episodes
    # The listings view (caught up first): only the open episodes are listed and loaded unless closed ones are asked.
    listed = episodes.opened(from_view=True) if closed or all_ else episodes.still_open(from_view=True)
    wanted = [(code, at) for code, at in listed if since is None or at >= since]
    out = []
    for _, _, view in episodes.views(wanted, skipped=skipped_episode):
        is_closed = view.stage is EpisodeStage.CLOSED
        if not (all_ or (closed if is_closed else not closed)):
            continue
        row = re_.EpisodeRow.of(view, config, now)
        if (service and view.service is not service) or (stage and view.stage is not stage) or (
                overdue and not row.overdue):
            continue
        out.append(row)
    return out
