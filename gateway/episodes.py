"""`/v1/episodes`: open an épisode de services, give it a command, read it — the same command objects and rules as
`arrimage episodes open|act|show`. An episode is a service the CSSS gives its own users (AAOR, consultations
sociale and psychologique; issue 11): only the CSSS's own people (and the systems it gives a user account) are
its parties; a partner organisation's system, or anyone of another organisation, is refused `not_a_party` before
anything is decided or recorded. A read is decided by the
disclosure rules and recorded in the person's register before it is answered (`usecases.audit.episode_reads`,
as a case read); writes are idempotent by `Idempotency-Key`, as the cases'."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from adapters.temporal import updates
from domain.audit.reads import CaseItem
from domain.episodes import commands as pc
from domain.episodes.model import EpisodeCode, episode_code_for, new_episode_code
from domain.episodes.state import EpisodeView
from domain.principals.access import NotAParty
from domain.principals.model import Principal, PrincipalKind
from gateway import bodies
from gateway.cases import (
    READ_PROBLEMS,
    TIMEOUT,
    WRITE_PROBLEMS,
    Access,
    IdempotencyKey,
    body_of,
    ok,
    read_refused,
    reader,
    validated,
)
from gateway.guard import Guard, json_body, now, once
from gateway.problems import FieldProblem, ProblemError

if TYPE_CHECKING:
    from workers.bootstrap import Root

CODE = TypeAdapter(EpisodeCode)


class EpisodeRead(BaseModel):
    """The episode as the disclosure rules let the reader's role read it (no personal content: the evaluation,
    the PI and the PSI are their dates and authors), and the access as registered."""

    episode: EpisodeView
    access: Access


def episode_code(code: str) -> str:
    try:
        return str(CODE.validate_python(code))
    except ValidationError:
        raise ProblemError(422, "not an episode code", errors=[FieldProblem(
            field="code", message="E- and 10 letters or digits 2-7 (e.g. E-ABCDEFGH23)")]) from None


def check_party(principal: Principal, responsible_org: str | None, code: str) -> None:
    """The CSSS answerable for the episode is its only party, through its own people's accounts (and the systems
    it gives a user account): a partner organisation's system (`arrimage partners add`) never is, whatever the
    episode (checked before the episode is looked up, so that its existence is not told either)."""
    if principal.kind is PrincipalKind.PARTNER:
        raise NotAParty(f"{principal.org_id} is a partner organisation: an épisode de services is the CSSS's own "
                        "service, its partners are not parties to it")
    if responsible_org is not None and principal.org_id != responsible_org:
        raise NotAParty(f"{principal.org_id} is not a party to episode {code}: it is {responsible_org}'s service")


def routes(root: Root, guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/v1/episodes", tags=["épisodes de services"])
    opening = TypeAdapter(bodies.OPEN_EPISODE)

    @router.post("", status_code=201, responses={**ok("EpisodeView", 201), **WRITE_PROBLEMS},
                 openapi_extra=body_of("OpenEpisodeBody"), response_class=JSONResponse)
    async def open_episode(request: Request, idempotency_key: IdempotencyKey = None) -> JSONResponse:
        """Open an episode (as `arrimage episodes open`); `by` and `actor_org` are the principal's, and so is
        `responsible_org` when left out; a fresh opaque code is made when `episode_code` is left out."""
        principal = await guard.principal(request)
        body = await json_body(request)

        async def run() -> tuple[int, Any]:
            check_party(principal, None, "to open")
            given = validated(lambda: opening.validate_python(body))
            data = {**given.model_dump(), "by": principal.actor, "actor_org": principal.org_id}
            request_id = updates.current_request()  # run again after its gateway died: the same code
            data["episode_code"] = data["episode_code"] or (
                episode_code_for(request_id) if request_id else new_episode_code())
            data["responsible_org"] = data["responsible_org"] or principal.org_id
            check_party(principal, data["responsible_org"], data["episode_code"])
            cmd = validated(lambda: pc.OpenEpisode.model_validate(data))
            planned = root.episode_client.planned_command_id(cmd.episode_code)  # run again: no duplicate
            await run_in_threadpool(root.episodes.check_opening,
                                    cmd.model_copy(update={"command_id": planned}) if planned else cmd, now())
            view = await root.episode_client.open(cmd, TIMEOUT)
            return 201, view.model_dump(mode="json")

        return await once(root, request, principal, body, idempotency_key, run)

    @router.get("/{code}", responses={200: {"description": "the episode as the caller may see it",
                                            "model": EpisodeRead}, **READ_PROBLEMS}, response_class=JSONResponse)
    async def show_episode(code: str, request: Request) -> JSONResponse:
        """The episode, registered as an access to the person's file (its decision id in `access`)."""
        principal = await guard.principal(request)
        code = episode_code(code)
        check_party(principal, None, code)
        view = await run_in_threadpool(root.episodes.view, code)
        check_party(principal, view.responsible_org, code)
        who = await run_in_threadpool(reader, root, principal)
        read = await run_in_threadpool(root.episode_reads.episode, code, CaseItem.STATE, who, now())
        if read.view is None:
            raise read_refused(read.decision)
        answer = EpisodeRead(episode=read.view, access=Access.decided(read.decision))
        return JSONResponse(answer.model_dump(mode="json"))

    @router.post("/{code}/commands", responses={**ok("EpisodeView"), **WRITE_PROBLEMS},
                 openapi_extra=body_of("EpisodeCommandBody"), response_class=JSONResponse)
    async def act(code: str, request: Request, idempotency_key: IdempotencyKey = None) -> JSONResponse:
        """Any command of the episode (as `arrimage episodes act --file`): a refusal is the rule's code (the 13th
        meeting of a consultation without a revised PI: `meeting_cap_reached`, 409), nothing recorded."""
        principal = await guard.principal(request)
        body = await json_body(request)
        code = episode_code(code)

        async def run() -> tuple[int, Any]:
            check_party(principal, None, code)
            given = validated(lambda: bodies.EPISODE_COMMAND.validate_python(body))
            view = await run_in_threadpool(root.episodes.view, code)
            check_party(principal, view.responsible_org, code)
            cmd = validated(lambda: bodies.episode_command(given, principal))
            done = await root.episode_client.act(code, cmd, TIMEOUT)
            return 200, done.model_dump(mode="json")

        return await once(root, request, principal, body, idempotency_key, run)

    return router
