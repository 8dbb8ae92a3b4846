"""The directory of services (issue 11): its pure parts.

Seed 002 L413-427 (the intersectoral services: housing L413, work L415, training L419, transport L421,
subsistence L423), L435-437 (« corridors de services … protocoles d'entente … agents de liaison »), seed 003 L112
(« le délai de services prévu »)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from pydantic import ValidationError

from domain.crisis.model import ReceivingService, ReceivingServiceType
from domain.directory.aggregate import Directory
from domain.directory.hsds import from_hsds, to_hsds
from domain.directory.model import DirectoryService, LinkKind, Sector, check_referral_target
from domain.errors import DomainError, RuleViolation
from domain.hours import ALWAYS, ServiceHours, Window, serving_at, weekly_minutes

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "annuaire-laval.hsds.json"
T0 = datetime(2027, 3, 1, 14, 0, tzinfo=UTC)


def housing(**kw: object) -> DirectoryService:
    return DirectoryService.model_validate({
        "service_id": "omh-laval-logement", "name": "Logement social", "organisation_id": "omh-laval",
        "organisation_name": "OMH de Laval", "territory": "laval", "sector": "logement",
        "link": "agent_de_liaison", "current_wait": "18 mois", **kw})


def test_the_example_covers_the_intersectoral_sectors_and_the_three_kinds_of_link() -> None:
    """Seed 002 L413-423 (housing, work, training, transport, subsistence) and L435-437 (the three links)."""
    services = from_hsds(json.loads(EXAMPLE.read_text(encoding="utf-8")))
    sectors = {s.sector for s in services}
    assert {Sector.LOGEMENT, Sector.TRAVAIL, Sector.FORMATION, Sector.TRANSPORT, Sector.SUBSISTANCE} <= sectors
    assert {LinkKind.CORRIDOR, LinkKind.PROTOCOLE, LinkKind.AGENT_LIAISON} <= {s.link for s in services}
    omh = next(s for s in services if s.service_id == "omh-laval-logement")
    assert (omh.organisation_id, omh.territory, omh.current_wait, omh.hours, omh.phone) == (
        "omh-laval", "laval", "18 mois", "lun-ven 9 h-16 h", "450-555-0120")


def test_hsds_round_trip_is_exact() -> None:
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    services = from_hsds(doc)
    assert to_hsds(services) == doc
    assert from_hsds(to_hsds(services)) == services


@pytest.mark.parametrize(("doc", "where"), [
    ({"services": [{"id": "x", "organization_id": "o", "name": "X", "service_areas": [{"name": "laval"}]}]},
     "organization o is not in organizations"),
    ({"organizations": [{"id": "o", "name": "O"}], "services": [{"id": "x", "organization_id": "o", "name": "X"}]},
     "a service_area"),
    ({"organizations": [{"id": "o", "name": "O"}]}, "services"),
    ({"organizations": [{"id": "o", "name": "O"}], "services": [{"id": "X Y", "organization_id": "o", "name": "X",
                                                                 "service_areas": [{"name": "laval"}]}]},
     "service_id"),
])
def test_a_bad_hsds_document_is_refused_naming_what_is_wrong(doc: dict[str, object], where: str) -> None:
    with pytest.raises(DomainError) as err:
        from_hsds(doc)
    assert err.value.code == "invalid_hsds"
    assert where in err.value.message


def test_a_service_needs_its_organisation_territory_and_a_known_sector() -> None:
    with pytest.raises(ValidationError):
        housing(sector="astrologie")
    with pytest.raises(ValidationError):
        housing(territory="")


def test_a_referral_to_a_directory_service_is_checked_against_the_directory() -> None:
    """Seed 002 L435-437: the network refers through the services and links it knows."""
    services = {"omh-laval-logement": housing()}
    ok = ReceivingService(org_id="omh-laval", service=ReceivingServiceType.OTHER,
                          directory_service_id="omh-laval-logement")
    check_referral_target(ok, services)
    check_referral_target(ReceivingService(org_id="clsc-ouest", service=ReceivingServiceType.AAOR), services)
    for receiving, code in [
        (ok.model_copy(update={"directory_service_id": "inconnu"}), "unknown_directory_service"),
        (ok.model_copy(update={"org_id": "autre-org"}), "directory_org_mismatch"),
    ]:
        with pytest.raises(RuleViolation) as err:
            check_referral_target(receiving, services)
        assert err.value.code == code
    with pytest.raises(RuleViolation) as err:
        check_referral_target(ok, {"omh-laval-logement": housing(active=False)})
    assert err.value.code == "inactive_directory_service"


def test_the_directory_records_a_service_once_and_refuses_another_under_the_same_id() -> None:
    directory = Directory(by="admin", at=T0)
    assert directory.record(housing(), "admin", T0, replace=False) is True
    assert directory.record(housing(), "admin", T0, replace=False) is False  # the same: nothing recorded
    version = directory.version
    with pytest.raises(DomainError) as err:
        directory.record(housing(current_wait="2 ans"), "admin", T0, replace=False)
    assert err.value.code == "duplicate_service"
    assert directory.version == version
    assert directory.record(housing(current_wait="2 ans"), "admin", T0, replace=True) is True
    assert directory.services["omh-laval-logement"].current_wait == "2 ans"


# ------------------------------------------------------------------ structured hours (HSDS 3.0 schedules)
def one_service(*schedules: dict[str, object]) -> dict[str, object]:
    return {"organizations": [{"id": "cc", "name": "Centre de crise"}],
            "services": [{"id": "cc-crise", "organization_id": "cc", "name": "Crise", "schedules": list(schedules),
                          "service_areas": [{"name": "laval"}]}]}


def test_the_example_gives_structured_hours_to_a_crisis_service_an_aaor_and_an_intersectoral_service() -> None:
    """The crisis service serves « 24 heures par jour, 7 jours par semaine et 365 jours par année » (seed 001
    L1259-1260); the AAOR's telephone 86 h a week, over its 70 h (L767-770); the employment centre's office
    hours with its holidays (seed 002 L415-417). Services giving only text keep it, with no structured hours."""
    services = {s.service_id: s for s in from_hsds(json.loads(EXAMPLE.read_text(encoding="utf-8")))}
    crisis, aaor, cle = services["cc-laval-crise"], services["cisss-laval-aaor"], services["cle-laval-emploi"]
    assert (crisis.schedule, crisis.hours) == (ALWAYS, "24/7, 365 jours")
    assert weekly_minutes(aaor.schedule) == 86 * 60 and aaor.schedule is not None
    assert aaor.schedule.closed_on == [date(2027, 12, 25)]
    assert cle.schedule == ServiceHours(windows=[Window(days=[1, 2, 3, 4, 5], opens=time(8, 30), closes=time(16, 30))],
                                        closed_on=[date(2027, 6, 24), date(2027, 7, 1), date(2027, 12, 25)])
    assert serving_at(cle.schedule, T0) and not serving_at(cle.schedule, datetime(2027, 6, 24, 14, tzinfo=UTC))
    food = services["ba-laval-alimentaire"]
    assert (food.schedule, food.hours) == (None, "mar et jeu 13 h-16 h")


def test_a_stored_service_recorded_before_structured_hours_still_loads() -> None:
    """A `ServiceRecorded` event written before `schedule` existed replays, its hours text kept, no schedule."""
    old = {"service_id": "omh-laval-logement", "name": "Logement social", "organisation_id": "omh-laval",
           "organisation_name": "OMH de Laval", "territory": "laval", "sector": "logement",
           "link": "agent_de_liaison", "intake_channel": "en_personne", "hours": "lun-ven 9 h-16 h", "phone": None,
           "description": None, "current_wait": "18 mois", "active": True}
    directory = Directory(by="admin", at=T0)
    directory._recorded(service=old, by="admin", at=T0)
    replayed = None
    for stored in directory.collect_events():
        replayed = stored.mutate(replayed)
    assert isinstance(replayed, Directory)
    found = replayed.services["omh-laval-logement"]
    assert (found.hours, found.schedule, found.current_wait) == ("lun-ven 9 h-16 h", None, "18 mois")


def test_weekly_schedules_read_quebec_time_and_round_trip() -> None:
    """An overnight window, a Québec offset (EDT -04:00) and a range of closed dates: read, then written back
    as arrimage writes them, then read again the same."""
    [read] = from_hsds(one_service(
        {"byday": "mo,tu,we,th,fr", "opens_at": "22:00-04:00", "closes_at": "06:00", "description": "nuits"},
        {"freq": "WEEKLY", "byday": "SA,SU", "opens_at": "00:00", "closes_at": "00:00", "interval": 1},
        {"valid_from": "2027-12-24", "valid_to": "2027-12-26",
         "attributes": [{"taxonomy_term": {"vocabulary": "arrimage:schedule", "code": "closed"}}]}))
    assert read.hours == "nuits"
    assert read.schedule == ServiceHours(
        windows=[Window(days=[1, 2, 3, 4, 5], opens=time(22), closes=time(6)),
                 Window(days=[6, 7], opens=time(0), closes=time(0))],
        closed_on=[date(2027, 12, 24), date(2027, 12, 25), date(2027, 12, 26)])
    assert from_hsds(to_hsds([read])) == [read]
    tuesday_3h = datetime(2027, 3, 2, 8, 0, tzinfo=UTC)  # 03:00 in Québec
    assert serving_at(read.schedule, tuesday_3h)
    [evening] = from_hsds(one_service({"byday": "MO", "opens_at": "08:00", "closes_at": "24:00"}))
    assert evening.schedule == ServiceHours(windows=[Window(days=[1], opens=time(8), closes=time(0))])
    assert serving_at(evening.schedule, datetime(2027, 3, 2, 4, 59, tzinfo=UTC))  # Monday 23:59 in Québec


def test_a_schedule_arrimage_cannot_hold_as_weekly_windows_keeps_its_text_only() -> None:
    """A monthly schedule (the first Tuesday) or a seasonal one (valid_from / valid_to) is not weekly hours: the
    service keeps its text, with no structured hours (serving always, as before hours were structured)."""
    for odd in ({"freq": "MONTHLY", "byday": "1TU", "opens_at": "13:00", "closes_at": "16:00"},
                {"byday": "MO", "opens_at": "13:00", "closes_at": "16:00", "valid_from": "2027-06-01"}):
        [read] = from_hsds(one_service({**odd, "description": "selon la saison"}))
        assert (read.schedule, read.hours) == (None, "selon la saison")


@pytest.mark.parametrize(("schedule", "where"), [
    ({"byday": "MO", "opens_at": "09:00Z", "closes_at": "17:00Z"}, "is not Québec time"),
    ({"byday": "MO", "opens_at": "9 h", "closes_at": "17:00"}, "is not a time (HH:MM)"),
    ({"byday": "MO", "opens_at": "25:00", "closes_at": "17:00"}, "is not a time (HH:MM)"),
    ({"byday": "LU", "opens_at": "09:00", "closes_at": "17:00"}, "byday 'LU' is not a weekday"),
    ({"byday": "MO", "opens_at": "09:00", "closes_at": "17:00", "timezone": 0}, "timezone 0 is not Québec's"),
    ({"valid_from": "2027-12-25", "attributes": [
        {"taxonomy_term": {"vocabulary": "arrimage:schedule", "code": "closed"}}]}, "closed dates need weekly hours"),
])
def test_a_malformed_schedule_refuses_the_document(schedule: dict[str, object], where: str) -> None:
    with pytest.raises(DomainError) as err:
        from_hsds(one_service(schedule))
    assert err.value.code == "invalid_hsds"
    assert where in err.value.message
