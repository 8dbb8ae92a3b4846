"""`/v1/audit`: an auditor's (or a supervisor's) reads of the record through the gateway, in the role the token
gives (issue 10): a replay of an entente or a crisis case as it stood (`arrimage audit replay`), and the register
of communications about one person (`arrimage audit register`). Each goes through the use case the CLI's
direct commands use (`usecases.audit.replays`, `usecases.audit.reads`): decided and registered as an access
before anything is answered, allowed or refused.

Only a party reads: a case's parties (a partner under an entente in force, or on a case it holds since before
its entente ended: `domain.principals.standing`), an entente's parties, and for a person's register an
organisation party to one of that person's cases. Consents are not served here yet: they name no organisation
the door could check (`arrimage audit replay consent:…` stays an operator's read).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel
from starlette.concurrency import run_in_threadpool

from domain.audit.replay import AggregateKind, AggregateRef, Replay
from domain.disclosure.model import Outcome
from domain.disclosure.roles import PurposeKind
from domain.principals.access import NotAParty, case_parties, check_case_party, check_entente_party
from domain.principals.model import Principal
from domain.principals.standing import NoEntenteInForce
from gateway.cases import READ_PROBLEMS, Access, case_code, read_refused, reader
from gateway.ententes import entente_code
from gateway.guard import Guard, now
from gateway.people import answer
from gateway.problems import FieldProblem, ProblemError
from usecases.audit.reads import Reader
from usecases.audit.trail import knows

if TYPE_CHECKING:
    from workers.bootstrap import Root

AGGREGATE = r"^(entente|case):[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class RegisterRead(BaseModel):
    person: str
    entries: list[dict[str, Any]]  # what the decision lets this role see of each entry (as `audit register`)
    access: Access


def routes(root: Root, guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/v1/audit", tags=["audit"])

    @router.get("/replay", responses={**answer(Replay), **READ_PROBLEMS}, response_class=JSONResponse)
    async def replay(
        request: Request,
        aggregate: Annotated[str, Query(pattern=AGGREGATE, description="entente:CODE or case:CASE_CODE.")],
        as_of: Annotated[AwareDatetime | None, Query(description="Rebuild from the events recorded at or before "
                                                                 "this moment (default: now).")] = None,
        purpose: Annotated[PurposeKind | None, Query(description="What the read is for (default: the role's "
                                                                 "usual purpose).")] = None,
    ) -> JSONResponse:
        """An entente or a crisis case as it stood, item by item as the principal's role may see it (as `arrimage
        audit replay`); the replay is registered as an access first. Refused: 403 with the rule's code (the
        refusal registered: the person's register, or the entente's reads log)."""
        principal = await guard.principal(request)
        ref = await run_in_threadpool(door, root, principal, aggregate)
        # its authorisations as registered on its account and recorded at as_of: the replay reads them
        done: Replay = await run_in_threadpool(lambda: root.replays.replay(
            ref, role=principal.role, actor_id=principal.actor, moment=now(), as_of=as_of, purpose=purpose))
        if done.outcome is Outcome.REFUSED:
            code = done.refusal.code if done.refusal else next((i.code for i in done.items if i.code), None)
            reason = done.refusal.reason if done.refusal else next((i.reason for i in done.items if i.reason), "")
            raise ProblemError(403, f"{reason} (this refused access is recorded: {done.access_id})",
                               code=code or ("not_an_entente_reader" if ref.kind is AggregateKind.ENTENTE
                                             else "refused"))
        return JSONResponse(done.model_dump(mode="json"))

    @router.get("/register", responses={**answer(RegisterRead), **READ_PROBLEMS}, response_class=JSONResponse)
    async def register(
        request: Request,
        person: Annotated[str, Query(min_length=1, max_length=128, description="The person's opaque id.")],
        purpose: Annotated[PurposeKind | None, Query(description="What the read is for.")] = None,
    ) -> JSONResponse:
        """The register entries about one person, as the principal's role may see them (as `arrimage audit
        register`): for an organisation party to one of that person's cases; registered in that register first,
        allowed or refused (403 with the rule's code)."""
        principal = await guard.principal(request)
        await run_in_threadpool(person_door, root, principal, person)
        who = await run_in_threadpool(reader, root, principal)
        read = await run_in_threadpool(root.reads.register, person,
                                       Reader.of(who.actor_id, who.role, purpose, who.facts), now())
        if read.entries is None:
            raise read_refused(read.decision)
        found = RegisterRead(person=person, entries=read.entries, access=Access.decided(read.decision))
        return JSONResponse(found.model_dump(mode="json"))

    return router


def door(root: Root, principal: Principal, aggregate: str) -> AggregateRef:
    """The aggregate named, and the principal a party to it (404 no such one; 403 `not_a_party`)."""
    try:
        ref = AggregateRef.parse(aggregate)
    except ValueError as err:
        raise ProblemError(422, "not an aggregate", errors=[FieldProblem(field="aggregate", message=str(err))]) \
            from None
    if ref.kind is AggregateKind.CASE:
        ref = AggregateRef(kind=ref.kind, key=case_code(ref.key))
        view = root.crisis_cases.view(ref.key)
        check_case_party(principal, view)  # as `GET /v1/cases/{code}`: a party, a partner in standing
        root.principals.check_case_standing(principal, view, now())
    else:
        ref = AggregateRef(kind=ref.kind, key=entente_code(ref.key))
        view_e = root.ententes.view(ref.key)
        check_entente_party(principal, ref.key, view_e.content, view_e.proposed_content)
    return ref


def person_door(root: Root, principal: Principal, person: str) -> None:
    """A person the record knows (404 otherwise, nothing registered), and the principal's organisation party
    to one of their cases (403 `not_a_party`, nothing registered)."""
    if not knows(root.record, person):
        raise ProblemError(404, f"the record holds nothing about person {person}", code="not_found")
    moment: datetime = now()
    for _, _, view in root.crisis_cases.views(root.crisis_cases.opened(), skipped=lambda _: None):
        if view.subject_id == person and principal.org_id in case_parties(view):
            try:
                root.principals.check_case_standing(principal, view, moment)
            except NoEntenteInForce:  # a partner's entente no longer in force: another case may do
                continue
            return
    raise NotAParty(f"{principal.org_id} is not a party to any case of person {person}")
