"""Does the region's configuration cover, at every moment, the services that must serve at every moment?

The mobile crisis intervention « est assuré 24 heures par jour, 7 jours par semaine et 365 jours par année »
(seed 001 L1259-1260), and so is Info-Social (L1013-1014). Who gives the mobile service in a territory is the
CSSS's own teams and the organisations of the ententes in force (L1181-1184); each declares when it serves
(`domain.hours`). A pure computation over what is configured at a moment: for each territory an entente in
force serves, whether the providers together cover 24/7/365, and the weekly gaps and closed dates left.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from domain.crisis.model import TeamRef
from domain.ententes.model import ServiceCode
from domain.ententes.rules import in_force_at
from domain.ententes.state import EntenteView
from domain.hours import ServiceHours, covers_always, gap_text, uncovered_dates, weekly_gaps
from domain.standards.availability import CsssTeam

MOBILE_CRISIS_247 = "seed 001 L1259-1260"


class Provider(BaseModel):
    model_config = ConfigDict(frozen=True)

    provider: str  # an organisation under an entente, or a CSSS team
    entente: str | None  # None: a team of the CSSS
    hours: ServiceHours | None  # None: declared nothing, serves always


class Coverage(BaseModel):
    """One service in one territory: who provides it, and whether they cover 24/7/365 together."""

    model_config = ConfigDict(frozen=True)

    service: str
    territory: str
    must_be_24_7: str  # the seed line that says so
    providers: list[Provider]
    covers_24_7: bool
    weekly_gaps: list[str]  # `sam 22:00 – lun 08:00`, Québec time
    uncovered_dates: list[date]


def crisis_coverage(
    ententes: Iterable[EntenteView], moment: datetime, csss_teams: Iterable[TeamRef] = (),
    region_teams: Iterable[CsssTeam] = (),
) -> list[Coverage]:
    """The 24/7 coverage of the mobile crisis service per territory, from the ententes in force at `moment`
    (`in_force_at`: whatever their workflows have recorded), the CSSS teams given (with their hours; these
    teams serve every territory listed) and the teams the region declares (`StandardsConfig.csss_teams`: each
    in its own territories, the teams routing asks when a request names none). A territory neither an entente
    nor a declared team serves is not listed."""
    teams = [Provider(provider=t.team_id, entente=None, hours=t.hours) for t in csss_teams]
    by_territory: dict[str, list[Provider]] = {}
    for team in region_teams:
        for territory in team.territories:
            by_territory.setdefault(territory, []).append(Provider(provider=team.team_id, entente=None,
                                                                   hours=team.hours))
    for view in sorted(ententes, key=lambda v: v.code):
        if not in_force_at(view, moment):
            continue
        for offer in view.content.services:
            if offer.service is not ServiceCode.INTERVENTION_CRISE_MOBILE:
                continue
            for territory in offer.territories:
                by_territory.setdefault(territory, []).append(
                    Provider(provider=offer.provider, entente=view.code, hours=offer.schedule))
    found = []
    for territory in sorted(by_territory):
        providers = teams + by_territory[territory]
        hours = [p.hours for p in providers]
        found.append(Coverage(
            service=ServiceCode.INTERVENTION_CRISE_MOBILE.value, territory=territory, must_be_24_7=MOBILE_CRISIS_247,
            providers=providers, covers_24_7=covers_always(hours),
            weekly_gaps=[gap_text(g) for g in weekly_gaps(hours)], uncovered_dates=uncovered_dates(hours),
        ))
    return found
