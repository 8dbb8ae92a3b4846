"""Which teams to ask for a mobile crisis intervention, in order: a pure decision over the ententes.

Seed 001, Fiche 3: the service is given « par un intervenant du CSSS ou d'un
organisme communautaire dans le cadre d'entente » (L1181-1184); a person with
an active episode in a specific program is « généralement dirigée vers ces
programmes … à moins d'une entente à ce sujet » (L1241-1243); a partner refers
directly only if it « a une entente à cet effet avec le CSSS » (L1172-1173).

An entente routes only while it is in force: status ACTIVE, and its end date or
revocation not yet reached at `now` (a view read before the calendar recorded
the expiry still never routes). Revoked and expired ententes never route.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from domain.clock import start_of
from domain.crisis.model import Candidate, CandidateKind, SpecificEpisode, TeamRef
from domain.ententes.model import ServiceCode, ServiceOffer
from domain.ententes.rules import expiry_moment
from domain.ententes.state import EntenteStatus, EntenteView


def in_force(view: EntenteView, now: datetime) -> bool:
    if view.status is not EntenteStatus.ACTIVE:
        return False
    expiry = expiry_moment(view.content)
    if expiry is not None and now >= expiry:
        return False
    return not (view.revocation is not None and now >= start_of(view.revocation.effective_date))


def crisis_offers(
    ententes: Iterable[EntenteView], responsible_org: str, territory: str, now: datetime
) -> list[tuple[EntenteView, ServiceOffer]]:
    """Mobile crisis offers of ententes in force between the CSSS and a provider, covering the territory."""
    found = []
    for view in sorted(ententes, key=lambda v: v.code):
        if not in_force(view, now) or responsible_org not in view.content.party_ids:
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


def route(
    *,
    responsible_org: str,
    territory: str,
    csss_teams: list[TeamRef],
    episode: SpecificEpisode | None,
    ententes: Iterable[EntenteView],
    now: datetime,
) -> list[Candidate]:
    """The ordered candidates: the CSSS's own teams, then community organisations by entente code.

    With an active specific-program episode, that program comes first — unless an entente in force
    says otherwise (`overrides_specific_program`): then its providers come first and the program last.
    Each organisation appears once, under the entente that lets it share information if there is one.
    """
    own = [
        Candidate(team=t, kind=CandidateKind.CSSS_TEAM, may_share_information=True)  # same establishment
        for t in csss_teams
    ]
    community: dict[str, tuple[Candidate, bool]] = {}
    for view, offer in crisis_offers(ententes, responsible_org, territory, now):
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
