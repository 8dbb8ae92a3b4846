"""Routing's candidates from the listings view (issue 12, « reads that stay fast at scale »): the view keeps, per
entente, whether it may be in force (activated, its end not recorded: `Activated`, `Revoked`, `Expired`), never
from a date, and routing (`CrisisCases._ententes`) and a partner's standing load only those from their chained
events (`usecases.crisis.candidate_ententes`). Routing on them equals routing on every entente of the record (the
scan's list) over an entente's life (drafted, signed, activated, revoked, expired, amended, a revocation or an end
date reached but not yet recorded), after another process changes an entente (the view catches up), after a
restart (each event once), and after a view of the shape before rebuilt. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from adapters.record import listings as lv
from adapters.record.record import Record
from domain.clock import local_date
from domain.ententes import commands as ec
from domain.ententes.state import EntenteStatus
from tests.crisis_builders import CSSS, T0, activate, crisis_content, open_cmd, request
from usecases.crisis import CrisisCases, candidate_ententes
from usecases.ententes import Ententes

DAY = timedelta(days=1)
START = T0 - 60 * DAY  # the ententes are put in force then; routing runs at T0 and 10 days later


def _routing(case: Any) -> Any:
    """What routing decided for a case: its view without its code, ids and moments of recording."""
    return case.model_dump(mode="json", exclude={"case_code", "case_id", "event_count"})


def _sign(ententes: Ententes, code: str, version: int, at: datetime) -> None:
    ententes.execute(code, ec.SubmitForSignature(by="dsp", command_id=f"{code}/submit/{version}"), at)
    for party in ententes.view(code).proposed_content.party_ids:  # type: ignore[union-attr]
        ententes.execute(
            code,
            ec.SignEntente(
                by=party, party_id=party, version=version, signatory="D.G.", command_id=f"{code}/sign/{version}/{party}"
            ),
            at,
        )


def _revoke(ententes: Ententes, code: str, effective: date, at: datetime) -> None:
    ententes.execute(
        code,
        ec.GiveRevocationNotice(
            by="dsp", party_id=CSSS, reason="fin du projet", effective_date=effective, command_id=f"{code}/revoke"
        ),
        at,
    )


def _lifecycle(record: Record) -> None:
    """Ententes at every stage of their life, each offering mobile crisis in Laval through its own provider."""
    ententes = Ententes(record)
    ententes.draft(ec.DraftEntente(by="dsp", code="ENT-DRAFT", content=crisis_content("cc-draft")), START)
    ententes.draft(ec.DraftEntente(by="dsp", code="ENT-SIGNED", content=crisis_content("cc-signed")), START)
    _sign(ententes, "ENT-SIGNED", 1, START)  # every party signed, the calendar not yet woken: not in force
    activate(ententes, "ENT-ACTIVE", crisis_content("cc-active"), START)
    activate(ententes, "ENT-REVOKED", crisis_content("cc-revoked", notice_days=0), START)
    _revoke(ententes, "ENT-REVOKED", local_date(START + 5 * DAY), START + DAY)
    assert ententes.advance("ENT-REVOKED", START + 6 * DAY).status is EntenteStatus.REVOKED
    # Revoked from T0 + 2 days, the revocation not recorded yet: a candidate that the domain refuses from then.
    activate(ententes, "ENT-NOTICED", crisis_content("cc-noticed", notice_days=0), START)
    _revoke(ententes, "ENT-NOTICED", local_date(T0 + 2 * DAY), START + DAY)
    activate(ententes, "ENT-EXPIRED", crisis_content("cc-expired", end=local_date(START + 10 * DAY)), START)
    assert ententes.advance("ENT-EXPIRED", START + 20 * DAY).status is EntenteStatus.EXPIRED
    # Its end date reached at T0 + 5 days, the expiry not recorded: the same.
    activate(ententes, "ENT-ENDING", crisis_content("cc-ending", end=local_date(T0 + 4 * DAY)), START)
    # Amended: version 2 (another provider) in force; and an amendment proposed, not signed (version 1 routes).
    activate(ententes, "ENT-AMENDED", crisis_content("cc-amended-1"), START)
    ententes.execute(
        "ENT-AMENDED",
        ec.ProposeAmendment(
            by="dsp", content=crisis_content("cc-amended-2"), reason="autre organisme", command_id="ENT-AMENDED/amend"
        ),
        START + DAY,
    )
    _sign(ententes, "ENT-AMENDED", 2, START + DAY)
    assert ententes.advance("ENT-AMENDED", START + 2 * DAY).in_force_version == 2
    activate(ententes, "ENT-PROPOSED", crisis_content("cc-proposed-1"), START)
    ententes.execute(
        "ENT-PROPOSED",
        ec.ProposeAmendment(
            by="dsp", content=crisis_content("cc-proposed-2"), reason="autre organisme", command_id="ENT-PROPOSED/amend"
        ),
        START + DAY,
    )


def _routes_as_the_scan(record: Record, label: str, moment: datetime) -> Any:
    """A case opened and a mobile team asked for at `moment`, routed on the view's candidates and on the scan's
    list: the same decision. Returns it."""
    ententes, cases = Ententes(record), CrisisCases(record)
    scan = ententes.list()
    view_code, scan_code = f"C-V{label}", f"C-S{label}"
    by_view = cases.open(open_cmd(view_code, face=True, command_id=f"o-{view_code}"), moment)
    by_scan = cases.open(open_cmd(scan_code, face=True, command_id=f"o-{scan_code}"), moment, ententes=scan)
    assert _routing(by_view) == _routing(by_scan)
    by_view = cases.execute(view_code, request(), moment + timedelta(minutes=5))
    by_scan = cases.execute(scan_code, request(), moment + timedelta(minutes=5), ententes=scan)
    assert _routing(by_view) == _routing(by_scan)
    # The candidates: exactly the ententes the record says are active, whatever their dates say.
    assert [e.code for e in candidate_ententes(ententes)] == [e.code for e in scan if e.status is EntenteStatus.ACTIVE]
    return _routing(by_view)


def _asked(routing: Any) -> set[str]:
    return {c["team"]["org_id"] for c in routing["candidates"]}


def test_routing_on_the_candidates_equals_routing_on_every_entente(store_env: dict[str, str]) -> None:
    record = Record(store_env)
    try:
        _lifecycle(record)
        projection = lv.caught_up(record)
        assert projection is not None
        assert projection.view.entente_candidates() == [
            "ENT-ACTIVE",
            "ENT-NOTICED",
            "ENT-ENDING",
            "ENT-AMENDED",
            "ENT-PROPOSED",
        ]
        now = _routes_as_the_scan(record, "AAAAAAAAA", T0)
        assert {"cc-active", "cc-noticed", "cc-ending", "cc-amended-2", "cc-proposed-1"} <= _asked(now)
        assert not {"cc-draft", "cc-signed", "cc-revoked", "cc-expired", "cc-amended-1"} & _asked(now)
        # Ten days on: the revocation's effective date and the end date passed, neither recorded; the view still
        # holds them as candidates, and the domain, reading the dates of the loaded aggregates, routes to neither.
        later = _routes_as_the_scan(record, "BBBBBBBBB", T0 + 10 * DAY)
        assert not {"cc-noticed", "cc-ending"} & _asked(later) and "cc-active" in _asked(later)
        assert "ENT-NOTICED" in projection.view.entente_candidates()
    finally:
        record.close()


def test_another_process_and_a_restart(store_env: dict[str, str]) -> None:
    """A reader open while another process (its own `Record`) records the ends and an activation routes on them
    at its next decision; a reader started afterwards catches up each event once; a view of the shape before
    (its marker older, its lifecycle rows missing) is rebuilt."""
    reader = Record(store_env)
    try:
        _lifecycle(reader)
        _routes_as_the_scan(reader, "AAAAAAAAA", T0)
        writer = Record(store_env)
        try:
            ententes = Ententes(writer)
            ententes.advance("ENT-NOTICED", T0 + 3 * DAY)  # Revoked
            ententes.advance("ENT-ENDING", T0 + 6 * DAY)  # Expired
            ententes.advance("ENT-SIGNED", T0)  # Activated
            ententes.draft(ec.DraftEntente(by="dsp", code="ENT-LATE", content=crisis_content("cc-late")), T0)
        finally:
            writer.close()
        projection = lv.listings(reader)
        assert projection is not None
        assert "ENT-NOTICED" in projection.view.entente_candidates()  # not caught up yet
        routing = _routes_as_the_scan(reader, "BBBBBBBBB", T0 + 10 * DAY)
        assert projection.view.entente_candidates() == ["ENT-SIGNED", "ENT-ACTIVE", "ENT-AMENDED", "ENT-PROPOSED"]
        assert "cc-signed" in _asked(routing)
        assert lv.catch_up(reader, projection) == 0
    finally:
        reader.close()

    restarted = Record(store_env)
    try:
        projection = lv.listings(restarted)
        assert projection is not None
        head = restarted.recorder.max_notification_id()
        assert projection.view.max_tracking_id(restarted.name) == head
        assert lv.catch_up(restarted, projection) == 0  # nothing recorded since: nothing processed again
        before = projection.view.entente_candidates()
        _routes_as_the_scan(restarted, "CCCCCCCCC", T0 + 11 * DAY)
        # The two openings and requests recorded since: caught up once (their events, nothing of the ententes).
        assert lv.catch_up(restarted, projection) == 0
        assert projection.view.entente_candidates() == before
        _older_shape(restarted, projection.view)
    finally:
        restarted.close()

    rebuilt = Record(store_env)
    try:
        projection = lv.caught_up(rebuilt)
        assert projection is not None
        assert projection.view.max_tracking_id(lv.VERSION_KEY) == lv.VERSION
        assert projection.view.entente_candidates() == before
        _routes_as_the_scan(rebuilt, "DDDDDDDDD", T0 + 12 * DAY)
    finally:
        rebuilt.close()


def _older_shape(record: Record, view: lv.ListingsView) -> None:
    """The view as a process of the shape before left it: its marker at 3, no lifecycle rows, its position at
    the head."""
    datastore: Any = view.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=True) as c:
        if isinstance(view, lv.PostgresListings):
            from psycopg.sql import SQL, Identifier

            table = SQL("{0}.{1}").format(Identifier(datastore.schema), Identifier(view.tracking_table_name))
            c.execute(SQL("DELETE FROM {0} WHERE application_name = %s").format(table), (lv.VERSION_KEY,))
            c.execute(SQL("INSERT INTO {0} VALUES (%s, 3)").format(table), (lv.VERSION_KEY,))
            c.execute(SQL("DELETE FROM {0}").format(view.entente_states))
        else:
            c.execute("DELETE FROM tracking WHERE application_name = ?", (lv.VERSION_KEY,))
            c.execute("INSERT INTO tracking VALUES (?, 3)", (lv.VERSION_KEY,))
            c.execute("DELETE FROM listing_entente_states")
    assert view.entente_candidates() == []
    assert view.max_tracking_id(record.name) == record.recorder.max_notification_id()
