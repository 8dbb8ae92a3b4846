"""A partner acts on a case while the entente that lets it act is in force, and on the cases it holds to their end.

An organisation other than the case's CSSS takes part in a crisis case only « dans le cadre d'entente »: a
partner refers a crisis directly only if it « a une entente à cet effet avec le CSSS » (seed 001, L1172-1173);
a community organisation intervenes under an entente with the CSSS, which answers for it: « le CSSS s'assure
que l'organisme répond aux critères d'accessibilité, de qualité et de continuité convenus dans le cadre de
l'entente » (L1181-1184); an entente provides for its own duration and its revocation (seed 000, Annex 3,
sections 10 and 11, L493-496).

Two issues say what its end does to the door. Issue 10: « a partner only while the entente that lets it act
is in force: the moment it is revoked or expires, its calls are refused ». Issue 11, later and more specific:
« From the instant an entente's revocation or end takes effect … its organisation is not asked for new
handoffs, not proposed in a cascade, not offered by a supervisor's reassignment, and receives no information
under that entente; cases it already holds keep going to their end ». Both hold here, issue 11 deciding where
they meet: from the end, the door is closed to everything new under the ended entente — a handoff it was asked
but had not accepted (its acceptance and its decline alike: `no_entente_in_force`), the reads and commands of a
case it does not hold, the portal's worklist of asks — and open, to the end of the case, on the cases it
`holds_case`: it took them while an entente that let it act was in force (accepted the handoff, was given the
follow-up or the référence, opened the case as the referring partner) and they are still its own (not closed,
not handed back, reassigned or referred back away from it). The CSSS answers for the organisation it entrusted
the case to (L1181-1184): a person whose intervention, follow-up or référence is under way is not dropped by a
notice between the CSSS and the organisation. A pending handoff ask is not held, and not even its decline is
taken: answering would be acting under the ended entente and the answer carries the case back to it, while
the cascade does not need it — the ask times out at its answer deadline (`crise.reponse_equipe`) and the next
candidate is asked, or a supervisor reassigns at once (issue 11's reassignment never offers the ended one).

The CSSS's own people and systems act on their cases whatever the ententes. What an entente's parties may do
*to the entente* (sign, give notice…) stays the entente's own rules: this is only the door to the cases.

Which entente lets the organisation act: the ones the case names for it (the entente it referred under, those
it was asked to intervene under); when the case names none (a referral's receiving service, a follow-up's
provider), any entente naming both it and the CSSS. In force as routing, reassignment and sending decide it
(`domain.ententes.rules.in_force_at`): active, its end date and its revocation's effective date not reached at
the moment, whatever the entente's workflow has recorded; for the moment a case was taken, as it stood then
(`in_force_then`: a revocation or expiry recorded since does not undo what was in force before it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from domain.clock import quebec_text, start_of
from domain.crisis.state import CaseStage, CaseView
from domain.ententes.rules import in_force_at
from domain.ententes.state import EntenteStatus, EntenteView
from domain.errors import DomainError
from domain.principals.model import Principal

# Statuses an entente that was once in force can have: its end, once its workflow recorded it, keeps the dates.
_ONCE_IN_FORCE = frozenset({EntenteStatus.ACTIVE, EntenteStatus.REVOKED, EntenteStatus.EXPIRED})


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


def in_force_then(view: EntenteView, moment: datetime) -> bool:
    """Was the entente in force at `moment`, read from its dates as they stand now: activated by then, and its
    end date and its revocation's effective date not yet reached — whether or not its workflow has since
    recorded the revocation or the expiry (for a moment from then on, `in_force_at` says no all the same)."""
    if view.status not in _ONCE_IN_FORCE or view.activated_on is None or moment < start_of(view.activated_on):
        return False
    return in_force_at(view.model_copy(update={"status": EntenteStatus.ACTIVE}), moment)


def taken_at(view: CaseView, org_id: str) -> list[datetime]:
    """When `org_id` took the part of the case it still holds: the acceptance of its handoff (its team has the
    intervention), the start of its follow-up, the opening of the case it referred — each while the case is
    its own (`holder`: not handed back, reassigned, or given back to another after a refusal) — and the
    sending of the référence it receives, while that référence is under way (sent or accepted). Empty when it
    holds nothing of the case, or the case is closed. A handoff it was asked and has not accepted is not held."""
    if view.stage is CaseStage.CLOSED or view.closure is not None:
        return []
    moments = []
    if view.holder == org_id:
        if view.intervention is not None and view.intervention.team.org_id == org_id:
            moments.append(view.intervention.accepted_at)
        moments.extend(f.started_at for f in view.follow_ups[-1:] if f.provider == org_id)
        if view.intake_org == org_id:
            moments.append(view.opened_at)
    referral = view.current_referral
    if referral is not None and referral.receiving.org_id == org_id:
        moments.append(referral.sent_at)
    return moments


def holds_case(view: CaseView, org_id: str, ententes: Iterable[EntenteView]) -> bool:
    """Does `org_id` hold the case (issue 11: « cases it already holds keep going to their end »): it took its
    part of it (`taken_at`) at a moment an entente that lets it act on the case was in force (`in_force_then`),
    and that part is still its own. `ententes`: at least those that let it act (more are ignored)."""
    letting = letting_ententes(view, org_id, ententes)
    return any(in_force_then(e, moment) for moment in taken_at(view, org_id) for e in letting)


def check_entente_in_force(principal: Principal, view: CaseView, ententes: Iterable[EntenteView],
                           now: datetime) -> None:
    """Refused unless the principal's organisation is the case's CSSS, or an entente that lets it act is in
    force at `now`, or it holds the case (`holds_case`), taken while such an entente was in force.
    `ententes`: at least those that let it act (more are ignored)."""
    if not needs_entente(principal, view):
        return
    org = principal.org_id
    letting = letting_ententes(view, org, ententes)
    if any(in_force_at(e, now) for e in letting) or holds_case(view, org, letting):
        return
    if not letting:
        raise NoEntenteInForce(f"{org} has no entente with {view.responsible_org} that lets it act on case "
                               f"{view.case_code}")
    states = "; ".join(f"{e.code} {_state(e, now)}" for e in sorted(letting, key=lambda e: e.code))
    ended = any(e.status in _ONCE_IN_FORCE and e.activated_on is not None for e in letting)
    continued = (f"; the entente ended: only the cases {org} held before it ended continue (a handoff it "
                 "accepted, a follow-up or a référence given to it)") if ended else ""
    raise NoEntenteInForce(f"{org} acts on case {view.case_code} only under an entente in force with "
                           f"{view.responsible_org}: {states}{continued}")


def _state(view: EntenteView, now: datetime) -> str:
    """Why the entente is not in force, in a supervisor's words."""
    if view.revocation is not None:
        return f"revoked by {view.revocation.party_id} from {view.revocation.effective_date.isoformat()}"
    if view.end_date is not None and view.status in {EntenteStatus.ACTIVE, EntenteStatus.EXPIRED}:
        return f"expired after {view.end_date.isoformat()}"
    return f"is {view.status.value} (not in force at {quebec_text(now)})"
