"""What a person's `arrimage` needs from the gateway beyond a partner's routes (issue 10): who the token says
they are (`GET /v1/me`), the cases they may list (`GET /v1/cases`), a case's history (`GET
/v1/cases/{code}/history`) and the ententes of their organisation (`GET /v1/ententes`).

The reader is the principal: its id, organisation and role come from the token, never from the request. Each
read goes through the use case the CLI's direct reads use (`usecases.audit.reads`): a listing is decided and
registered in the record's reads log, a history in the person's register, before anything is answered.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel
from starlette.concurrency import run_in_threadpool

from adapters.temporal.cases import VisibleCase
from domain.audit.reads import CaseItem
from domain.audit.record_reads import ReadKind
from domain.audit.replay import entente_allowed
from domain.crisis.state import CaseStage, CaseView
from domain.disclosure.roles import Role
from domain.ententes.state import EntenteStatus, EntenteView
from domain.principals.access import case_parties
from domain.principals.model import Principal, PrincipalKind
from domain.principals.standing import NoEntenteInForce
from gateway.cases import READ_PROBLEMS, Access, case_code, read_refused, reader, standing
from gateway.guard import Guard, now
from gateway.problems import ProblemError, documented

if TYPE_CHECKING:
    from workers.bootstrap import Root

log = logging.getLogger("arrimage.gateway")
CODE_FILTER = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # a team, territory or organisation code (as `cases list`)


class Me(BaseModel):
    """The principal the token names: what the CLI acts and reads as."""

    principal_id: str
    org_id: str
    role: Role
    kind: PrincipalKind


class ListedCase(BaseModel):
    """One case of a listing: its code, stage, holder, territory, team, next deadline, whether one is overrun."""

    case_code: str
    stage: str
    holder: str | None
    territory: str
    team: str | None
    next_deadline: datetime | None
    overdue: bool
    opened_at: datetime | None


class CaseListing(BaseModel):
    cases: list[ListedCase]
    read_id: str  # the listing, as registered in the record's reads log


class CaseHistory(BaseModel):
    events: list[dict[str, Any]]  # in order, personal content masked (as `arrimage cases history`)
    access: Access


class EntenteListing(BaseModel):
    ententes: list[EntenteView]


def answer(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": "done"}}


def routes(root: Root, guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["people"])

    @router.get("/me", responses={**answer(Me), **documented(401, 429)}, response_class=JSONResponse)
    async def me(request: Request) -> JSONResponse:
        """The principal the bearer token names: its id, organisation, role and kind (partner or user)."""
        who = await guard.principal(request)
        return JSONResponse(Me(principal_id=who.principal_id, org_id=who.org_id, role=who.role,
                               kind=who.kind).model_dump(mode="json"))

    @router.get("/cases", tags=["crisis cases"], responses={**answer(CaseListing), **documented(401, 403, 422, 429)},
                response_class=JSONResponse)
    async def list_cases(
        request: Request,
        stage: Annotated[CaseStage | None, Query(description="Only cases at this stage.")] = None,
        team: Annotated[str | None, Query(pattern=CODE_FILTER, description="Only cases with this team.")] = None,
        territory: Annotated[str | None, Query(pattern=CODE_FILTER, description="Only this territory.")] = None,
        holder: Annotated[str | None, Query(pattern=CODE_FILTER, description="Only cases this org must act on.")]
        = None,
        overdue: Annotated[bool, Query(description="Only cases with a deadline passed.")] = False,
        since: Annotated[AwareDatetime | None, Query(description="Only cases opened since.")] = None,
        closed: Annotated[bool, Query(description="Closed cases instead of open ones.")] = False,
        all_: Annotated[bool, Query(alias="all", description="Open cases and closed ones.")] = False,
    ) -> JSONResponse:
        """The cases the principal's organisation is a party to (as `arrimage cases list`, from the record): the
        listing is decided by the principal's role and registered in the record's reads log, allowed or refused
        (403 `not_a_metadata_reader`, the refusal registered)."""
        principal = await guard.principal(request)
        scope = {"closed": closed, "all": all_, "stage": stage, "team": team, "territory": territory,
                 "holder": holder, "overdue": overdue, "since": since, "org": principal.org_id}
        who = await run_in_threadpool(reader, root, principal)
        read = await run_in_threadpool(root.reads.across, ReadKind.CASE_LISTING, who, now(), scope)
        if not read.allowed:
            raise ProblemError(403, f"{read.reason} (this refused access is recorded: {read.read_id})",
                               code="not_a_metadata_reader")
        views = await run_in_threadpool(_views, root, principal, since)
        config = root.settings.standards()
        rows = []
        for view in views:
            is_closed = view.stage is CaseStage.CLOSED
            row = VisibleCase.of(view, config)
            if (stage is not None and view.stage is not stage) or not (is_closed if closed else all_ or not is_closed):
                continue
            if (team and row.team != team) or (territory and row.territory != territory) or (
                    holder and row.holder != holder) or (overdue and not row.overdue):
                continue
            rows.append(ListedCase(case_code=row.code, stage=row.stage, holder=row.holder or None,
                                   territory=row.territory, team=row.team or None, next_deadline=row.next_deadline,
                                   overdue=row.overdue, opened_at=row.opened_at))
        return JSONResponse(CaseListing(cases=rows, read_id=read.read_id).model_dump(mode="json"))

    @router.get("/cases/{code}/history", tags=["crisis cases"], responses={**answer(CaseHistory), **READ_PROBLEMS},
                response_class=JSONResponse)
    async def case_history(code: str, request: Request) -> JSONResponse:
        """Every event of the case, in order, personal content masked (as `arrimage cases history`): for its
        parties, decided by the disclosure rules and registered in the person's register first."""
        principal = await guard.principal(request)
        code = case_code(code)
        view = await run_in_threadpool(root.crisis_cases.view, code)
        await standing(root, principal, view)
        who = await run_in_threadpool(reader, root, principal)
        read = await run_in_threadpool(root.reads.case, code, CaseItem.EVENTS, who, now())
        if read.history is None:
            raise read_refused(read.decision)
        history = CaseHistory(events=read.history, access=Access.decided(read.decision))
        return JSONResponse(history.model_dump(mode="json"))

    @router.get("/ententes", tags=["ententes"], responses={**answer(EntenteListing), **documented(401, 403, 422, 429)},
                response_class=JSONResponse)
    async def list_ententes(
        request: Request,
        status: Annotated[EntenteStatus | None, Query(description="Only ententes with this status.")] = None,
    ) -> JSONResponse:
        """The ententes the principal's organisation is a party to (drafted, in force or proposed), in the order
        they were drafted (as `arrimage ententes list`); for the roles that read ententes (403
        `not_an_entente_reader` otherwise)."""
        principal = await guard.principal(request)
        allowed, reason = entente_allowed(principal.role)
        if not allowed:
            raise ProblemError(403, reason, code="not_an_entente_reader")
        # Only the ententes the view says name the organisation are loaded; which are its, decided on each here.
        views = await run_in_threadpool(lambda: root.ententes.list(from_view=True, party=principal.org_id))
        mine = [v for v in views if (status is None or v.status is status) and any(
            c is not None and principal.org_id in c.party_ids for c in (v.content, v.proposed_content))]
        return JSONResponse(EntenteListing(ententes=mine).model_dump(mode="json"))

    return router


def _views(root: Root, principal: Principal, since: datetime | None) -> list[CaseView]:
    """The cases of the record the principal's organisation is a party to and may read now (a partner: under an
    entente in force, or a case it holds since before its entente ended), opened since `since`; a case that does
    not load is left out (and logged). Only the cases the listings view says name the organisation are loaded
    (`CrisisCases.naming`); which are its, decided on each here."""
    wanted = root.crisis_cases.naming(principal.org_id, since)
    moment = now()
    out = []
    for _, _, view in root.crisis_cases.views(wanted, skipped=_skipped):
        if principal.org_id not in case_parties(view):
            continue
        try:
            root.principals.check_case_standing(principal, view, moment)
        except NoEntenteInForce:
            continue
        out.append(view)
    return out


def _skipped(skipped: tuple[str, str]) -> None:
    log.warning("case listing: case %s unreadable (%s)", *skipped)

