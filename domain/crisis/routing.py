"""Which teams to ask for a mobile crisis intervention, in order: a pure decision over the ententes.

Seed 001, Fiche 3: the service is given « par un intervenant du CSSS ou d'un
organisme communautaire dans le cadre d'entente » (L1181-1184); a person with
an active episode in a specific program is « généralement dirigée vers ces
programmes … à moins d'une entente à ce sujet » (L1241-1243); a partner refers
directly only if it « a une entente à cet effet avec le CSSS » (L1172-1173).

An entente routes only while it is in force (`domain.ententes.rules.in_force_at`):
status ACTIVE, and its end date or revocation not yet reached at `now` (a view read
before the calendar recorded the expiry still never routes).

A team or an organisation is asked only while it serves (`domain.hours.serving_at`):
Info-Social and the mobile crisis service are 24/7/365 (seed 001 L1013-1014,
L1259-1260), but an entente's offer or a CSSS team may declare narrower hours; a
case arriving outside them goes to the next candidate. `askable` is that decision
at the moment of each asking (the first, the cascade's next, a supervisor's
reassignment), so an entente ended or a team closed since routing is never asked.

Routing reads the network's directory of services too (issue 11: « a directory of services that referrals
and routing read »; seed 002 L435-437). The directory is where a region says a service stopped: an
organisation whose every mobile crisis service (sector `crise`) listed in the case's territory is inactive
is not asked, even under an entente still in force (`directory_closed`): not proposed by the request's
routing, skipped by the cascade after a decline or after an answer not given in time (the timer's cascade
reads the directory as recorded at the moment it runs, and judges it at the answer's due moment), refused to a
supervisor's reassignment (`directory_inactive`). An organisation the directory does
not list for crisis in that territory keeps routing by its entente alone, as before the directory.

The directory gives hours too (`DirectoryService.schedule`, Québec time): an organisation whose active crisis
services listed in the territory all declare hours that leave out the moment of asking is not asked then
(`directory_unavailable`, code `directory_not_serving`) — the mobile crisis service is due « 24 heures par
jour, 7 jours par semaine et 365 jours par année » (seed 001 L1259-1260), and the network reaches a service
through the link it has with it (seed 002 L435-437), within that service's hours. Same places as the
inactive ones: the request's routing, the cascade after a decline or a timed-out answer, a supervisor's
reassignment (refused, nothing recorded). A service listed without structured hours (only the text, or recorded
before them) serves always, as the entente's offer and the team's declaration decide.

The CSSS's own teams come from the request, or, when the request names none, from the region's declaration
(`StandardsConfig.csss_teams`, `configured_teams`), the same teams the 24/7 coverage view counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from domain.crisis.model import Candidate, CandidateKind, SpecificEpisode, TeamRef
from domain.directory.model import DirectoryService, Sector
from domain.ententes.model import ServiceCode, ServiceOffer
from domain.ententes.rules import in_force_at
from domain.ententes.state import EntenteView
from domain.hours import serving_at
from domain.standards.availability import CsssTeam

in_force = in_force_at  # the name the gateway's standing rule has read it by


def crisis_offers(
    ententes: Iterable[EntenteView], responsible_org: str, territory: str, now: datetime
) -> list[tuple[EntenteView, ServiceOffer]]:
    """Mobile crisis offers of ententes in force between the CSSS and a provider, covering the territory."""
    found = []
    for view in sorted(ententes, key=lambda v: v.code):
        if not in_force_at(view, now) or responsible_org not in view.content.party_ids:
            continue
        for offer in view.content.services:
            if (
                offer.service is ServiceCode.INTERVENTION_CRISE_MOBILE
                and territory in offer.territories
                and offer.provider != responsible_org
            ):
                found.append((view, offer))
    return found


def partner_entente(
    ententes: Iterable[EntenteView], partner_org: str, responsible_org: str, territory: str, now: datetime
) -> EntenteView | None:
    """The entente in force that lets `partner_org` refer a crisis in `territory` to the CSSS (L1172-1173)."""
    for view, _ in crisis_offers(ententes, responsible_org, territory, now):
        if partner_org in view.content.access.may_refer:
            return view
    return None


def configured_teams(teams: Iterable[CsssTeam]) -> list[TeamRef]:
    """The region's declared CSSS teams (`StandardsConfig.teams_for`) as routing asks them."""
    return [TeamRef(team_id=t.team_id, org_id=t.org_id, name=t.name, hours=t.hours) for t in teams]


DIRECTORY_INACTIVE = "directory_inactive"


def directory_closed(services: Iterable[DirectoryService], territory: str) -> dict[str, str]:
    """The organisations the directory lists with mobile crisis services (sector `crise`) in `territory`, none of
    them active: organisation → why it is not asked. An organisation with one active crisis service there, or
    none listed, is not in it (the entente alone decides, as before the directory)."""
    by_org: dict[str, list[DirectoryService]] = {}
    for service in services:
        if service.sector is Sector.CRISE and service.territory == territory:
            by_org.setdefault(service.organisation_id, []).append(service)
    return {
        org: (f"{org}: the directory lists its crisis services in {territory} "
              f"({', '.join(sorted(x.service_id for x in listed))}) as inactive")
        for org, listed in sorted(by_org.items()) if not any(x.active for x in listed)
    }


DIRECTORY_NOT_SERVING = "directory_not_serving"


def directory_unavailable(
    services: Iterable[DirectoryService], territory: str, moment: datetime
) -> dict[str, tuple[str, str]]:
    """The organisations the directory says cannot be asked at `moment` for a mobile crisis in `territory`:
    organisation → (code, why). `directory_inactive`: every crisis service (sector `crise`) it lists there is
    inactive (`directory_closed`); `directory_not_serving`: some are active, but none of those serves at
    `moment` by its declared hours (`schedule`; none declared serves always, seed 001 L1259-1260). An
    organisation not listed for crisis there is not in it (its entente alone decides)."""
    services = list(services)
    inactive = directory_closed(services, territory)
    by_org: dict[str, list[DirectoryService]] = {}
    for service in services:
        if (service.sector is Sector.CRISE and service.territory == territory and service.active
                and service.organisation_id not in inactive):
            by_org.setdefault(service.organisation_id, []).append(service)
    found = {org: (DIRECTORY_INACTIVE, why) for org, why in inactive.items()}
    for org, listed in sorted(by_org.items()):
        if not any(serving_at(x.schedule, moment) for x in listed):
            found[org] = (DIRECTORY_NOT_SERVING,
                          f"{org}: the directory's hours for its crisis services in {territory} "
                          f"({', '.join(sorted(x.service_id for x in listed))}) leave out that moment")
    return dict(sorted(found.items()))


def route(
    *,
    responsible_org: str,
    territory: str,
    csss_teams: list[TeamRef],
    episode: SpecificEpisode | None,
    ententes: Iterable[EntenteView],
    now: datetime,
    closed: Mapping[str, object] | None = None,
) -> list[Candidate]:
    """The ordered candidates: the CSSS's own teams, then community organisations by entente code.

    With an active specific-program episode, that program comes first — unless an entente in force
    says otherwise (`overrides_specific_program`): then its providers come first and the program last.
    Each organisation appears once, under the entente that lets it share information if there is one.
    An organisation in `closed` (`directory_unavailable` at `now`: the directory says its crisis service
    stopped, or does not serve then) is not proposed.
    """
    closed = closed or {}
    own = [
        Candidate(team=t, kind=CandidateKind.CSSS_TEAM, may_share_information=True)  # same establishment
        for t in csss_teams if serving_at(t.hours, now)
    ]
    community: dict[str, tuple[Candidate, bool]] = {}
    for view, offer in crisis_offers(ententes, responsible_org, territory, now):
        if not serving_at(offer.schedule, now):
            continue  # outside the hours this entente's offer declares: the next candidate
        if offer.provider in closed:
            continue  # the directory says its crisis service stopped or is closed now (seed 002 L435-437)
        party = view.content.party(offer.provider)
        sharing = view.content.information_sharing.permitted
        candidate = Candidate(
            team=TeamRef(team_id=offer.provider, org_id=offer.provider, name=party.name if party else None),
            kind=CandidateKind.COMMUNITY_ORG,
            agreement_code=view.code,
            may_share_information=sharing,
        )
        overrides = view.content.access.overrides_specific_program
        known = community.get(offer.provider)
        if known is None or (sharing and not known[0].may_share_information):
            community[offer.provider] = (candidate, overrides or (known[1] if known else False))
        elif overrides:
            community[offer.provider] = (known[0], True)
    orgs = [c for c, _ in community.values()]
    if episode is None:
        ordered = own + orgs
    else:
        program = Candidate(
            team=episode.team, kind=CandidateKind.SPECIFIC_PROGRAM, program=episode.program,
            may_share_information=episode.team.org_id == responsible_org,
        )
        overriding = [c for c, o in community.values() if o]
        if overriding:
            ordered = overriding + own + [c for c in orgs if c not in overriding] + [program]
        else:
            ordered = [program, *own, *orgs]
    seen: set[str] = set()
    unique = []
    for c in ordered:
        if c.team.team_id not in seen:
            seen.add(c.team.team_id)
            unique.append(c)
    return unique


NOT_IN_FORCE = "entente_not_in_force"
NOT_SERVING = "not_serving"


def askable(
    candidate: Candidate, ententes: Iterable[EntenteView], responsible_org: str, territory: str, moment: datetime,
    closed: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[str, str] | None:
    """Why `candidate` may not be asked at `moment` — (code, reason) — or None when it may.

    A CSSS team or a specific program serves by its own declared hours. A community organisation is asked
    under the entente routing named for it: only while that entente is in force at `moment` (whatever its
    workflow has recorded) and one of its mobile crisis offers for the territory serves then, and not while
    the directory says its crisis service stopped or does not serve at `moment` (`closed`: code and reason,
    from `directory_unavailable` at that moment)."""
    if candidate.kind is not CandidateKind.COMMUNITY_ORG:
        if serving_at(candidate.team.hours, moment):
            return None
        return NOT_SERVING, f"{candidate.team.team_id} does not serve at that moment (its declared hours)"
    if closed and candidate.team.org_id in closed:
        return closed[candidate.team.org_id]
    code = candidate.agreement_code
    view = next((e for e in ententes if e.code == code), None)
    if view is None or not in_force_at(view, moment):
        return NOT_IN_FORCE, f"{candidate.team.org_id} is asked only under entente {code}, not in force at that moment"
    offers = [o for v, o in crisis_offers([view], responsible_org, territory, moment) if o.provider ==
              candidate.team.org_id]
    if not offers:
        return NOT_IN_FORCE, f"entente {code} no longer has {candidate.team.org_id} offer mobile crisis in {territory}"
    if any(serving_at(o.schedule, moment) for o in offers):
        return None
    return NOT_SERVING, f"{candidate.team.org_id} does not serve at that moment under entente {code} (its hours)"
