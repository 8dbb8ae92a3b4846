"""Listings at scale (issue 12): the ententes' codes, the open crisis cases, a person's consents, the disclosure
registers and the exception report of a day, by the scan of the notification log (`Ententes.codes()`,
`CrisisCases.still_open()`, `Disclosures(..., from_view=False)`) and by the listings view (`from_view=True`,
`adapters.record.listings`: a catch-up costing the events recorded since the last read, then an indexed query);
and the work that reads the lists to decide: opening a crisis case (routing lists every entente of the record and
loads each from its chained events: the codes by the scan or by the view) and deciding an access (the person's
consents).

    .venv/bin/python -m benchmarks.listings --events 1000000 [--postgres]
    .venv/bin/python -m benchmarks.listings --events 0 --ententes 0 --cases 0 --persons 0 --in-force 2000
    .venv/bin/python -m benchmarks.listings --events 1000000 --new-only   # the view's shape 6 lists only
    .venv/bin/python -m benchmarks.listings --events 1000000 --callers    # the entry points switched to the view
    .venv/bin/python -m benchmarks.listings --events 100000 --parties 20 --persons 0 --principals 0 --reads 0
                                          # shape 7: a partner's case listing, Task search, entente listing

With `--in-force N` (issue 12, load run: cases stalled with 1,800 ententes in force), N ententes are then put in
force through the use case, one CSSS (a region's record) with community organisations across `--territories`
territories, one in `--crisis-every` offering mobile crisis (the others another service), and a case opened and a
mobile team asked for in one territory: routing on every entente the view says may be in force (as before the
routing keys) beside routing on the ones narrowed to the case's CSSS and territory (as now), in the same run.

The record holds `--ententes` ententes drafted, `--cases` crisis cases opened (every other one closed) and `--persons`
persons each with a consent and a communication under it (every 7th also a refusal, every 10th an emergency
disclosure; one person an hour), `--principals` accounts, `--reads` reads across persons (each logged in the
record-level reads log and in one of 50 ententes' access logs, one an hour by one of five auditors; each crisis case
about a person of its own) through the use cases, in ten rounds, each round after a tenth of the other
events. Those other events (`--events` in
all) are copies of one recorded event of a topic the listings do not read (an entente's `SubmittedForSignature`),
each under a new aggregate id, written straight into the events table in bulk: they are not chained (this
record is not one `audit verify` passes), which costs the lists nothing and makes a record of a million events
in seconds rather than hours. Figures: the median of `--repeat` reads each.

With `--parties P` (the view's shape 7: the organisations each case and entente names), entente n is between the CSSS
and `org-{n % P}` and every open case (the even ones) is referred to `org-{n // 2 % P}`; the figures are then the three
reads of one partner organisation (`org-1`) that loaded every case or entente of the record and now load those the
view says name it: the gateway's case listing (`gateway.people._views`, before the per-case standing check), the FHIR
Task search without `_id` (`task_candidates`) and the entente listing (`GET /v1/ententes`); each time "scan" is the
read without the view (every aggregate loaded, `from_view=False`) and the answers are asserted equal.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from adapters.record import listings as lv
from adapters.record.environment import record_env
from adapters.record.record import Record
from benchmarks import summary
from benchmarks.common import postgres_available, postgres_schema, print_header, print_table, service_entente
from domain.audit.entente_reads import EntenteRead, EntenteReads, entente_reads_id
from domain.audit.record_reads import ReadKind
from domain.crisis import commands as c
from domain.crisis.model import PhoneDisposition, ReceivingService, ReceivingServiceType, ReferralChannel
from domain.disclosure import commands as dc
from domain.disclosure.model import Outcome
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes import commands as ec
from domain.ententes.model import EntenteContent, Party, ServiceCode, ServiceOffer
from domain.ententes.state import EntenteView
from domain.fhir.tasks import tasks
from domain.principals.access import case_parties
from gateway.fhir import Search, task_candidates
from tests.crisis_builders import CSSS, T0, activate, crisis_content, open_cmd, request
from tests.disclosure_builders import (
    AFTER,
    CONFIG,
    EMERGENCY_CONDITIONS,
    PARTNER,
    active_entente,
    context,
    grant,
    particulars,
)
from tests.disclosure_builders import request as access_request
from usecases.audit.reads import Reader, Reads
from usecases.audit.replays import Replays
from usecases.audit.trail import _open_cases, _open_episodes
from usecases.crisis import CrisisCases, candidate_ententes
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes
from usecases.principals import Principals

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
DAY = timedelta(days=1)


def case_code(n: int) -> str:
    out = ""
    for _ in range(10):
        out, n = ALPHABET[n % 32] + out, n // 32
    return "C-" + out


def filler(record: Record) -> tuple[str, bytes]:
    """(topic, state) of one recorded event no listing reads: an entente submitted for signature."""
    ententes = Ententes(record)
    ententes.draft(ec.DraftEntente(by="dsp", code="ENT-BENCH-FILLER", content=service_entente()), T0)
    ententes.execute("ENT-BENCH-FILLER", ec.SubmitForSignature(by="dsp"), T0)
    n = record.recorder.select_notifications(start=record.recorder.max_notification_id(), limit=1)[0]
    assert n.topic not in lv.Listings.topics
    return n.topic, n.state


def bulk_insert(record: Record, topic: str, state: bytes, count: int) -> None:
    """`count` copies of one event, each a new aggregate's version 1, in the events table, in one transaction."""
    datastore: Any = record.factory.datastore  # type: ignore[attr-defined]
    if hasattr(datastore, "schema"):  # PostgreSQL: COPY
        table = f'"{datastore.schema}"."{record.name.lower()}_events"'
        with datastore.get_connection() as conn, conn.cursor() as curs:
            with curs.copy(f"COPY {table} (originator_id, originator_version, topic, state) FROM STDIN") as copy:
                for _ in range(count):
                    copy.write_row((uuid.uuid4(), 1, topic, state))
            conn.commit()
    else:
        with datastore.transaction(commit=True) as cur:
            cur.executemany("INSERT INTO stored_events VALUES (?, 1, ?, ?)",
                            ((uuid.uuid4().hex, topic, state) for _ in range(count)))


def subject(n: int) -> str:
    return f"u-{n:06d}"


def partner_request(n: int, command_id: str) -> dc.RequestAccess:
    """The partner's request about person n, on the consent of person n."""
    return access_request(
        Role.PARTNER_ORG, PurposeKind.CONTINUITY, moment=AFTER + timedelta(hours=n), by="agent-cc",
        subject_id=subject(n), recipient_id=PARTNER, agreement_purpose="continuité de l'intervention de crise",
        items=["motif", "niveau d'urgence"], intended_use="prise en charge par l'équipe mobile",
        justification="consentement écrit", command_id=command_id)


def partner_context(n: int) -> Any:
    """The context of person n's decision, the consents left to the use case to read (`consents_for`)."""
    return context(at=AFTER + timedelta(hours=n)).model_copy(
        update={"consents": None, "ententes": [active_entente()]})


def person(app: Disclosures, n: int) -> None:
    """Person n: a consent, a communication under it; every 7th a refusal, every 10th an emergency disclosure."""
    s, at = subject(n), AFTER + timedelta(hours=n)
    app.grant_consent(grant(key=f"F-{n}", subject_id=s, grantor_id=s, at=at), at)
    app.decide_and_record(partner_request(n, f"p-{n}"), partner_context(n), at)
    if n % 7 == 0:
        app.decide_and_record(access_request(Role.USAGER, PurposeKind.SELF_ACCESS, moment=at, by=s, subject_id=s,
                                             command_id=f"r-{n}"), context(age=12, at=at), at)
    if n % 10 == 0:
        app.emergency_disclosure(dc.DiscloseInEmergency.model_validate({
            "by": "intervenant-7", "command_id": f"e-{n}", "subject_id": s, "recipient_id": PARTNER,
            "recipient_role": Role.PARTNER_ORG, "items": ["motif", "estimation du risque"],
            "attestations": EMERGENCY_CONDITIONS, "particulars": particulars(at)}), context(at=at), at)


READERS = 5  # the auditors whose reads across persons are logged, one read an hour in turn


def reader_of(n: int) -> str:
    return f"auditrice-{n % READERS}"


def logged_read(record: Record, reads: Reads, n: int) -> None:
    """Read n across persons: one in the record-level reads log (through the use case) and one in an entente's
    access log (the aggregate `Replays` records a replay of an entente in, without the replay itself)."""
    moment = AFTER + timedelta(hours=n)
    reads.across(ReadKind.ACCESS_LOG, Reader.of(reader_of(n), Role.AUDITOR), moment, {"since": AFTER})
    code = f"ENT-BENCH-{n % 50:05d}"
    log: EntenteReads = (record.repository.get(entente_reads_id(code)) if entente_reads_id(code) in record.repository
                         else EntenteReads(code=code))
    log.record(EntenteRead(read_id=f"er-{n}", code=code, actor_id=reader_of(n), role=Role.AUDITOR,
                           purpose=PurposeKind.AUDIT, moment=moment, as_of=None, version=1, outcome=Outcome.ALLOWED,
                           rule="bench", reason="audit"))
    record.save(log)


def populate(record: Record, events: int, ententes: int, cases: int, persons: int, principals: int = 0,
             reads: int = 0, partners: int = 0) -> tuple[str, bytes]:
    """The record filled; returns the filler event's (topic, state). `partners`: see `--parties`."""
    topic, state = filler(record)
    uc, cc, app = Ententes(record), CrisisCases(record), Disclosures(record, CONFIG)
    accounts, logs = Principals(record, ententes=uc), Reads(record, app, cc)
    rounds = 10
    for r in range(rounds):
        bulk_insert(record, topic, state, events // rounds)
        for n in range(r * ententes // rounds, (r + 1) * ententes // rounds):
            content = crisis_content(f"org-{n % partners}") if partners else service_entente()
            uc.draft(ec.DraftEntente(by="dsp", code=f"ENT-BENCH-{n:05d}", content=content), T0)
        for n in range(r * cases // rounds, (r + 1) * cases // rounds):
            code = case_code(n)
            # Routing is given no entente here (it would otherwise list and load every entente for each case, as
            # routing does; measured below).
            cc.open(open_cmd(code, face=False, subject=f"c-{n:06d}"), T0 + timedelta(minutes=n), ententes=[])
            if n % 2:
                cc.execute(code, c.CloseAtPhone(by="intervenant-1", actor_org=CSSS,
                                                disposition=PhoneDisposition.STABILISED, reason="crise stabilisée"),
                           T0 + timedelta(minutes=n, seconds=30))
            elif partners:
                cc.execute(code, c.StartReferral(
                    by="intervenant-1", actor_org=CSSS, subject_id=f"c-{n:06d}", channel=ReferralChannel.TELEPHONE,
                    personal={"note": "rappel"}, receiving=ReceivingService(
                        org_id=f"org-{n // 2 % partners}", service=ReceivingServiceType.CONSULTATION_SOCIALE)),
                    T0 + timedelta(minutes=n, seconds=30), ententes=[])
        for n in range(r * persons // rounds, (r + 1) * persons // rounds):
            person(app, n)
        for n in range(r * principals // rounds, (r + 1) * principals // rounds):
            accounts.add_user(f"user-{n:05d}", CSSS, Role.INTERVENANT, by="admin", at=T0)
        for n in range(r * reads // rounds, (r + 1) * reads // rounds):
            logged_read(record, logs, n)
    return topic, state


Listed = tuple[str, Callable[[], list[Any]], Callable[[], list[Any]]]  # a list's name, by the scan, by the view


def timed(fn: Callable[[], list[Any]], repeat: int) -> tuple[float, list[Any]]:
    times: list[float] = []
    out: list[Any] = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


@contextmanager
def store(postgres: bool) -> Iterator[dict[str, str]]:
    if postgres:
        with postgres_schema() as env:
            yield env
        return
    with tempfile.TemporaryDirectory(prefix="arrimage-listings-") as tmp:
        yield record_env(sqlite=Path(tmp) / "record.sqlite")


def run(events: int, ententes: int, cases: int, persons: int, repeat: int, postgres: bool, in_force: int = 0,
        territories: int = 8, crisis_every: int = 10, principals: int = 200, reads: int = 1_000,
        new_only: bool = False, callers: bool = False, parties: int = 0) -> None:
    where = "PostgreSQL" if postgres else "SQLite"
    with store(postgres) as env:
        record = Record(env)
        try:
            start = time.perf_counter()
            topic, state = populate(record, events, ententes, cases, persons, principals, reads, parties)
            built = time.perf_counter() - start
            total = record.recorder.max_notification_id()
            uc, cc = Ententes(record), CrisisCases(record)
            by_view_d, by_scan_d = Disclosures(record, CONFIG), Disclosures(record, CONFIG, from_view=False)
            someone = subject(persons // 2)
            day = AFTER + timedelta(hours=persons // 2)
            now = AFTER + timedelta(hours=persons + 48)

            # The decisions recorded above read the consents from the view, which kept it caught up: emptied here,
            # so that its first catch-up over the whole record is measured.
            built_view = lv.listings(record)
            assert built_view is not None
            built_view.view.reset(record.name)
            start = time.perf_counter()
            projection = lv.caught_up(record)
            first = time.perf_counter() - start
            assert projection is not None

            # Shape 6: the principals, the reads logged across persons of one reader in one day, a person's open
            # cases and épisodes (the erasure's check: the scan walks the `Opened` and `EpisodeClosed` events).
            accounts, logs, replays = Principals(record), Reads(record, by_view_d, cc), Replays(record)
            reader, read_day = reader_of(reads // 2), AFTER + timedelta(hours=reads // 2)
            erased = f"c-{cases // 2:06d}"
            shape6: list[Listed] = [
                ("principals", lambda: accounts.list(from_view=False), accounts.list),
                ("record-level reads of one reader, one day",
                 lambda: logs.record_reads(actor_id=reader, since=read_day, until=read_day + DAY, from_view=False),
                 lambda: logs.record_reads(actor_id=reader, since=read_day, until=read_day + DAY)),
                ("entente reads of one day",
                 lambda: replays.entente_reads(since=read_day, until=read_day + DAY, from_view=False),
                 lambda: replays.entente_reads(since=read_day, until=read_day + DAY)),
                ("a person's open cases and épisodes (erasure check)",
                 lambda: [_open_cases(record, erased, from_view=False),
                          _open_episodes(record, erased, from_view=False)],
                 lambda: [_open_cases(record, erased), _open_episodes(record, erased)]),
            ]
            rows = []
            earlier: list[Listed] = [
                ("entente codes", uc.codes, lambda: uc.codes(from_view=True)),
                ("cases still open", cc.still_open, lambda: cc.still_open(from_view=True)),
                ("cases opened", cc.opened, lambda: cc.opened(from_view=True)),
                ("consents of one person", lambda: by_scan_d.consents_for(someone),
                 lambda: by_view_d.consents_for(someone)),
                ("disclosure registers (subjects)", by_scan_d.subjects, by_view_d.subjects),
                ("exception report of one day", lambda: [by_scan_d.exceptions(now, since=day, until=day + DAY)],
                 lambda: [by_view_d.exceptions(now, since=day, until=day + DAY)]),
                ("decide an access (consents read)",
                 lambda: [by_scan_d.decide(partner_request(persons // 2, "x"), partner_context(persons // 2))],
                 lambda: [by_view_d.decide(partner_request(persons // 2, "x"), partner_context(persons // 2))]),
            ]
            for name, scan, view in (by_party(record, "org-1") if parties else entry_points(record, cases) if callers
                                     else shape6 if new_only else earlier + shape6):
                t_scan, by_scan = timed(scan, repeat)
                t_view, by_view = timed(view, repeat)
                assert by_scan == by_view, name
                rows.append((name, len(by_view), t_scan * 1000, t_view * 1000, t_scan / t_view))

            if not (new_only or callers or parties):
                # New events since the last read: the catch-up reads those only.
                bulk_insert(record, topic, state, 1_000)
                uc.draft(ec.DraftEntente(by="dsp", code="ENT-BENCH-NEW", content=service_entente()), T0)
                t_scan, by_scan = timed(uc.codes, 1)
                t_view, by_view = timed(lambda: uc.codes(from_view=True), 1)
                assert by_scan == by_view
                rows.append(("entente codes, 1,001 new events", len(by_view), t_scan * 1000, t_view * 1000,
                             t_scan / t_view))

                # Opening a crisis case: routing lists every entente and loads each from its chained events; the
                # codes by the scan (as before) or by the view (as now). Each opening a new case.
                numbers = iter(range(cases, cases + 2 * repeat))

                def opening(from_view: bool) -> list[Any]:
                    n = next(numbers)
                    given = None if from_view else uc.list()
                    return [cc.open(open_cmd(case_code(n), face=False), T0 + timedelta(minutes=n), ententes=given)]

                t_scan, _ = timed(lambda: opening(False), repeat)
                t_view, _ = timed(lambda: opening(True), repeat)
                rows.append((f"open a crisis case (routing on {len(uc.codes()):,} ententes)", 1, t_scan * 1000,
                             t_view * 1000, t_scan / t_view))
            if in_force:
                routing_in_force(record, in_force, territories, crisis_every, repeat, where)
        finally:
            record.close()

    print_header(f"Listings: scan of the notification log vs listings view ({where})", [
        f"record      {total:,} events ({ententes:,} ententes, {cases:,} cases, half closed, {persons:,} persons "
        f"with a consent and a register, {principals:,} principals, {reads:,} reads across persons logged twice; "
        f"the rest bulk copies of one event of another topic), built in "
        f"{built:.1f} s",
        f"view        built from nothing in {first:.2f} s (one catch-up over the whole record)",
        f"reads       median of {repeat}",
        *([f"parties     the ententes and the open cases' referrals spread over {parties} organisations"]
          if parties else []),
    ])
    print_table(["list", "rows", "scan ms", "view ms", "scan / view"], rows)
    for name, _count, scan_ms, view_ms, _ratio in rows:
        summary.add(summary.Row(f"listings ({where}, {total:,} events)", f"{name}: listings view", view_ms, "ms",
                                scan_ms, "scan of the log", "baseline/value", "scan ÷ view"))
    summary.add(summary.Row(f"listings ({where}, {total:,} events)", "view built from nothing", first, "s"))


def entry_points(record: Record, cases: int) -> list[Listed]:
    """The entry points that listed by the scan and now read the view (issue 12), each as it read before (the scan,
    and every case loaded where it loaded them) and as it reads now, the same answer asserted by `run`:
    `report standards` over one hour of openings (the scan's `Opened` events or the view's, then that hour's cases
    loaded), the FHIR Task search by `_id` (before: every case loaded; now: the one its Task id names) and without
    (every case loaded either way: what is left), the audit routes' person door (before: every case loaded; now:
    the person's, by the view's index on the person)."""
    cc = CrisisCases(record)
    hour = T0 + timedelta(minutes=cases // 2)
    someone, one = f"c-{cases // 2:06d}", Search.of(None, None, None, f"{case_code(cases // 2)}-h1")
    every = Search.of(None, None, None, None)

    def report(from_view: bool) -> list[Any]:
        return [v for _, _, v in cc.views(cc.opened_in(hour, hour + timedelta(hours=1), from_view=from_view),
                                          skipped=lambda _: None)]

    def search_before(wanted: Search) -> list[Any]:
        found = []
        for code, _ in cc.opened(from_view=False):
            mine = {t.task_id for t in tasks(cc.view(code)) if CSSS in (t.owner, t.requester) and wanted.matches(t)}
            if mine:
                found.append((code, mine))
        return found

    def door(listed: list[tuple[str, Any]]) -> list[Any]:
        return [code for code, _, v in cc.views(listed, skipped=lambda _: None) if v.subject_id == someone]

    return [
        ("report standards: one hour's cases, loaded", lambda: report(False), lambda: report(True)),
        ("FHIR Task search by _id", lambda: search_before(one), lambda: task_candidates(cc, CSSS, one)),
        ("FHIR Task search, no filter (every case loaded)", lambda: search_before(every),
         lambda: task_candidates(cc, CSSS, every)),
        ("audit person door (the person's cases)", lambda: door(cc.opened(from_view=False)),
         lambda: door(cc.of_person(someone))),
    ]


def by_party(record: Record, org: str) -> list[Listed]:
    """Shape 7: the three reads of one organisation that loaded every case or entente of the record, by the scan
    (every aggregate loaded, as without a view) and by the view's candidates (those that name `org`), each then
    deciding on the loaded aggregates as the entry point does."""
    cc, uc = CrisisCases(record), Ententes(record)
    every = Search.of(None, None, None, None)

    def listing(from_view: bool) -> list[Any]:
        return [code for code, _, v in cc.views(cc.naming(org, from_view=from_view), skipped=lambda _: None)
                if org in case_parties(v)]

    def mine(views: list[EntenteView]) -> list[Any]:
        return [v.code for v in views if any(x is not None and org in x.party_ids
                                             for x in (v.content, v.proposed_content))]

    return [
        (f"gateway case listing of a partner ({org})", lambda: listing(False), lambda: listing(True)),
        (f"FHIR Task search without _id ({org})", lambda: task_candidates(cc, org, every, from_view=False),
         lambda: task_candidates(cc, org, every)),
        (f"gateway entente listing of a partner ({org})", lambda: mine(uc.list()),
         lambda: mine(uc.list(from_view=True, party=org))),
    ]


def in_force_content(n: int, territories: int, crisis_every: int) -> tuple[EntenteContent, bool]:
    """Entente `n` of the region: the CSSS with organisation `org-{n % 400}` in territory `rls-{n % territories}`,
    mobile crisis for one in `crisis_every`, post-crisis follow-up for the others. Returns it and whether it may
    route a case of `rls-0`."""
    org, territory = f"org-{n % 400}", f"rls-{n % territories}"
    crisis = n % crisis_every == 0
    base = crisis_content(org, territory=territory)
    service = ServiceCode.INTERVENTION_CRISE_MOBILE if crisis else ServiceCode.SUIVI_POST_CRISE
    content = base.model_copy(update={
        "parties": [base.parties[0], Party(party_id=org, name=f"Organisme {org}", type="organisme_communautaire",
                                           territories=[territory])],
        "services": [ServiceOffer(service=service, provider=org, territories=[territory])]})
    return EntenteContent.model_validate(content.model_dump()), crisis and territory == "rls-0"


def routing_in_force(record: Record, count: int, territories: int, crisis_every: int, repeat: int,
                     where: str) -> None:
    """`count` ententes put in force, then cases opened and asked a mobile team for in `rls-0`: every candidate
    loaded (before) and the narrowed ones (now), alternating, each opening a new case."""
    uc, cc = Ententes(record), CrisisCases(record)
    start = time.perf_counter()
    matching = 0
    for n in range(count):
        content, routes = in_force_content(n, territories, crisis_every)
        activate(uc, f"ENT-FORCE-{n:05d}", content, T0 - 30 * DAY)
        matching += routes
    built = time.perf_counter() - start
    every = len(candidate_ententes(uc))
    narrowed = len(candidate_ententes(uc, parties=(CSSS,), crisis_in="rls-0"))
    numbers = iter(range(10_000_000, 10_000_000 + 4 * repeat))

    def case(narrow: bool) -> list[Any]:
        n = next(numbers)
        code = case_code(n)
        at = T0 + timedelta(minutes=n % 100_000)
        given = None if narrow else candidate_ententes(uc)  # before: every candidate, loaded for each step
        cc.open(open_cmd(code, face=True).model_copy(update={"territory": "rls-0"}), at, ententes=given)
        given = None if narrow else candidate_ententes(uc)
        return [cc.execute(code, request(), at + timedelta(minutes=1), ententes=given)]

    before: list[float] = []
    after: list[float] = []
    cpu_before: list[float] = []
    cpu_after: list[float] = []
    for _ in range(repeat):  # alternating, so that the machine's load weighs on both alike
        for narrow, times, cpus in ((False, before, cpu_before), (True, after, cpu_after)):
            wall, cpu = time.perf_counter(), time.process_time()
            case(narrow)
            times.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    b, a = statistics.median(before) * 1000, statistics.median(after) * 1000
    cb, ca = statistics.median(cpu_before) * 1000, statistics.median(cpu_after) * 1000
    print_header(f"Routing with ententes in force ({where})", [
        f"ententes    {count:,} put in force in {built:.1f} s: one CSSS, {territories} territories, one in "
        f"{crisis_every} offering mobile crisis; {matching} of them can route a case of rls-0",
        f"candidates  {every:,} may be in force (loaded before), {narrowed:,} narrowed to the case's CSSS and "
        f"territory (loaded now)",
        f"cases       open + ask for a mobile team, median of {repeat}, before and now alternating",
    ])
    label = f"open a case and ask for a mobile team ({count:,} ententes in force)"
    print_table(["figure", "before ms", "now ms", "before / now", "CPU before ms", "CPU now ms"],
                [(label, b, a, b / a, cb, ca)])
    summary.add(summary.Row(f"listings ({where}, {count:,} ententes in force)", f"{label}: narrowed candidates",
                            a, "ms", b, "every candidate", "baseline/value", "every ÷ narrowed"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="other events in the record")
    parser.add_argument("--ententes", type=int, default=500)
    parser.add_argument("--cases", type=int, default=1_000)
    parser.add_argument("--persons", type=int, default=500)
    parser.add_argument("--principals", type=int, default=200, help="accounts registered")
    parser.add_argument("--reads", type=int, default=1_000,
                        help="reads across persons logged (each in the record-level log and an entente's)")
    parser.add_argument("--new-only", action="store_true",
                        help="only the lists of the view's shape 6 (principals, reads logged, a person's open cases)")
    parser.add_argument("--callers", action="store_true",
                        help="only the entry points switched to the view (report, FHIR Task search, person door)")
    parser.add_argument("--parties", type=int, default=0, metavar="P",
                        help="only the reads of one partner among P (the view's shape 7: case listing, FHIR Task "
                             "search, entente listing); ententes and open cases spread over P organisations")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", action="store_true", help="on PostgreSQL (ARRIMAGE_BENCH_POSTGRES_*)")
    parser.add_argument("--in-force", type=int, default=0, help="ententes put in force for the routing figure")
    parser.add_argument("--territories", type=int, default=8, help="territories of the region's ententes")
    parser.add_argument("--crisis-every", type=int, default=10, help="one entente in N offers mobile crisis")
    summary.option(parser)
    args = parser.parse_args(argv)
    if args.postgres and not postgres_available():
        print("PostgreSQL not reachable: nothing run")
        return 1
    for name in ("in_force", "territories", "crisis_every", "repeat", "principals", "reads", "parties"):
        if getattr(args, name) < (0 if name in ("in_force", "principals", "reads", "parties") else 1):
            parser.error(f"invalid value for --{name.replace('_', '-')}: {getattr(args, name)}")
    run(args.events, args.ententes, args.cases, args.persons, args.repeat, args.postgres, args.in_force,
        args.territories, args.crisis_every, args.principals, args.reads, args.new_only, args.callers,
        args.parties)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
