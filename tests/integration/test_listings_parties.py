"""The listings view's shape 7 (issue 12, « reads that stay fast at scale »): the organisations each crisis case and
each entente names, so that the gateway's case listing for an organisation (`gateway.people._views`), its entente
listing (`GET /v1/ententes`) and the FHIR Task search without `_id` (`gateway.fhir.task_candidates`) load only the
aggregates the view says may be the organisation's, not every case or entente of the record. The view only
narrows: over random cases (random responsible CSSS and intake, teams of random organisations asked, declined,
accepted, follow-ups by random providers, referrals to random services by random organisations; each step the
domain refuses left out) and random ententes (revised, amended, renewed, revoked: `test_listings_routing_narrowed`'s
world), for every organisation, the answers on the narrowed candidates equal those on every aggregate of the scan,
after another process recorded more (catch-up) and after a view of shape 6 is rebuilt. SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial

from eventsourcing.persistence import Tracking
from psycopg.sql import SQL, Identifier

from adapters.record import listings as lv
from adapters.record.record import Record
from domain.crisis import commands as c
from domain.crisis.aggregate import CrisisCase
from domain.crisis.model import (
    InterventionOutcome,
    PhoneDisposition,
    ReceivingService,
    ReceivingServiceType,
    ReferralChannel,
    TeamRef,
)
from domain.ententes.state import EntenteView
from domain.errors import DomainError
from domain.principals.access import case_parties
from gateway.fhir import Search, task_candidates
from tests.crisis_builders import T0, open_cmd
from tests.integration.test_listings_routing_narrowed import CSSSES, ORGS, TERRITORIES, _world
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes

HOUR = timedelta(hours=1)
EVERY = [*CSSSES, *ORGS, "org-5", "org-nobody"]
SINCE: list[datetime | None] = [None, T0 + 20 * HOUR]
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _cases(record: Record, start: int, count: int, seed: int) -> None:
    """`count` random cases, opened an hour apart by a random responsible CSSS (its own intake) in a random
    territory, then a random course: closed at the phone, or a mobile team asked (some of the CSSS's own teams
    first, then routing's: the community organisations of the record's ententes in force), declined or accepted
    up to three times, the team's arrival and outcome, a follow-up by a random provider, a referral by the CSSS or
    the team to a random service, accepted and reached by it. A step the domain refuses is left out."""
    rnd = random.Random(seed)
    cases = CrisisCases(record)
    for n in range(start, start + count):
        code, at = f"C-AAAAAAAA{ALPHABET[n // 32 % 32]}{ALPHABET[n % 32]}", T0 + n * HOUR
        csss = rnd.choice(CSSSES)
        opening = open_cmd(code, actor=csss, command_id=f"o-{n}").model_copy(
            update={"responsible_org": csss, "territory": rnd.choice(TERRITORIES)})
        cases.open(opening, at, ententes=[])
        given = partial(_given, cases, code, at, iter(range(1, 100)))
        if rnd.random() < 0.15:
            given(c.CloseAtPhone(by="i-1", actor_org=csss, disposition=PhoneDisposition.STABILISED, reason="ok"))
            continue
        teams = [TeamRef(team_id=f"eq-{csss}-{k}", org_id=csss) for k in range(rnd.randint(0, 2))]
        if rnd.random() < 0.85:
            given(c.RequestMobileIntervention(by="i-1", actor_org=csss, csss_teams=teams))
        for _ in range(rnd.randint(1, 3)):
            last = cases.view(code).attempts[-1:]
            if not last:
                break
            team = last[0].candidate.team
            if rnd.random() < 0.5:
                given(c.DeclineHandoff(by="chef", actor_org=team.org_id, team_id=team.team_id, reason="mobilisée"))
                continue
            given(c.AcceptHandoff(by="chef", actor_org=team.org_id, team_id=team.team_id))
            given(c.RecordArrival(by="eq-1", actor_org=team.org_id))
            given(c.RecordOutcome(by="eq-1", actor_org=team.org_id, outcome=InterventionOutcome.CRISIS_RESOLVED,
                                  emergency_services=[], p38_applied=False, subject_id=opening.subject_id,
                                  personal={"notes": "note"}))
            break
        view = cases.view(code)
        by = rnd.choice([csss, view.holder or csss])
        if rnd.random() < 0.5:
            given(c.StartFollowUp(by="eq-1", actor_org=by, plan="suivi_crise_courte_duree",
                                  provider_org=rnd.choice([None, *ORGS, "org-5"])))
        if rnd.random() < 0.6:
            receiving = rnd.choice([*ORGS, "org-5", "clsc-ouest"])
            if given(c.StartReferral(by="eq-1", actor_org=cases.view(code).holder or by,
                                     subject_id=opening.subject_id, channel=ReferralChannel.TELEPHONE,
                                     personal={"note": "note"}, receiving=ReceivingService(
                                         org_id=receiving, service=ReceivingServiceType.CONSULTATION_SOCIALE))) \
                    and given(c.AcceptReferral(by="accueil-1", actor_org=receiving, intake_worker="accueil")):
                given(c.ConfirmReached(by="accueil-1", actor_org=receiving))


def _given(cases: CrisisCases, code: str, at: datetime, steps: Iterator[int], command: c.Command) -> bool:
    """The case's next step (3 minutes after the one before), or False where the domain refuses it."""
    step = next(steps)
    try:
        cases.execute(code, command.model_copy(update={"command_id": f"{code}/{step}"}),
                      at + step * timedelta(minutes=3))
    except DomainError:
        return False
    return True


def _listing(cases: CrisisCases, org: str, since: datetime | None, *, from_view: bool) -> list[str]:
    """The gateway's case listing for `org` (`gateway.people._views` before the standing check, which is per case):
    the candidates loaded, those `org` is a party to kept."""
    return [code for code, _ in cases.naming(org, since, from_view=from_view)
            if org in case_parties(cases.view(code))]


def _ententes(ententes: Ententes, org: str, *, from_view: bool) -> list[EntenteView]:
    """`GET /v1/ententes`'s choice: the ententes loaded, those of which `org` is a party in force or proposed."""
    views = ententes.list(from_view=from_view, party=org if from_view else None)
    return [v for v in views if any(x is not None and org in x.party_ids for x in (v.content, v.proposed_content))]


SEARCHES = [Search.of(None, None, None, None), Search.of("Organization/org-1", None, None, None),
            Search.of(None, "cisss-a", "requested,accepted", None)]


def _same_as_the_scan(record: Record) -> dict[str, int]:
    """For every organisation: the case listing, the Task search and the entente listing on the view's candidates
    equal those on every aggregate of the scan, and the candidates hold every case and entente that is the
    organisation's; returns how many aggregates each way loads, summed."""
    cases, ententes = CrisisCases(record), Ententes(record)
    every_case = cases.opened(from_view=False)
    loaded = {"view cases": 0, "scan cases": 0, "view ententes": 0, "scan ententes": 0, "listed": 0, "tasks": 0}
    for org in EVERY:
        for since in SINCE:
            narrowed = _listing(cases, org, since, from_view=True)
            assert narrowed == _listing(cases, org, since, from_view=False), (org, since)
            loaded["listed"] += len(narrowed)
        candidates = {code for code, _ in cases.naming(org)}
        assert {code for code, _ in every_case if org in case_parties(cases.view(code))} <= candidates
        loaded["view cases"] += len(candidates)
        loaded["scan cases"] += len(every_case)
        for wanted in SEARCHES:
            found = task_candidates(cases, org, wanted)
            assert found == task_candidates(cases, org, wanted, from_view=False), (org, wanted.owner)
            loaded["tasks"] += sum(len(ids) for _, ids in found)
        mine = _ententes(ententes, org, from_view=True)
        assert [v.code for v in mine] == [v.code for v in _ententes(ententes, org, from_view=False)], org
        loaded["view ententes"] += len(ententes.codes(from_view=True, party=org))
        loaded["scan ententes"] += len(ententes.codes())
    return loaded


def test_the_listings_by_organisation_on_the_view_equal_the_scan(store_env: dict[str, str]) -> None:
    record = Record(store_env)
    try:
        _world(record, 30, seed=7)
        _cases(record, 0, 60, seed=7)
        loaded = _same_as_the_scan(record)
        # Something to find, and fewer aggregates loaded than the scan loads.
        assert loaded["listed"] > 0 and loaded["tasks"] > 0
        assert loaded["view cases"] < loaded["scan cases"] and loaded["view ententes"] < loaded["scan ententes"]
    finally:
        record.close()

    # Another process records more while nobody reads the view; a reader started afterwards catches up.
    writer = Record(store_env)
    try:
        _cases(writer, 60, 20, seed=8)
    finally:
        writer.close()
    reader = Record(store_env)
    try:
        _same_as_the_scan(reader)
        assert len(CrisisCases(reader).opened(from_view=True)) == 80
    finally:
        reader.close()


def _back_to_shape_6(view: lv.ListingsView) -> None:
    """The view as a shape-6 engine left it: none of shape 7's tables, its marker at 6 (rows and position kept)."""
    if isinstance(view, lv.PostgresListings):
        with view.datastore.transaction(commit=True) as curs:
            for table in ("case_parties", "entente_parties"):
                curs.execute(SQL("DROP TABLE {0}").format(view.tables[table]))
            curs.execute(SQL("DELETE FROM {0}.{1} WHERE application_name = %s").format(
                Identifier(view.datastore.schema), Identifier(view.tracking_table_name)), (lv.VERSION_KEY,))
    else:
        assert isinstance(view, lv.SQLiteListings)
        with view.datastore.transaction(commit=True) as cur:
            for table in ("listing_case_parties", "listing_entente_parties"):
                cur.execute(f"DROP TABLE {table}")
            cur.execute("DELETE FROM tracking WHERE application_name = ?", (lv.VERSION_KEY,))
    view.insert_tracking(Tracking(lv.VERSION_KEY, 6))


def test_a_view_of_shape_6_is_rebuilt_to_the_same_answers(store_env: dict[str, str]) -> None:
    record = Record(store_env)
    try:
        _world(record, 12, seed=3)
        _cases(record, 0, 25, seed=3)
        projection = lv.caught_up(record)
        assert projection is not None
        _back_to_shape_6(projection.view)
    finally:
        record.close()

    upgraded = Record(store_env)
    try:
        projection = lv.listings(upgraded)
        assert projection is not None
        assert projection.view.max_tracking_id(lv.VERSION_KEY) == lv.VERSION == 7
        assert (projection.view.max_tracking_id(upgraded.name) or 0) == 0  # reset: rebuilt at the next catch-up
        _cases(upgraded, 25, 5, seed=4)  # routing's reads rebuild it; these cases' events are caught up after
        loaded = _same_as_the_scan(upgraded)
        assert loaded["listed"] > 0 and loaded["view cases"] < loaded["scan cases"]
        assert projection.view.max_tracking_id(upgraded.name) == upgraded.recorder.max_notification_id()
    finally:
        upgraded.close()


def test_an_organisation_the_view_cannot_read_makes_the_case_a_candidate_for_every_one(
        store_env: dict[str, str]) -> None:
    """A case event whose organisation was altered under the record (none, not a text): the wildcard, so the case
    is loaded for every organisation and the domain decides, never left out."""
    record = Record(store_env)
    try:
        cases = CrisisCases(record)
        cases.open(open_cmd("C-AAAAAAAAAB", command_id="o-1"), T0, ententes=[])
        cases.open(open_cmd("C-AAAAAAAAAC", command_id="o-2"), T0 + HOUR, ententes=[])
        projection = lv.caught_up(record)
        assert projection is not None
        assert [code for code, _ in cases.naming("org-1")] == []  # caught up: the view at the record's head
        asked = CrisisCase.TeamAsked  # type: ignore[attr-defined]
        event = asked(originator_id=cases.get("C-AAAAAAAAAB").id, originator_version=2, timestamp=T0,
                      number=1, candidate={"team": {"team_id": "x"}}, candidate_index=0, deadline={},
                      by_supervisor=False, at=T0)
        projection.process_event(event, Tracking(record.name, 10_000))
        for org in ("org-1", str(uuid.uuid4())):  # read without a catch-up (the position past the head resets it)
            assert [code for code, _ in projection.view.cases(open_only=False, party=org)] == ["C-AAAAAAAAAB"]
        assert lv._org(None) == lv._org({"org_id": 3}, "org_id") == lv._org("") == lv.ANY
        assert lv._org({"team": {"org_id": "org-2"}}, "team", "org_id") == "org-2"
    finally:
        record.close()
