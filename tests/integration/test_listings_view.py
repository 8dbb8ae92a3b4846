"""The listings as materialised views (issue 12, « reads that stay fast at scale »): the ententes' codes and the
crisis cases opened / still open, kept by an eventsourcing `Projection` whose rows are written with their
tracking record in one transaction (`adapters.record.listings`). Each list from the view equals the scan of the
notification log on a populated store; the view catches up with events recorded while no reader ran (another
process, a restart); no event is counted twice, even by two readers catching up from the same position.
SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.projection import ProjectionRunner

from adapters.record import listings as lv
from adapters.record.environment import record_env
from adapters.record.record import Record
from domain.crisis import commands as c
from domain.crisis.model import PhoneDisposition
from domain.ententes import commands as ec
from domain.episodes import commands as ep
from domain.episodes.model import RequestMode, ServiceKind
from tests.conftest import PostgresSchema, require_postgres
from tests.crisis_builders import CSSS, T0, crisis_content, open_cmd
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes
from usecases.episodes import ServiceEpisodes


def _code(n: int) -> str:
    """A case code (base32, as the engine makes them) for number n."""
    alphabet, out = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ""
    for _ in range(10):
        out, n = alphabet[n % 32] + out, n // 32
    return "C-" + out


def _populate(record: Record, start: int, count: int) -> list[str]:
    """`count` ententes drafted, `count` cases opened, every other case closed at the phone, and `count` épisodes
    de services opened, every third one closed."""
    ententes, cases, episodes = Ententes(record), CrisisCases(record), ServiceEpisodes(record)
    codes = []
    for n in range(start, start + count):
        episode = "E-" + _code(n)[2:]
        episodes.open(ep.OpenEpisode(by="accueil-1", actor_org=CSSS, command_id=f"o-{n}", episode_code=episode,
                                     service=ServiceKind.CONSULTATION_SOCIALE, subject_id=f"subj-{n:04d}-abcd",
                                     territory="laval", responsible_org=CSSS, request_mode=RequestMode.PHONE,
                                     personal={"request": "deuil"}), T0 + timedelta(minutes=n))
        if n % 3 == 0:
            episodes.execute(episode, ep.CloseEpisode(by="ts-1", actor_org=CSSS, command_id=f"x-{n}"),
                             T0 + timedelta(minutes=n, seconds=20))
        ententes.draft(ec.DraftEntente(by="dsp", code=f"ENT-LAV-2027-{n:02d}", content=crisis_content()), T0)
        code = _code(n)
        codes.append(code)
        # Routing given no ententes: it would otherwise catch the view up (`CrisisCases._ententes`), and these
        # tests need a writer that leaves the view behind, as any other command does.
        cases.open(open_cmd(code, face=False), T0 + timedelta(minutes=n), ententes=[])
        if n % 2:
            cases.execute(code, c.CloseAtPhone(by="intervenant-1", actor_org=CSSS,
                                               disposition=PhoneDisposition.STABILISED, reason="crise stabilisée"),
                          T0 + timedelta(minutes=n, seconds=30))
    return codes


def _same_as_the_scan(record: Record) -> None:
    ententes, cases = Ententes(record), CrisisCases(record)
    assert ententes.codes(from_view=True) == ententes.codes()
    assert cases.opened(from_view=True) == cases.opened()
    assert cases.still_open(from_view=True) == cases.still_open()
    episodes = ServiceEpisodes(record)
    assert episodes.opened(from_view=True) == episodes.opened()
    assert episodes.still_open(from_view=True) == episodes.still_open()


def test_the_view_equals_the_scan_and_catches_up_after_a_restart(store_env: dict[str, str]) -> None:
    record = Record(store_env)
    try:
        codes = _populate(record, 1, 6)
        _same_as_the_scan(record)
        assert [code for code, _ in CrisisCases(record).still_open(from_view=True)] == codes[1::2]
        assert len(Ententes(record).codes(from_view=True)) == 6
    finally:
        record.close()

    # Another process records while no reader of the view runs (the worker, the CLI between two reads).
    writer = Record(store_env)
    try:
        _populate(writer, 7, 4)
    finally:
        writer.close()

    # A reader started afterwards (a restart) catches up with those events only, from its tracked position.
    reader = Record(store_env)
    try:
        projection = lv.listings(reader)
        assert projection is not None
        before = projection.view.max_tracking_id(reader.name)
        head = reader.recorder.max_notification_id() or 0
        assert before is not None and before < head
        processed = lv.catch_up(reader, projection)
        assert processed == 4 + 4 + 2 + 4 + 1  # Drafted, Opened, CaseClosed, episode Opened (n=7..10), closed (9)
        assert projection.view.max_tracking_id(reader.name) == head
        assert lv.catch_up(reader, projection) == 0  # nothing new: nothing read again
        _same_as_the_scan(reader)
        assert len(Ententes(reader).codes(from_view=True)) == 10
        assert [code for code, _ in CrisisCases(reader).still_open(from_view=True)] == [
            _code(n) for n in range(2, 11, 2)]
    finally:
        reader.close()


def test_no_event_is_counted_twice(store_env: dict[str, str]) -> None:
    """Tracking: an event already in the view is refused with its row (one transaction); two readers of one
    store, each with its own view object, catching up alternately, leave each row once."""
    first, second = Record(store_env), Record(store_env)
    try:
        _populate(first, 1, 3)
        one, two = lv.listings(first), lv.listings(second)
        assert one is not None and two is not None
        lv.catch_up(first, one)
        drafted = first.recorder.select_notifications(start=1, limit=1, topics=lv.Listings.topics)[0]
        # The same event again, at its own position: the tracking record refuses it, and its row is not written.
        with pytest.raises(IntegrityError):
            one.view.entente_drafted("ENT-DOUBLE", Tracking(first.name, drafted.id))
        assert "ENT-DOUBLE" not in one.view.entente_codes()

        _populate(second, 4, 2)
        assert lv.catch_up(second, two) == 2 + 2 + 1 + 2 + 0  # n=4, 5: no episode closed
        assert lv.catch_up(first, one) == 0  # the other reader's tracking is this one's: nothing processed twice
        _same_as_the_scan(first)
        _same_as_the_scan(second)
        assert len(one.view.entente_codes()) == len(set(one.view.entente_codes())) == 5
    finally:
        first.close()
        second.close()


@pytest.mark.postgres
def test_the_library_projection_runner_keeps_the_same_view_on_postgresql() -> None:
    """The same `Listings` projection under eventsourcing's own `ProjectionRunner` (a subscription to the record:
    LISTEN/NOTIFY on PostgreSQL; the library's SQLite recorder has none, hence the catch-up before each read),
    as a long-running process would keep it: the view follows the record, and a read then catches up nothing."""
    require_postgres()
    schema = PostgresSchema()
    store_env = schema.env()
    record = Record(store_env)
    try:
        assert lv.listings(record) is not None  # the view's tables and shape marker, as the first read makes them
        with ProjectionRunner(application_class=Record, projection_class=lv.Listings,
                              view_class=lv.PostgresListings, env=store_env) as runner:
            _populate(record, 1, 4)
            head = record.recorder.max_notification_id()
            runner.wait(head, timeout=10)
            projection = lv.listings(record)
            assert projection is not None
            assert projection.view.entente_codes() == Ententes(record).codes()
            assert projection.view.cases(open_only=True) == CrisisCases(record).still_open()
            assert lv.catch_up(record, projection) == 0
    finally:
        record.close()
        schema.drop()


def test_a_view_ahead_of_its_record_is_rebuilt(store_env: dict[str, str]) -> None:
    """A view whose position is past the record's head (the record restored from an older backup without its view)
    lists nothing the record does not hold: it is rebuilt from nothing at the next read."""
    record = Record(store_env)
    try:
        _populate(record, 1, 2)
        projection = lv.caught_up(record)
        assert projection is not None
        head = record.recorder.max_notification_id() or 0
        projection.view.entente_drafted("ENT-GONE-2027-01", Tracking(record.name, head + 50))
        assert "ENT-GONE-2027-01" in projection.view.entente_codes()
        assert lv.catch_up(record, projection) == 2 + 2 + 1 + 2 + 0
        assert projection.view.max_tracking_id(record.name) == head
        _same_as_the_scan(record)
    finally:
        record.close()


def test_readers_catching_up_at_once_process_each_event_once(store_env: dict[str, str]) -> None:
    """Four readers (each its own `Record`, as four processes) catch up the same new events at the same moment,
    in pages of 3: every event is processed by exactly one committed page (the others' pages conflict on the
    tracking record, are rolled back and start again further on), and the view equals the scan."""
    readers = [Record(store_env) for _ in range(4)]
    try:
        _populate(readers[0], 1, 8)
        expected = 8 + 8 + 4 + 8 + 2  # Drafted, Opened, CaseClosed, episode Opened, EpisodeClosed (n=3, 6)
        projections = [lv.listings(r) for r in readers]
        results: list[int] = []
        barrier = threading.Barrier(len(readers))

        def read(record: Record, projection: lv.Listings | None) -> None:
            assert projection is not None
            barrier.wait()
            results.append(lv.catch_up(record, projection, page=3))

        threads = [threading.Thread(target=read, args=pair) for pair in zip(readers, projections, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 4 and sum(results) == expected
        _same_as_the_scan(readers[0])
        assert len(Ententes(readers[0]).codes(from_view=True)) == 8
    finally:
        for r in readers:
            r.close()


def test_a_record_the_reader_cannot_write_is_listed_by_the_scan(tmp_path: Path) -> None:
    """A read-only record (a SQLite file opened `mode=ro`, as a copy kept for an inquiry; a database user without
    CREATE): the view cannot be made, and the list is read by the scan, the same as before the views existed."""
    path = tmp_path / "record.sqlite"
    writer = Record(record_env(sqlite=path))
    try:
        _populate(writer, 1, 2)
    finally:
        writer.close()
    env = {**record_env(sqlite=path), "SQLITE_DBNAME": f"file:{path}?mode=ro", "CREATE_TABLE": "n"}
    reader = Record(env)
    try:
        assert lv.caught_up(reader) is None
        assert Ententes(reader).codes(from_view=True) == Ententes(reader).codes() == [
            "ENT-LAV-2027-01", "ENT-LAV-2027-02"]
        assert CrisisCases(reader).still_open(from_view=True) == CrisisCases(reader).still_open()
    finally:
        reader.close()
