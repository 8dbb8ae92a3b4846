"""Routing a crisis to mobile teams follows the ententes in force (seed 001, Fiche 3, L1160-1385).

The entente views are real ones: ententes drafted, signed and activated (or
revoked, or expired) by the entente aggregate in an in-memory record.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.clock import add_days, local_date, start_of
from domain.crisis.model import CandidateKind, SpecificEpisode, TeamRef
from domain.crisis.routing import partner_entente, route
from domain.ententes import commands as ac
from domain.ententes.model import (
    EntenteContent,
    ServiceCode,
    ServiceOffer,
)
from domain.ententes.state import EntenteStatus, EntenteView
from tests.crisis_builders import T0, activate, memory_record
from tests.crisis_builders import crisis_content as content
from usecases.ententes import Ententes

CSSS_TEAM = TeamRef(team_id="crise-laval-1", org_id="cisss-laval", name="Équipe crise Laval")
EPISODE = SpecificEpisode(program="sante-mentale-adulte", team=TeamRef(team_id="sma-laval", org_id="cisss-laval"))


def revoke(ententes: Ententes, code: str) -> EntenteView:
    notice = add_days(local_date(T0), 90)
    ententes.execute(code, ac.GiveRevocationNotice(by="cisss", party_id="cisss-laval", reason="fin du service",
                                                   effective_date=notice), T0)
    return ententes.advance(code, start_of(notice))


def candidates_for(ententes: list[EntenteView], *, episode: SpecificEpisode | None = None,
                   now: datetime = T0, territory: str = "laval") -> list[tuple[str, CandidateKind, str | None, bool]]:
    found = route(responsible_org="cisss-laval", territory=territory, csss_teams=[CSSS_TEAM], episode=episode,
                  ententes=ententes, now=now)
    return [(c.team.team_id, c.kind, c.agreement_code, c.may_share_information) for c in found]


def test_csss_teams_first_then_organisations_with_an_active_agreement() -> None:
    """L1181-1184: a CSSS intervenant or a community organisation « dans le cadre d'entente »;
    each candidate says under which entente and whether information may be shared (section 7)."""
    ententes = Ententes(memory_record())
    a = activate(ententes, "ENT-A", content("cc-laval"))
    b = activate(ententes, "ENT-B", content("cps-laval", sharing=False))
    assert candidates_for([b, a]) == [
        ("crise-laval-1", CandidateKind.CSSS_TEAM, None, True),
        ("cc-laval", CandidateKind.COMMUNITY_ORG, "ENT-A", True),
        ("cps-laval", CandidateKind.COMMUNITY_ORG, "ENT-B", False),
    ]


def test_only_agreements_covering_the_territory_and_mobile_crisis_route() -> None:
    """L1181-1184: the entente must cover mobile crisis intervention in the case's territory."""
    ententes = Ententes(memory_record())
    elsewhere = activate(ententes, "ENT-MTL", content("cc-mtl", territory="montreal"))
    phone_only = content("cps-laval")
    phone_only = EntenteContent.model_validate({**phone_only.model_dump(), "services": [
        ServiceOffer(service=ServiceCode.INTERVENTION_TELEPHONIQUE_CRISE, provider="cps-laval",
                     territories=["laval"]).model_dump()]})
    phone = activate(ententes, "ENT-TEL", phone_only)
    assert candidates_for([elsewhere, phone]) == [("crise-laval-1", CandidateKind.CSSS_TEAM, None, True)]


def test_draft_revoked_and_expired_agreements_never_route() -> None:
    """L1181-1184 « dans le cadre d'entente »: an entente not in force (draft, revoked, expired) routes nobody."""
    ententes = Ententes(memory_record())
    ententes.draft(ac.DraftEntente(by="dsp", code="ENT-DRAFT", content=content("cc-draft")), T0)
    draft = ententes.view("ENT-DRAFT")
    activate(ententes, "ENT-REV", content("cc-rev"))
    revoked = revoke(ententes, "ENT-REV")
    assert revoked.status is EntenteStatus.REVOKED
    end = add_days(local_date(T0), 30)
    activate(ententes, "ENT-EXP", content("cc-exp", end=end))
    later = start_of(add_days(end, 1))
    expired = ententes.advance("ENT-EXP", later)
    assert expired.status is EntenteStatus.EXPIRED
    assert candidates_for([draft, revoked, expired], now=later) == [
        ("crise-laval-1", CandidateKind.CSSS_TEAM, None, True)
    ]


def test_an_agreement_past_its_end_routes_nobody_even_before_the_calendar_records_it() -> None:
    """A view read before `advance` recorded the expiry is still out of force after its end date."""
    ententes = Ententes(memory_record())
    end = add_days(local_date(T0), 10)
    stale = activate(ententes, "ENT-END", content("cc-end", end=end))
    assert [c[0] for c in candidates_for([stale], now=start_of(end))] == ["crise-laval-1", "cc-end"]
    assert [c[0] for c in candidates_for([stale], now=start_of(add_days(end, 1)))] == ["crise-laval-1"]


def test_revocation_notice_routes_until_it_takes_effect() -> None:
    """A revocation takes effect on its date (notice period): until then the entente is in force."""
    ententes = Ententes(memory_record())
    activate(ententes, "ENT-N", content("cc-n"))
    notice = add_days(local_date(T0), 90)
    noticed = ententes.execute("ENT-N", ac.GiveRevocationNotice(
        by="cisss", party_id="cisss-laval", reason="fin", effective_date=notice), T0)
    assert [c[0] for c in candidates_for([noticed], now=T0 + timedelta(days=1))] == ["crise-laval-1", "cc-n"]
    assert [c[0] for c in candidates_for([noticed], now=start_of(notice))] == ["crise-laval-1"]


def test_active_specific_program_episode_routes_to_that_program_first() -> None:
    """L1241-1243: a person with an active episode in a specific program is generally directed to it."""
    ententes = Ententes(memory_record())
    a = activate(ententes, "ENT-A", content("cc-laval"))
    assert candidates_for([a], episode=EPISODE) == [
        ("sma-laval", CandidateKind.SPECIFIC_PROGRAM, None, True),
        ("crise-laval-1", CandidateKind.CSSS_TEAM, None, True),
        ("cc-laval", CandidateKind.COMMUNITY_ORG, "ENT-A", True),
    ]


def test_an_agreement_saying_otherwise_overrides_the_specific_program() -> None:
    """L1241-1243 « à moins d'une entente à ce sujet »: `overrides_specific_program` puts its provider first."""
    ententes = Ententes(memory_record())
    a = activate(ententes, "ENT-A", content("cc-laval", overrides=True))
    b = activate(ententes, "ENT-B", content("cps-laval"))
    assert candidates_for([a, b], episode=EPISODE) == [
        ("cc-laval", CandidateKind.COMMUNITY_ORG, "ENT-A", True),
        ("crise-laval-1", CandidateKind.CSSS_TEAM, None, True),
        ("cps-laval", CandidateKind.COMMUNITY_ORG, "ENT-B", True),
        ("sma-laval", CandidateKind.SPECIFIC_PROGRAM, None, True),
    ]
    revoked = revoke(ententes, "ENT-A")
    assert candidates_for([revoked, b], episode=EPISODE)[0][0] == "sma-laval"


def test_an_organisation_appears_once_preferring_the_agreement_that_shares_information() -> None:
    """Two ententes with the same provider: one candidate, under the entente that permits sharing (section 7)."""
    ententes = Ententes(memory_record())
    a = activate(ententes, "ENT-A", content("cc-laval", sharing=False))
    b = activate(ententes, "ENT-B", content("cc-laval", sharing=True))
    assert candidates_for([a, b]) == [
        ("crise-laval-1", CandidateKind.CSSS_TEAM, None, True),
        ("cc-laval", CandidateKind.COMMUNITY_ORG, "ENT-B", True),
    ]


def test_a_partner_refers_only_under_an_agreement_to_that_effect() -> None:
    """L1172-1173: mobile crisis « peut aussi faire suite à une référence d'un partenaire qui a une entente
    à cet effet avec le CSSS »: the partner must be among those who may refer (section 6)."""
    ententes = Ententes(memory_record())
    a = activate(ententes, "ENT-A", content("cc-laval", may_refer=["cps-laval"]))
    assert partner_entente([a], "cps-laval", "cisss-laval", "laval", T0) == a
    assert partner_entente([a], "maison-jeunes", "cisss-laval", "laval", T0) is None
    assert partner_entente([a], "cps-laval", "cisss-laval", "montreal", T0) is None
    revoked = revoke(ententes, "ENT-A")
    assert partner_entente([revoked], "cps-laval", "cisss-laval", "laval", T0 + timedelta(days=200)) is None
