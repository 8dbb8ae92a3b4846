"""What a region's file declares about when its own services serve: the AAOR's hours, the CSSS's mobile crisis teams.

The AAOR « est accessible par téléphone au moins 70 heures par semaine » and « par des rencontres en personne au
moins 70 heures par semaine » (seed 001 L767-770; L692-693; annexe II, fiche 1, L2253-2256). It is the CSSS's
service for its whole territory, offered « dans plusieurs installations » (L761-763): the region declares its
hours per territory, one `ServiceHours` per channel, and may name the installations that give them.

Is the 70 h fixed? The annex's legend (L2307) marks « SF : standard fixé » and « RR : réalités régionales ». The
70 h is the fiche 1 cell of the « Particularités du service » row (L2251-2256) where the other fiches read « RR »:
for the AAOR the ministry wrote the figure itself instead of leaving it to the region, and the fiche states it as
a standard of access (« ✚✚ … au moins 70 heures par semaine », L767-770), like the 2 h, 24 h and 10 days the same
fiche gives and this engine already holds as fixed. So it is a floor a region may raise, never lower: a file
declaring fewer hours for a channel is a loosening, refused at start (`config.loosenings`). What the annex leaves
to the region is how the hours are spread (« un certain nombre d'heures les fins de semaine », L772-773).

The CSSS's own mobile crisis teams give the service « par un intervenant du CSSS » (L1181-1184) beside the
community organisations under ententes; the region declares them once (team, organisation, territories, hours)
so that routing and the 24/7 coverage view read the same teams.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from domain.ententes.model import Code, Frozen, ShortText
from domain.hours import ServiceHours, weekly_minutes

AAOR_WEEKLY_FLOOR_HOURS = 70
AAOR_HOURS_REFERENCE = "seed 001 L767-770; L692-693; annexe L2253-2256"
AAOR_HOURS_SEED_FIGURE = "au moins 70 heures par semaine"
MAX_TERRITORIES = 50
MAX_TEAMS = 100


class AaorChannel(StrEnum):
    """The two ways the AAOR is reached, each with its own 70 h (L767 and L769-770)."""

    TELEPHONE = "telephone"
    EN_PERSONNE = "en_personne"


class AaorHours(Frozen):
    """The AAOR of one territory: when it answers by telephone and when it receives in person (Québec time)."""

    territory: Code
    telephone: ServiceHours
    en_personne: ServiceHours
    installations: list[ShortText] = Field(default_factory=list, max_length=50)  # where it receives (L763)

    def hours(self, channel: AaorChannel) -> ServiceHours:
        return self.telephone if channel is AaorChannel.TELEPHONE else self.en_personne


class AaorWeek(Frozen):
    """One channel of one territory's AAOR against the 70 h floor."""

    territory: Code
    channel: AaorChannel
    weekly_minutes: int
    weekly_hours: float
    floor_hours: int = AAOR_WEEKLY_FLOOR_HOURS
    meets_floor: bool
    reference: str = AAOR_HOURS_REFERENCE


def aaor_weeks(declared: list[AaorHours] | None) -> list[AaorWeek]:
    """Each territory's AAOR, both channels, with its weekly hours (`weekly_minutes`, holidays aside) against
    the 70 h floor (L767-770). Empty when the region declares none."""
    out = []
    for entry in sorted(declared or [], key=lambda a: a.territory):
        for channel in AaorChannel:
            minutes = weekly_minutes(entry.hours(channel))
            out.append(AaorWeek(territory=entry.territory, channel=channel, weekly_minutes=minutes,
                                weekly_hours=round(minutes / 60, 2),
                                meets_floor=minutes >= AAOR_WEEKLY_FLOOR_HOURS * 60))
    return out


class CsssTeam(Frozen):
    """One of the CSSS's own mobile crisis teams (L1181-1184): the territories it serves and when it serves
    (None: declares nothing, serves always)."""

    team_id: Code
    org_id: Code  # the CSSS/CISSS it belongs to: the `responsible_org` of the cases it takes
    name: ShortText | None = None
    territories: list[Code] = Field(min_length=1, max_length=MAX_TERRITORIES)
    hours: ServiceHours | None = None

    def serves(self, org_id: str, territory: str) -> bool:
        return self.org_id == org_id and territory in self.territories


def check_declared(aaor_hours: list[AaorHours] | None, csss_teams: list[CsssTeam] | None) -> None:
    """Each territory's AAOR declared once, each CSSS team once (a ValueError names the doubles)."""
    for what, ids in (("the AAOR's hours are declared once per territory", [a.territory for a in aaor_hours or []]),
                      ("a CSSS team is declared once", [t.team_id for t in csss_teams or []])):
        doubles = sorted({x for x in ids if ids.count(x) > 1})
        if doubles:
            raise ValueError(f"{what}; twice: {doubles}")
