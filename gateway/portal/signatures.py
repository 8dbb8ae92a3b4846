"""The portal's ententes: those the person's organisation is party to, each read registered in the entente's
reads log (as `GET /v1/ententes/{code}` registers one), and a form to sign the version awaiting signatures —
`SignEntente` for the organisation itself, through the entente's Temporal client, the workflow deciding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from domain.audit.replay import AggregateKind, AggregateRef
from domain.disclosure.model import Outcome
from domain.ententes import commands as ec
from domain.ententes.model import EntenteCode
from domain.ententes.state import EntenteView, ProposalStage
from domain.errors import NotFound
from domain.principals.model import Principal
from gateway.guard import now
from gateway.portal import render
from gateway.portal.sessions import PREFIX

if TYPE_CHECKING:
    from gateway.portal.pages import Portal

TIMEOUT = 30.0
CODE = TypeAdapter(EntenteCode)


@dataclass(frozen=True)
class Row:
    view: EntenteView
    readable: bool  # the read was allowed (and registered)
    may_sign: bool  # a version awaits the organisation's signature


def party_to(view: EntenteView, org_id: str) -> bool:
    return any(c is not None and org_id in c.party_ids for c in (view.content, view.proposed_content))


def awaits(view: EntenteView, org_id: str) -> bool:
    p = view.proposal
    return p is not None and p.stage is ProposalStage.IN_SIGNATURE and not p.signed_by(org_id)


def add_routes(portal: Portal, router: APIRouter) -> None:
    root = portal.root

    def rows(who: Principal) -> list[Row]:
        out = []
        for view in root.ententes.list(from_view=True):
            if not party_to(view, who.org_id):
                continue
            read = root.replays.replay(AggregateRef(kind=AggregateKind.ENTENTE, key=view.code), role=who.role,
                                       actor_id=who.actor, moment=now())
            allowed = read.outcome is Outcome.ALLOWED
            out.append(Row(view, allowed, allowed and awaits(view, who.org_id)))
        return out

    @router.get("/ententes")
    async def ententes(request: Request) -> Response:
        session = await portal.signed_in(request)
        if session is None or session.principal is None:
            return portal.to_sign_in("expiree")
        found = await run_in_threadpool(rows, session.principal)
        return render.page("ententes.html", session=session, rows=found, **session.take_messages())

    @router.post("/ententes/{code}/signer")
    async def sign(code: str, request: Request) -> Response:
        got = await portal.posted(request)
        if isinstance(got, Response):
            return got
        who = got.principal
        try:
            view = await run_in_threadpool(root.ententes.view, str(CODE.validate_python(code)))
        except (NotFound, ValidationError):
            view = None
        if view is None or not party_to(view, who.org_id):
            return render.page("erreur.html", 404, session=got.session, title="Entente introuvable",
                               message="Aucune entente de votre organisation ne porte ce code.")
        fields = got.fields

        async def give() -> None:
            cmd = ec.SignEntente.model_validate({
                "by": who.actor, "party_id": who.org_id, "version": fields.get("version", ""),
                "signatory": fields.get("signataire", ""), "title": fields.get("titre") or None})
            await root.entente_client.command(view.code, cmd, TIMEOUT)

        return await portal.done(got.session, give, f"Entente {view.code} signée pour {who.org_id}.",
                                 f"{PREFIX}/ententes")
