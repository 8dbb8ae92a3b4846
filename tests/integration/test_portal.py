"""The partners' portal (issue 10) over HTTP without a browser (the real app through its ASGI transport, a
real record on each store (a SQLite file, a PostgreSQL schema: `store_env`, issue 12), the dev server and the
production worker): who may sign in, what ends a session, what a person of another organisation gets, a typed
field refused by the command's own model, and an entente signed.
The browser's own checks (keyboard, labels, contrast, the whole case) are in tests/e2e/test_portal_browser.py.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from domain.clock import local_date, start_of
from domain.disclosure.roles import Role
from domain.ententes import commands as ec
from domain.principals.model import PrincipalKind
from gateway.portal import pages
from tests.crisis_builders import CSSS, crisis_content, crisis_worker
from tests.gateway.api import ENTENTE, PARTNER, Api, events, gateway, intake
from usecases.ententes import Ententes

TEAM_ORG = "cc-laval"
ORIGIN = {"Origin": "http://gateway"}


@pytest.fixture
async def api(visible_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str],
              tmp_path: Path) -> AsyncIterator[Api]:
    record = Record(store_env)
    try:
        async with crisis_worker(visible_env.client, task_queue, record, tmp_path), \
                gateway(visible_env.client, task_queue, store_env, tmp_path) as opened:
            yield opened
    finally:
        record.close()


def csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def alert(page: httpx.Response) -> str:
    found = re.search(r'class="alerte" role="alert">([^<]*)<', page.text)
    return found.group(1) if found else ""


def person(api: Api, user: str, org: str = TEAM_ORG, role: Role = Role.INTERVENANT) -> str:
    return api.root.principals.add_user(user, org, role, name=user, by="t", at=datetime.now(UTC)).key


async def sign_in(client: httpx.AsyncClient, token: str) -> httpx.Response:
    form = await client.get("/portail/connexion")
    return await client.post("/portail/connexion", data={"csrf": csrf(form), "jeton": token}, headers=ORIGIN)


async def case_for_the_community(api: Api) -> str:
    code = str((await api.post("/v1/cases", PARTNER, intake())).json()["case_code"])
    asked = await api.post(f"/v1/cases/{code}/commands", PARTNER, {"type": "request_mobile", "csss_teams": []})
    assert asked.status_code == 200, asked.text
    return code


async def test_only_a_person_signs_in_and_gets_a_new_session_id(api: Api) -> None:
    client = api.client
    before = events(api.root.record)
    refused = await sign_in(client, api.keys[PARTNER])  # a partner system's key: not a person
    assert refused.status_code == 403 and "système partenaire" in alert(refused)
    wrong = await sign_in(client, "ark_000000000000_nope")
    assert (wrong.status_code, alert(wrong)) == (401, "Jeton absent, invalide, expiré ou révoqué.")
    no_token = await client.post("/portail/connexion", data={"jeton": person(api, "sans-csrf")}, headers=ORIGIN)
    assert no_token.status_code == 403  # the sign-in form's own CSRF token
    assert events(api.root.record) == before + 3  # the person added above: Registered, key issued… nothing else
    anonymous = client.cookies["arrimage_portail"]
    done = await sign_in(client, person(api, "intervenante-cc"))
    assert (done.status_code, done.headers["location"]) == (303, "/portail/dossiers")
    assert "HttpOnly" in done.headers["set-cookie"] and "SameSite=strict" in done.headers["set-cookie"]
    signed = client.cookies["arrimage_portail"]
    assert signed != anonymous.split(".")[0] and signed.split(".")[0] != anonymous.split(".")[0]
    page = await client.get("/portail/dossiers")
    assert page.status_code == 200 and "Dossiers adressés à cc-laval" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    # a forged cookie (the id without its signature, or another signature) is nobody's session
    for forged in (signed.split(".")[0], signed.split(".")[0] + ".AAAA"):
        client.cookies.set("arrimage_portail", forged, path="/portail")
        assert (await client.get("/portail/dossiers")).headers["location"] == "/portail/connexion?expiree=1"


async def test_a_revocation_or_a_sign_out_ends_the_session_at_the_next_request(api: Api) -> None:
    client = api.client
    await sign_in(client, person(api, "intervenante-cc"))
    page = await client.get("/portail/dossiers")
    out = await client.post("/portail/deconnexion", data={"csrf": csrf(page)}, headers=ORIGIN)
    assert out.headers["location"] == "/portail/connexion?fin=1"
    assert (await client.get("/portail/dossiers")).status_code == 303

    await sign_in(client, person(api, "autre-cc"))
    assert (await client.get("/portail/dossiers")).status_code == 200
    api.root.principals.revoke(PrincipalKind.USER, "autre-cc", "départ", by="t", at=datetime.now(UTC))
    assert (await client.get("/portail/dossiers")).headers["location"] == "/portail/connexion?expiree=1"


async def test_another_organisation_neither_reads_nor_acts_and_nothing_is_recorded(api: Api) -> None:
    code = await case_for_the_community(api)
    client = api.client
    await sign_in(client, person(api, "accueil-ailleurs", org="clsc-ouest"))
    worklist = await client.get("/portail/dossiers")
    assert code not in worklist.text
    before = events(api.root.record)
    page = await client.get(f"/portail/dossiers/{code}")
    assert page.status_code == 404 and "Dossier introuvable" in page.text
    posted = await client.post(f"/portail/dossiers/{code}/accepter", data={"csrf": csrf(worklist),
                                                                          "equipe": TEAM_ORG}, headers=ORIGIN)
    assert posted.status_code == 404
    assert events(api.root.record) == before


async def test_a_decline_without_a_reason_is_refused_by_the_commands_model(api: Api) -> None:
    code = await case_for_the_community(api)
    client = api.client
    await sign_in(client, person(api, "intervenante-cc"))
    worklist = await client.get("/portail/dossiers")
    before = events(api.root.record)
    posted = await client.post(f"/portail/dossiers/{code}/refuser", data={"csrf": csrf(worklist), "motif": "  "},
                               headers=ORIGIN)
    assert posted.headers["location"] == "/portail/dossiers"
    assert events(api.root.record) == before
    again = await client.get("/portail/dossiers")
    assert alert(again).startswith("Champ invalide : reason : String should have at least 1 character")
    declined = await client.post(f"/portail/dossiers/{code}/refuser", headers=ORIGIN, data={
        "csrf": csrf(again), "motif": "équipe déjà mobilisée"})
    assert declined.status_code == 303
    last = api.root.crisis_cases.history(code)
    assert [(h["event"], h["by"]) for h in last if h["event"] == "HandoffDeclined"] == [
        ("HandoffDeclined", "intervenante-cc")]


async def test_once_its_entente_ended_the_team_keeps_its_case_and_is_offered_no_new_ask(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11: from the revocation, the organisation « is not asked for new handoffs … and receives no
    information under that entente; cases it already holds keep going to their end » (the CISSS answers for
    the organisation it entrusted, seed 001 L1181-1184). The handoff it accepted before stays in its worklist
    and its arrival is recorded from the portal; the one it was asked and had not accepted leaves the worklist,
    its page and its form are refused (`no_entente_in_force`), nothing recorded. The revocation takes effect
    after its 90 days' notice: the portal's clock reads that day (the workflows keep the real time)."""
    held, pending = await case_for_the_community(api), await case_for_the_community(api)
    client = api.client
    await sign_in(client, person(api, "intervenante-cc"))
    worklist = await client.get("/portail/dossiers")
    assert held in worklist.text and pending in worklist.text
    taken = await client.post(f"/portail/dossiers/{held}/accepter", headers=ORIGIN,
                              data={"csrf": csrf(worklist), "equipe": TEAM_ORG})
    assert taken.status_code == 303 and api.root.crisis_cases.view(held).holder == TEAM_ORG
    now = datetime.now(UTC)
    effective = local_date(now) + timedelta(days=91)
    Ententes(api.root.record).execute(ENTENTE, ec.GiveRevocationNotice(
        by="dsp", party_id=CSSS, reason="fin du financement", effective_date=effective), now)
    monkeypatch.setattr(pages, "now", lambda: start_of(effective) + timedelta(minutes=1))
    worklist = await client.get("/portail/dossiers")
    assert held in worklist.text and pending not in worklist.text
    before = events(api.root.record)
    page = await client.get(f"/portail/dossiers/{pending}")
    assert page.status_code == 403 and "no_entente_in_force" in page.text
    assert "only the cases cc-laval held before it ended continue" in page.text
    posted = await client.post(f"/portail/dossiers/{pending}/accepter", headers=ORIGIN,
                               data={"csrf": csrf(worklist), "equipe": TEAM_ORG})
    assert posted.status_code == 403
    assert events(api.root.record) == before
    mine = await client.get(f"/portail/dossiers/{held}")
    assert mine.status_code == 200, mine.text
    arrived = await client.post(f"/portail/dossiers/{held}/arrivee", headers=ORIGIN,
                                data={"csrf": csrf(mine), "retour": "dossier"})
    assert arrived.status_code == 303
    assert [h["by"] for h in api.root.crisis_cases.history(held) if h["event"] == "ArrivedOnSite"] == [
        "intervenante-cc"]


async def test_a_party_signs_an_entente_from_the_portal(api: Api) -> None:
    root = api.root
    code = f"ENT-CC-PORTAIL-{uuid.uuid4().hex[:8].upper()}"  # its own per run: both stores share the dev server
    await root.entente_client.draft(ec.DraftEntente(by="dsp", code=code, content=crisis_content(TEAM_ORG)), 30)
    await root.entente_client.command(code, ec.SubmitForSignature(by="dsp"), 30)
    client = api.client
    await sign_in(client, person(api, "directrice-cc"))
    page = await client.get("/portail/ententes")
    assert f'action="/portail/ententes/{code}/signer"' in page.text
    done = await client.post(f"/portail/ententes/{code}/signer", headers=ORIGIN, data={
        "csrf": csrf(page), "version": "1", "signataire": "Directrice générale", "titre": "D.G."})
    assert done.headers["location"] == "/portail/ententes"
    signed = [h for h in root.ententes.history(code) if h["event"] == "Signed"]
    assert [(h["by"], h["party_id"], h["signatory"]) for h in signed] == [
        ("directrice-cc", TEAM_ORG, "Directrice générale")]
    after = await client.get("/portail/ententes")
    assert f"Entente {code} signée pour {TEAM_ORG}." in after.text
    assert f'action="/portail/ententes/{code}/signer"' not in after.text


async def test_a_partner_team_reads_its_own_part_of_the_case_registered_once(api: Api) -> None:
    """A community organisation's intervenant opening a case asked of its team gets its operational view (as
    GET /v1/cases/{code} gives a partner): its request, its deadlines, and of the intake only what a registered
    sending gave it (here none: no consent, no emergency). Before, the disclosure rules refused the page
    (`no_active_authorisation`): a partner's staff could not see the case it was asked to take."""
    code = await case_for_the_community(api)
    client = api.client
    await sign_in(client, person(api, "intervenante-cc"))
    before = events(api.root.record)
    page = await client.get(f"/portail/dossiers/{code}")
    assert page.status_code == 200, page.text
    assert "Vue de votre organisation (cc-laval)" in page.text
    assert "Rien du contenu du dossier" in page.text and "Demandes de transfert à vos équipes" in page.text
    assert 'name="demande" value="1"' in page.text  # the form names the request it answers
    assert "Idees suicidaires" not in page.text and "RAMQ" not in page.text
    assert events(api.root.record) == before + 1  # the read, registered once in the record-level reads log
    from domain.audit.record_reads import ReadKind, RecordRead, RecordReadEntry
    reads = [RecordRead.model_validate(e.read) for e in api.root.record.events_of(RecordReadEntry.Registered)]  # type: ignore[attr-defined]
    assert [(r.kind, r.actor_id, r.scope["case"], r.scope["org"], r.allowed) for r in reads[-1:]] == [
        (ReadKind.PARTNER_CASE, "intervenante-cc", code, TEAM_ORG, True)]
