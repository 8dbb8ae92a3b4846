"""A person's own account: whose record it opens (« qui a vu mon dossier ? », `GET /v1/me/register`).

The binding is the account itself: a user in the role `usager` is the person, and its user id is their opaque id
in the record (`arrimage users add SUBJECT_ID --role usager`: the operator checks who they are when the account
is made, as for any person's account). A parent or representative reads another person's register with their
own usager account, once the record holds a standing fact naming them (`arrimage audit fact P --kind
autorite_parentale|representant --holder THEIR_ID`: `domain.audit.own_register.register_reader`). An account in
the role representant names nobody (which person it acts for, and the proof, are facts about that person, not
about an account): it is refused here.
"""

from __future__ import annotations

from domain.audit.own_register import check_own_register_reader
from domain.disclosure.roles import Role
from domain.errors import RuleViolation
from domain.principals.model import Principal, PrincipalKind


class NoPersonBound(RuleViolation):
    code = "no_person_bound"


def own_subject(principal: Principal) -> str:
    """The person whose register this principal reads as their own: its role must read an own register
    (`check_own_register_reader`: the person or their representative, LRSSS s. 265), and its account be the
    person's (a user in the role usager)."""
    check_own_register_reader(principal.role)
    if principal.kind is not PrincipalKind.USER or principal.role is not Role.USAGER:
        raise NoPersonBound(f"the account {principal.principal_id} is bound to no person: a representative reads "
                            "the person's register with their own usager account, once the record names them "
                            "(`arrimage audit fact PERSON --kind representant --holder THEIR_ID`)")
    return principal.principal_id
