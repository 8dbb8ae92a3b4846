"""A person's access authorisations, as facts of the principals register.

An intervenant reads a user's record only with an active access authorisation (R-22.1, r. 1, s. 8): given by
the highest authority or a designated professional, for a period, while the protection training and its
annual refresher are current (R-22.1, r. 2) and the discretion undertaking is signed; possibly limited to
categories of content. The disclosure rules check it at each read (`domain.disclosure.rules`, the care
team's gate: `no_active_authorisation` otherwise); until now the gateway never knew any, so it refused every
intervenant. Here an authorisation is recorded on the person's account (`Account.authorise`), and may be
withdrawn (`Account.withdraw_authorisation`): a withdrawal ends it at that moment, so a read after it is
refused while the record still shows it was held before (an audit of an earlier read finds it).
"""

from __future__ import annotations

from datetime import datetime

from domain.disclosure.model import AccessAuthorisation
from domain.ententes.model import Frozen, ShortText
from domain.errors import DomainError, RuleViolation


class GrantedAuthorisation(Frozen):
    """One authorisation as registered on the account: its terms, who recorded it, and its withdrawal."""

    number: int  # 1, 2… on the account: how `users withdraw-authorisation` names it
    authorisation: AccessAuthorisation
    recorded_by: str
    recorded_at: datetime
    withdrawn_at: datetime | None = None
    withdrawn_by: str | None = None
    withdrawal_reason: ShortText | None = None

    def in_effect(self) -> AccessAuthorisation:
        """The authorisation as the rules read it: a withdrawal ends it at that moment."""
        terms = self.authorisation
        if self.withdrawn_at is None or self.withdrawn_at >= terms.valid_until:
            return terms
        return terms.model_copy(update={"valid_until": self.withdrawn_at})

    def active_at(self, moment: datetime) -> bool:
        return self.in_effect().active_at(moment)


def check_terms(holder_id: str, terms: AccessAuthorisation) -> None:
    """Refused before anything is recorded: an authorisation for another person, an empty period, or one
    without the discretion undertaking (it could never be active)."""
    if terms.holder_id != holder_id:
        raise DomainError(f"an authorisation recorded on {holder_id}'s account is held by them, not by "
                          f"{terms.holder_id}", code="wrong_holder")
    if terms.valid_until <= terms.valid_from:
        raise DomainError("an access authorisation ends after it starts (--until after --from)",
                          code="invalid_authorisation")
    if not terms.discretion_undertaking_signed:
        raise RuleViolation("no access authorisation without the signed discretion undertaking (R-22.1, r. 1, s. 8)",
                            code="undertaking_not_signed")


def find(granted: list[GrantedAuthorisation], number: int) -> GrantedAuthorisation:
    found = next((g for g in granted if g.number == number), None)
    if found is None:
        raise DomainError(f"no access authorisation {number} on this account", code="no_such_authorisation")
    if found.withdrawn_at is not None:
        raise RuleViolation(f"access authorisation {number} was already withdrawn", code="already_withdrawn")
    return found
