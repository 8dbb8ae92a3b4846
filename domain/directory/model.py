"""A service of the local network's directory, and the rule a referral to it follows.

Seed 002 L403-429 (« Les services intersectoriels dans le milieu »): formal links with the services of the
milieu — social housing (L413), work (L415-417), training (L419), transport (L421), leisure (L422),
subsistence (food banks, clothing, L423-424), domestic help (L425), rehabilitation with correctional services
(L426-427). Seed 002 L435-437: the local network reaches the specialised services « soit par des corridors de
services, soit par des protocoles d'entente ou par l'entremise d'agents de liaison » — the kind of link is
recorded with each service. Seed 003 L112: a person waiting knows « le délai de services prévu » — the current
wait, where known, is kept with the service.

A service's hours are kept twice: `hours`, the free text the service states (« lun-ven 8 h 30-16 h 30 »), and,
where the directory gives them, `schedule`, the same hours as weekly windows in Québec time with closed dates
(`domain.hours.ServiceHours`), which routing reads: the mobile crisis service must serve « 24 heures par jour, 7
jours par semaine et 365 jours par année » (seed 001 L1259-1260), and a crisis service listed with narrower hours
is not asked outside them (`domain.crisis.routing.directory_unavailable`). `schedule` came after the first
`ServiceRecorded` events: those recorded without it read as None (hours not declared: serving always).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from pydantic import Field

from domain.crisis.model import ReceivingService
from domain.ententes.model import Code, Frozen, ShortText, Text
from domain.errors import RuleViolation
from domain.hours import ServiceHours


class Sector(StrEnum):
    """The sector of a service: the health and social services ones and the intersectoral ones (seed 002
    L413-427)."""

    SANTE_MENTALE = "sante_mentale"
    SERVICES_SPECIALISES = "services_specialises"
    CRISE = "crise"
    LOGEMENT = "logement"  # L413-414
    TRAVAIL = "travail"  # L415-417
    FORMATION = "formation"  # L419
    TRANSPORT = "transport"  # L421
    LOISIRS = "loisirs"  # L422
    SUBSISTANCE = "subsistance"  # L423-424: banques alimentaires, comptoirs vestimentaires
    AIDE_DOMESTIQUE = "aide_domestique"  # L425
    READAPTATION_JUSTICE = "readaptation_justice"  # L426-427
    AUTRE = "autre"


class LinkKind(StrEnum):
    """How the network reaches the service (seed 002 L435-437); `aucun`: listed, no formal link."""

    CORRIDOR = "corridor_de_services"
    PROTOCOLE = "protocole_d_entente"
    AGENT_LIAISON = "agent_de_liaison"
    AUCUN = "aucun"


class IntakeChannel(StrEnum):
    """How the service takes a person in."""

    TELEPHONE = "telephone"
    EN_PERSONNE = "en_personne"
    REFERENCE_ECRITE = "reference_ecrite"
    COURRIEL = "courriel"
    WEB = "web"


class DirectoryService(Frozen):
    """One service of the directory: who offers it, where, when, how a person gets in, how the network is linked
    to it, and (where known) its current wait."""

    service_id: Code
    name: ShortText
    organisation_id: Code
    organisation_name: ShortText
    territory: Code
    sector: Sector
    link: LinkKind = LinkKind.AUCUN
    intake_channel: IntakeChannel = IntakeChannel.TELEPHONE
    hours: ShortText | None = None  # as the service states them ("lun-ven 8 h 30-16 h 30", "24/7")
    schedule: ServiceHours | None = None  # the same hours, structured (Québec time); None: not declared
    phone: ShortText | None = None
    description: Text | None = None
    current_wait: ShortText | None = None  # seed 003 L112, « le délai de services prévu » ("3 semaines")
    active: bool = True


class DirectoryEntries(Frozen):
    """A batch of services (an import): each id once."""

    services: list[DirectoryService] = Field(max_length=5000)


def check_referral_target(receiving: ReceivingService, services: Mapping[str, DirectoryService]) -> None:
    """A referral that names a directory service must name one the directory lists, active, of the organisation
    it is sent to (seed 002 L435-437: the network refers through the links it has). One without a directory id
    keeps the free organisation code (the referrals recorded before the directory)."""
    sid = receiving.directory_service_id
    if sid is None:
        return
    found = services.get(sid)
    if found is None:
        raise RuleViolation(f"no service {sid} in the directory", code="unknown_directory_service")
    if not found.active:
        raise RuleViolation(f"directory service {sid} is not active", code="inactive_directory_service")
    if found.organisation_id != receiving.org_id:
        raise RuleViolation(f"directory service {sid} belongs to {found.organisation_id}, not {receiving.org_id}",
                            code="directory_org_mismatch")
