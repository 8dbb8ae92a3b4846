"""Services have hours (seed 001 L767-770, L1013-1014, L1259-1260), and an entente stops at its moment.

Pure decisions: `domain.hours.serving_at` and the 24/7 coverage, `domain.ententes.rules.in_force_at`, and
`domain.crisis.routing.askable` / `route` reading them. T0 is Monday 2027-03-01 09:00 in Québec (14:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from domain.clock import add_days, local_date, start_of
from domain.crisis import commands as c
from domain.crisis.availability import crisis_coverage
from domain.crisis.handoff import sending_context
from domain.crisis.model import Candidate, CandidateKind, TeamRef
from domain.crisis.routing import askable, route
from domain.crisis.state import AttemptStatus
from domain.ententes import commands as ac
from domain.ententes.model import EntenteContent
from domain.ententes.rules import in_force_at
from domain.ententes.state import EntenteStatus
from domain.hours import (
    ALWAYS,
    ServiceHours,
    Window,
    covers_always,
    gap_text,
    serving_at,
    uncovered_dates,
    weekly_gaps,
    weekly_minutes,
)
from tests.crisis_builders import CSSS, HOUR, MIN, T0, TEAM, TEAM_2, activate, memory_record, request, sup
from tests.crisis_builders import crisis_content as content
from tests.crisis_world import World
from usecases.ententes import Ententes

WEEKDAYS_8_16 = ServiceHours(windows=[Window(days=[1, 2, 3, 4, 5], opens=time(8), closes=time(16))])
NIGHTS_AND_WEEKENDS = ServiceHours(windows=[
    Window(days=[1, 2, 3, 4, 5], opens=time(16), closes=time(8)),  # past midnight
    Window(days=[6, 7], opens=time(8), closes=time(8)),  # whole days, from 08:00 to the next 08:00
])
SATURDAY = datetime(2027, 3, 6, 15, 0, tzinfo=UTC)  # 10:00 in Québec
CSSS_TEAM = TeamRef(team_id="crise-laval-1", org_id="cisss-laval")


def with_schedule(text: EntenteContent, hours: ServiceHours) -> EntenteContent:
    data = text.model_dump(mode="json")
    for offer in data["services"]:
        offer["schedule"] = hours.model_dump(mode="json")
    return EntenteContent.model_validate(data)


def test_undeclared_hours_serve_always() -> None:
    """Old ententes and teams declared nothing: they keep serving at every moment (24/7, L1259-1260)."""
    assert serving_at(None, T0) and serving_at(None, SATURDAY)
    assert serving_at(ALWAYS, SATURDAY)


def test_a_moment_is_read_in_quebec_time_with_windows_past_midnight_and_closed_dates() -> None:
    assert serving_at(WEEKDAYS_8_16, T0)  # Monday 09:00 HNE
    assert not serving_at(WEEKDAYS_8_16, T0 - timedelta(hours=2))  # Monday 07:00 HNE, 12:00 UTC
    assert not serving_at(WEEKDAYS_8_16, SATURDAY)
    assert serving_at(NIGHTS_AND_WEEKENDS, T0 + timedelta(hours=18))  # Tuesday 03:00, from Monday 16:00
    assert not serving_at(NIGHTS_AND_WEEKENDS, T0)
    holiday = ServiceHours(windows=WEEKDAYS_8_16.windows, closed_on=[date(2027, 3, 1)])
    assert not serving_at(holiday, T0)
    assert serving_at(holiday, T0 + timedelta(days=1))


def test_24_7_coverage_is_the_union_of_the_services_hours() -> None:
    """Info-Social and the mobile crisis « 24 heures par jour, 7 jours par semaine et 365 jours par année »
    (seed 001 L1013-1014, L1259-1260): day and night ententes together cover it, the day one alone does not."""
    assert covers_always([WEEKDAYS_8_16, NIGHTS_AND_WEEKENDS])
    assert not covers_always([WEEKDAYS_8_16])
    assert [gap_text(g) for g in weekly_gaps([WEEKDAYS_8_16])][:2] == ["lun 00:00 – lun 08:00",
                                                                        "lun 16:00 – mar 08:00"]
    assert not covers_always([])
    assert covers_always([None])


def test_a_holiday_closure_leaves_the_day_uncovered_unless_another_serves_it() -> None:
    """365 days a year (L1259-1260): a closed date is a gap unless the services open that day cover it."""
    christmas = date(2027, 12, 25)
    closed = ServiceHours(windows=ALWAYS.windows, closed_on=[christmas])
    assert uncovered_dates([closed]) == [christmas] and not covers_always([closed])
    assert covers_always([closed, ALWAYS])
    assert uncovered_dates([closed, WEEKDAYS_8_16]) == [christmas]


def test_aaor_hours_a_week() -> None:
    """The AAOR « au moins 70 heures par semaine » (L767-770): weekly minutes of declared hours."""
    assert weekly_minutes(WEEKDAYS_8_16) == 5 * 8 * 60
    assert weekly_minutes(None) == 7 * 24 * 60
    assert weekly_minutes(NIGHTS_AND_WEEKENDS) + weekly_minutes(WEEKDAYS_8_16) == 7 * 24 * 60


def test_a_schedule_leaves_the_fingerprint_of_older_versions_unchanged() -> None:
    """A version signed before schedules existed keeps the fingerprint its signatures are bound to."""
    text = content("cc-laval")
    data = text.model_dump(mode="json")
    for offer in data["services"]:
        offer.pop("schedule")
    assert EntenteContent.model_validate(data).fingerprint() == text.fingerprint()
    assert with_schedule(text, WEEKDAYS_8_16).fingerprint() != text.fingerprint()


def test_routing_asks_only_who_serves_at_the_moment() -> None:
    """A case arriving outside an entente's hours goes to the next candidate; a closed CSSS team is skipped."""
    ententes = Ententes(memory_record())
    day = activate(ententes, "ENT-JOUR", with_schedule(content("cc-jour"), WEEKDAYS_8_16))
    always = activate(ententes, "ENT-TOUJOURS", content("cc-toujours"))
    team = CSSS_TEAM.model_copy(update={"hours": WEEKDAYS_8_16})

    def ids(now: datetime) -> list[str]:
        return [c.team.team_id for c in route(responsible_org="cisss-laval", territory="laval", csss_teams=[team],
                                              episode=None, ententes=[day, always], now=now)]
    assert ids(T0) == ["crise-laval-1", "cc-jour", "cc-toujours"]
    assert ids(SATURDAY) == ["cc-toujours"]
    candidate = Candidate(team=TeamRef(team_id="cc-jour", org_id="cc-jour"), kind=CandidateKind.COMMUNITY_ORG,
                          agreement_code="ENT-JOUR", may_share_information=True)
    assert askable(candidate, [day], "cisss-laval", "laval", T0) is None
    refused = askable(candidate, [day], "cisss-laval", "laval", SATURDAY)
    assert refused is not None and refused[0] == "not_serving"
    closed_team = Candidate(team=team, kind=CandidateKind.CSSS_TEAM, may_share_information=True)
    assert askable(closed_team, [], "cisss-laval", "laval", SATURDAY) == (
        "not_serving", "crise-laval-1 does not serve at that moment (its declared hours)")


def test_an_entente_stops_at_its_end_or_revocation_whatever_its_workflow_recorded() -> None:
    """From the instant the end or the revocation takes effect (seed 000, Annex 3, ss. 10-11, L493-496):
    the view still says ACTIVE (the calendar has not woken), yet it is not in force and not askable."""
    ententes = Ententes(memory_record())
    end = add_days(local_date(T0), 10)
    ending = activate(ententes, "ENT-FIN", content("cc-fin", end=end))
    activate(ententes, "ENT-REV", content("cc-rev"))
    notice = add_days(local_date(T0), 90)
    revoking = ententes.execute("ENT-REV", ac.GiveRevocationNotice(
        by="cisss", party_id="cisss-laval", reason="fin", effective_date=notice), T0)
    expiry, revocation = start_of(add_days(end, 1)), start_of(notice)
    assert in_force_at(ending, expiry - timedelta(seconds=1)) and not in_force_at(ending, expiry)
    assert in_force_at(revoking, revocation - timedelta(seconds=1)) and not in_force_at(revoking, revocation)
    assert ending.status is EntenteStatus.ACTIVE and revoking.status is EntenteStatus.ACTIVE
    candidate = Candidate(team=TeamRef(team_id="cc-fin", org_id="cc-fin"), kind=CandidateKind.COMMUNITY_ORG,
                          agreement_code="ENT-FIN", may_share_information=True)
    assert askable(candidate, [ending], "cisss-laval", "laval", expiry - timedelta(seconds=1)) is None
    refused = askable(candidate, [ending], "cisss-laval", "laval", expiry)
    assert refused is not None and refused[0] == "entente_not_in_force"


def test_no_information_is_sent_under_an_entente_from_the_moment_it_ends() -> None:
    """The sending of the intake keeps the entente only while it is in force at the asking moment: from its
    end on, the organisation receives nothing under it (the partner gate refuses for want of an entente)."""
    ententes = Ententes(memory_record())
    end = add_days(local_date(T0), 10)
    ending = activate(ententes, "ENT-FIN", content("cc-fin", end=end))
    expiry = start_of(add_days(end, 1))
    assert [e.code for e in sending_context([ending], expiry - timedelta(seconds=1)).ententes] == ["ENT-FIN"]
    assert sending_context([ending], expiry).ententes == []
    assert ending.status is EntenteStatus.ACTIVE


def test_the_regions_mobile_crisis_coverage_per_territory() -> None:
    """« 24 heures par jour, 7 jours par semaine et 365 jours par année » (seed 001 L1259-1260): a day entente
    alone leaves gaps; with a night-and-weekend one the territory is covered; an entente past its end counts
    for nothing from that moment, though its record still says in force."""
    ententes = Ententes(memory_record())
    end = add_days(local_date(T0), 10)
    day = activate(ententes, "ENT-JOUR", with_schedule(content("cc-jour"), WEEKDAYS_8_16))
    night = activate(ententes, "ENT-NUIT", with_schedule(content("cc-nuit", end=end), NIGHTS_AND_WEEKENDS))
    [covered] = crisis_coverage([day, night], T0)
    assert (covered.territory, covered.covers_24_7, covered.weekly_gaps, covered.must_be_24_7) == (
        "laval", True, [], "seed 001 L1259-1260")
    assert [(p.provider, p.entente) for p in covered.providers] == [("cc-jour", "ENT-JOUR"), ("cc-nuit", "ENT-NUIT")]
    [after] = crisis_coverage([day, night], start_of(add_days(end, 1)))
    assert not after.covers_24_7 and after.weekly_gaps[0] == "lun 00:00 – lun 08:00"
    [with_team] = crisis_coverage([day], T0, [CSSS_TEAM])  # a CSSS team declaring nothing serves always
    assert with_team.covers_24_7 and with_team.providers[0].entente is None


def test_the_cascade_skips_a_team_closed_at_that_moment_and_a_reassignment_to_it_is_refused() -> None:
    """A decline at Monday 09:10 moves past the team that closed at 09:05 to the organisation under entente
    (L1181-1184); the supervisor cannot reassign to the closed team (`not_serving`, nothing recorded)."""
    morning = ServiceHours(windows=[Window(days=[1], opens=time(8), closes=time(9, 5))])
    closing = TEAM_2.model_copy(update={"hours": morning})
    w = World()
    w.open()
    view = w.do(request([TEAM, closing]), T0)
    assert [x.team.team_id for x in view.candidates] == ["crise-laval-1", "crise-laval-2", "cc-laval"]
    view = w.do(c.DeclineHandoff(by="eq-1", actor_org=CSSS, team_id=TEAM.team_id, reason="occupée"), T0 + 10 * MIN)
    assert [(a.candidate.team.team_id, a.status) for a in view.attempts] == [
        ("crise-laval-1", AttemptStatus.DECLINED), ("cc-laval", AttemptStatus.PENDING)]
    refused = w.refused(sup(c.Reassign, team=TEAM_2, reason="rappel"), "not_serving", T0 + 15 * MIN)
    assert "crise-laval-2 does not serve at that moment" in str(refused)


def test_a_reassignment_to_an_organisation_whose_entente_was_revoked_is_refused_before_the_calendar_wakes() -> None:
    """The revocation takes effect on its date (notice given, the entente's workflow never advanced): from that
    instant a supervisor cannot hand the case to the organisation (`entente_not_in_force`, nothing recorded)."""
    w = World()
    notice = add_days(local_date(T0), 90)
    w.ententes.execute("ENT-CC", ac.GiveRevocationNotice(
        by="cisss", party_id="cisss-laval", reason="fin", effective_date=notice), T0)
    at = start_of(notice)
    w.open(at=at - HOUR)
    view = w.do(request([TEAM]), at - HOUR)
    assert [x.team.team_id for x in view.candidates] == ["crise-laval-1", "cc-laval"]
    refused = w.refused(sup(c.Reassign, team=TeamRef(team_id="cc-laval", org_id="cc-laval"), reason="rappel"),
                        "entente_not_in_force", at)
    assert "ENT-CC" in str(refused)
    assert w.ententes.view("ENT-CC").status is EntenteStatus.ACTIVE
