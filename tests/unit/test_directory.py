"""The directory of services (issue 11): its pure parts.

Seed 002 L413-427 (the intersectoral services: housing L413, work L415, training L419, transport L421,
subsistence L423), L435-437 (« corridors de services … protocoles d'entente … agents de liaison »), seed 003 L112
(« le délai de services prévu »)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from domain.crisis.model import ReceivingService, ReceivingServiceType
from domain.directory.aggregate import Directory
from domain.directory.hsds import from_hsds, to_hsds
from domain.directory.model import DirectoryService, LinkKind, Sector, check_referral_target
from domain.errors import DomainError, RuleViolation

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
