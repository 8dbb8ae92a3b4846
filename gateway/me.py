"""`GET /v1/me/register`: « qui a vu mon dossier ? », the person's own register through the gateway (issue 11).

The account is the person (`domain.principals.person.own_subject`: a user in the role usager, its user id their
opaque id in the record); nothing in the request names anyone else. The read goes through the use case the CLI's
`arrimage audit my-register` uses (`usecases.audit.reads.Reads.own_register`): decided by the disclosure rules
and recorded in the person's register before anything is answered. Refused: 403 with the rule's code; a role
that reads no own register, or an account bound to nobody, records nothing (no register is named).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from domain.audit.own_register import OWN_REGISTER_READERS, Seen
from domain.errors import RuleViolation
from domain.principals.person import own_subject
from gateway.cases import READ_PROBLEMS, Access, read_refused, reader
from gateway.guard import Guard, now
from gateway.people import answer
from gateway.problems import ProblemError
from usecases.audit.reads import Reader
from usecases.audit.replays import ReaderFacts

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
        born: Annotated[date | None, Query(description="Your birth date: from 14 you read your own record "
                                                       "(LRSSS s. 17); used for the age on the day, never "
                                                       "recorded.")] = None,
    ) -> JSONResponse:
        """Who has seen my record: every access to it and every communication of it (who, organisation, when,
        which items, basis and article), partner reads of my cases included (LRSSS s. 265 with s. 18; LSSSS
        27.2). The read is itself recorded in my register first; refused: 403 with the rule's code."""
        principal = await guard.principal(request)
        try:
            person = own_subject(principal)
        except RuleViolation as err:  # no register named: nothing recorded
            raise ProblemError(403, err.message, code=err.code) from None
        who = await run_in_threadpool(reader, root, principal)
        facts = ReaderFacts(subject=who.facts.subject.model_copy(update={"birth_date": born}),
                            authorisations=who.facts.authorisations)
        orgs = {p.principal_id: p.org_id for p in await run_in_threadpool(root.principals.list)}
        read = await run_in_threadpool(root.reads.own_register, person, Reader.of(
            who.actor_id, who.role, OWN_REGISTER_READERS[who.role], facts), now(), orgs)
        if read.seen is None:
            raise read_refused(read.decision)
        found = OwnRegister(person=person, seen=read.seen, access=Access.decided(read.decision))
        return JSONResponse(found.model_dump(mode="json"))

    return router
