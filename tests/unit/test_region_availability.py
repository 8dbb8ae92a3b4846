"""What the region file declares about its own services (issue 11): the AAOR's hours against its 70 h, the CSSS's
mobile crisis teams that routing asks and the 24/7 view counts, and the directory routing reads.

T0 is Monday 2027-03-01 09:00 in Québec (tests/crisis_builders.py).
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import pytest

from adapters.standards_file import load_standards
from domain.crisis import commands as c
from domain.crisis.availability import crisis_coverage
from domain.crisis.model import TeamRef
from domain.crisis.routing import directory_closed, directory_unavailable
from domain.crisis.state import AttemptStatus, CaseStage
from domain.directory.model import DirectoryService, Sector
from domain.hours import ALWAYS, ServiceHours, Window
from domain.standards.availability import AaorChannel, aaor_weeks
from domain.standards.config import LoosenedStandard, StandardsConfig, loosenings
from domain.standards.provenance import figures
from tests.crisis_builders import CSSS, MIN, T0, TEAM, request, sup
from tests.crisis_world import CODE, World
from usecases.directory import Services

EXAMPLE = Path(__file__).parents[2] / "examples" / "standards-laval.toml"


def week(days: list[int], opens: int, closes: int) -> dict[str, Any]:
    return {"windows": [{"days": days, "opens": f"{opens:02d}:00", "closes": f"{closes:02d}:00"}]}


WEEKDAYS_8_22 = week([1, 2, 3, 4, 5], 8, 22)  # 70 h exactly
WEEKDAYS_8_20 = week([1, 2, 3, 4, 5], 8, 20)  # 60 h


def aaor(telephone: dict[str, Any], en_personne: dict[str, Any], territory: str = "laval") -> dict[str, Any]:
    return {"territory": territory, "telephone": telephone, "en_personne": en_personne}


# ------------------------------------------------------------------ the AAOR's 70 h
def test_the_example_file_declares_the_aaor_hours_of_laval_over_70_h_on_both_channels() -> None:
    """« Le service d'AAOR est accessible par téléphone au moins 70 heures par semaine » and « par des rencontres
    en personne au moins 70 heures par semaine » (seed 001 L767-770): the Laval file gives 86 h and 72 h."""
    cfg = load_standards(EXAMPLE)
    assert loosenings(cfg) == []
    assert [(w.territory, w.channel, w.weekly_hours, w.meets_floor) for w in aaor_weeks(cfg.aaor_hours)] == [
        ("laval", AaorChannel.TELEPHONE, 86.0, True), ("laval", AaorChannel.EN_PERSONNE, 72.0, True)]


def test_exactly_70_h_meets_the_floor() -> None:
    """« au moins 70 heures » (L767-770): 70 h is enough."""
    cfg = StandardsConfig().with_overrides({"aaor_hours": [aaor(WEEKDAYS_8_22, WEEKDAYS_8_22)]})
    assert [w.weekly_minutes for w in aaor_weeks(cfg.aaor_hours)] == [70 * 60, 70 * 60]


def test_a_region_file_under_70_h_a_week_is_a_loosening_refused_with_the_seed_figure() -> None:
    """The 70 h is the ministry's own figure for the AAOR (fiche 1's cell of the « Particularités du service » row,
    where the other fiches read « RR », annexe L2251-2258; legend L2307), stated as a standard in L767-770: a
    region may give more hours, never fewer. Refused with the standard, the seed figure and the value asked."""
    with pytest.raises(LoosenedStandard) as refused:
        StandardsConfig().with_overrides({"aaor_hours": [aaor(WEEKDAYS_8_22, WEEKDAYS_8_20)]})
    [found] = refused.value.loosenings
    assert (found.standard, found.seed_figure, found.asked) == (
        "aaor_hours.laval.en_personne", "au moins 70 heures par semaine", "60 h par semaine")
    assert str(refused.value) == (
        "aaor_hours.laval.en_personne is fixed by the ministry at au moins 70 heures par semaine (seed 001 "
        "L767-770; L692-693; annexe L2253-2256); the region asks 60 h par semaine: a region may tighten a fixed "
        "standard, never loosen it")


def test_a_territory_declares_its_aaor_once() -> None:
    with pytest.raises(ValueError, match=r"declared once per territory; twice: \['laval'\]"):
        StandardsConfig.model_validate({"aaor_hours": [aaor(WEEKDAYS_8_22, WEEKDAYS_8_22)] * 2})


def test_the_floor_is_the_ministrys_and_the_hours_the_regions() -> None:
    """`arrimage standards --json` figures: the 70 h floor fixed by the ministry (L767-770), the hours declared
    from the region file, and « aucune déclarée » when the file says nothing."""
    shown = {f.key: f for f in figures(load_standards(EXAMPLE))}
    floor = shown["aaor_hours.plancher_hebdomadaire"]
    assert (floor.value, floor.provenance, floor.fixed) == ("PT70H", "ministere", True)
    assert (shown["aaor_hours"].provenance, shown["csss_teams"].provenance) == ("fichier_region", "fichier_region")
    default = {f.key: f for f in figures(StandardsConfig())}
    assert default["aaor_hours"].value is None and default["aaor_hours"].reference.endswith("aucune déclarée")


# ------------------------------------------------------------------ the CSSS's own teams
DAY = week([1, 2, 3, 4, 5, 6, 7], 8, 0)  # 08:00 to midnight
NIGHT = week([1, 2, 3, 4, 5, 6, 7], 0, 8)


def teams_config() -> StandardsConfig:
    return StandardsConfig().with_overrides({"csss_teams": [
        {"team_id": "crise-laval-1", "org_id": CSSS, "territories": ["laval"], "hours": DAY},
        {"team_id": "crise-laval-2", "org_id": CSSS, "territories": ["laval"], "hours": NIGHT},
        {"team_id": "crise-ailleurs", "org_id": "cisss-ailleurs", "territories": ["laval"]},
    ]})


def test_a_request_naming_no_csss_team_asks_the_teams_the_region_declares_serving_then() -> None:
    """The service is given « par un intervenant du CSSS ou d'un organisme communautaire dans le cadre d'entente »
    (seed 001 L1181-1184): without teams in the request, routing asks the region's declared teams of the case's
    CSSS (not another CSSS's), those serving at that moment (Monday 09:00: the day team, not the night team),
    then the organisation under entente."""
    w = World(teams_config())
    w.open()
    view = w.do(request().model_copy(update={"csss_teams": None}), T0)
    assert [x.team.team_id for x in view.candidates] == ["crise-laval-1", "cc-laval"]
    assert view.candidates[0].team.hours == ServiceHours.model_validate(DAY)


def test_a_request_naming_its_teams_or_none_keeps_routing_as_before() -> None:
    """Old inputs: the teams a request names are asked, and an empty list asks none of the CSSS's own."""
    named, empty = World(teams_config()), World(teams_config())
    named.open()
    empty.open()
    assert [x.team.team_id for x in named.do(request([TEAM]), T0).candidates] == ["crise-laval-1", "cc-laval"]
    assert named.cases.get("C-ABCDEFGH23").view().candidates[0].team.hours is None
    assert [x.team.team_id for x in empty.do(request([]), T0).candidates] == ["cc-laval"]


def test_the_24_7_view_counts_the_declared_teams_in_their_territories() -> None:
    """« 24 heures par jour, 7 jours par semaine et 365 jours par année » (L1259-1260): the day and night teams
    the region declares cover Laval together, with no entente; a territory only a team serves is listed."""
    cfg = teams_config()
    [laval] = crisis_coverage([], T0, region_teams=cfg.csss_teams or [])
    assert (laval.territory, laval.covers_24_7, laval.weekly_gaps) == ("laval", True, [])
    assert [p.provider for p in laval.providers] == ["crise-laval-1", "crise-laval-2", "crise-ailleurs"]
    only_day = [t for t in cfg.csss_teams or [] if t.team_id == "crise-laval-1"]
    [gapped] = crisis_coverage([], T0, region_teams=only_day)
    assert not gapped.covers_24_7 and gapped.weekly_gaps[0] == "lun 00:00 – lun 08:00"


# ------------------------------------------------------------------ the directory routing reads
def service(sid: str, org: str, *, active: bool = True, sector: Sector = Sector.CRISE,
            territory: str = "laval") -> DirectoryService:
    return DirectoryService(service_id=sid, name=sid, organisation_id=org, organisation_name=org,
                            territory=territory, sector=sector, active=active)


def test_directory_closed_names_organisations_whose_every_crisis_service_there_is_inactive() -> None:
    """« A directory of services that referrals and routing read » (issue 11; seed 002 L435-437): only the crisis
    sector of the case's territory counts, and one active crisis service keeps the organisation asked."""
    listed = [service("cc-1", "cc-laval", active=False), service("cc-2", "cc-laval", active=False),
              service("cps-1", "cps-laval", active=False), service("cps-2", "cps-laval"),
              service("loge", "office-hab", active=False, sector=Sector.LOGEMENT),
              service("nord", "cc-nord", active=False, territory="nord")]
    assert directory_closed(listed, "laval") == {
        "cc-laval": "cc-laval: the directory lists its crisis services in laval (cc-1, cc-2) as inactive"}
    assert directory_closed([], "laval") == {}


def test_routing_does_not_ask_an_organisation_the_directory_says_stopped_its_crisis_service() -> None:
    """The entente with cc-laval is in force, but the directory lists its crisis service inactive: routing asks
    the CSSS team only (the case escalates to the supervisor if it declines). Active again: asked again."""
    w = World()
    services = Services(w.record)
    services.add(service("cc-laval-crise", "cc-laval", active=False), "annuaire", T0)
    w.open()
    assert [x.team.team_id for x in w.do(request([TEAM]), T0).candidates] == ["crise-laval-1"]
    again = World()
    Services(again.record).add(service("cc-laval-crise", "cc-laval"), "annuaire", T0)
    again.open()
    assert [x.team.team_id for x in again.do(request([TEAM]), T0).candidates] == ["crise-laval-1", "cc-laval"]


def test_routing_without_a_directory_entry_is_unchanged() -> None:
    """An organisation the directory does not list for crisis (or an empty directory) routes by its entente
    alone, as before the directory: the cases recorded before it keep their path."""
    w = World()
    Services(w.record).add(service("cc-laval-logement", "cc-laval", active=False, sector=Sector.LOGEMENT), "a", T0)
    w.open()
    assert [x.team.team_id for x in w.do(request([TEAM]), T0).candidates] == ["crise-laval-1", "cc-laval"]


def test_windows_in_the_example_teams_cover_the_day() -> None:
    """The example's two Laval teams together serve every hour (L1259-1260)."""
    cfg = load_standards(EXAMPLE)
    [laval] = crisis_coverage([], T0, region_teams=cfg.csss_teams or [])
    assert laval.covers_24_7 and [p.provider for p in laval.providers] == ["crise-laval-1", "crise-laval-2"]
    assert cfg.teams_for(CSSS, "laval")[1].hours == ServiceHours(
        windows=[Window(days=[1, 2, 3, 4, 5, 6, 7], opens=time(0), closes=time(8))])


def test_after_a_decline_the_cascade_skips_and_a_reassignment_refuses_an_organisation_stopped_since() -> None:
    """The directory says cc-laval's crisis service stopped after the request: the CSSS team's decline goes
    past it to the supervisor, and the supervisor cannot hand it the case (`directory_inactive`, nothing
    recorded). Seed 002 L435-437; issue 11 « routing read[s] » the directory."""
    w = World()
    w.open()
    view = w.do(request([TEAM]), T0)
    assert [x.team.team_id for x in view.candidates] == ["crise-laval-1", "cc-laval"]
    Services(w.record).add(service("cc-laval-crise", "cc-laval", active=False), "annuaire", T0 + 2 * MIN)
    view = w.do(c.DeclineHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id, reason="occupée"), T0 + 5 * MIN)
    assert [a.candidate.team.team_id for a in view.attempts] == ["crise-laval-1"]
    [escalated] = view.escalations
    assert (escalated.deadline_id, escalated.reason) == (
        None, "aucune équipe n'a accepté l'intervention (1 sollicitée(s))")
    cc = TeamRef(team_id="cc-laval", org_id="cc-laval")
    refused = w.refused(sup(c.Reassign, team=cc, reason="rappel"), "directory_inactive", T0 + 10 * MIN)
    assert str(refused) == ("cannot reassign case C-ABCDEFGH23: cc-laval: the directory lists its crisis services "
                            "in laval (cc-laval-crise) as inactive")


# ------------------------------------------------------------------ the directory's hours routing reads
OFFICE = ServiceHours(windows=[Window(days=[1, 2, 3, 4, 5], opens=time(8), closes=time(16))])
SATURDAY = T0 + 5 * 24 * 60 * MIN  # Saturday 2027-03-06 09:00 in Québec


def crisis_service(sid: str, org: str, schedule: ServiceHours | None, *, active: bool = True) -> DirectoryService:
    return service(sid, org, active=active).model_copy(update={"schedule": schedule})


def test_directory_unavailable_names_organisations_whose_active_crisis_services_do_not_serve_then() -> None:
    """The mobile crisis service is due « 24 heures par jour, 7 jours par semaine et 365 jours par année » (seed
    001 L1259-1260), and the network reaches a service through the link it has with it (seed 002 L435-437): an
    organisation whose active crisis services in the territory all declare hours leaving out the moment is not
    asked then (`directory_not_serving`); one of its services serving (or declaring no hours) keeps it asked;
    its inactive services do not count; all inactive stays `directory_inactive`."""
    listed = [crisis_service("cc-jour", "cc-laval", OFFICE), crisis_service("cc-nuit", "cc-laval", ALWAYS,
                                                                            active=False),
              crisis_service("cps-jour", "cps-laval", OFFICE), crisis_service("cps-texte", "cps-laval", None),
              crisis_service("ca-1", "ca-laval", OFFICE, active=False),
              crisis_service("loge", "omh-laval", OFFICE).model_copy(update={"sector": Sector.LOGEMENT})]
    inactive = ("directory_inactive", "ca-laval: the directory lists its crisis services in laval (ca-1) as inactive")
    assert directory_unavailable(listed, "laval", T0) == {"ca-laval": inactive}
    assert directory_unavailable(listed, "laval", SATURDAY) == {
        "ca-laval": inactive,
        "cc-laval": ("directory_not_serving",
                     "cc-laval: the directory's hours for its crisis services in laval (cc-jour) leave out that "
                     "moment")}
    assert directory_unavailable(listed, "nord", SATURDAY) == {}


def test_routing_does_not_ask_an_organisation_whose_directory_hours_leave_out_the_moment() -> None:
    """Seed 001 L1259-1260 (24/7/365), seed 002 L435-437: the entente with cc-laval is in force all week, but the
    directory lists its crisis service open weekdays 8 h-16 h. Asked on Monday 9 h; a request on Saturday asks the
    CSSS team only."""
    for at, expected in ((T0, ["crise-laval-1", "cc-laval"]), (SATURDAY, ["crise-laval-1"])):
        w = World()
        Services(w.record).add(crisis_service("cc-laval-crise", "cc-laval", OFFICE), "annuaire", T0 - MIN)
        w.open(at=at)
        assert [x.team.team_id for x in w.do(request([TEAM]), at).candidates] == expected


def test_after_a_decline_the_cascade_skips_and_a_reassignment_refuses_an_organisation_closed_by_its_hours() -> None:
    """cc-laval's directory hours end at 9 h 03 on Mondays: proposed at the request (9 h), it is skipped by the
    cascade after the CSSS team declines at 9 h 05 (the supervisor gets the case), and the supervisor's
    reassignment to it at 9 h 10 is refused `directory_not_serving`, nothing recorded. Seed 001 L1259-1260,
    seed 002 L435-437."""
    w = World()
    short = ServiceHours(windows=[Window(days=[1], opens=time(8), closes=time(9, 3))])
    Services(w.record).add(crisis_service("cc-laval-crise", "cc-laval", short), "annuaire", T0 - MIN)
    w.open()
    assert [x.team.team_id for x in w.do(request([TEAM]), T0).candidates] == ["crise-laval-1", "cc-laval"]
    view = w.do(c.DeclineHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id, reason="occupée"), T0 + 5 * MIN)
    assert [a.candidate.team.team_id for a in view.attempts] == ["crise-laval-1"]
    assert [e.reason for e in view.escalations] == ["aucune équipe n'a accepté l'intervention (1 sollicitée(s))"]
    cc = TeamRef(team_id="cc-laval", org_id="cc-laval")
    refused = w.refused(sup(c.Reassign, team=cc, reason="rappel"), "directory_not_serving", T0 + 10 * MIN)
    assert str(refused) == ("cannot reassign case C-ABCDEFGH23: cc-laval: the directory's hours for its crisis "
                            "services in laval (cc-laval-crise) leave out that moment")
    Services(w.record).add(crisis_service("cc-laval-crise", "cc-laval", ALWAYS), "annuaire", T0 + 11 * MIN,
                           replace=True)
    assert w.do(sup(c.Reassign, team=cc, reason="rappel"), T0 + 12 * MIN).attempts[-1].candidate.team.team_id == (
        "cc-laval")


# ------------------------------------------------------------------ the timer's cascade reads the directory too
def test_the_timers_cascade_skips_an_organisation_the_directory_stopped_as_recorded_when_it_runs() -> None:
    """The CSSS team does not answer in time (crise.reponse_equipe, 10 min): the cascade the timer makes reads the
    directory as a decline's does (issue 11; seed 002 L435-437). cc-laval's crisis service was listed active at
    the request (9 h) and inactive at 9 h 02: at 9 h 10 the timer goes past it to the supervisor. A change
    recorded for a moment after the timer's (9 h 30) is not read: the timer, or its retry, asks cc-laval."""
    for stopped_at, asked in ((T0 + 2 * MIN, ["crise-laval-1"]), (T0 + 30 * MIN, ["crise-laval-1", "cc-laval"])):
        w = World()
        Services(w.record).add(service("cc-laval-crise", "cc-laval"), "annuaire", T0 - MIN)
        w.open()
        assert [x.team.team_id for x in w.do(request([TEAM]), T0).candidates] == ["crise-laval-1", "cc-laval"]
        Services(w.record).add(service("cc-laval-crise", "cc-laval", active=False), "annuaire", stopped_at,
                               replace=True)
        view = w.cases.advance(CODE, T0 + 10 * MIN)
        assert [a.candidate.team.team_id for a in view.attempts] == asked
        assert view.attempts[0].status is AttemptStatus.TIMED_OUT
        if len(asked) == 1:
            assert view.stage is CaseStage.SUPERVISOR
            assert [e.reason for e in view.escalations] == [
                "aucune équipe n'a accepté l'intervention (1 sollicitée(s))"]
            assert w.events()[-2:] == ["HandoffTimedOut", "Escalated"]
        else:
            assert view.stage is CaseStage.HANDOFF and view.attempts[1].asked_at == T0 + 10 * MIN
        assert w.cases.advance(CODE, T0 + 10 * MIN).attempts == view.attempts  # run again: nothing more


def test_the_timers_cascade_skips_an_organisation_whose_directory_hours_leave_out_the_due_moment() -> None:
    """Seed 001 L1259-1260 (the mobile crisis service 24/7/365) and seed 002 L435-437: cc-laval's directory hours
    end at 9 h 03 on Mondays. Proposed at the request (9 h), it is not asked when the CSSS team's answer falls
    due at 9 h 10, even though the timer runs late (9 h 12): the supervisor gets the case. Hours that serve
    always at the due moment keep it asked."""
    short = ServiceHours(windows=[Window(days=[1], opens=time(8), closes=time(9, 3))])
    for hours, asked in ((short, ["crise-laval-1"]), (ALWAYS, ["crise-laval-1", "cc-laval"])):
        w = World()
        Services(w.record).add(crisis_service("cc-laval-crise", "cc-laval", hours), "annuaire", T0 - MIN)
        w.open()
        assert [x.team.team_id for x in w.do(request([TEAM]), T0).candidates] == ["crise-laval-1", "cc-laval"]
        view = w.cases.advance(CODE, T0 + 12 * MIN)
        assert [a.candidate.team.team_id for a in view.attempts] == asked
        assert view.stage is (CaseStage.SUPERVISOR if hours is short else CaseStage.HANDOFF)
