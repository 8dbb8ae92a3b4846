"""The listings view beyond codes (issue 12, « reads that stay fast at scale »): a crisis case's routing takes the
ententes' codes from the view, and each person's consents, the disclosure registers and their entries by kind and
moment are kept there too (`adapters.record.listings`), so that `Disclosures.consents_for`, `subjects`, `accesses`,
`communications`, `pending_reviews` and `exceptions` cost an indexed query and the registers concerned, not a scan
of the notification log. Every answer from the view equals the scan's, on SQLite and PostgreSQL, after a restart
too (a new `Record` on the same store catches up each new event exactly once), for a person whose key is destroyed
too; and the view's tables hold no personal content. Decisions are still made on the aggregates loaded from their
chained events."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from adapters.record import listings as lv
from adapters.record.environment import record_env
from adapters.record.record import Record
from domain.disclosure import commands as dc
from domain.disclosure.roles import PurposeKind, Role
from tests.crisis_builders import T0, activate, open_cmd, request
from tests.crisis_builders import crisis_content as content
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
from usecases.audit.trail import shred
from usecases.crisis import CrisisCases
from usecases.disclosure import Disclosures
from usecases.ententes import Ententes

# Personal content the populated record holds (sealed in the events): none of it may be in the view's tables.
PERSONAL = ("formulaire AH-216", "prise en charge par l'équipe mobile", "plan précis et moyens", "consentement écrit",
            "la personne elle-même", "idées suicidaires")


def _subject(n: int) -> str:
    return f"u-{n:04d}"


def _populate(record: Record, start: int, count: int, *, from_view: bool = True) -> None:
    """For each person n: one consent (two for odd n), a communication to the partner under consent, a refusal (n
    divisible by 3), an emergency disclosure (n divisible by 4), each on day n after `AFTER`; the consent of n = 5
    withdrawn late, effective before its use (an exception). `from_view=False`: a writer that never reads the
    view (its decisions read the consents by the scan)."""
    app = Disclosures(record, CONFIG, from_view=from_view)
    for n in range(start, start + count):
        s, at = _subject(n), AFTER + timedelta(days=n)
        app.grant_consent(grant(key=f"F-{n}", subject_id=s, grantor_id=s, at=at), at - timedelta(days=5))
        if n % 2:
            app.grant_consent(grant(key=f"G-{n}", subject_id=s, grantor_id=s, at=at), at)
        ctx = context(at=at, consents=None).model_copy(update={"consents": None, "ententes": [active_entente()]})
        app.decide_and_record(access_request(
            Role.PARTNER_ORG, PurposeKind.CONTINUITY, moment=at, by="agent-cc", subject_id=s, recipient_id=PARTNER,
            agreement_purpose="continuité de l'intervention de crise", items=["motif", "niveau d'urgence"],
            intended_use="prise en charge par l'équipe mobile", justification="consentement écrit",
            command_id=f"p-{n}"), ctx, at)
        if n % 3 == 0:
            app.decide_and_record(access_request(Role.USAGER, PurposeKind.SELF_ACCESS, moment=at, by=s, subject_id=s,
                                                 command_id=f"r-{n}"), context(age=12, at=at), at)
        if n % 4 == 0:
            app.emergency_disclosure(dc.DiscloseInEmergency.model_validate({
                "by": "intervenant-7", "command_id": f"e-{n}", "subject_id": s, "recipient_id": PARTNER,
                "recipient_role": Role.PARTNER_ORG, "items": ["motif", "estimation du risque"],
                "attestations": EMERGENCY_CONDITIONS, "particulars": particulars(at)}), context(at=at), at)
        if n == 5:
            app.withdraw_consent(dc.WithdrawConsent(by=s, subject_id=s, consent_key="F-5",
                                                    withdrawn_at=at - timedelta(days=1)), at + timedelta(days=1))


PERIODS: list[tuple[datetime | None, datetime | None]] = [
    (None, None), (AFTER + timedelta(days=3), None), (None, AFTER + timedelta(days=5)),
    (AFTER + timedelta(days=4), AFTER + timedelta(days=8)),
    (AFTER + timedelta(days=4, hours=1), AFTER + timedelta(days=5)),
]


def _same_as_the_scan(record: Record, extra: tuple[str, ...] = ()) -> None:
    view, scan = Disclosures(record, CONFIG), Disclosures(record, CONFIG, from_view=False)
    subjects = scan.subjects()
    assert view.subjects() == subjects
    for s in (*subjects, *extra, "u-nobody"):
        assert view.consents_for(s) == scan.consents_for(s)
    now = AFTER + timedelta(days=30)
    for since, until in PERIODS:
        assert view.accesses(since=since, until=until) == scan.accesses(since=since, until=until)
        assert view.exceptions(now, since=since, until=until) == scan.exceptions(now, since=since, until=until)
    assert view.accesses(actor_id="agent-cc") == scan.accesses(actor_id="agent-cc")
    assert view.communications() == scan.communications()
    assert view.pending_reviews() == scan.pending_reviews()


def _listing_rows(env: dict[str, str]) -> list[Any]:
    """Every row of every listing table of the store (read straight from the database)."""
    if env["PERSISTENCE_MODULE"] == "adapters.record.postgres":
        with psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], dbname=env["POSTGRES_DBNAME"],
                             user=env["POSTGRES_USER"]) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE "
                "'%%listings%%'", (env["POSTGRES_SCHEMA"],)).fetchall()]
            return [row for t in tables
                    for row in conn.execute(f'SELECT * FROM "{env["POSTGRES_SCHEMA"]}"."{t}"').fetchall()]
    with sqlite3.connect(env["SQLITE_DBNAME"]) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND (name LIKE 'listing_%' OR name = 'tracking')")]
        return [row for t in tables for row in conn.execute(f"SELECT * FROM {t}").fetchall()]


def test_consents_registers_and_exceptions_from_the_view_equal_the_scan(store_env: dict[str, str]) -> None:
    record = Record(store_env)
    try:
        _populate(record, 1, 8)
        _same_as_the_scan(record)
        app = Disclosures(record, CONFIG)
        assert [c.consent_key for c in app.consents_for(_subject(3))] == ["F-3", "G-3"]
        assert app.exceptions(AFTER + timedelta(days=30)).expired_consent_uses == ["p-5"]
        # A period loads only the registers with an entry in it: here the persons of days 4 and 5 of 8.
        assert app._holding(("access", "emergency", "refusal"), AFTER + timedelta(days=4),
                            AFTER + timedelta(days=6)) == [_subject(4), _subject(5)]
        rows = repr(_listing_rows(store_env))
        assert _subject(8) in rows and not [p for p in PERSONAL if p in rows]
    finally:
        record.close()

    # Another process records while no reader of the view runs (its decisions read the consents by the scan).
    writer = Record(store_env)
    try:
        _populate(writer, 9, 4, from_view=False)
    finally:
        writer.close()

    # A reader started afterwards catches up with those events only, each once.
    reader = Record(store_env)
    try:
        projection = lv.listings(reader)
        assert projection is not None
        before = projection.view.max_tracking_id(reader.name) or 0
        head = reader.recorder.max_notification_id() or 0
        new = reader.recorder.select_notifications(start=before + 1, limit=10_000, stop=head,
                                                   topics=lv.Listings.topics)
        assert len(new) > 4 * 3
        assert lv.catch_up(reader, projection) == len(new)
        assert lv.catch_up(reader, projection) == 0
        _same_as_the_scan(reader)
        assert Disclosures(reader, CONFIG).subjects() == [_subject(n) for n in range(1, 13)]
    finally:
        reader.close()


def test_a_shredded_person_is_still_listed_without_content(store_env: dict[str, str]) -> None:
    """After a person's key is destroyed, the view still lists their consents and register (ids, keys, moments),
    equal to the scan; what the aggregates loaded from the record show of them has no content."""
    record = Record(store_env)
    try:
        _populate(record, 1, 4)
        Disclosures(record, CONFIG).subjects()  # the view caught up before the erasure
        shred(record, _subject(2), by="dpo-1", reason="demande d'effacement", now=AFTER + timedelta(days=40))
        _populate(record, 5, 1)
        _same_as_the_scan(record)
        app = Disclosures(record, CONFIG)
        assert _subject(2) in app.subjects()
        (consent,) = app.consents_for(_subject(2))
        assert consent.consent_key == "F-2"
        # The consent aggregate, loaded from its chained events: its sealed part no longer opens.
        assert "formulaire AH-216" not in repr(app._consent(_subject(2), "F-2").personal)
        assert app._consent(_subject(1), "F-1").personal["document_ref"] == "formulaire AH-216"
        assert not [p for p in PERSONAL if p in repr(_listing_rows(store_env))]
    finally:
        record.close()


def _routing(case: Any) -> Any:
    """What routing decided for a case: its view without its code, ids and moments of recording."""
    return case.model_dump(mode="json", exclude={"case_code", "case_id", "event_count"})


def test_routing_takes_the_ententes_from_the_view_and_decides_on_the_chained_aggregates(
    store_env: dict[str, str],
) -> None:
    """Opening a case and asking for a mobile team route on the ententes of the record: their codes from the view
    (caught up first), each entente loaded from its chained events; the case is the one the scan's list makes. An
    entente put in force by another process while no reader ran is routed on at the next opening (a restart)."""
    record = Record(store_env)
    try:
        ententes = Ententes(record)
        activate(ententes, "ENT-AUTRE", content("cc-autre"))
        cases = CrisisCases(record)
        assert cases._ententes(None) == ententes.list()
        by_view = cases.open(open_cmd("C-VIEWAAAAAA", face=True, command_id="o-v"), T0)
        by_scan = cases.open(open_cmd("C-SCANAAAAAA", face=True, command_id="o-s"), T0, ententes=ententes.list())
        assert _routing(by_view) == _routing(by_scan)
    finally:
        record.close()

    writer = Record(store_env)
    try:
        activate(Ententes(writer), "ENT-CC", content("cc-laval", may_refer=["cps-laval"]))
    finally:
        writer.close()

    reader = Record(store_env)
    try:
        ententes, cases = Ententes(reader), CrisisCases(reader)
        scan = ententes.list()
        assert [e.code for e in scan] == ["ENT-AUTRE", "ENT-CC"]
        for code, given in (("C-VIEWBBBBBB", None), ("C-SCANBBBBBB", scan)):
            cases.open(open_cmd(code, face=True, command_id=f"o-{code}"), T0, ententes=given)
        # A mobile team asked for: routing reads the ententes (the view, or the scan's list given).
        by_view = cases.execute("C-VIEWBBBBBB", request(), T0 + timedelta(minutes=5))
        by_scan = cases.execute("C-SCANBBBBBB", request(), T0 + timedelta(minutes=5), ententes=scan)
        assert _routing(by_view) == _routing(by_scan)
        assert "cc-laval" in repr(_routing(by_view))
        projection = lv.listings(reader)
        assert projection is not None
        assert projection.view.max_tracking_id(reader.name) is not None
        assert projection.view.entente_codes() == ["ENT-AUTRE", "ENT-CC"]
    finally:
        reader.close()


def test_a_record_the_reader_cannot_write_lists_consents_and_registers_by_the_scan(tmp_path: Path) -> None:
    """A read-only record (a SQLite file opened `mode=ro`): the view cannot be made, the lists and the decisions'
    consents are read by the scan, the same as from a writable copy's view."""
    path = tmp_path / "record.sqlite"
    writer = Record(record_env(sqlite=path))
    try:
        _populate(writer, 1, 4, from_view=False)  # no view made in the file
        expected = Disclosures(writer, CONFIG, from_view=False).exceptions(AFTER + timedelta(days=30))
    finally:
        writer.close()
    reader = Record({**record_env(sqlite=path), "SQLITE_DBNAME": f"file:{path}?mode=ro", "CREATE_TABLE": "n"})
    try:
        app = Disclosures(reader, CONFIG)
        assert app._listings() is None
        assert app.subjects() == [_subject(n) for n in range(1, 5)]
        assert [c.consent_key for c in app.consents_for(_subject(3))] == ["F-3", "G-3"]
        assert app.exceptions(AFTER + timedelta(days=30)) == expected
    finally:
        reader.close()
