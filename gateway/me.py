"""`GET /v1/me/register`: « qui a vu mon dossier ? », the person's own register through the gateway (issue 11).

The account is the person (`domain.principals.person.own_subject`: a user in the role usager, its user id their
opaque id in the record). `?person=P` names another person: the account reads P's register only while the record
holds a standing fact naming it P's parent or representative (`arrimage audit fact P --kind representant
--holder ACCOUNT`), in that standing's role; otherwise refused `not_the_person_or_representative`, nothing
recorded. The read goes through the use case the CLI's `arrimage audit my-register` uses
(`usecases.audit.reads.Reads.register_of`): decided by the disclosure rules for that standing and recorded in
P's register before anything is answered. Refused: 403 with the rule's code; a role that reads no own register,
or an account bound to nobody, records nothing (no register is named). The birth date is the recorded one;
`born` is taken only for a person whose record holds none (given when it holds one: `facts_in_record`).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from domain.audit.own_register import NotAnOwnRegisterReader, Seen
from domain.errors import RuleViolation
from domain.principals.person import own_subject
from gateway.cases import READ_PROBLEMS, Access, read_refused
from gateway.guard import Guard, now
from gateway.people import answer
from gateway.problems import ProblemError

if TYPE_CHECKING:
    from workers.bootstrap import Root


class OwnRegister(BaseModel):
    person: str
    seen: list[Seen]  # every access and communication, oldest first; this read last
    access: Access


def routes(root: Root, guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/v1/me", tags=["people"])

    @router.get("/register", responses={**answer(OwnRegister), **READ_PROBLEMS}, response_class=JSONResponse)
    async def my_register(
        request: Request,
        person: Annotated[str | None, Query(
            description="Whose register (default: yours): a person the record names you the parent or "
                        "representative of, while that standing is in force.",
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")] = None,
        born: Annotated[date | None, Query(description="The person's birth date, only when the record holds none "
                                                       "(from 14 one reads one's own record, LRSSS s. 17); "
                                                       "refused (facts_in_record) when it holds one; never "
                                                       "recorded.")] = None,
    ) -> JSONResponse:
        """Who has seen my record (or, as their recorded parent or representative, the record of `person`):
        every access to it and every communication of it (who, organisation, when, which items, basis and
        article), partner reads of the cases included (LRSSS s. 265 with s. 18; LSSSS 27.2). The read is itself
        recorded in that register first; refused: 403 with the rule's code."""
        principal = await guard.principal(request)
        try:
            me = own_subject(principal)
        except RuleViolation as err:  # no register named: nothing recorded
            raise ProblemError(403, err.message, code=err.code) from None
        whose = person or me
        orgs = {p.principal_id: p.org_id for p in await run_in_threadpool(root.principals.list)}
        try:
            read = await run_in_threadpool(root.reads.register_of, whose, principal.actor, now(), orgs, born=born)
        except NotAnOwnRegisterReader as err:  # no standing for that person: nothing recorded
            raise ProblemError(403, err.message, code=err.code) from None
        if read.seen is None:
            raise read_refused(read.decision)
        found = OwnRegister(person=whose, seen=read.seen, access=Access.decided(read.decision))
        return JSONResponse(found.model_dump(mode="json"))

    return router
