"""A person's access authorisations as facts of the principals register (issue 10; R-22.1, r. 1, s. 8): an
intervenant reads a record only with an active authorisation (given by the highest authority or a designated
professional, for a period, training current (R-22.1, r. 2), discretion undertaking signed). Recorded on the
person's account, withdrawn from a moment; the gateway's reader gets them as the rules read them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from domain.disclosure.model import AccessAuthorisation
from domain.disclosure.roles import ItemCategory, Role
from domain.errors import DomainError, NotFound
from domain.principals.aggregate import Account, account_id
from domain.principals.model import Principal, PrincipalKind
from tests.crisis_builders import memory_record
from usecases.principals import Principals

AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def terms(holder: str = "marie", *, start: datetime = AT - DAY, end: datetime = AT + 30 * DAY,
          training: date = date(2027, 6, 30), signed: bool = True,
          categories: list[ItemCategory] | None = None) -> AccessAuthorisation:
    return AccessAuthorisation(holder_id=holder, granted_by="dsp", valid_from=start, valid_until=end,
                               training_current_until=training, discretion_undertaking_signed=signed,
                               categories=categories or [])


def person(principals: Principals, user: str = "marie") -> Principal:
    view = principals.get(PrincipalKind.USER, user)
    return Principal(kind=view.kind, principal_id=view.principal_id, org_id=view.org_id, role=view.role,
                     kid=view.keys[0].kid)


def world() -> Principals:
    principals = Principals(memory_record())
    principals.add_user("marie", "cisss-laval", Role.INTERVENANT, by="admin", at=AT - 2 * DAY)
    principals.add_partner("cc-laval", "Centre de crise", by="admin", at=AT - 2 * DAY)
    return principals


def events(principals: Principals) -> int:
    return principals.record.recorder.max_notification_id() or 0


def test_an_authorisation_is_recorded_on_the_account_and_read_by_the_rules() -> None:
    """Recorded once (the same terms again are found, not recorded twice); the reader of the person's reads
    gets it, active now."""
    principals = world()
    view = principals.authorise("marie", terms(categories=[ItemCategory.CLINICAL]), by="admin", at=AT)
    assert [(g.number, g.recorded_by, g.authorisation.categories) for g in view.authorisations] == [
        (1, "admin", [ItemCategory.CLINICAL])]
    count = events(principals)
    again = principals.authorise("marie", terms(categories=[ItemCategory.CLINICAL]), by="admin", at=AT + DAY)
    assert again.authorisations == view.authorisations and events(principals) == count
    (held,) = principals.authorisations(person(principals))
    assert held == terms(categories=[ItemCategory.CLINICAL]) and held.active_at(AT)
    assert principals.list(PrincipalKind.USER)[0].authorisations == view.authorisations  # `users list --json`


def test_a_withdrawal_ends_the_authorisation_at_that_moment() -> None:
    """After the withdrawal a read is refused; before it, the record still shows it was held (an audit of an
    earlier read finds it)."""
    principals = world()
    principals.authorise("marie", terms(), by="admin", at=AT)
    view = principals.withdraw_authorisation("marie", 1, "fin d'emploi", by="admin", at=AT + DAY)
    (withdrawn,) = view.authorisations
    assert (withdrawn.withdrawn_at, withdrawn.withdrawn_by, withdrawn.withdrawal_reason) == (
        AT + DAY, "admin", "fin d'emploi")
    (held,) = principals.authorisations(person(principals))
    assert held.active_at(AT) and not held.active_at(AT + DAY)
    count = events(principals)
    with pytest.raises(DomainError) as again:
        principals.withdraw_authorisation("marie", 1, "x", by="admin", at=AT + 2 * DAY)
    with pytest.raises(DomainError) as unknown:
        principals.withdraw_authorisation("marie", 2, "x", by="admin", at=AT + 2 * DAY)
    assert (again.value.code, unknown.value.code) == ("already_withdrawn", "no_such_authorisation")
    assert events(principals) == count


@pytest.mark.parametrize(("given", "code"), [
    (terms(signed=False), "undertaking_not_signed"),  # r. 1, s. 8: never active without it
    (terms(end=AT - 2 * DAY), "invalid_authorisation"),  # ends before it starts
    (terms(holder="paul"), "wrong_holder"),
])
def test_terms_that_could_never_hold_are_refused_and_record_nothing(given: AccessAuthorisation, code: str) -> None:
    principals = world()
    count = events(principals)
    with pytest.raises(DomainError) as refused:
        principals.authorise("marie", given, by="admin", at=AT)
    assert refused.value.code == code and events(principals) == count


def test_a_partners_system_holds_no_authorisation() -> None:
    """R-22.1 authorises people; a partner organisation's system reads under its entente, not under one."""
    principals = world()
    count = events(principals)
    with pytest.raises(NotFound, match="no user cc-laval"):  # `users authorise` names people only
        principals.authorise("cc-laval", terms(holder="cc-laval"), by="admin", at=AT)
    account: Account = principals.record.repository.get(account_id(PrincipalKind.PARTNER, "cc-laval"))
    with pytest.raises(DomainError) as refused:  # nor does the account itself take one
        account.authorise(terms(holder="cc-laval"), "admin", AT)
    assert refused.value.code == "not_a_user" and events(principals) == count
    system = Principal(kind=PrincipalKind.PARTNER, principal_id="cc-laval", org_id="cc-laval",
                       role=Role.PARTNER_ORG, kid="k")
    assert principals.authorisations(system) == []


def test_training_lapsed_or_period_over_is_not_active() -> None:
    """R-22.1, r. 2: the protection training and its annual refresher; the authorisation's own period."""
    principals = world()
    principals.authorise("marie", terms(training=date(2026, 11, 30)), by="admin", at=AT)
    principals.authorise("marie", terms(start=AT - 30 * DAY, end=AT - DAY), by="admin", at=AT)
    assert [a.active_at(AT) for a in principals.authorisations(person(principals))] == [False, False]
