"""A person's own account: whose record it opens (« qui a vu mon dossier ? », `GET /v1/me/register`).

The binding is the account itself: a user in the role `usager` is the person, and its user id is their opaque id
in the record (`arrimage users add SUBJECT_ID --role usager`: the operator checks who they are when the account
is made, as for any person's account). No request can name another person. A representative's account names
nobody yet (which person they act for, and the proof of their capacity, is not recorded on an account): it
is refused here, and reads the person's register through `arrimage audit my-register --role representant`.
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
                            "the person's register with `arrimage audit my-register --role representant`")
    return principal.principal_id
