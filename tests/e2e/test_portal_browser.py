"""The partners' portal (issue 10) in a real browser: Debian's chromium driven by Playwright, against the real
gateway (uvicorn on a free port) over a real record on each store (a SQLite file, a PostgreSQL schema:
`store_env`, issue 12) and a real Temporal dev server with the production worker.

A community organisation's intervenante signs in with her personal token, finds the handoff addressed to her
team, accepts it from the keyboard and confirms the arrival; a receiving service's intake worker accepts the
référence personnalisée and confirms the person reached the service. The events of the case are asserted
exactly; a form without its CSRF token is refused and records nothing; an expired session goes back to the
sign-in page; every field has a label and every text its contrast.

Needs /usr/bin/chromium (`apt-get install -y chromium`, done by .ci/run) and the `playwright` package; never
`playwright install` (its browser downloads are not used).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from domain.audit.record_reads import ReadKind, RecordRead, RecordReadEntry
from domain.crisis import commands as cc
from domain.crisis.model import InterventionOutcome, ReceivingService, ReceivingServiceType, ReferralChannel
from domain.disclosure.roles import Role
from gateway.portal.sessions import Sessions
from gateway.server import Gateway
from tests.crisis_builders import activate, crisis_content, crisis_worker
from tests.gateway.api import PARTNER, Api, events, gateway, intake
from usecases.ententes import Ententes

playwright_api = pytest.importorskip("playwright.async_api")
CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None and not os.environ.get("CI"),
                       reason="Debian's chromium is not installed (.ci/run installs it; required in CI)"),
]

TEAM_ORG = "cc-laval"  # the community crisis centre the entente ENT-CPS-GW routes to
RECEIVING = "clsc-ouest"
# Every field a person fills in has a label; every button a name; every text 4.5:1 against its background.
ACCESSIBILITY = """() => {
  const problems = [];
  for (const el of document.querySelectorAll('input:not([type=hidden]), textarea, select')) {
    const labelled = (el.id && document.querySelector(`label[for="${el.id}"]`)) || el.getAttribute('aria-label');
    if (!labelled) problems.push(`no label: ${el.outerHTML}`);
  }
  for (const b of document.querySelectorAll('button')) if (!b.textContent.trim()) problems.push('unnamed button');
  const rgb = (s) => s.match(/[\\d.]+/g).map(Number);
  const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  const background = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
                                 if (c.length < 4 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.offsetParent === null) continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color).slice(0, 3)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}: ${el.tagName} ${el.textContent.trim().slice(0, 30)}`);
  }
  return problems;
}"""


@dataclass
class Portal:
    api: Api
    url: str
    sessions: Sessions
    browser: Any

    @property
    def record(self) -> Record:
        return self.api.root.record

    def token(self, user: str, org: str) -> str:
        return self.api.root.principals.add_user(user, org, Role.INTERVENANT, name=user, by="t",
                                                 at=datetime.now(UTC)).key

    async def signed_in(self, token: str) -> Any:
        page = await (await self.browser.new_context(base_url=self.url)).new_page()
        await page.goto("/portail/")
        assert page.url.endswith("/portail/connexion")
        await accessible(page)
        await page.get_by_label("Jeton personnel").fill(token)
        await page.get_by_role("button", name="Se connecter").click()
        await playwright_api.expect(page).to_have_url(f"{self.url}/portail/dossiers")
        return page


@pytest.fixture
async def portal(case_server: WorkflowEnvironment, task_queue: str, store_env: dict[str, str],
                 tmp_path: Path) -> AsyncIterator[Portal]:
    record = Record(store_env)
    try:
        async with crisis_worker(case_server.client, task_queue, record, tmp_path), \
                gateway(case_server.client, task_queue, store_env, tmp_path) as api, \
                playwright_api.async_playwright() as pw:
            server = Gateway(api.root, host="127.0.0.1", port=0)
            url = await server.start()
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                app = cast(FastAPI, server.server.config.app)
                yield Portal(api, url, app.state.portal.sessions, browser)
            finally:
                await browser.close()
                await server.stop()
    finally:
        record.close()


async def accessible(page: Any) -> None:
    assert await page.evaluate(ACCESSIBILITY) == [], page.url


def names_since(portal: Portal, code: str, start: int) -> list[tuple[str, str | None, str | None]]:
    return [(h["event"], h.get("by"), h.get("actor_org"))
            for h in portal.api.root.crisis_cases.history(code)[start:]]


async def handed_to_the_community(api: Api) -> str:
    """A partner's case asking for a mobile intervention: no team of the CISSS given, so routing asks the
    community crisis centre of the entente."""
    opened = await api.post("/v1/cases", PARTNER, intake())
    assert opened.status_code == 201, opened.text
    code = str(opened.json()["case_code"])
    asked = await api.post(f"/v1/cases/{code}/commands", PARTNER, {"type": "request_mobile", "csss_teams": []})
    assert asked.status_code == 200, asked.text
    assert api.root.crisis_cases.view(code).attempts[-1].candidate.team.org_id == TEAM_ORG
    return code


async def test_an_intervenante_accepts_a_handoff_and_a_receiving_service_confirms_the_referral(
        portal: Portal) -> None:
    api = portal.api
    # the receiving service acts on the CISSS's cases under an entente in force, as on /v1 (the portal checks
    # the same standing: `no_entente_in_force` otherwise)
    activate(Ententes(api.root.record), "ENT-CLSC-PORTAIL", crisis_content(RECEIVING, territory="montreal"),
             at=datetime.now(UTC) - timedelta(hours=1))
    code = await handed_to_the_community(api)
    page = await portal.signed_in(portal.token("intervenante-cc", TEAM_ORG))
    await accessible(page)
    card = page.get_by_role("article").filter(has_text=code)
    await playwright_api.expect(card.get_by_role("heading")).to_have_text(f"{code} — Transfert demandé à votre équipe")
    await playwright_api.expect(card).to_contain_text("reste ")  # the answer deadline and the time left

    # the case page: her organisation's own part of the case (its request, its deadlines, and of the intake
    # only what a registered sending gave it: nothing here), the read registered once in the record-level
    # reads log and not in the person's register
    subject = api.root.crisis_cases.view(code).subject_id
    accesses = len(api.root.disclosures.accesses(subject_id=subject))
    await card.get_by_role("link", name=code).click()
    await playwright_api.expect(page.get_by_role("heading", name="Ce qui vous a été communiqué")).to_be_visible()
    await playwright_api.expect(page.locator("main")).to_contain_text("Rien du contenu du dossier")
    await accessible(page)
    reads = [RecordRead.model_validate(e.read) for e in api.root.record.events_of(RecordReadEntry.Registered)]  # type: ignore[attr-defined]
    assert (reads[-1].kind, reads[-1].actor_id, reads[-1].scope["case"]) == (
        ReadKind.PARTNER_CASE, "intervenante-cc", code)
    assert len(api.root.disclosures.accesses(subject_id=subject)) == accesses
    await page.go_back()

    # a form without its CSRF token: refused, nothing recorded
    before, seq = events(portal.record), len(api.root.crisis_cases.history(code))
    await page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    await card.get_by_role("button", name="Accepter le transfert").click()
    await playwright_api.expect(page.get_by_role("heading", level=1)).to_have_text("Formulaire refusé")
    assert events(portal.record) == before

    # the keyboard only: Tab to the accept button, Enter
    await page.goto("/portail/dossiers")
    for _ in range(40):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.id") == f"accepter-{code}":
            break
    else:
        pytest.fail("the accept button is not reachable with Tab")
    await page.keyboard.press("Enter")
    await playwright_api.expect(page.get_by_role("status")).to_have_text(f"Transfert accepté. ({code})")
    arrival = page.get_by_role("article").filter(has_text=code)
    await playwright_api.expect(arrival.get_by_role("heading")).to_contain_text("Arrivée sur place à confirmer")
    await arrival.get_by_role("button", name="Confirmer l'arrivée sur place").click()
    await playwright_api.expect(page.get_by_role("status")).to_have_text(f"Arrivée sur place enregistrée. ({code})")
    await accessible(page)
    assert names_since(portal, code, seq) == [
        ("HandoffAccepted", "intervenante-cc", TEAM_ORG), ("ArrivedOnSite", "intervenante-cc", TEAM_ORG)]

    # a form shown before another answer (the handoff is accepted now): the same command as the API's, refused
    # by the workflow's validator in its own words, nothing recorded
    count = events(portal.record)
    stale = await page.request.post(f"/portail/dossiers/{code}/accepter", max_redirects=0, headers={
        "Origin": portal.url}, form={"csrf": await csrf_of(page), "equipe": TEAM_ORG})
    assert (stale.status, stale.headers["location"]) == (303, "/portail/dossiers")
    assert events(portal.record) == count
    await page.goto("/portail/dossiers")
    await playwright_api.expect(page.get_by_role("alert")).to_contain_text("Refusé [")

    # the team records its outcome and refers the person (its own system: straight through the case client)
    root = api.root
    who = {"by": "eq-cc", "actor_org": TEAM_ORG}
    view = await root.case_client.act(code, cc.RecordOutcome(**who, outcome=InterventionOutcome.CRISIS_RESOLVED,
                                                             subject_id=subject), 30)
    view = await root.case_client.act(code, cc.StartReferral(
        by="eq-cc", actor_org=view.holder or TEAM_ORG, subject_id=subject, channel=ReferralChannel.TELEPHONE,
        receiving=ReceivingService(org_id=RECEIVING, service=ReceivingServiceType.CONSULTATION_SOCIALE)), 30)
    seq = view.event_count

    # the receiving service's intake worker: sign out is per person; a new context is a new browser
    accueil = await portal.signed_in(portal.token("accueil-clsc", RECEIVING))
    ref = accueil.get_by_role("article").filter(has_text=code)
    await playwright_api.expect(ref.get_by_role("heading")).to_contain_text("Référence personnalisée reçue")
    await accessible(accueil)
    await ref.get_by_label("Intervenant·e exerçant la fonction d'accueil").fill("intervenante à l'accueil")
    await ref.get_by_role("button", name="Accepter la référence").click()
    await playwright_api.expect(accueil.get_by_role("status")).to_have_text(f"Référence acceptée. ({code})")
    await ref.get_by_role("button", name="La personne a rejoint le service").click()
    await playwright_api.expect(accueil.get_by_role("status")).to_contain_text("Service rejoint")
    await playwright_api.expect(accueil.get_by_role("article")).to_have_count(0)
    assert [(e, b, o) for e, b, o in names_since(portal, code, seq)] == [
        ("ReferralAccepted", "accueil-clsc", RECEIVING), ("PersonReachedService", "accueil-clsc", RECEIVING),
        ("CaseClosed", "accueil-clsc", RECEIVING)]



async def csrf_of(page: Any) -> str:
    value: str = await page.locator("input[name=csrf]").first.get_attribute("value")
    return value


async def test_an_expired_session_goes_back_to_sign_in(portal: Portal) -> None:
    page = await portal.signed_in(portal.token("intervenante-cc", TEAM_ORG))
    real = portal.sessions.clock
    portal.sessions.clock = lambda: real() + timedelta(minutes=31)  # past the idle limit, without waiting
    try:
        await page.goto("/portail/dossiers")
        assert page.url.endswith("/portail/connexion?expiree=1")
        await playwright_api.expect(page.get_by_role("status")).to_have_text(
            "Votre session a expiré : reconnectez-vous.")
    finally:
        portal.sessions.clock = real
    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"] == "arrimage_portail")
    assert (session["httpOnly"], session["sameSite"], session["path"]) == (True, "Strict", "/portail")
