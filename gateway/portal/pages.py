"""The portal under `/portail`: sign-in with a person's token, the organisation's worklist of cases, one
case as the disclosure rules let it be read, and the forms that give the case's commands.

Every command goes through the case's Temporal client with the person as `by` and their organisation as
`actor_org`, exactly as `POST /v1/cases/{code}/commands`: the workflow's validators decide, and a refusal is
shown in the rule's own words. Every read is decided and registered before anything is shown: the worklist
as one listing of cases (codes, stages, deadlines), a case page in the person's register.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from domain.audit.reads import CaseItem
from domain.audit.record_reads import ReadKind
from domain.crisis.model import CaseCode
from domain.crisis.state import CaseStage, CaseView
from domain.disclosure.roles import PurposeKind
from domain.errors import DomainError, NotFound
from domain.principals.access import case_parties
from domain.principals.model import Principal, PrincipalKind, Unauthenticated
from domain.principals.standing import NoEntenteInForce, needs_entente
from gateway.cases import reader as cases_reader
from gateway.guard import Buckets, now
from gateway.portal import render, signatures
from gateway.portal.asks import Action, Ask, ask_of, command
from gateway.portal.labels import DONE
from gateway.portal.sessions import COOKIE, PREFIX, Session, Sessions
from gateway.problems import ProblemError, field_problems, translate
from usecases.audit.reads import Reader

if TYPE_CHECKING:
    from workers.bootstrap import Root

log = logging.getLogger("arrimage.gateway.portal")
TIMEOUT = 30.0  # seconds a command may wait for a worker
SIGN_IN_RATE, SIGN_IN_BURST = 0.2, 10  # attempts per client address: a key's hash is costly to check
CODE = TypeAdapter(CaseCode)


@dataclass(frozen=True)
class Posted:
    session: Session
    principal: Principal
    fields: dict[str, str]


class Portal:
    """The portal's routes and its sessions (`sessions.clock` is what a test moves to expire one)."""

    def __init__(self, root: Root, sessions: Sessions | None = None) -> None:
        self.root = root
        self.sessions = sessions or Sessions()
        self.secure = not root.settings.development  # Secure cookies: over HTTPS only, outside development
        self.sign_ins = Buckets(SIGN_IN_RATE, SIGN_IN_BURST)

    # ------------------------------------------------------------------ sessions
    def with_cookie(self, response: Response, session: Session) -> Response:
        response.set_cookie(COOKIE, self.sessions.cookie(session), httponly=True, samesite="strict",
                            secure=self.secure, path=PREFIX)
        return response

    def to_sign_in(self, why: str | None = None) -> Response:
        response = RedirectResponse(f"{PREFIX}/connexion" + (f"?{why}=1" if why else ""), status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict", secure=self.secure)
        return response

    async def signed_in(self, request: Request) -> Session | None:
        """The signed-in session, if live and its person still valid (a revocation or a rotated-out key
        ends it at the next request: the record is read every time, as for an API key)."""
        session = self.sessions.find(request.cookies.get(COOKIE))
        if session is None or session.principal is None:
            return None
        if not await run_in_threadpool(self._still_valid, session.principal):
            self.sessions.end(session)
            return None
        return session

    def _still_valid(self, who: Principal) -> bool:
        try:
            view = self.root.principals.get(who.kind, who.principal_id)
        except NotFound:
            return False
        at = now()
        return view.active and any(k.kid == who.kid and k.valid_at(at) for k in view.keys)

    async def posted(self, request: Request) -> Posted | Response:
        """A form from a live session, from this site, with the session's CSRF token; otherwise the answer
        that refuses it (nothing given to the engine)."""
        session = await self.signed_in(request)
        if session is None or session.principal is None:
            return self.to_sign_in("expiree")
        try:
            fields = await render.form(request)
        except render.FormTooLarge:
            return render.page("erreur.html", 413, session=session, title="Formulaire trop long",
                               message=f"Un formulaire ne dépasse pas {render.MAX_FORM_BYTES // 1024} Kio.")
        if not same_origin(request) or not self.sessions.csrf_ok(session, fields.get("csrf")):
            return render.page("erreur.html", 403, session=session, title="Formulaire refusé",
                               message="Ce formulaire n'est pas valide pour votre session (jeton anti-CSRF "
                                       "absent ou périmé). Rien n'a été enregistré. Rechargez la page et "
                                       "recommencez.")
        return Posted(session, session.principal, fields)

    # ------------------------------------------------------------------ routes
    def router(self) -> APIRouter:
        router = APIRouter(prefix=PREFIX, include_in_schema=False)
        root = self.root

        @router.get("/portail.css")
        async def stylesheet() -> Response:
            return render.stylesheet()

        @router.get("")
        @router.get("/")
        async def home(request: Request) -> Response:
            signed = await self.signed_in(request)
            return RedirectResponse(f"{PREFIX}/dossiers" if signed else f"{PREFIX}/connexion", status_code=303)

        @router.get("/connexion")
        async def sign_in_form(request: Request) -> Response:
            if await self.signed_in(request) is not None:
                return RedirectResponse(f"{PREFIX}/dossiers", status_code=303)
            session = self.sessions.find(request.cookies.get(COOKIE))
            if session is None or session.principal is not None:
                session = self.sessions.new()
            notice = ("Votre session a expiré : reconnectez-vous." if "expiree" in request.query_params
                      else "Vous êtes déconnecté." if "fin" in request.query_params else None)
            return self.with_cookie(render.page("connexion.html", session=session, notice=notice), session)

        @router.post("/connexion")
        async def sign_in(request: Request) -> Response:
            session = self.sessions.find(request.cookies.get(COOKIE))
            host = request.client.host if request.client else "?"
            if self.sign_ins.take(host) > 0:
                return render.page("connexion.html", 429, session=session, alert="Trop de tentatives de "
                                   "connexion depuis cette adresse : attendez une minute.")
            try:
                fields = await render.form(request)
            except render.FormTooLarge:
                fields = {}
            if session is None or not same_origin(request) or not self.sessions.csrf_ok(session,
                                                                                        fields.get("csrf")):
                fresh = self.sessions.new()
                return self.with_cookie(render.page("connexion.html", 403, session=fresh, alert=(
                    "Ce formulaire de connexion n'est plus valide : recommencez.")), fresh)
            try:
                who: Principal = await run_in_threadpool(root.principals.authenticate, fields.get("jeton", ""),
                                                         now())
            except Unauthenticated as err:
                log.info("portal: sign-in refused (%s)", err.reason)
                return render.page("connexion.html", 401, session=session,
                                   alert="Jeton absent, invalide, expiré ou révoqué.")
            if who.kind is not PrincipalKind.USER:
                return render.page("connexion.html", 403, session=session, alert=(
                    "Ce jeton est la clé d'un système partenaire : le portail s'ouvre avec le jeton "
                    "personnel d'une personne (arrimage users add)."))
            self.sessions.end(session)  # a new id once signed in
            signed = self.sessions.new(who)
            return self.with_cookie(RedirectResponse(f"{PREFIX}/dossiers", status_code=303), signed)

        @router.post("/deconnexion")
        async def sign_out(request: Request) -> Response:
            got = await self.posted(request)
            if isinstance(got, Response):
                return got
            self.sessions.end(got.session)
            return self.to_sign_in("fin")

        @router.get("/dossiers")
        async def worklist(request: Request) -> Response:
            session = await self.signed_in(request)
            if session is None or session.principal is None:
                return self.to_sign_in("expiree")
            who = session.principal
            at = now()
            read = await run_in_threadpool(root.reads.across, ReadKind.CASE_LISTING, reader(who), at,
                                           {"organisation": who.org_id, "source": "portail"})
            if not read.allowed:
                return render.page("dossiers.html", 403, session=session, refused=read, asks=[], now=at)
            asks = await run_in_threadpool(self._asks_of, who)
            return render.page("dossiers.html", session=session, asks=asks, now=at, refused=None,
                               **session.take_messages())

        @router.get("/dossiers/{code}")
        async def case_page(code: str, request: Request) -> Response:
            session = await self.signed_in(request)
            if session is None or session.principal is None:
                return self.to_sign_in("expiree")
            who = session.principal
            view = await self._party_view(code, who)
            if isinstance(view, Response):
                return view
            at = now()
            if needs_entente(who, view):  # a partner's staff: its own part of the case (as GET /v1/cases/{code})
                part = await run_in_threadpool(root.reads.partner_case, view.case_code, who.org_id,
                                               Reader.of(who.actor, who.role, PurposeKind.CONTINUITY), at)
                ask = ask_of(view, who.org_id) if part.view is not None else None
                return render.page("dossier_partenaire.html", 200 if part.view is not None else 403,
                                   session=session, code=view.case_code, org=who.org_id, read=part.read,
                                   view=part.view, ask=ask, now=at, **session.take_messages())
            who_reads = await run_in_threadpool(cases_reader, root, who)  # with registered authorisations
            read = await run_in_threadpool(root.reads.case, view.case_code, CaseItem.STATE, who_reads, at)
            shown = read.view
            ask = ask_of(shown, who.org_id) if shown is not None else None
            return render.page("dossier.html", 200 if shown is not None else 403, session=session, code=view.case_code,
                               decision=read.decision, view=shown, ask=ask, now=at,
                               **session.take_messages())

        @router.post("/dossiers/{code}/{action}")
        async def act(code: str, action: str, request: Request) -> Response:
            got = await self.posted(request)
            if isinstance(got, Response):
                return got
            try:
                chosen = Action(action)
            except ValueError:
                return render.page("erreur.html", 404, session=got.session, title="Action inconnue",
                                   message="Cette action n'existe pas.")
            view = await self._party_view(code, got.principal, got.session)
            if isinstance(view, Response):
                return view
            back = f"{PREFIX}/dossiers/{view.case_code}" if got.fields.get("retour") == "dossier" else \
                f"{PREFIX}/dossiers"
            ask = ask_of(view, got.principal.org_id)

            async def give() -> None:
                cmd = command(chosen, ask, got.principal, got.fields)
                await root.case_client.act(view.case_code, cmd, TIMEOUT)

            return await self.done(got.session, give, f"{DONE[chosen]} ({view.case_code})", back)

        signatures.add_routes(self, router)
        return router

    # ------------------------------------------------------------------ helpers
    def _asks_of(self, who: Principal) -> list[Ask]:
        """What the open cases ask of `who`'s organisation, on the cases it is in standing on (as the case page:
        once its entente ended, a handoff it was asked but had not accepted is no longer offered to it)."""
        cases = self.root.crisis_cases
        found: list[Ask] = []
        skipped = lambda s: log.warning("portal: case %s skipped", s[0])  # noqa: E731
        at = now()
        for _, _, view in cases.views(cases.still_open(from_view=True), skipped=skipped):
            if view.stage is CaseStage.CLOSED or (ask := ask_of(view, who.org_id)) is None:
                continue
            try:
                self.root.principals.check_case_standing(who, view, at)
            except NoEntenteInForce:
                continue
            found.append(ask)
        return sorted(found, key=lambda a: (a.deadline is None, a.deadline.due_at if a.deadline else None, a.code))

    async def _party_view(self, code: str, who: Principal, session: Session | None = None) -> CaseView | Response:
        """The case, if `who`'s organisation is a party to it; otherwise the page that says there is none
        (a case of another organisation is not confirmed to exist)."""
        try:
            view: CaseView = await run_in_threadpool(self.root.crisis_cases.view, str(CODE.validate_python(code)))
        except (ValidationError, NotFound):
            view = None  # type: ignore[assignment]
        if view is None or who.org_id not in case_parties(view):
            return render.page("erreur.html", 404, session=session, title="Dossier introuvable",
                               message="Aucun dossier de votre organisation ne porte ce code.")
        try:  # a partner under an entente in force, or on a case it holds (as /v1: `no_entente_in_force`)
            await run_in_threadpool(self.root.principals.check_case_standing, who, view, now())
        except DomainError as err:
            return render.page("erreur.html", 403, session=session, title="Accès refusé",
                               message=f"{err.message} ({err.code}).")
        return view

    async def done(self, session: Session, give: Callable[[], Awaitable[None]], done: str, back: str) -> Response:
        """Give the command; the outcome is the next page's notice (after a redirect, so a reload posts
        nothing again): done, or the refusal in the rule's words."""
        try:
            await give()
            session.notice = done
        except ValidationError as err:
            session.alert = "Champ invalide : " + " ; ".join(f"{p.field} : {p.message}" for p in field_problems(err))
        except Exception as err:
            known = translate(err)
            if known is None:
                log.exception("portal: unexpected failure")
                known = ProblemError(500, f"échec inattendu : {type(err).__name__} (journalisé)")
            session.alert = f"Refusé{f' [{known.code}]' if known.code else ''} : {known.detail}"
        return RedirectResponse(back, status_code=303)


def reader(principal: Principal) -> Reader:
    return Reader.of(principal.actor, principal.role)


def same_origin(request: Request) -> bool:
    """Not a form posted from another site, as far as the browser says (Sec-Fetch-Site, Origin); the CSRF
    token is the check that holds when it says nothing."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":  # "null": an opaque origin (a privacy setting): the token decides
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")
