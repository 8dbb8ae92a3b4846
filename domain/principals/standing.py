"""A partner acts on a case only while the entente that lets it act is in force.

An organisation other than the case's CSSS takes part in a crisis case only « dans le cadre d'entente »: a
partner refers a crisis directly only if it « a une entente à cet effet avec le CSSS » (seed 001, L1172-1173);
a community organisation intervenes under an entente with the CSSS, which answers for it (L1181-1184); an
entente provides for its own duration and its revocation (seed 000, Annex 3, sections 10 and 11, L493-496).
So the moment that entente is revoked or expires, the partner's door to the case closes: its reads and its
commands are refused (`no_entente_in_force`) before anything is decided or recorded. The CSSS's own people and
systems act on their cases whatever the ententes. What an entente's parties may do *to the entente* (sign,
give notice…) stays the entente's own rules: this is only the door to the cases.

Which entente lets the organisation act: the ones the case names for it (the entente it referred under, those
it was asked to intervene under); when the case names none (a referral's receiving service, a follow-up's
provider), any entente naming both it and the CSSS. In force as routing, reassignment and sending decide it
(`domain.ententes.rules.in_force_at`): active, its end date and its revocation's effective date not reached at
`now`, whatever the entente's workflow has recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from domain.clock import quebec_text
from domain.crisis.state import CaseView
from domain.ententes.rules import in_force_at
from domain.ententes.state import EntenteStatus, EntenteView
from domain.errors import DomainError
from domain.principals.model import Principal


class NoEntenteInForce(DomainError):
    code = "no_entente_in_force"


def named_ententes(view: CaseView, org_id: str) -> set[str]:
    """The ententes the case names for `org_id`: the one it referred under, those it was asked under."""
    named = set()
    if view.intake_org == org_id and view.referring_agreement:
        named.add(view.referring_agreement)
    named.update(a.candidate.agreement_code for a in view.attempts
                 if a.candidate.team.org_id == org_id and a.candidate.agreement_code)
    if view.intervention is not None and view.intervention.team.org_id == org_id and view.intervention.agreement_code:
        named.add(view.intervention.agreement_code)
    return named


def needs_entente(principal: Principal, view: CaseView) -> bool:
    return principal.org_id != view.responsible_org


def letting_ententes(view: CaseView, org_id: str, ententes: Iterable[EntenteView]) -> list[EntenteView]:
    """Of `ententes`, those that let `org_id` act on the case (in force or not)."""
    named = named_ententes(view, org_id)
    if named:
        return [e for e in ententes if e.code in named]
    return [e for e in ententes if {org_id, view.responsible_org} <= set(e.content.party_ids)]


def check_entente_in_force(principal: Principal, view: CaseView, ententes: Iterable[EntenteView],
                           now: datetime) -> None:
    """Refused unless the principal's organisation is the case's CSSS or an entente that lets it act is in
    force at `now`. `ententes`: at least those that let it act (more are ignored)."""
    if not needs_entente(principal, view):
        return
    org = principal.org_id
    letting = letting_ententes(view, org, ententes)
    if any(in_force_at(e, now) for e in letting):
        return
    if not letting:
        raise NoEntenteInForce(f"{org} has no entente with {view.responsible_org} that lets it act on case "
                               f"{view.case_code}")
    ended = "; ".join(f"{e.code} {_state(e, now)}" for e in sorted(letting, key=lambda e: e.code))
    raise NoEntenteInForce(f"{org} acts on case {view.case_code} only under an entente in force with "
                           f"{view.responsible_org}: {ended}")


def _state(view: EntenteView, now: datetime) -> str:
    """Why the entente is not in force, in a supervisor's words."""
    if view.revocation is not None:
        return f"revoked by {view.revocation.party_id} from {view.revocation.effective_date.isoformat()}"
    if view.end_date is not None and view.status in {EntenteStatus.ACTIVE, EntenteStatus.EXPIRED}:
        return f"expired after {view.end_date.isoformat()}"
    return f"is {view.status.value} (not in force at {quebec_text(now)})"
