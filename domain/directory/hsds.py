"""The directory in Open Referral's Human Services Data Specification (HSDS 3.0), as JSON.

A region loads its 2-1-1 or local directory and gives its own back in the field's open format. The document is
HSDS's tables as JSON arrays: `organizations` (id, name), `services` (id, organization_id, name, description,
status, wait_time, schedules[].description, service_areas[].name, attributes[]), `locations` (id,
organization_id, name, location_type), `service_at_locations` (id, service_id, location_id) and `phones` (id,
service_id, number). What HSDS has no field for — the sector (seed 002 L413-427), the kind of link (seed 002
L435-437) and the intake channel — travels as service `attributes` whose taxonomy term names an arrimage
vocabulary (`ARRIMAGE_VOCABULARIES`). Input is validated with pydantic (unknown top-level keys are allowed: an
HSDS file may carry tables the directory does not read).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.directory.model import DirectoryService, IntakeChannel, LinkKind, Sector
from domain.errors import DomainError

SECTOR, LINK, CHANNEL = "arrimage:sector", "arrimage:link", "arrimage:intake_channel"
ARRIMAGE_VOCABULARIES = (SECTOR, LINK, CHANNEL)


class _Open(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TaxonomyTerm(_Open):
    code: str
    vocabulary: str
    name: str | None = None


class Attribute(_Open):
    id: str | None = None
    taxonomy_term: TaxonomyTerm


class Schedule(_Open):
    description: str | None = None


class ServiceArea(_Open):
    name: str


class Organization(_Open):
    id: str
    name: str
    description: str | None = None


class Service(_Open):
    id: str
    organization_id: str
    name: str
    description: str | None = None
    status: str = "active"  # active, inactive, defunct, temporarily closed
    wait_time: str | None = None
    schedules: list[Schedule] = Field(default_factory=list)
    service_areas: list[ServiceArea] = Field(default_factory=list)
    attributes: list[Attribute] = Field(default_factory=list)


class Location(_Open):
    id: str
    organization_id: str | None = None
    name: str | None = None
    location_type: str = "physical"


class ServiceAtLocation(_Open):
    id: str
    service_id: str
    location_id: str


class Phone(_Open):
    id: str
    service_id: str | None = None
    number: str


class Document(_Open):
    organizations: list[Organization] = Field(default_factory=list)
    services: list[Service] = Field(max_length=5000)
    locations: list[Location] = Field(default_factory=list)
    service_at_locations: list[ServiceAtLocation] = Field(default_factory=list)
    phones: list[Phone] = Field(default_factory=list)


def _term(service: Service, vocabulary: str) -> str | None:
    return next((a.taxonomy_term.code for a in service.attributes if a.taxonomy_term.vocabulary == vocabulary), None)


def from_hsds(data: object) -> list[DirectoryService]:
    """The directory's services from an HSDS document; `DomainError(invalid_hsds)` naming what is wrong."""
    try:
        doc = Document.model_validate(data)
        orgs = {o.id: o for o in doc.organizations}
        phones = {p.service_id: p.number for p in doc.phones if p.service_id}
        out = []
        for s in doc.services:
            org = orgs.get(s.organization_id)
            if org is None:
                raise DomainError(f"service {s.id}: organization {s.organization_id} is not in organizations",
                                  code="invalid_hsds")
            if not s.service_areas:
                raise DomainError(f"service {s.id}: a service_area (the territory) is needed", code="invalid_hsds")
            hours = next((x.description for x in s.schedules if x.description), None)
            out.append(DirectoryService.model_validate({
                "service_id": s.id, "name": s.name, "organisation_id": org.id, "organisation_name": org.name,
                "territory": s.service_areas[0].name, "sector": _term(s, SECTOR) or Sector.AUTRE,
                "link": _term(s, LINK) or LinkKind.AUCUN,
                "intake_channel": _term(s, CHANNEL) or IntakeChannel.TELEPHONE, "hours": hours,
                "phone": phones.get(s.id), "description": s.description, "current_wait": s.wait_time,
                "active": s.status == "active",
            }))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise DomainError(f"invalid HSDS document at {where}: {first['msg']}", code="invalid_hsds") from None
    ids = [s.service_id for s in out]
    if len(set(ids)) != len(ids):
        raise DomainError("invalid HSDS document: a service id appears twice", code="invalid_hsds")
    return out


def to_hsds(services: list[DirectoryService]) -> dict[str, object]:
    """The directory as an HSDS document (`from_hsds(to_hsds(x)) == x`)."""
    orgs: dict[str, dict[str, object]] = {}
    out_services, phones = [], []
    for s in sorted(services, key=lambda x: x.service_id):
        orgs.setdefault(s.organisation_id, {"id": s.organisation_id, "name": s.organisation_name})
        out_services.append({
            "id": s.service_id, "organization_id": s.organisation_id, "name": s.name,
            "description": s.description, "status": "active" if s.active else "inactive",
            "wait_time": s.current_wait,
            "schedules": [{"description": s.hours}] if s.hours else [],
            "service_areas": [{"name": s.territory}],
            "attributes": [
                {"id": f"{s.service_id}-{v.split(':')[1]}", "taxonomy_term": {"code": code, "vocabulary": v}}
                for v, code in ((SECTOR, s.sector.value), (LINK, s.link.value), (CHANNEL, s.intake_channel.value))
            ],
        })
        if s.phone:
            phones.append({"id": f"{s.service_id}-phone", "service_id": s.service_id, "number": s.phone})
    return {"organizations": list(orgs.values()), "services": out_services, "locations": [],
            "service_at_locations": [], "phones": phones}
