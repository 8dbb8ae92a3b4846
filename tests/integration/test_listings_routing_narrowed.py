"""Routing's candidates narrowed to the case (issue 12, load run: with 1,800 ententes in force a case loaded every
one): the listings view keeps the routing keys of each entente's version in force (its parties, the territories of
its mobile crisis offers), and routing loads only the ententes in force with the case's CSSS as a party and a
mobile crisis offer in its territory, a partner's standing those with both organisations as parties. The view only
narrows: over many random ententes (several CSSS, providers, territories and services; drafted, activated,
revised before activation, amended in force or only proposed, revoked or ended, recorded or not) and many random
cases, it never leaves out an entente the domain would route or admit on, and routing on the narrowed list equals
routing on every entente of the record. SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta

import pytest
from eventsourcing.persistence import Tracking

from adapters.record import listings as lv
from adapters.record.record import Record
from domain.clock import local_date
from domain.crisis import commands as c
from domain.crisis.model import TeamRef
from domain.crisis.routing import crisis_offers, partner_entente, route
from domain.ententes import commands as ec
from domain.ententes.model import EntenteContent, Party, ServiceCode, ServiceOffer
from domain.ententes.rules import in_force_at
from domain.ententes.state import EntenteStatus, EntenteView
from domain.errors import RuleViolation
from tests.crisis_builders import T0, crisis_content, decline, open_cmd
from tests.factories import service_entente
from usecases.crisis import CrisisCases, candidate_ententes
from usecases.ententes import Ententes

DAY = timedelta(days=1)
START = T0 - 60 * DAY
CSSSES = ["cisss-a", "cisss-b", "cisss-c"]
ORGS = ["org-1", "org-2", "org-3", "org-4"]
TERRITORIES = ["t-1", "t-2", "t-3"]
OTHER = [ServiceCode.SUIVI_POST_CRISE, ServiceCode.HEBERGEMENT_CRISE, ServiceCode.INTERVENTION_TELEPHONIQUE_CRISE]
MOMENTS = [T0, T0 + 3 * DAY, T0 + 8 * DAY]


def _content(rnd: random.Random, *, end: date | None = None) -> EntenteContent:
    """A random service entente: one CSSS, one or two providers (sometimes the CSSS itself), offers of mobile
    crisis or of another service in random territories, random referrers."""
    csss = rnd.choice(CSSSES)
    providers = rnd.sample(ORGS, rnd.randint(1, 2)) + ([csss] if rnd.random() < 0.15 else [])
    offers = [
        ServiceOffer(service=ServiceCode.INTERVENTION_CRISE_MOBILE if rnd.random() < 0.6 else rnd.choice(OTHER),
                     provider=p, territories=rnd.sample(TERRITORIES, rnd.randint(1, 2)))
        for p in providers for _ in range(rnd.randint(1, 2))
    ]
    parties = [Party(party_id=csss, name=f"CISSS {csss}", type="cisss")] + [
        Party(party_id=p, name=f"Organisme {p}", type="centre_crise") for p in dict.fromkeys(providers) if p != csss]
    base = service_entente(effective=None, end=end, notice_days=0)
    ids = [p.party_id for p in parties]
    return EntenteContent.model_validate({
        **base.model_dump(), "parties": [p.model_dump() for p in parties],
        "services": [o.model_dump() for o in offers], "commitments": [],
        "access": {**base.access.model_dump(), "may_refer": rnd.sample(ids, rnd.randint(1, len(ids)))},
    })


def _sign(ententes: Ententes, code: str, version: int, at: datetime) -> None:
    ententes.execute(code, ec.SubmitForSignature(by="dsp", command_id=f"{code}/submit/{version}"), at)
    for party in ententes.view(code).proposed_content.party_ids:  # type: ignore[union-attr]
        ententes.execute(code, ec.SignEntente(by=party, party_id=party, version=version, signatory="D.G.",
                                              command_id=f"{code}/sign/{version}/{party}"), at)


def _world(record: Record, count: int, seed: int) -> None:
    """`count` random ententes, each at a random stage of its life."""
    rnd = random.Random(seed)
    ententes = Ententes(record)
    for n in range(count):
        code = f"ENT-R{n:03d}"
        stage = rnd.randrange(8)
        end = local_date(T0 + rnd.choice([2, 5, 30]) * DAY) if stage == 5 else None
        ententes.draft(ec.DraftEntente(by="dsp", code=code, content=_content(rnd, end=end)), START)
        if stage == 0:
            continue  # drafted only
        version = 1
        if stage == 7:  # revised before activation: version 2 put in force
            ententes.execute(code, ec.ReviseDraft(by="dsp", content=_content(rnd), command_id=f"{code}/rev"), START)
            version = 2
        _sign(ententes, code, version, START)
        assert ententes.advance(code, START).status is EntenteStatus.ACTIVE
        if stage in (2, 3):  # amended: in force (2) or only proposed (3)
            ententes.execute(code, ec.ProposeAmendment(by="dsp", content=_content(rnd), reason="autre",
                                                       command_id=f"{code}/amend"), START + DAY)
            if stage == 2:
                _sign(ententes, code, version + 1, START + DAY)
                assert ententes.advance(code, START + 2 * DAY).in_force_version == version + 1
        elif stage == 4:  # revoked from a random day, recorded or not
            csss = ententes.view(code).content.party_ids[0]
            effective = local_date(T0 + rnd.choice([-30, 2, 6]) * DAY)
            ententes.execute(code, ec.GiveRevocationNotice(by="dsp", party_id=csss, reason="fin",
                                                           effective_date=effective, command_id=f"{code}/rv"),
                             START + DAY)
            if effective < local_date(T0):
                assert ententes.advance(code, T0 - DAY).status is EntenteStatus.REVOKED
        elif stage == 6:  # ended and its expiry recorded
            ententes.execute(code, ec.ProposeRenewal(by="dsp", end_date=local_date(START + 5 * DAY), reason="fin",
                                                     command_id=f"{code}/renew"), START + DAY)
            _sign(ententes, code, version + 1, START + DAY)
            ententes.advance(code, START + 2 * DAY)
            assert ententes.advance(code, START + 10 * DAY).status is EntenteStatus.EXPIRED


def _codes(views: list[EntenteView]) -> set[str]:
    return {v.code for v in views}


def test_the_narrowed_candidates_never_leave_out_an_entente_the_domain_decides_on(
    store_env: dict[str, str],
) -> None:
    """60 random ententes, every (CSSS, territory) and (organisation, CSSS) pair at three moments: the narrowed
    candidates hold every entente in force that `crisis_offers` (routing, a partner's referral) or
    `letting_ententes` (a partner's standing) keeps on the full list; routing and the partner's entente on them
    equal those on every entente of the record; and they are fewer than the view's unnarrowed candidates."""
    record = Record(store_env)
    try:
        _world(record, 60, seed=12)
        ententes = Ententes(record)
        every = ententes.list()
        assert len(every) == 60
        unnarrowed = candidate_ententes(ententes)
        assert _codes(unnarrowed) == {v.code for v in every if v.status is EntenteStatus.ACTIVE}
        smaller = 0
        for csss in CSSSES:
            for territory in TERRITORIES:
                narrowed = candidate_ententes(ententes, parties=(csss,), crisis_in=territory)
                smaller += len(narrowed) < len(unnarrowed)
                assert _codes(narrowed) <= _codes(unnarrowed)
                for moment in MOMENTS:
                    routed = {v.code for v, _ in crisis_offers(every, csss, territory, moment)}
                    assert routed <= _codes(narrowed), (csss, territory, moment)
                    assert route(responsible_org=csss, territory=territory, csss_teams=[], episode=None,
                                 ententes=narrowed, now=moment) == route(
                        responsible_org=csss, territory=territory, csss_teams=[], episode=None, ententes=every,
                        now=moment)
                    for org in ORGS:
                        assert partner_entente(narrowed, org, csss, territory, moment) == partner_entente(
                            every, org, csss, territory, moment)
            for org in ORGS:
                narrowed = candidate_ententes(ententes, parties=(org, csss))
                for moment in MOMENTS:
                    letting = {v.code for v in every
                               if {org, csss} <= set(v.content.party_ids) and in_force_at(v, moment)}
                    assert letting <= _codes(narrowed), (org, csss, moment)
        assert smaller == len(CSSSES) * len(TERRITORIES)  # the narrowing narrows in this world
    finally:
        record.close()


def _case(cases: CrisisCases, code: str, csss: str, territory: str, given: list[EntenteView] | None) -> None:
    cmd = open_cmd(code, face=True, actor=csss, command_id=f"o-{code}").model_copy(
        update={"responsible_org": csss, "territory": territory})
    cases.open(cmd, T0, ententes=given)
    team = TeamRef(team_id=f"crise-{csss}", org_id=csss)
    cases.execute(code, c.RequestMobileIntervention(by="intervenant-1", actor_org=csss, csss_teams=[team]),
                  T0 + timedelta(minutes=5), ententes=given)


def _decided(cases: CrisisCases, code: str) -> dict[str, object]:
    return cases.view(code).model_dump(mode="json", exclude={"case_code", "case_id", "event_count"})


def test_cases_routed_on_the_narrowed_candidates_equal_cases_routed_on_every_entente(
    store_env: dict[str, str],
) -> None:
    """Through the use case: in each CSSS and territory, a case opened and a mobile team asked for on the view's
    narrowed candidates and one on the scan's list: the same case; then the CSSS team declines and the cascade
    asks the next. One entente the cases were routed under is amended meanwhile, in force without its crisis
    offer there: the cascade judges it by its code (`askable`, loaded as named), as on the full list."""
    record = Record(store_env)
    try:
        _world(record, 30, seed=7)
        ententes, cases = Ententes(record), CrisisCases(record)
        named = crisis_content("org-9", territory="t-1").model_copy(deep=True)
        named = EntenteContent.model_validate({**named.model_dump(), "parties": [
            {**named.parties[0].model_dump(), "party_id": "cisss-a"}, named.parties[1].model_dump()],
            "access": {**named.access.model_dump(), "may_refer": ["cisss-a"]}})
        ententes.draft(ec.DraftEntente(by="dsp", code="ENT-A-NAMED", content=named), START)
        _sign(ententes, "ENT-A-NAMED", 1, START)
        ententes.advance("ENT-A-NAMED", START)
        n = 0
        for csss in CSSSES:
            for territory in TERRITORIES:
                n += 1
                view_code, scan_code = f"C-VAAAAAAAA{chr(65 + n)}", f"C-SAAAAAAAA{chr(65 + n)}"
                _case(cases, view_code, csss, territory, None)
                _case(cases, scan_code, csss, territory, ententes.list())
                assert _decided(cases, view_code) == _decided(cases, scan_code), (csss, territory)
                if (csss, territory) == ("cisss-a", "t-1"):
                    assert "org-9" in {x.team.org_id for x in cases.view(view_code).candidates}
                    moved = named.model_copy(update={"services": [
                        ServiceOffer(service=ServiceCode.INTERVENTION_CRISE_MOBILE, provider="org-9",
                                     territories=["t-3"])]})
                    ententes.execute("ENT-A-NAMED", ec.ProposeAmendment(by="dsp", content=moved, reason="autre",
                                                                        command_id="amend"), T0)
                    _sign(ententes, "ENT-A-NAMED", 2, T0)
                    assert ententes.advance("ENT-A-NAMED", T0).in_force_version == 2
                for code in (view_code, scan_code):
                    team = TeamRef(team_id=f"crise-{csss}", org_id=csss)
                    given = None if code == view_code else ententes.list()
                    cases.execute(code, decline(team), T0 + timedelta(minutes=6), ententes=given)
                assert _decided(cases, view_code) == _decided(cases, scan_code), (csss, territory)
                if (csss, territory) == ("cisss-a", "t-1"):  # a supervisor asks org-9 anyway: the same refusal
                    refusals = []
                    for code in (view_code, scan_code):
                        given = None if code == view_code else ententes.list()
                        team = next(x.team for x in cases.view(code).candidates if x.team.org_id == "org-9")
                        with pytest.raises(RuleViolation) as refused:
                            cases.execute(code, c.Reassign(by="superviseur-1", actor_org=csss, team=team,
                                                           reason="rappel"), T0 + timedelta(minutes=7),
                                          ententes=given)
                        refusals.append(str(refused.value).split(": ", 1)[1])  # without the case code
                    assert refusals[0] == refusals[1] and "no longer has org-9" in refusals[0]
    finally:
        record.close()


def test_the_view_keeps_the_keys_of_the_version_in_force(store_env: dict[str, str]) -> None:
    """Activated on version 1, then an amendment in force with another CSSS and territory: the entente is a
    candidate for the new ones only; an amendment proposed and not in force changes nothing."""
    record = Record(store_env)
    try:
        rnd = random.Random(3)
        ententes = Ententes(record)
        first, second = _content(rnd), _content(rnd)
        while first.party_ids[0] == second.party_ids[0]:
            second = _content(rnd)
        ententes.draft(ec.DraftEntente(by="dsp", code="ENT-KEYS", content=first), START)
        _sign(ententes, "ENT-KEYS", 1, START)
        ententes.advance("ENT-KEYS", START)
        projection = lv.caught_up(record)
        assert projection is not None
        assert projection.view.entente_candidates(parties=(first.party_ids[0],)) == ["ENT-KEYS"]
        assert projection.view.entente_candidates(parties=(second.party_ids[0],)) == []
        ententes.execute("ENT-KEYS", ec.ProposeAmendment(by="dsp", content=second, reason="autre",
                                                         command_id="amend"), START + DAY)
        assert lv.caught_up(record) is not None
        assert projection.view.entente_candidates(parties=(first.party_ids[0],)) == ["ENT-KEYS"]
        assert projection.view.entente_candidates(parties=(second.party_ids[0],)) == []
        _sign(ententes, "ENT-KEYS", 2, START + DAY)
        assert ententes.advance("ENT-KEYS", START + 2 * DAY).in_force_version == 2
        assert lv.caught_up(record) is not None
        assert projection.view.entente_candidates(parties=(first.party_ids[0],)) == []
        assert projection.view.entente_candidates(parties=(second.party_ids[0],)) == ["ENT-KEYS"]
        crisis = {t for o in second.services if o.service is ServiceCode.INTERVENTION_CRISE_MOBILE
                  for t in o.territories}
        for territory in TERRITORIES:
            got = projection.view.entente_candidates(parties=(second.party_ids[0],), crisis_in=territory)
            assert got == (["ENT-KEYS"] if territory in crisis else [])
    finally:
        record.close()


def test_a_version_the_view_cannot_read_is_always_a_candidate() -> None:
    """The wildcard: a content the model refuses gives keys that match every party and territory."""
    assert lv.routing_keys({"not": "a content"}) == lv.WILDCARD
    keys = lv.routing_keys(service_entente(effective=None).model_dump(mode="json"))
    assert ("party", "cisss-laval") in keys and ("crise", "laval") in keys


def test_an_entente_in_force_under_a_version_without_keys_is_a_candidate_for_every_case(
    store_env: dict[str, str],
) -> None:
    """The view's rows written directly (positions 1 to 5 of a fresh view, no catch-up after): drafted without
    readable keys, or activated under a version the view holds no keys for (-1: the event names none), an entente
    is a candidate for every CSSS and territory; an end recorded, for none."""
    record = Record(store_env)
    try:
        projection = lv.listings(record)
        assert projection is not None
        view, name = projection.view, record.name
        first, second = uuid.uuid4(), uuid.uuid4()
        view.entente_drafted("ENT-NOKEYS", Tracking(name, 1), first, None)
        view.entente_drafted("ENT-NOVERSION", Tracking(name, 2), second, [("party", "cisss-a"), ("crise", "t-1")])
        view.entente_lifecycle(first, True, Tracking(name, 3), 1)
        view.entente_lifecycle(second, True, Tracking(name, 4), -1)
        for csss in CSSSES:
            for territory in TERRITORIES:
                assert view.entente_candidates(parties=(csss, "org-1"), crisis_in=territory) == [
                    "ENT-NOKEYS", "ENT-NOVERSION"]
        view.entente_lifecycle(first, False, Tracking(name, 5))
        assert view.entente_candidates(parties=("cisss-b",), crisis_in="t-2") == ["ENT-NOVERSION"]
    finally:
        record.close()
