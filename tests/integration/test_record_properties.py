"""Issue 7: what the record guarantees under any sequence of commands, well-formed or not.

Hypothesis drives random sequences of commands through the use cases (`Ententes`, `CrisisCases`,
`Disclosures`) on a real SQLite record, then a PostgreSQL one (the worker's: hash-chained, personal content sealed):
valid commands that walk an entente from draft to signature, activation, reviews, amendment and
revocation, and a crisis case from intake to handoff, intervention, follow-up and referral;
commands out of turn; malformed and extreme input (naive moments, 1999 and 2150, huge documents,
control characters, unknown parties, codes in another case). Time passes between steps, and the
calendar is advanced the way the workflows advance it (after each accepted command, and whenever
time passes), plus stale `advance` calls. After every step:

1. refused ⇒ nothing recorded. A command refused by the rules (`DomainError`) or by its command
   model (pydantic `ValidationError`) leaves the notification log exactly as it was. Any other
   exception is a failure: a refusal says why in the domain's terms.
2. accepted ⇒ exactly its events. Every new notification belongs to the commanded aggregate,
   their versions follow on from the aggregate's, their number is the change of its
   `event_count`, and the same command sent again (same command id: an activity's retry)
   succeeds and records nothing. An `advance` at the same `now`, again, records nothing.
3. no moment before its cause. A command's events carry the step's moment (`at`); the
   calendar's carry a moment no later than the `now` it was advanced to and no earlier than what
   the aggregate already holds (an entente's record never goes back in time; a case's never
   before its request arrived); the dates an entente's calendar claims (`Activated.on`,
   `AmendmentInForce.on`, `ReviewDue.due_on`) are not before the entente was drafted. Every
   event is recorded (`timestamp`) after its step began.
4. plausible content. Every moment and date recorded is aware and lies in 2000–2099
   (`domain.values`), no recorded string holds a control character, and no accepted command is
   larger than `MAX_COMMAND_BYTES`.
5. the chain verifies: `usecases.audit.trail.verify` (what `arrimage audit verify` runs) is ok.

Deterministic (`derandomize=True`, no example database); `ARRIMAGE_PROPERTY_EXAMPLES` raises the
number of sequences for a longer local run. On PostgreSQL a twelfth of them (`POSTGRES_EXAMPLES`, why there).
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from pydantic import ValidationError

from adapters.record.record import Record, event_name, event_payload
from domain.clock import local_date
from domain.crisis import commands as cc
from domain.crisis.aggregate import case_id
from domain.crisis.model import (
    InterventionOutcome,
    PhoneDisposition,
    ReceivingServiceType,
    TeamRef,
)
from domain.crisis.state import CaseStage, CaseView
from domain.disclosure import commands as dc
from domain.disclosure.consent import consent_id
from domain.disclosure.register import register_id
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes import commands as ac
from domain.ententes.aggregate import entente_id
from domain.ententes.model import Annex, EntenteKind
from domain.ententes.rules import due_now
from domain.ententes.state import EntenteStatus, EntenteView, ProposalStage, ReviewOutcome
from domain.errors import DomainError
from domain.values import EARLIEST, LATEST, MAX_COMMAND_BYTES, command_size
from tests.conftest import PostgresSchema, require_postgres
from tests.crisis_builders import (
    CSSS,
    RECEIVING,
    SUBJECT,
    TEAM,
    TEAM_2,
    accept,
    accept_referral,
    activate,
    arrive,
    crisis_content,
    decline,
    open_cmd,
    outcome,
    reached,
    referral,
    refuse_referral,
    request,
    sup,
)
from tests.disclosure_builders import context, grant
from tests.factories import entente_cadre, service_entente
from usecases.audit.trail import verify
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes

EXAMPLES = int(os.environ.get("ARRIMAGE_PROPERTY_EXAMPLES", "150"))
SETTINGS = settings(
    max_examples=EXAMPLES, stateful_step_count=30, derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    print_blob=False, report_multiple_bugs=False,
)
# PostgreSQL: a twelfth of the sequences (12 of 150), to keep CI's added time under ~25 s. A sequence costs ~4x
# as much there (a round trip per statement, a schema made and dropped per sequence), measured under load 2-3 on
# 2 cores: 16 sequences added 16-31 s, 25 added 28 s, a third (50) 76 s. The PostgreSQL run puts derandomised
# sequences through the PostgreSQL recorders (its insert function, uuid ids, bytea states, its chain rows); what
# many more sequences find lies in the rules, not in the store, and SQLite's run searches it.
POSTGRES_EXAMPLES = max(1, EXAMPLES // 12)

START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")
EARLIEST_DAY, LATEST_DAY = EARLIEST.date(), LATEST.date()


# ---------------------------------------------------------------------- inputs
def moment_input(now: datetime, spec: tuple[str, Any]) -> Any:
    """A moment as a caller might give it, relative to the machine's `now` or absolute."""
    kind, value = spec
    if kind == "rel":
        return now + value
    if kind == "naive":
        return (now + value).replace(tzinfo=None)
    if kind == "iso":
        return (now + value).astimezone(UTC).isoformat().replace("+00:00", "-05:00")
    return value  # "abs": a moment (or a string) as typed


def day_input(now: datetime, spec: tuple[str, Any]) -> Any:
    kind, value = spec
    return local_date(now) + timedelta(days=value) if kind == "rel" else value


DELTAS = [timedelta(0), timedelta(minutes=5), timedelta(hours=1), timedelta(days=1), timedelta(days=10),
          timedelta(days=45), timedelta(days=200), timedelta(days=366), -timedelta(days=1)]
moments = st.one_of(
    st.tuples(st.just("rel"), st.sampled_from(DELTAS)),
    st.tuples(st.sampled_from(["naive", "iso"]), st.sampled_from(DELTAS)),
    st.tuples(st.just("abs"), st.sampled_from([
        datetime(1999, 12, 31, 23, 0, tzinfo=UTC), datetime(2150, 1, 1, tzinfo=UTC), datetime(2150, 1, 1),
        "2026-13-45T00:00:00Z", "demain",
    ])),
)
days = st.one_of(
    st.tuples(st.just("rel"), st.sampled_from([-400, -1, 0, 1, 30, 91, 400, 800])),
    st.tuples(st.just("abs"), st.sampled_from([date(1999, 1, 1), date(2150, 1, 1), "2027-02-30"])),
)
names = st.one_of(
    st.sampled_from(["marie.tremblay", "dsp", "Julie Roy"]),
    st.sampled_from(["", "   ", "a\x1b[2Jb", "x" * 301, "é" * 300, "deux\nlignes", "\u202eevil", "nul\x00"]),
)
reasons = st.one_of(
    st.sampled_from(["désaccord sur les volumes", "réorganisation"]),
    st.sampled_from(["", "x" * 4001, "tab\tet\nligne", "bell\x07", "\u2066isolé"]),
)
OTHER_PARTIES = ["unknown-org", "CISSS-LAVAL", " cc-laval ", "cisss laval", "", "p" * 65, "cps-laval"]
parties = st.one_of(st.tuples(st.just("party"), st.integers(0, 3)), st.tuples(st.just("raw"),
                                                                                st.sampled_from(OTHER_PARTIES)))
command_ids = st.integers(0, 10**6)


def mostly(valid: list[Any], other: list[Any]) -> st.SearchStrategy[Any]:
    """A valid value three times as often as a malformed one: a command with one defect is what finds a bug."""
    return st.sampled_from(valid * (3 * max(1, len(other) // len(valid))) + other)


def huge_annexes() -> list[dict[str, str]]:
    return [Annex(title=f"Annexe {i}", text="x" * 4000).model_dump() for i in range(70)]


def content_input(now: datetime, kind: str, effective: tuple[str, Any] | None, title: str | None = None) -> Any:
    """An entente version as a JSON document (validated by the command model, not here)."""
    eff = day_input(now, effective) if effective is not None else None
    base = (entente_cadre(effective=None) if kind == "cadre" else service_entente(effective=None)).model_dump(
        mode="json")
    base["duration"]["effective_date"] = eff.isoformat() if isinstance(eff, date) else eff
    if title is not None:
        base["title"] = title
    if kind == "huge":
        base["annexes"] = huge_annexes()
    if kind == "control":
        base["title"] = "Entente \x1b[31mrouge\x1b[0m"
    if kind == "dup_parties":
        base["parties"] = [base["parties"][0], base["parties"][0]]
    if kind == "upper_party":
        base["parties"][1]["party_id"] = base["parties"][1]["party_id"].upper()
    return base


contents = st.tuples(
    st.sampled_from(["service", "service", "cadre", "huge", "control", "dup_parties", "upper_party"]),
    st.one_of(st.none(), days),
)


# ---------------------------------------------------------------------- the record and the checks
REFUSED = object()
RECORDED: Counter[str] = Counter()  # what the sequences reached, printed by each test (`pytest -s`)


class Harness:
    """A fresh record (the worker's recorders: SQLite, or a throw-away PostgreSQL schema) and the checks every
    step ends with."""

    def __init__(self, store: str = "sqlite") -> None:
        self.schema: PostgresSchema | None = None
        self.dir: str | None = None
        if store == "postgres":
            self.schema = PostgresSchema()
            self.record = Record(self.schema.env())
        else:
            # A real SQLite file; on tmpfs when there is one, so that hundreds of commits cost no disk flushes.
            shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
            self.dir = tempfile.mkdtemp(prefix="arrimage-props-", dir=shm)
            self.record = Record({"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                  "SQLITE_DBNAME": os.path.join(self.dir, "record.sqlite")})
        self.seen = self.record.recorder.max_notification_id() or 0
        self.ids = 0

    def close(self) -> None:
        self.record.close()
        if self.schema is not None:
            self.schema.drop()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def command_id(self, what: str) -> str:
        self.ids += 1
        return f"{what}-{self.ids}"

    # -- store
    def version(self, aggregate_id: UUID) -> int:
        try:
            return int(self.record.repository.get(aggregate_id).version)
        except AggregateNotFoundError:
            return 0

    def new_events(self) -> list[Any]:
        batch = self.record.recorder.select_notifications(start=self.seen + 1, limit=100_000)
        if batch:
            self.seen = batch[-1].id
        events = [self.record.mapper.to_domain_event(StoredEvent(
            originator_id=n.originator_id, originator_version=n.originator_version, topic=n.topic, state=n.state,
        )) for n in batch]
        RECORDED.update(event_name(e) for e in events)
        return events

    def assert_nothing_recorded(self, what: str, why: BaseException | None) -> None:
        new = self.new_events()
        assert not new, f"{what}: refused ({why!r}) yet recorded {[event_name(e) for e in new]}"
        assert (self.record.recorder.max_notification_id() or 0) == self.seen, what

    def assert_chain(self, what: str) -> None:
        report = verify(self.record)
        assert report.ok, f"after {what}: audit verify failed: {report.problem and report.problem.describe()}"

    # -- a command
    def command(
        self, what: str, aggregate_id: UUID, build: Callable[[], Any], run: Callable[[Any], Any], at: datetime,
    ) -> Any:
        """Build the command from raw input and run it; check properties 1–5; REFUSED if refused."""
        before = self.version(aggregate_id)
        began = datetime.now(UTC)
        try:
            cmd = build()
            result = run(cmd)
        except (DomainError, ValidationError) as refused:
            self.assert_nothing_recorded(what, refused)
            self.assert_chain(what)
            return REFUSED
        except Exception as other:
            self.assert_nothing_recorded(what, other)
            raise AssertionError(f"{what}: not a refusal (DomainError/ValidationError) but {other!r}") from other
        new = self.assert_exactly(what, aggregate_id, before, result)
        for ev in new:
            self.assert_moment(what, ev, began, lo=at, hi=at)
        self.assert_plausible(what, new)
        size = command_size(cmd.model_dump(mode="json"))
        assert size <= MAX_COMMAND_BYTES, f"{what}: accepted a command of {size:,} bytes (> {MAX_COMMAND_BYTES:,})"
        try:
            run(cmd)  # an activity's retry: same command, same id
        except Exception as err:
            raise AssertionError(f"{what}: the same command sent again fails: {err!r}") from err
        again = self.new_events()
        assert not again, f"{what}: the same command sent again recorded {[event_name(e) for e in again]}"
        self.assert_chain(what)
        return result

    def calendar(self, what: str, aggregate_id: UUID, run: Callable[[], Any], now: datetime,
                 floor: Callable[[list[Any]], tuple[datetime, date]]) -> Any:
        """`advance(now)`: what the calendar records is due by `now` and after what the aggregate holds."""
        before = self.version(aggregate_id)
        lo, first_day = floor(list(self.record.stream(aggregate_id)))
        began = datetime.now(UTC)
        try:
            result = run()
        except Exception as err:
            self.assert_nothing_recorded(what, err)
            raise AssertionError(f"{what}: advance raised {err!r}") from err
        new = self.assert_exactly(what, aggregate_id, before, result)
        for ev in new:
            self.assert_moment(what, ev, began, lo=lo, hi=now)
            lo = max(lo, ev.at) if floor is entente_floor else lo
            payload = event_payload(ev)
            for key in ("on", "due_on"):
                if key in payload:
                    day = date.fromisoformat(payload[key])
                    assert day >= first_day, (
                        f"{what}: {event_name(ev)}.{key} = {day} precedes the day the record began ({first_day})")
        self.assert_plausible(what, new)
        run()
        again = self.new_events()
        assert not again, f"{what}: advancing again to the same moment recorded {[event_name(e) for e in again]}"
        self.assert_chain(what)
        return result

    def assert_exactly(self, what: str, aggregate_id: UUID, before: int, result: Any) -> list[Any]:
        new = self.new_events()
        after = self.version(aggregate_id)
        strangers = [(event_name(e), e.originator_id) for e in new if e.originator_id != aggregate_id]
        assert not strangers, f"{what}: recorded events of other aggregates: {strangers}"
        assert [e.originator_version for e in new] == list(range(before + 1, after + 1)), (
            f"{what}: versions {[e.originator_version for e in new]}, aggregate went from v{before} to v{after}")
        count = getattr(result, "event_count", after)
        assert count == after, f"{what}: the view says {count} events, the record holds {after}"
        return new

    @staticmethod
    def assert_moment(what: str, ev: Any, began: datetime, *, lo: datetime, hi: datetime) -> None:
        name = event_name(ev)
        assert ev.timestamp >= began, f"{what}: {name} recorded at {ev.timestamp}, before its step began"
        at = getattr(ev, "at", None)
        if at is None and name == "Opened" and "subject_id" in event_payload(ev):
            return  # a disclosure register's opening claims no moment of its own: its timestamp is when
        assert isinstance(at, datetime) and at.tzinfo is not None, f"{what}: {name} has no aware moment ({at!r})"
        assert lo <= at, f"{what}: {name} at {at.isoformat()} precedes {lo.isoformat()}"
        assert at <= hi, f"{what}: {name} at {at.isoformat()} is later than the step's moment {hi.isoformat()}"

    @staticmethod
    def assert_plausible(what: str, events: list[Any]) -> None:
        for ev in events:
            for path, value in _leaves(event_payload(ev), event_name(ev)):
                if isinstance(value, datetime):
                    assert value.tzinfo is not None, f"{what}: {path} is a naive moment ({value})"
                    assert EARLIEST <= value < LATEST, f"{what}: {path} = {value.isoformat()} is not plausible"
                elif isinstance(value, date):
                    assert EARLIEST_DAY <= value < LATEST_DAY, f"{what}: {path} = {value} is not plausible"
                elif isinstance(value, str):
                    found = CONTROL.search(value)
                    assert not found, f"{what}: {path} holds control character U+{ord(found.group()):04X}"
                    if ISO_DAY.match(value):
                        try:
                            parsed: date = (datetime.fromisoformat(value) if len(value) > 10
                                            else date.fromisoformat(value))
                        except ValueError:
                            continue
                        day = parsed.date() if isinstance(parsed, datetime) else parsed
                        assert EARLIEST_DAY <= day < LATEST_DAY, f"{what}: {path} = {value} is not plausible"


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}")
    elif isinstance(value, list | tuple | set):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    elif hasattr(value, "model_dump"):
        yield from _leaves(value.model_dump(), path)
    else:
        yield path, value


def entente_floor(events: list[Any]) -> tuple[datetime, date]:
    """An entente's record never goes back in time; its dates never precede its drafting."""
    return max(e.at for e in events), local_date(events[0].at)


def case_floor(events: list[Any]) -> tuple[datetime, date]:
    """A case's moments never precede its request (its intake clocks start then)."""
    opened = events[0]
    starts = [datetime.fromisoformat(d["started_at"]) for d in event_payload(opened).get("deadlines", [])]
    first = min([opened.at, *starts])
    return first, local_date(first)


# ---------------------------------------------------------------------- the machines' shape
def command(**strategies: st.SearchStrategy[Any]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A command a caller may give, with the strategies of its raw input; `any_command` picks one."""

    def mark(method: Callable[..., None]) -> Callable[..., None]:
        method.command_args = strategies  # type: ignore[attr-defined]
        return method

    return mark


class RecordMachine(RuleBasedStateMachine):
    """Four kinds of step, valid moves drawn twice as often as the others (Hypothesis picks rules
    uniformly, and deep states need long runs of valid moves): a valid move, any command with any
    input, time passing (the calendar advanced), a stale advance."""

    store = "sqlite"
    """The store of each sequence's fresh record (`run` makes a subclass for PostgreSQL)."""

    def move(self, which: int, pick: int) -> None:
        raise NotImplementedError

    def time_passes(self, delta: timedelta) -> None:
        raise NotImplementedError

    def stale_advance(self, which: int, back: timedelta) -> None:
        raise NotImplementedError

    @rule(which=st.integers(0, 1), pick=st.integers(0, 15))
    def valid_move(self, which: int, pick: int) -> None:
        self.move(which, pick)

    @rule(which=st.integers(0, 1), pick=st.integers(0, 15))
    def another_valid_move(self, which: int, pick: int) -> None:
        self.move(which, pick)

    @rule(data=st.data())
    def any_command(self, data: st.DataObject) -> None:
        table = {name: m.command_args for name, m in inspect.getmembers(type(self))
                 if hasattr(m, "command_args")}
        name = data.draw(st.sampled_from(sorted(table)), label="command")
        getattr(self, name)(**data.draw(st.fixed_dictionaries(table[name]), label=name))

    @rule(delta=st.sampled_from(DELTAS[1:-1]))
    def time_pass(self, delta: timedelta) -> None:
        self.time_passes(delta)

    @rule(which=st.integers(0, 1), back=st.sampled_from([timedelta(minutes=1), timedelta(days=400)]))
    def stale_timer(self, which: int, back: timedelta) -> None:
        self.stale_advance(which, back)


# ---------------------------------------------------------------------- ententes
VALID_EFFECTIVE: list[tuple[str, Any] | None] = [None, ("rel", 30), None, ("rel", -30)]
ENTENTES = ["ENT-A", "ENT-B"]
entente_codes = mostly(ENTENTES, ["ent-a", " ENT-B ", "ENT\x1bA", "E" * 65, "", "ENT/A", "ENT-Z"])


class EntenteRecord(RecordMachine):
    """Ententes from draft to revocation, and every way of getting a command wrong on the way."""

    def __init__(self) -> None:
        super().__init__()
        self.h = Harness(self.store)
        self.ententes = Ententes(self.h.record)
        self.now = START

    def teardown(self) -> None:
        self.h.close()

    # -- helpers
    def _view(self, code: str) -> EntenteView | None:
        try:
            return self.ententes.view(code)
        except DomainError:
            return None

    def _party(self, code: str, spec: tuple[str, Any]) -> Any:
        kind, value = spec
        if kind == "raw":
            return value
        view = self._view(code)
        content = view.proposed_content or view.content if view else service_entente()
        ids = content.party_ids
        return ids[value % len(ids)]

    def _version(self, code: str, which: str) -> int:
        view = self._view(code)
        current = view.proposal.version if view and view.proposal else (view.latest_version if view else 1)
        return {"current": current, "previous": current - 1, "next": current + 1, "zero": 0}[which]

    def execute(self, code: str, what: str, raw: Callable[[], dict[str, Any]], model: type[ac.Command]) -> Any:
        at = self.now
        result = self.h.command(
            f"{what} {code!r} at {at.isoformat()}", entente_id(code.strip().upper()),
            lambda: model.model_validate({"command_id": self.h.command_id(what), **raw()}),
            lambda cmd: self.ententes.execute(code, cmd, at), at,
        )
        if result is not REFUSED:
            self._catch_up(code.strip().upper())
        return result

    def _catch_up(self, code: str) -> None:
        """The workflow wakes whenever something is due: so does the machine."""
        view = self._view(code)
        if view is not None and due_now(view, self.ententes.policy, self.now):
            self.advance(code, self.now)

    def advance(self, code: str, now: datetime) -> None:
        if self._view(code) is None:
            return
        self.h.calendar(f"advance {code} to {now.isoformat()}", entente_id(code),
                        lambda: self.ententes.advance(code, now), now, entente_floor)

    # -- rules
    @initialize()
    def start(self) -> None:
        self.h.assert_chain("an empty record")

    @command(code=entente_codes, text=contents, by=names)
    def draft(self, code: str, text: tuple[str, Any], by: str) -> None:
        at = self.now
        self.h.command(
            f"draft {code!r} ({text}) at {at.isoformat()}", entente_id(code.strip().upper()),
            lambda: ac.DraftEntente.model_validate({
                "by": by, "code": code, "content": content_input(at, *text), "command_id": self.h.command_id("d")}),
            lambda cmd: self.ententes.draft(cmd, at), at,
        )

    @command(code=entente_codes, text=contents, reason=st.one_of(st.none(), reasons))
    def revise(self, code: str, text: tuple[str, Any], reason: str | None) -> None:
        self.execute(code, "revise", lambda: {"by": "dsp", "reason": reason,
                                               "content": content_input(self.now, *text, title="Révisée")},
                     ac.ReviseDraft)

    @command(code=entente_codes, deadline=st.one_of(st.none(), moments))
    def submit(self, code: str, deadline: tuple[str, Any] | None) -> None:
        self.execute(code, "submit", lambda: {
            "by": "dsp", "signature_deadline": moment_input(self.now, deadline) if deadline else None},
            ac.SubmitForSignature)

    @command(code=entente_codes, party=parties, which=st.sampled_from(["current", "previous", "next", "zero"]),
          signatory=names)
    def sign(self, code: str, party: tuple[str, Any], which: str, signatory: str) -> None:
        self.execute(code, "sign", lambda: {
            "by": "dsp", "party_id": self._party(code, party), "version": self._version(code, which),
            "signatory": signatory}, ac.SignEntente)

    @command(code=entente_codes, party=parties, reason=reasons)
    def refuse(self, code: str, party: tuple[str, Any], reason: str) -> None:
        self.execute(code, "refuse", lambda: {
            "by": "dsp", "party_id": self._party(code, party), "version": self._version(code, "current"),
            "reason": reason}, ac.RefuseSignature)

    @command(code=entente_codes, party=parties, reason=reasons)
    def withdraw(self, code: str, party: tuple[str, Any], reason: str) -> None:
        self.execute(code, "withdraw", lambda: {"by": "dsp", "party_id": self._party(code, party),
                                                 "reason": reason}, ac.WithdrawFromEntente)

    @command(code=entente_codes, text=contents, reason=reasons)
    def amend(self, code: str, text: tuple[str, Any], reason: str) -> None:
        self.execute(code, "amend", lambda: {"by": "dsp", "reason": reason,
                                              "content": content_input(self.now, *text, title="Modifiée")},
                     ac.ProposeAmendment)

    @command(code=entente_codes, end=st.one_of(st.none(), days), reason=reasons)
    def renew(self, code: str, end: tuple[str, Any] | None, reason: str) -> None:
        self.execute(code, "renew", lambda: {"by": "dsp", "reason": reason,
                                              "end_date": day_input(self.now, end) if end else None},
                     ac.ProposeRenewal)

    @command(code=entente_codes, result=st.sampled_from([*ReviewOutcome, "MAINTENIR", "abolir"]),
          notes=st.one_of(st.none(), reasons))
    def review(self, code: str, result: str, notes: str | None) -> None:
        self.execute(code, "review", lambda: {"by": "comite", "outcome": result, "notes": notes}, ac.RecordReview)

    @command(code=entente_codes, party=parties, effective=days, reason=reasons)
    def revoke(self, code: str, party: tuple[str, Any], effective: tuple[str, Any], reason: str) -> None:
        self.execute(code, "revoke", lambda: {
            "by": "dsp", "party_id": self._party(code, party), "reason": reason,
            "effective_date": day_input(self.now, effective)}, ac.GiveRevocationNotice)

    def move(self, which: int, pick: int) -> None:
        """What a supervisor would do next, so that sequences reach deep states."""
        code, effective = ENTENTES[which], VALID_EFFECTIVE[pick // 4 % len(VALID_EFFECTIVE)]
        pick %= 4
        view = self._view(code)
        if view is None:
            self.draft(code, ("cadre" if pick == 3 else "service", effective), "marie.tremblay")
            return
        p = view.proposal
        if p is not None and p.stage is ProposalStage.DRAFTING:
            self.submit(code, None)
        elif p is not None and p.stage is ProposalStage.IN_SIGNATURE:
            content = view.proposed_content
            assert content is not None
            unsigned = [x for x in content.party_ids if not p.signed_by(x)]
            self.sign(code, ("raw", unsigned[pick % len(unsigned)]), "current", "D.G.")
        elif view.status is EntenteStatus.ACTIVE:
            if view.review_pending is not None or pick == 0:
                self.review(code, ReviewOutcome.MAINTAIN.value, None)
            elif pick == 1:
                self.amend(code, ("cadre" if view.kind is EntenteKind.CADRE else "service", effective),
                           "mise à jour des volumes")
            elif pick == 2:
                self.renew(code, ("rel", 800), "renouvellement")
            else:
                self.revoke(code, ("party", 0), ("rel", 400), "fin de la collaboration")
        else:
            self.time_passes(timedelta(days=1))

    def time_passes(self, delta: timedelta) -> None:
        """Timers fire: every entente is advanced to the new moment, as its workflow would be."""
        self.now += delta
        for code in ENTENTES:
            self.advance(code, self.now)

    def stale_advance(self, which: int, back: timedelta) -> None:
        """A late or replayed timer: advancing to a moment already passed records nothing out of order."""
        self.advance(ENTENTES[which], self.now - back)


# ---------------------------------------------------------------------- crisis cases
CASES = ["C-AAAAAAAAAA", "C-BBBBBBBBBB"]
case_codes = mostly(CASES, ["c-aaaaaaaaaa", "C-1", "C-AAAAAAAAA\x1b", "C-" + "A" * 64, ""])
ORGS = [CSSS, "cc-laval", "cps-laval", RECEIVING, "CISSS-LAVAL", "inconnu", "", "x" * 70]
orgs = st.sampled_from(ORGS)
TEAM_CC = TeamRef(team_id="cc-laval-mobile", org_id="cc-laval")


class CaseRecord(RecordMachine):
    """Crisis cases from intake to the next service, with an entente in force for partner routing."""

    def __init__(self) -> None:
        super().__init__()
        self.h = Harness(self.store)
        self.cases = CrisisCases(self.h.record)
        self.ententes = Ententes(self.h.record)
        self.now = START

    def teardown(self) -> None:
        self.h.close()

    def _view(self, code: str) -> CaseView | None:
        try:
            return self.cases.view(code)
        except (DomainError, ValidationError):
            return None

    def execute(self, code: str, what: str, build: Callable[[], cc.Command]) -> Any:
        at = self.now

        def with_id() -> cc.Command:
            cmd = build()
            return type(cmd).model_validate({**cmd.model_dump(), "command_id": self.h.command_id(what)})

        result = self.h.command(f"{what} {code!r} at {at.isoformat()}", case_id(code), with_id,
                                lambda cmd: self.cases.execute(code, cmd, at), at)
        if result is not REFUSED:
            self.advance(code, at)
        return result

    def raw(self, model: type[cc.Command], data: dict[str, Any]) -> Callable[[], cc.Command]:
        return lambda: model.model_validate(data)

    def advance(self, code: str, now: datetime) -> None:
        if self._view(code) is None:
            return
        self.h.calendar(f"advance {code} to {now.isoformat()}", case_id(code),
                        lambda: self.cases.advance(code, now), now, case_floor)

    @initialize()
    def entente_in_force(self) -> None:
        """cc-laval's mobile team under an entente in force, which cps-laval may refer to."""
        text = crisis_content("cc-laval", may_refer=["cps-laval"])
        activate(self.ententes, "ENT-CC", text, START - timedelta(days=2))
        self.h.new_events()
        self.h.assert_chain("the entente in force")

    @command(code=case_codes, service=mostly(["info_social", "aaor", "partenaire"], ["INFO_SOCIAL", "autre"]),
          urgency=mostly(["urgent", "immediat", "non_urgent"], ["URGENT", "extreme"]), face=st.booleans(),
          mode=st.sampled_from(["telephone", "en_personne"]), actor=mostly([CSSS, "cps-laval"], ORGS),
          received=st.one_of(st.none(), moments), first=st.one_of(st.none(), moments), awaiting=st.booleans(),
          subject=mostly([SUBJECT], ["p-1", "p 7f3a9c2e", "P-7F3A9C2E"]),
          personal=mostly([{}, {"reason": "Idées suicidaires"}], [{"reason": "\x1b[2J"}, {"Reason": "x"},
                                                                  {"reason": "x" * 4001}]))
    def open(self, code: str, service: str, urgency: str, face: bool, mode: str, actor: str,
             received: tuple[str, Any] | None, first: tuple[str, Any] | None, awaiting: bool, subject: str,
             personal: dict[str, str]) -> None:
        at = self.now
        valid = open_cmd(CASES[0]).model_dump(mode="json")

        def build() -> cc.OpenCase:
            intake = {**valid["intake"], "service": service, "urgency": urgency, "face_to_face_needed": face,
                      "request_mode": mode}
            return cc.OpenCase.model_validate({
                **valid, "case_code": code, "actor_org": actor, "intake": intake, "subject_id": subject,
                "personal": personal, "awaiting_first_contact": awaiting,
                "received_at": moment_input(at, received) if received else None,
                "first_contact_at": moment_input(at, first) if first else None,
                "command_id": self.h.command_id("open"),
            })

        spelled = code.strip().upper()  # the one spelling of a code (`domain.crisis.model`): `c-…` opens `C-…`
        result = self.h.command(f"open {code!r} at {at.isoformat()}", case_id(spelled), build,
                                lambda cmd: self.cases.open(cmd, at), at)
        if result is not REFUSED:
            self.advance(spelled, at)

    @command(code=case_codes, org=orgs)
    def first_contact(self, code: str, org: str) -> None:
        self.execute(code, "first_contact", self.raw(cc.RecordFirstContact, {"by": "i-1", "actor_org": org}))

    @command(code=case_codes, org=orgs, disposition=st.sampled_from([*PhoneDisposition, "raccroche"]),
          reason=reasons)
    def close_at_phone(self, code: str, org: str, disposition: str, reason: str) -> None:
        self.execute(code, "close_at_phone", self.raw(cc.CloseAtPhone, {
            "by": "i-1", "actor_org": org, "disposition": disposition, "reason": reason}))

    @command(code=case_codes, teams=st.sampled_from([[TEAM], [TEAM, TEAM_2], [], [TEAM_CC]]), org=orgs)
    def request_mobile(self, code: str, teams: list[TeamRef], org: str) -> None:
        self.execute(code, "request_mobile", lambda: request(teams).model_copy(update={"actor_org": org}))

    @command(code=case_codes, team=st.sampled_from([TEAM, TEAM_2, TEAM_CC]), yes=st.booleans(),
          org=st.one_of(st.none(), orgs))
    def answer(self, code: str, team: TeamRef, yes: bool, org: str | None) -> None:
        cmd: cc.Command = accept(team) if yes else decline(team)
        data = {**cmd.model_dump(), **({"actor_org": org} if org is not None else {})}
        self.execute(code, "accept" if yes else "decline", self.raw(type(cmd), data))

    @command(code=case_codes, org=orgs)
    def arrive(self, code: str, org: str) -> None:
        self.execute(code, "arrive", lambda: arrive(org))

    @command(code=case_codes, org=orgs, result=st.sampled_from([*InterventionOutcome]),
          subject=st.sampled_from([SUBJECT, "p-autre-personne"]))
    def outcome(self, code: str, org: str, result: InterventionOutcome, subject: str) -> None:
        self.execute(code, "outcome", lambda: cc.RecordOutcome.model_validate({
            **outcome().model_dump(), "actor_org": org, "outcome": result, "subject_id": subject,
            "p38_applied": result is InterventionOutcome.P38_APPLICATION}))

    @command(code=case_codes, org=orgs)
    def hand_back(self, code: str, org: str) -> None:
        self.execute(code, "hand_back", self.raw(cc.HandBack, {"by": "eq-1", "actor_org": org}))

    @command(code=case_codes, org=orgs, plan=st.sampled_from(["suivi_etroit", "SUIVI_ETROIT", "hebergement_temporaire",
                                                             "inconnu", "suivi etroit"]))
    def start_follow_up(self, code: str, org: str, plan: str) -> None:
        self.execute(code, "follow_up", self.raw(cc.StartFollowUp, {"by": "eq-1", "actor_org": org, "plan": plan}))

    @command(code=case_codes, org=orgs, number=st.integers(0, 6))
    def record_contact(self, code: str, org: str, number: int) -> None:
        self.execute(code, "contact", self.raw(cc.RecordContact, {"by": "eq-1", "actor_org": org,
                                                                  "contact_number": number}))

    @command(code=case_codes, org=orgs, service=st.sampled_from([*ReceivingServiceType]))
    def refer(self, code: str, org: str, service: ReceivingServiceType) -> None:
        self.execute(code, "refer", lambda: referral(service, org=org))

    @command(code=case_codes, yes=st.booleans(), org=orgs)
    def answer_referral(self, code: str, yes: bool, org: str) -> None:
        cmd = accept_referral() if yes else refuse_referral()
        self.execute(code, "referral_answer", self.raw(type(cmd), {**cmd.model_dump(), "actor_org": org}))

    @command(code=case_codes, org=orgs)
    def confirm_reached(self, code: str, org: str) -> None:
        self.execute(code, "reached", lambda: reached(org))

    @command(code=case_codes, org=orgs, reason=reasons)
    def close(self, code: str, org: str, reason: str) -> None:
        self.execute(code, "close", self.raw(cc.CloseCase, {"by": "eq-1", "actor_org": org, "reason": reason}))

    @command(code=case_codes, team=st.sampled_from([TEAM, TEAM_2, TEAM_CC, TeamRef(team_id="x", org_id="inconnu")]))
    def reassign(self, code: str, team: TeamRef) -> None:
        self.execute(code, "reassign", lambda: sup(cc.Reassign, team=team, reason="équipe indisponible"))

    @command(code=case_codes, pick=st.integers(0, 5), until=moments)
    def extend(self, code: str, pick: int, until: tuple[str, Any]) -> None:
        view = self._view(code)
        ids = [d.deadline_id for d in view.deadlines] if view else []
        deadline_id = ids[pick % len(ids)] if ids and pick < 5 else "inconnu"
        self.execute(code, "extend", self.raw(cc.ExtendDeadline, {
            "by": "superviseur-1", "actor_org": CSSS, "deadline_id": deadline_id,
            "until": moment_input(self.now, until), "reason": "la personne a demandé un délai"}))

    @command(code=case_codes, org=orgs)
    def supervisor_close(self, code: str, org: str) -> None:
        self.execute(code, "supervisor_close", self.raw(cc.SupervisorClose, {
            "by": "superviseur-1", "actor_org": org, "reason": "doublon"}))

    def move(self, which: int, pick: int) -> None:
        """What the people of the case would do next, so that sequences reach deep states."""
        code = CASES[which]
        pick %= 4
        view = self._view(code)
        if view is None:
            service = ["aaor", "info_social"][pick % 2]
            self.open(code, service, "urgent", True, "telephone", CSSS, None, None, pick == 3, SUBJECT,
                      {"reason": "Idées suicidaires"})
            return
        stage = view.stage
        if stage is CaseStage.INTAKE:
            if pick == 3:
                self.first_contact(code, CSSS)
            else:
                self.request_mobile(code, [TEAM, TEAM_2] if pick else [TEAM], CSSS)
        elif stage is CaseStage.HANDOFF and view.pending_attempt is not None:
            team = view.pending_attempt.candidate.team
            self.answer(code, team, pick != 0, None)
        elif stage is CaseStage.SUPERVISOR:
            self.reassign(code, TEAM_2 if pick % 2 else TEAM)
        elif stage is CaseStage.INTERVENTION:
            assert view.intervention is not None
            org = view.intervention.team.org_id
            if view.intervention.arrived_at is None:
                self.arrive(code, org)
            else:
                self.outcome(code, org, InterventionOutcome.CRISIS_RESOLVED, SUBJECT)
        elif stage is CaseStage.ORIENTATION:
            org = view.holder or CSSS
            if pick == 0:
                self.start_follow_up(code, org, "suivi_etroit")
            elif pick == 1:
                self.close(code, org, "crise résorbée")
            else:
                self.refer(code, org, ReceivingServiceType.CONSULTATION_SOCIALE)
        elif stage is CaseStage.FOLLOW_UP and view.current_follow_up is not None:
            todo = [x.number for x in view.current_follow_up.contacts if x.made_at is None]
            self.record_contact(code, view.holder or CSSS, todo[0] if todo else 1)
        elif stage is CaseStage.REFERRAL and view.current_referral is not None:
            if view.current_referral.status.value == "envoyee":
                self.answer_referral(code, pick != 0, RECEIVING)
            else:
                self.confirm_reached(code, RECEIVING)
        else:
            self.time_passes(timedelta(hours=1))

    def time_passes(self, delta: timedelta) -> None:
        self.now += delta
        for code in CASES:
            self.advance(code, self.now)
        view = self.ententes.view("ENT-CC")
        if due_now(view, self.ententes.policy, self.now):
            self.h.calendar(f"advance ENT-CC to {self.now.isoformat()}", entente_id("ENT-CC"),
                            lambda: self.ententes.advance("ENT-CC", self.now), self.now, entente_floor)

    def stale_advance(self, which: int, back: timedelta) -> None:
        self.advance(CASES[which], self.now - back)


# ---------------------------------------------------------------------- consents and the register
SUBJECT_D = "u-7f3a"  # the person of tests.disclosure_builders
KEYS = ["F-1", "F-2"]
keys = st.one_of(st.sampled_from(KEYS), st.sampled_from(["f-1", "F 1", "F-\x1b", "K" * 65]))
GRANT_VARIANTS: dict[str, dict[str, Any]] = {
    "valid": {},
    "no_purpose": {"purpose": None},
    "expired": {"valid_until": ("rel", -timedelta(days=1))},
    "naive_until": {"valid_until": ("naive", timedelta(days=30))},
    "from_1999": {"valid_from": ("abs", datetime(1999, 6, 1, tzinfo=UTC))},
    "until_2150": {"valid_until": ("abs", datetime(2150, 1, 1, tzinfo=UTC))},
    "born_2150": {"subject_birth_date": date(2150, 1, 1)},
    "control_text": {"purpose_text": "continuité\x1b[8m"},
    "not_free": {"free_and_informed": False},
    "huge_items": {"items": [f"{i:04d}" + "m" * 290 for i in range(1000)]},  # ~300 KB
}


class ConsentRecord(RecordMachine):
    """Consents granted and withdrawn, and access decisions recorded in the person's register."""

    def __init__(self) -> None:
        super().__init__()
        self.h = Harness(self.store)
        self.disclosures = Disclosures(self.h.record)
        self.now = START

    def teardown(self) -> None:
        self.h.close()

    @initialize()
    def start(self) -> None:
        self.h.assert_chain("an empty record")

    @command(key=keys, variant=st.sampled_from(sorted(GRANT_VARIANTS)))
    def grant(self, key: str, variant: str) -> None:
        at = self.now

        def build() -> dc.GrantConsent:
            extra = {k: moment_input(at, v) if isinstance(v, tuple) else v for k, v in GRANT_VARIANTS[variant].items()}
            return grant(key=key, at=at, **extra).model_copy(update={"command_id": self.h.command_id("grant")})

        self.h.command(f"grant {key!r} ({variant}) at {at.isoformat()}", consent_id(SUBJECT_D, key), build,
                       lambda cmd: self.disclosures.grant_consent(cmd, at), at)

    @command(key=keys, when=moments)
    def withdraw(self, key: str, when: tuple[str, Any]) -> None:
        at = self.now
        self.h.command(
            f"withdraw {key!r} at {at.isoformat()}", consent_id(SUBJECT_D, key),
            lambda: dc.WithdrawConsent.model_validate({
                "by": SUBJECT_D, "command_id": self.h.command_id("withdraw"), "subject_id": SUBJECT_D,
                "consent_key": key, "withdrawn_at": moment_input(at, when), "reason": "ne souhaite plus"}),
            lambda cmd: self.disclosures.withdraw_consent(cmd, at), at,
        )

    @command(role=st.sampled_from([*Role]), purpose=st.sampled_from([*PurposeKind]), moment=moments,
          items=st.sampled_from([["motif"], ["motif", "niveau d'urgence"], [], ["x\x1b"], ["m" * 301]]))
    def access(self, role: Role, purpose: PurposeKind, moment: tuple[str, Any], items: list[str]) -> None:
        at = self.now
        self.h.command(
            f"access {role.value}/{purpose.value} at {at.isoformat()}", register_id(SUBJECT_D),
            lambda: dc.RequestAccess.model_validate({
                "by": "cc-laval", "command_id": self.h.command_id("access"), "role": role, "subject_id": SUBJECT_D,
                "items": items, "purpose": purpose, "moment": moment_input(at, moment), "recipient_id": "cc-laval"}),
            lambda req: self.disclosures.decide_and_record(
                req, context(at=at).model_copy(update={"consents": None}), at),
            at,
        )

    def move(self, which: int, pick: int) -> None:
        key = KEYS[which]
        if pick % 4 == 0:
            self.grant(key, "valid")
        elif pick % 4 == 1:
            self.withdraw(key, ("rel", timedelta(0)))
        else:
            role, purpose = [(Role.PARTNER_ORG, PurposeKind.CONTINUITY), (Role.INTERVENANT, PurposeKind.CARE)][pick % 2]
            self.access(role, purpose, ("rel", timedelta(0)), ["motif"])

    def stale_advance(self, which: int, back: timedelta) -> None:
        """Consents and registers have no calendar: nothing to advance."""

    def time_passes(self, delta: timedelta) -> None:
        self.now += delta


# ---------------------------------------------------------------------- the tests
STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def run(machine: type[RecordMachine], store: str) -> None:
    examples = EXAMPLES
    if store == "postgres":
        require_postgres()
        examples = POSTGRES_EXAMPLES
        machine = type(f"{machine.__name__}OnPostgres", (machine,), {"store": "postgres"})
    RECORDED.clear()
    began = time.perf_counter()
    try:
        run_state_machine_as_test(machine, settings=settings(SETTINGS, max_examples=examples))
    finally:
        print(f"\n{machine.__name__}: {examples} sequences of up to {SETTINGS.stateful_step_count} steps in "
              f"{time.perf_counter() - began:.1f} s; recorded {dict(sorted(RECORDED.items()))}")


@pytest.mark.parametrize("store", STORES)
def test_entente_commands_keep_the_record_exact_ordered_and_verified(store: str) -> None:
    """Ententes: properties 1–5 after every step of random command sequences."""
    run(EntenteRecord, store)


@pytest.mark.parametrize("store", STORES)
def test_crisis_commands_keep_the_record_exact_ordered_and_verified(store: str) -> None:
    """Crisis cases: properties 1–5 after every step of random command sequences."""
    run(CaseRecord, store)


@pytest.mark.parametrize("store", STORES)
def test_consent_and_access_commands_keep_the_record_exact_ordered_and_verified(store: str) -> None:
    """Consents and the disclosure register: properties 1–5 after every step of random command sequences."""
    run(ConsentRecord, store)
