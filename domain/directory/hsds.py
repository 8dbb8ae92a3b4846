"""The directory in Open Referral's Human Services Data Specification (HSDS 3.0), as JSON.

A region loads its 2-1-1 or local directory and gives its own back in the field's open format. The document is
HSDS's tables as JSON arrays: `organizations` (id, name), `services` (id, organization_id, name, description,
status, wait_time, schedules[], service_areas[].name, attributes[]), `locations` (id,
organization_id, name, location_type), `service_at_locations` (id, service_id, location_id) and `phones` (id,
service_id, number). What HSDS has no field for — the sector (seed 002 L413-427), the kind of link (seed 002
L435-437) and the intake channel — travels as service `attributes` whose taxonomy term names an arrimage
vocabulary (`ARRIMAGE_VOCABULARIES`). Input is validated with pydantic (unknown top-level keys are allowed: an
HSDS file may carry tables the directory does not read).

Schedules (HSDS 3.0 `schedule`: RFC 5545 recurrence fields) carry the service's hours both ways: each weekly
window of `DirectoryService.schedule` is one schedule `freq: WEEKLY`, `byday: MO,TU,…`, `opens_at` / `closes_at`
in Québec local time (HH:MM, 24:00 read as the midnight that ends the day; an offset, when given, must be
Québec's own, -05:00 or -04:00, since the windows follow the civil clock through daylight saving); `closes_at`
at or before `opens_at` runs past midnight, equal times mean the whole day (`domain.hours.Window`). A closed
date (a holiday) is a schedule valid from and to that date with the attribute `arrimage:schedule` / `closed`.
The free text (`hours`) is the first schedule's `description`. A schedule arrimage cannot hold as weekly windows
(MONTHLY, an interval, valid_from / valid_to, until / count, no byday) keeps the text only and no structured
hours (None: not declared, serving always); a malformed one (a time or a day that is not one) refuses the
document.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.directory.model import DirectoryService, IntakeChannel, LinkKind, Sector
from domain.errors import DomainError
from domain.hours import ServiceHours, Window

SECTOR, LINK, CHANNEL = "arrimage:sector", "arrimage:link", "arrimage:intake_channel"
SCHEDULE, CLOSED = "arrimage:schedule", "closed"  # a schedule's attribute: that date is closed
BYDAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # RFC 5545 weekdays, ISO order (1 = Monday)
QUEBEC_OFFSETS = ("-05:00", "-04:00")  # EST, EDT
_TIME = re.compile(r"^(\d{2}:\d{2}(?::\d{2})?)(Z|[+-]\d{2}:\d{2})?$")
ARRIMAGE_VOCABULARIES = (SECTOR, LINK, CHANNEL, SCHEDULE)


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
    id: str | None = None
    description: str | None = None
    freq: str | None = None
    interval: int | None = None
    byday: str | None = None
    byweekno: str | int | None = None
    bymonthday: str | int | None = None
    byyearday: str | int | None = None
    until: str | None = None
    count: str | int | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    opens_at: str | None = None
    closes_at: str | None = None
    timezone: float | None = None
    attributes: list[Attribute] = Field(default_factory=list)

    def closed(self) -> bool:
        return any(a.taxonomy_term.vocabulary == SCHEDULE and a.taxonomy_term.code == CLOSED
                   for a in self.attributes)

    def weekly(self) -> bool:
        """Can arrimage hold it as a weekly window (every week, those days, those hours)?"""
        return (
            (self.freq or "WEEKLY").upper() == "WEEKLY" and self.interval in (None, 1)
            and self.valid_from is None and self.valid_to is None and self.until is None and self.count is None
            and self.byweekno is None and self.bymonthday is None and self.byyearday is None
        )


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


def _local_time(value: str, where: str) -> time:
    """An HSDS `opens_at` / `closes_at` as a Québec local time."""
    found = _TIME.match(value.strip())
    if found is None:
        raise DomainError(f"{where}: {value!r} is not a time (HH:MM)", code="invalid_hsds")
    if found.group(2) is not None and found.group(2) not in QUEBEC_OFFSETS:
        raise DomainError(f"{where}: {value!r} is not Québec time (local HH:MM, or offset -05:00 / -04:00)",
                          code="invalid_hsds")
    if found.group(1) in ("24:00", "24:00:00"):
        return time(0)  # the end of the day: a window closing at midnight (`Window`: closes <= opens runs to it)
    try:
        return time.fromisoformat(found.group(1))
    except ValueError:
        raise DomainError(f"{where}: {value!r} is not a time (HH:MM)", code="invalid_hsds") from None


def _days(byday: str, where: str) -> list[int]:
    days = []
    for part in byday.split(","):
        code = part.strip().upper()
        if code not in BYDAY:
            raise DomainError(f"{where}: byday {part!r} is not a weekday (MO, TU, WE, TH, FR, SA, SU)",
                              code="invalid_hsds")
        days.append(BYDAY.index(code) + 1)
    return days


def _schedule(service: Service) -> ServiceHours | None:
    """The service's weekly windows and closed dates, or None when it gives none arrimage can hold."""
    closed: list[date] = []
    windows: list[Window] = []
    for n, x in enumerate(service.schedules):
        where = f"service {service.id}: schedule {x.id or n}"
        if x.timezone is not None and x.timezone not in (-5, -4):
            raise DomainError(f"{where}: timezone {x.timezone:g} is not Québec's (-5 or -4)", code="invalid_hsds")
        if x.closed():
            if x.valid_from is None:
                raise DomainError(f"{where}: a closed date needs valid_from", code="invalid_hsds")
            last = x.valid_to or x.valid_from
            if last < x.valid_from or (last - x.valid_from).days > 366:
                raise DomainError(f"{where}: valid_to must be within a year after valid_from", code="invalid_hsds")
            closed += [x.valid_from + timedelta(days=i) for i in range((last - x.valid_from).days + 1)]
        elif x.opens_at is not None or x.closes_at is not None or x.byday is not None:
            if not x.weekly() or x.byday is None or x.opens_at is None or x.closes_at is None:
                return None  # hours arrimage cannot hold as weekly windows: the text only
            windows.append(Window(days=_days(x.byday, where), opens=_local_time(x.opens_at, where),
                                  closes=_local_time(x.closes_at, where)))
    if not windows:
        if closed:
            raise DomainError(f"service {service.id}: closed dates need weekly hours (opens_at, closes_at, byday)",
                              code="invalid_hsds")
        return None
    return ServiceHours(windows=windows, closed_on=closed)


def _hhmm(t: time) -> str:
    return t.strftime("%H:%M" if t.second == 0 else "%H:%M:%S")


def _schedules(s: DirectoryService) -> list[dict[str, Any]]:
    """The service's hours as HSDS schedules: one per weekly window, one per closed date; the text on the first."""
    if s.schedule is None:
        return [{"description": s.hours}] if s.hours else []
    out: list[dict[str, Any]] = [
        {"id": f"{s.service_id}-schedule-{n}", "service_id": s.service_id, "freq": "WEEKLY",
         "byday": ",".join(BYDAY[d - 1] for d in w.days), "opens_at": _hhmm(w.opens), "closes_at": _hhmm(w.closes)}
        for n, w in enumerate(s.schedule.windows, 1)
    ]
    out += [
        {"id": f"{s.service_id}-closed-{d.isoformat()}", "service_id": s.service_id, "valid_from": d.isoformat(),
         "valid_to": d.isoformat(), "description": "fermé",
         "attributes": [{"id": f"{s.service_id}-closed-{d.isoformat()}-closed",
                         "taxonomy_term": {"code": CLOSED, "vocabulary": SCHEDULE}}]}
        for d in s.schedule.closed_on
    ]
    out[0] = {**out[0], "description": s.hours}
    return out


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
            hours = next((x.description for x in s.schedules if x.description and not x.closed()), None)
            out.append(DirectoryService.model_validate({
                "service_id": s.id, "name": s.name, "organisation_id": org.id, "organisation_name": org.name,
                "territory": s.service_areas[0].name, "sector": _term(s, SECTOR) or Sector.AUTRE,
                "link": _term(s, LINK) or LinkKind.AUCUN,
                "intake_channel": _term(s, CHANNEL) or IntakeChannel.TELEPHONE, "hours": hours,
                "schedule": _schedule(s),
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
            "schedules": _schedules(s),
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
