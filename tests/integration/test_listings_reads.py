"""The listings view's shape 6 (issue 12, « reads that stay fast at scale »): the principals, the reads logged across
persons (the record-level reads log and the ententes' access log, by reader and moment) and each person's open
cases and épisodes (the erasure's check) are indexed queries on the view (`adapters.record.listings`), no longer
walks of the notification log. Over a record with several kinds of events, on SQLite and PostgreSQL, every answer
from the view equals the scan's (`from_view=False`), after a restart too, and a view built at shape 5 (before
these listings) is rebuilt at its next read to the same answers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking
from psycopg.sql import SQL, Identifier

from adapters.record import listings as lv
from adapters.record.record import Record
from domain.audit.entente_reads import EntenteRead, EntenteReads, entente_reads_id
from domain.audit.record_reads import ReadKind, RecordReadEntry
from domain.crisis import commands as c
from domain.crisis.model import PhoneDisposition
from domain.disclosure.model import Outcome
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes import commands as ec
from domain.episodes import commands as ep
from domain.episodes.model import RequestMode, ServiceKind
from domain.principals.model import PrincipalKind
from tests.crisis_builders import CSSS, T0, crisis_content, open_cmd
from usecases.audit.reads import Reader, Reads
from usecases.audit.replays import Replays
from usecases.audit.trail import _open_cases, _open_episodes
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes
from usecases.episodes import ServiceEpisodes
from usecases.principals import Principals

EAST = timezone(timedelta(hours=-5))  # some moments given with an offset: the view orders them as instants
ACTORS = ("auditrice-1", "auditrice-2", "dpo-1")
SUBJECTS = tuple(f"p-{n:02d}-abcdef" for n in range(4))


def _code(n: int) -> str:
    """Ten base32 characters (as the engine makes its codes) for number n."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "AAAAAAAA" + alphabet[n // 32 % 32] + alphabet[n % 32]


def _populate(record: Record, start: int, count: int) -> None:
    """For each n: an entente drafted, a principal added (partner or user), a crisis case and an épisode opened
    for person n % 4 (every other case closed at the phone, every third épisode closed), a record-level read and an
    entente read by one of three readers at moments that go back and forth (some equal, some with an offset)."""
    ententes, cases, episodes = Ententes(record), CrisisCases(record), ServiceEpisodes(record)
    principals = Principals(record, ententes=ententes)
    disclosures = Disclosures(record)
    reads = Reads(record, disclosures, cases)
    for n in range(start, start + count):
        subject = SUBJECTS[n % 4]
        ententes.draft(ec.DraftEntente(by="dsp", code=f"ENT-LAV-2027-{n:02d}", content=crisis_content()), T0)
        if n % 2:
            principals.add_partner(f"org-{n}", f"Organisme {n}", by="admin", at=T0)
        else:
            principals.add_user(f"user-{n}", CSSS, Role.INTERVENANT, by="admin", at=T0)
        code = f"C-{_code(n)}"
        cases.open(open_cmd(code, face=False, subject=subject), T0 + timedelta(minutes=n), ententes=[])
        if n % 2:
            cases.execute(code, c.CloseAtPhone(by="intervenant-1", actor_org=CSSS,
                                               disposition=PhoneDisposition.STABILISED, reason="crise stabilisée"),
                          T0 + timedelta(minutes=n, seconds=30))
        episode = f"E-{_code(n)}"
        episodes.open(ep.OpenEpisode(by="accueil-1", actor_org=CSSS, command_id=f"o-{n}", episode_code=episode,
                                     service=ServiceKind.CONSULTATION_SOCIALE, subject_id=subject, territory="laval",
                                     responsible_org=CSSS, request_mode=RequestMode.PHONE,
                                     personal={"request": "deuil"}), T0 + timedelta(minutes=n))
        if n % 3 == 0:
            episodes.execute(episode, ep.CloseEpisode(by="ts-1", actor_org=CSSS, command_id=f"x-{n}"),
                             T0 + timedelta(minutes=n, seconds=20))
        actor = ACTORS[n % 3]
        # Moments back and forth (n % 5 hours, n // 5 days), every fourth one in another offset: same instant.
        moment = T0 + timedelta(days=n // 5, hours=n % 5)
        reads.across(ReadKind.ACCESS_LOG, Reader.of(actor, Role.AUDITOR), moment.astimezone(EAST) if n % 4 == 0
                     else moment, {"since": T0})
        log_code = f"ENT-LAV-2027-{n % 3:02d}"
        try:
            log: EntenteReads = record.repository.get(entente_reads_id(log_code))
        except AggregateNotFoundError:  # the first read of this entente: its log opens
            log = EntenteReads(code=log_code)
        log.record(EntenteRead(read_id=f"r-{n}", code=log_code, actor_id=actor, role=Role.AUDITOR,
                               purpose=PurposeKind.AUDIT, moment=moment, as_of=None, version=1,
                               outcome=Outcome.ALLOWED, rule="rule", reason="audit"))
        record.save(log)


PERIODS: list[tuple[datetime | None, datetime | None]] = [
    (None, None), (T0 + timedelta(days=1), None), (None, T0 + timedelta(days=1, hours=2)),
    (T0 + timedelta(hours=2), T0 + timedelta(days=2, hours=3)),
    ((T0 + timedelta(hours=1)).astimezone(EAST), T0 + timedelta(hours=3)),
]


def _same_as_the_scan(record: Record) -> dict[str, Any]:
    """Every new listing from the view and from the scan, asserted equal; the view's answers returned."""
    principals = Principals(record)
    reads = Reads(record, Disclosures(record), CrisisCases(record))
    replays = Replays(record)
    answers: dict[str, Any] = {}
    for kind in (None, *PrincipalKind):
        answers[f"principals {kind}"] = principals.list(kind)
        assert answers[f"principals {kind}"] == principals.list(kind, from_view=False)
    for actor in (None, *ACTORS, "nobody"):
        for since, until in PERIODS:
            view = reads.record_reads(actor_id=actor, since=since, until=until)
            assert view == reads.record_reads(actor_id=actor, since=since, until=until, from_view=False)
            answers[f"record {actor} {since} {until}"] = view
            view_e = replays.entente_reads(actor_id=actor, since=since, until=until)
            assert view_e == replays.entente_reads(actor_id=actor, since=since, until=until, from_view=False)
            answers[f"entente {actor} {since} {until}"] = view_e
    for subject in (*SUBJECTS, "p-nobody"):
        answers[f"cases {subject}"] = _open_cases(record, subject)
        assert answers[f"cases {subject}"] == _open_cases(record, subject, from_view=False)
        answers[f"episodes {subject}"] = _open_episodes(record, subject)
        assert answers[f"episodes {subject}"] == _open_episodes(record, subject, from_view=False)
    return answers


def test_the_new_listings_from_the_view_equal_the_scan(store_env: dict[str, str]) -> None:
    record = Record(store_env)
    try:
        _populate(record, 1, 9)
        answers = _same_as_the_scan(record)
        assert len(answers["principals None"]) == 9
        assert len(answers["record None None None"]) == 9
        assert len(answers["entente None None None"]) == 9
        assert answers["cases p-02-abcdef"] == [f"C-{_code(2)}", f"C-{_code(6)}"]  # 2, 6 open; none closed of 4k+2
        assert answers["episodes p-03-abcdef"] == [f"E-{_code(7)}"]  # 3 closed, 7 open
        moments = [r.moment for r in answers["record None None None"]]
        assert moments == sorted(moments) and len({m.utcoffset() for m in moments}) == 2
        assert {r.actor_id for r in answers[f"record {ACTORS[0]} None None"]} == {ACTORS[0]}
    finally:
        record.close()

    # Another process records while nobody reads the view; a reader started afterwards catches up with those only.
    writer = Record(store_env)
    try:
        _populate(writer, 10, 4)
    finally:
        writer.close()
    reader = Record(store_env)
    try:
        answers = _same_as_the_scan(reader)
        assert len(answers["principals None"]) == 13
        assert len(answers["entente None None None"]) == 13
    finally:
        reader.close()


def _back_to_shape_5(view: lv.ListingsView) -> None:
    """The view as a shape-5 engine left it: none of shape 6's tables, its marker at 5 (rows and position kept)."""
    if isinstance(view, lv.PostgresListings):
        with view.datastore.transaction(commit=True) as curs:
            for table in ("subject_cases", "principals", "reads"):
                curs.execute(SQL("DROP TABLE {0}").format(view.tables[table]))
            curs.execute(SQL("DELETE FROM {0}.{1} WHERE application_name = %s").format(
                Identifier(view.datastore.schema), Identifier(view.tracking_table_name)), (lv.VERSION_KEY,))
    else:
        assert isinstance(view, lv.SQLiteListings)
        with view.datastore.transaction(commit=True) as cur:
            for table in ("listing_subject_cases", "listing_principals", "listing_reads"):
                cur.execute(f"DROP TABLE {table}")
            cur.execute("DELETE FROM tracking WHERE application_name = ?", (lv.VERSION_KEY,))
    view.insert_tracking(Tracking(lv.VERSION_KEY, 5))


def test_a_view_of_shape_5_is_rebuilt_to_the_same_answers(store_env: dict[str, str]) -> None:
    record = Record(store_env)
    try:
        _populate(record, 1, 8)
        before = _same_as_the_scan(record)
        projection = lv.caught_up(record)
        assert projection is not None
        head = projection.view.max_tracking_id(record.name)
        _back_to_shape_5(projection.view)
    finally:
        record.close()

    # An engine of shape 6 starting on that store: the tables are made, the view rebuilt from nothing at its first
    # read, and every listing (the old ones too) answers as before.
    upgraded = Record(store_env)
    try:
        _populate(upgraded, 9, 2)  # recorded before the first read: caught up in the same rebuild
        projection = lv.listings(upgraded)
        assert projection is not None
        assert projection.view.max_tracking_id(lv.VERSION_KEY) == lv.VERSION >= 6
        assert (projection.view.max_tracking_id(upgraded.name) or 0) == 0  # reset: rebuilt at the next catch-up
        after = _same_as_the_scan(upgraded)
        assert projection.view.max_tracking_id(upgraded.name) == upgraded.recorder.max_notification_id()
        assert (head or 0) < (upgraded.recorder.max_notification_id() or 0)
        assert {k: v for k, v in after.items() if k.startswith("cases")} != {}
        assert len(after["principals None"]) == len(before["principals None"]) + 2
        cases, ententes = CrisisCases(upgraded), Ententes(upgraded)
        assert cases.still_open(from_view=True) == cases.still_open()
        assert ententes.codes(from_view=True) == ententes.codes()
        assert Disclosures(upgraded).subjects() == Disclosures(upgraded, from_view=False).subjects()
    finally:
        upgraded.close()


def test_the_new_rows_hold_no_personal_content(store_env: dict[str, str]) -> None:
    """Ids, kinds and moments only: the principals' names and the cases' reasons stay in the events."""
    record = Record(store_env)
    try:
        _populate(record, 1, 3)
        projection = lv.caught_up(record)
        assert projection is not None
        view = projection.view
        if isinstance(view, lv.PostgresListings):
            with view.datastore.get_connection() as conn, conn.cursor() as curs:
                rows = [row for t in ("subject_cases", "principals", "reads")
                        for row in curs.execute(SQL("SELECT * FROM {0}").format(view.tables[t])).fetchall()]
        else:
            assert isinstance(view, lv.SQLiteListings)
            rows = []
            with view.datastore.transaction(commit=False) as cur:
                for t in ("listing_subject_cases", "listing_principals", "listing_reads"):
                    cur.execute(f"SELECT * FROM {t}")
                    rows += [tuple(row) for row in cur.fetchall()]
        text = repr(rows)
        assert len(rows) == 2 * 3 + 3 + 2 * 3  # 3 cases and 3 épisodes (3 persons), 3 principals, 3 + 3 reads
        assert "Organisme" not in text and "Idees suicidaires" not in text and "deuil" not in text
    finally:
        record.close()


def test_a_logged_read_without_its_reader_or_moment_is_left_out_and_the_rest_still_lists(
        store_env: dict[str, str]) -> None:
    """A read event whose content was altered under the record (no moment, an unreadable one): `catch_up` leaves
    it out as any unreadable row (`audit verify` names it) instead of failing every listing."""
    record = Record(store_env)
    try:
        _populate(record, 1, 2)
        projection = lv.caught_up(record)
        assert projection is not None
        registered = RecordReadEntry.Registered  # type: ignore[attr-defined]
        for read in ({"actor_id": "x"}, {"actor_id": "x", "moment": "not a moment"}, None):
            event = registered(originator_id=uuid4(), originator_version=1, timestamp=T0,
                               originator_topic="domain.audit.record_reads:RecordReadEntry", read_id="x", read=read)
            with pytest.raises(AttributeError):
                projection.process_event(event, Tracking(record.name, 10_000))
        assert Principals(record).list() == Principals(record).list(from_view=False)
    finally:
        record.close()
