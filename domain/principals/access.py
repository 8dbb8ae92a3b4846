"""Who may act on, or read, a crisis case or an entente through the gateway: its parties only.

A principal acts for its own organisation and nothing else; these rules say which organisations an
aggregate concerns. Whether a command is in turn, and what of a read may be shown, stay the aggregate's
rules and the disclosure rules: this is only the door in front of them.
"""

from __future__ import annotations

from domain.crisis.state import CaseView
from domain.ententes.model import EntenteContent
from domain.errors import DomainError
from domain.principals.model import Principal


class NotAParty(DomainError):
    code = "not_a_party"


def case_parties(view: CaseView) -> set[str]:
    """The responsible CISSS, the intake, every team asked, the team that intervened, every follow-up's
    provider and every referral's receiving service."""
    found = {view.responsible_org, view.intake_org}
    found.update(a.candidate.team.org_id for a in view.attempts)
    if view.intervention is not None:
        found.add(view.intervention.team.org_id)
    found.update(f.provider for f in view.follow_ups)
    found.update(r.receiving.org_id for r in view.referrals)
    return found


def check_case_party(principal: Principal, view: CaseView) -> None:
    if principal.org_id not in case_parties(view):
        raise NotAParty(f"{principal.org_id} is not a party to case {view.case_code}")


def check_entente_party(principal: Principal, code: str, *contents: EntenteContent | None) -> None:
    """A party of the entente's content (in force, drafted or proposed)."""
    if not any(c is not None and principal.org_id in c.party_ids for c in contents):
        raise NotAParty(f"{principal.org_id} is not a party to entente {code}")


def own_party(principal: Principal, given: str | None) -> str:
    """The party a command signs, refuses, withdraws or revokes for: the principal's own organisation."""
    if given is not None and given != principal.org_id:
        raise NotAParty(f"{principal.org_id} may act only for itself, not for {given}")
    return principal.org_id
