"""Partner journeys end to end (issue 10): simulated partner systems, each a real HTTP server on loopback written
here, carry a whole crisis case and a whole entente through the gateway (uvicorn on loopback: /v1 and /fhir) and
arrimage's webhooks, on a real Temporal server with the production worker and a real record.

- The case: the 8-1-1 Info-Social system opens it and asks for a mobile intervention; routing asks the first
  community organisation under its entente, whose dispatch system takes the signed `handoff.requested`
  webhook (checked with the README's ten lines), then declines through /v1; the second organisation's
  system takes its own and accepts; its team reports the arrival and the outcome, runs the post-crisis
  follow-up and refers the person to a receiving service, whose FHIR system takes the `referral.sent`
  webhook naming its Task, then accepts and completes that Task through /fhir: only then does the case
  close. The exact events recorded, the webhooks each system took (once each by event id), the delivery
  log and the Tasks' states are asserted.
- The entente: drafted by the CISSS, submitted; each partner party's system takes its `signature.requested`
  webhook and signs through /v1; the entente comes into force.
- Duplicate, late and out-of-order deliveries both ways, on the time-skipping server (no real wait for a
  timer or a back-off). Arrimage to partner: a 200 lost on the way (the same event id comes again, the
  partner keeps the message once); a system down while it is asked, up again after being asked a second
  time: it takes message 2 before message 1's late retry, holds it until 1 comes, and acts on the latest
  request only. Partner to arrimage: an answer after the answer deadline passed, and an arrival before the
  acceptance, each refused with the rule's code and recording nothing; commands retried with their
  Idempotency-Key (the first answer again, nothing recorded).

The systems act on the webhooks' opaque codes (case code, attempt, team, the referral's Task) and read nothing:
what a partner reads through the gateway is tested in test_gateway_api and test_fhir_api.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.task import Task
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from domain.crisis.model import new_case_code
from domain.crisis.state import AttemptStatus, CaseStage
from domain.delivery.model import MAX_ATTEMPTS, Outcome, SubjectKind
from domain.disclosure.roles import Role
from domain.ententes.state import EntenteStatus
from gateway.server import Gateway
from tests.crisis_builders import (
    CSSS,
    activate,
    crisis_content,
    crisis_worker,
    open_cmd,
    start_case,
    until,
    wait_for,
)
from tests.gateway.api import Api, events, gateway
from tests.webhook_receiver import readme_verify
from usecases.ententes import Ententes

FIRST, SECOND = "cc-laval", "sos-laval"  # community organisations with a mobile crisis team, under ententes
RECEIVING = "clsc-ouest"  # the service the person is referred to
SUBJECT = "p-7f3a9c2e"
SYSTEM_811 = "systeme-811"  # the CISSS's Info-Social 8-1-1 system (its key acts for the CISSS)
SUPERVISOR = "superviseure"
FHIR = "application/fhir+json"
WITHIN = 60.0  # seconds of real time a test waits for a delivery before failing (never an assertion on speed)


# ---------------------------------------------------------------------- a partner's system
@dataclass
class Wire:
    """One POST that reached the partner's server: what it saw, what it concluded, what it answered."""

    event_id: str
    body: bytes
    verdict: str  # ok, duplicate, forged, late, or down (answered before anything was checked)
    status: int

    @property
    def message(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


@dataclass
class PartnerSystem:
    """A partner organisation's system: a webhook endpoint on loopback that checks each delivery with the
    README's verification (run as written there) and keeps each message once by its event id, and a client of
    the gateway with the organisation's API key.

    `down`: the system is stopped behind its load balancer, which answers 503 before anything is read.
    `lose_answer`: event types whose first delivery is taken but whose 2xx is lost on the way back (answered
    503 once the message is kept): arrimage tries again with the same event id."""

    org: str
    key: str
    http: httpx.AsyncClient
    secret: str = ""
    down: bool = False
    lose_answer: set[str] = field(default_factory=set)
    wire: list[Wire] = field(default_factory=list)
    taken: list[dict[str, Any]] = field(default_factory=list)  # messages kept, once each, in arrival order
    seen: set[str] = field(default_factory=set)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/arrimage/webhooks"

    def receive(self, headers: Any, body: bytes, verify: Callable[..., str]) -> int:
        if self.down:
            self.wire.append(Wire(headers.get("Arrimage-Event-Id", ""), body, "down", 503))
            return 503
        try:
            verdict = verify(self.secret, headers, body, self.seen)
        except (KeyError, ValueError):
            verdict = "forged"
        status = {"ok": 200, "duplicate": 200, "forged": 401, "late": 401}[verdict]
        if verdict == "ok":
            message = json.loads(body)
            self.taken.append(message)
            if message["type"] in self.lose_answer:
                self.lose_answer.discard(message["type"])
                status = 503  # kept, but the answer is lost: the retry will be a duplicate
        self.wire.append(Wire(headers["Arrimage-Event-Id"], body, verdict, status))
        return status

    def in_order(self, code: str) -> list[dict[str, Any]]:
        """The messages about `code` a partner may act on: by `sequence` from 1, up to the first gap (a gap means
        one is still coming)."""
        by_sequence = {m["sequence"]: m for m in self.taken if m["subject"]["code"] == code}
        out: list[dict[str, Any]] = []
        while len(out) + 1 in by_sequence:
            out.append(by_sequence[len(out) + 1])
        return out

    async def messages(self, code: str, count: int) -> list[dict[str, Any]]:
        """Wait (bounded in real time) until `count` messages about `code` can be acted on, in order."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WITHIN
        while len(found := self.in_order(code)) < count:
            if loop.time() > deadline:
                pytest.fail(f"{self.org}: {len(found)} messages about {code} in order, {count} expected; "
                            f"on the wire: {[(w.verdict, w.status) for w in self.wire]}")
            await asyncio.sleep(0.05)
        return found

    def headers(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "Idempotency-Key": key or uuid.uuid4().hex}

    async def command(self, code: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        return await self.http.post(f"/v1/cases/{code}/commands", json=body, headers=self.headers(key))

    async def entente(self, code: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        return await self.http.post(f"/v1/ententes/{code}/commands", json=body, headers=self.headers(key))

    async def task(self, task_id: str, status: str, key: str | None = None, **extra: Any) -> httpx.Response:
        body = {"resourceType": "Task", "id": task_id, "status": status, "intent": "order", **extra}
        return await self.http.put(f"/fhir/Task/{task_id}", json=body,
                                   headers={**self.headers(key), "Content-Type": FHIR})


@contextmanager
def listening(system: PartnerSystem) -> Iterator[PartnerSystem]:
    verify = readme_verify()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                status = system.receive(self.headers, body, verify)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    system.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield system
    finally:
        server.shutdown()
        server.server_close()


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: httpx.Response, status: int, code: str) -> None:
    """A problem document (or, on /fhir, an OperationOutcome) with the rule's own code."""
    assert response.status_code == status, response.text
    body = response.json()
    found = body["issue"][0]["details"]["coding"][0]["code"] if body.get("resourceType") else body["code"]
    assert found == code, body


# ---------------------------------------------------------------------- the world the partners work in
@dataclass
class World:
    api: Api  # the gateway's root and keys (and an in-process client, unused by the partners)
    base_url: str
    systems: dict[str, PartnerSystem]

    @property
    def root(self) -> Any:
        return self.api.root

    def trail(self, code: str) -> list[tuple[str, str | None, str | None]]:
        """The case's events as recorded: name, who, for which organisation."""
        return [(h["event"], h.get("by"), h.get("actor_org")) for h in self.root.crisis_cases.history(code)]

    def deliveries(self, kind: SubjectKind, code: str) -> list[tuple[str, str, int, Outcome | None, int]]:
        """The subject's delivery log: to whom, what, sequence, outcome, number of attempts."""
        return [(m.org_id, m.type.value, m.sequence, m.outcome, len(m.attempts))
                for m in self.root.deliveries.log(kind, code)]

    async def logged(self, kind: SubjectKind, code: str, expected: list[Any]) -> None:
        """Wait (bounded) until the delivery log reads `expected`: an attempt is recorded just after the partner
        answered it, so a test counts the record's events only once the log is settled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WITHIN
        while (found := self.deliveries(kind, code)) != expected:
            if loop.time() > deadline:
                pytest.fail(f"delivery log of {code}: {found}, expected {expected}")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def world(client: Client, task_queue: str, store_env: dict[str, str], tmp_path: Path,
                endpoints: tuple[str, ...] = (FIRST, SECOND, RECEIVING)) -> AsyncIterator[World]:
    """The production worker and the gateway over one record; ententes in force letting FIRST and SECOND
    intervene in Laval (in that order: routing goes by entente code) and RECEIVING act on the CISSS's cases; keys
    for the 8-1-1 system, a supervisor and an auditor of the CISSS and each partner; the partners in `endpoints`
    with their webhook endpoint registered."""
    record = Record(store_env)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(crisis_worker(client, task_queue, record, tmp_path))
        api = await stack.enter_async_context(gateway(client, task_queue, store_env, tmp_path,
                                                      entente=crisis_content(FIRST)))  # ENT-CPS-GW
        root, at = api.root, datetime.now(UTC)
        ententes = Ententes(root.record)
        activate(ententes, "ENT-SOS-GW", crisis_content(SECOND), at=at - timedelta(hours=1))
        activate(ententes, "ENT-CLSC-GW", crisis_content(RECEIVING, territory="montreal"), at=at - timedelta(hours=1))
        keys = {
            SYSTEM_811: root.principals.add_user(SYSTEM_811, CSSS, Role.INTERVENANT, by="t", at=at).key,
            SUPERVISOR: root.principals.add_user(SUPERVISOR, CSSS, Role.SUPERVISOR, by="t", at=at).key,
            "auditrice": api.keys["auditrice"],
        }
        for org in (FIRST, SECOND, RECEIVING):
            keys[org] = root.principals.add_partner(org, f"Organisme {org}", by="t", at=at).key
        server = Gateway(root, host="127.0.0.1", port=0)
        base_url = await server.start()
        stack.push_async_callback(server.stop)
        systems = {}
        for who, key in keys.items():
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=60))
            systems[who] = stack.enter_context(listening(PartnerSystem(who, key, http)))
        for org in endpoints:
            secret = root.deliveries.register(org, systems[org].url, by="admin", at=at).secret
            assert secret is not None
            systems[org].secret = secret
        yield World(api, base_url, systems)
    record.close()


def intake() -> dict[str, Any]:
    """What the 8-1-1 system sends: the intake of `arrimage cases open --file`, without by/actor_org."""
    return {
        "responsible_org": CSSS, "territory": "laval", "subject_id": SUBJECT,
        "personal": {"reason": "Idees suicidaires apres rupture"},
        "intake": {"service": "info_social", "request_mode": "telephone", "urgency": "urgent",
                   "face_to_face_needed": True, "risks": {"suicide": "eleve"}, "p38_considered": True},
    }


async def answer_handoff(system: PartnerSystem, message: dict[str, Any], verb: str,
                         key: str | None = None) -> httpx.Response:
    """A dispatch system answers the handoff a webhook asked of it, with the codes the webhook gave."""
    data = message["data"]
    body = {"type": verb, "team_id": data["team_id"]}
    if verb == "decline":
        body["reason"] = "équipe déjà mobilisée"
    return await system.command(data["case_code"], body, key=key)


def handoff(message: dict[str, Any]) -> tuple[str, int, int, str]:
    return message["type"], message["sequence"], message["data"]["attempt"], message["data"]["team_id"]


# ---------------------------------------------------------------------- the whole crisis case
@pytest.fixture
async def live(visible_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str], tmp_path: Path
               ) -> AsyncIterator[World]:
    """The dev server with the case search attributes, as `arrimage up` runs it."""
    async with world(visible_env.client, task_queue, store_env, tmp_path) as opened:
        yield opened


async def test_a_crisis_case_from_811_to_the_service_reached_carried_by_partner_systems(live: World) -> None:
    s = live.systems
    line_811, first, second, receiving = s[SYSTEM_811], s[FIRST], s[SECOND], s[RECEIVING]

    # 8-1-1: the case opened, a mobile intervention asked for (routing: the community teams under ententes)
    opened = await line_811.http.post("/v1/cases", json=intake(), headers=line_811.headers("appel-2027-0001"))
    code = ok(opened, 201)["case_code"]
    asked = ok(await line_811.command(code, {"type": "request_mobile", "csss_teams": []}))
    assert [(c["team"]["org_id"], c["agreement_code"]) for c in asked["candidates"]] == [
        (FIRST, "ENT-CPS-GW"), (SECOND, "ENT-SOS-GW")]

    # the first organisation's dispatch takes the signed webhook and declines through the API
    [to_first] = await first.messages(code, 1)
    assert handoff(to_first) == ("handoff.requested", 1, 1, FIRST)
    assert to_first["data"]["read"] == f"/v1/cases/{code}" and to_first["data"]["answer_by"]
    ok(await answer_handoff(first, to_first, "decline"))

    # the second's takes its own and accepts; its first answer lost on the way, it retries with the same key
    [to_second] = await second.messages(code, 1)
    assert handoff(to_second) == ("handoff.requested", 1, 2, SECOND)
    accepted = await answer_handoff(second, to_second, "accept", key=f"{code}-accept")
    await live.logged(SubjectKind.CASE, code, [(FIRST, "handoff.requested", 1, Outcome.DELIVERED, 1),
                                               (SECOND, "handoff.requested", 1, Outcome.DELIVERED, 1)])
    count = events(live.root.record)
    again = await answer_handoff(second, to_second, "accept", key=f"{code}-accept")
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (
        200, ok(accepted), "true")
    assert events(live.root.record) == count  # nothing doubled

    # the team on site, the outcome, the post-crisis follow-up's three contacts, then a référence personnalisée
    for body in ({"type": "arrive"},
                 {"type": "outcome", "outcome": "crise_desamorcee", "subject_id": SUBJECT},
                 {"type": "start_follow_up", "plan": "suivi_crise_courte_duree"},
                 {"type": "contact", "contact_number": 1}, {"type": "contact", "contact_number": 2},
                 {"type": "contact", "contact_number": 3},
                 {"type": "refer", "subject_id": SUBJECT, "channel": "telephone",
                  "receiving": {"org_id": RECEIVING, "service": "consultation_sociale"}}):
        view = ok(await second.command(code, body))
    # a partner's command answers a receipt; the referral's status is in the record
    assert (view["stage"], live.root.crisis_cases.view(code).referrals[0].status) == ("reference", "envoyee")

    # the receiving service's FHIR system takes the signed `referral.sent` webhook naming its Task, accepts the
    # Task, then completes it when the person reached the service; the case closes only then
    [sent] = await receiving.messages(code, 1)
    assert (sent["type"], sent["sequence"], sent["data"]["referral"], sent["data"]["referred_by"]) == (
        "referral.sent", 1, 1, SECOND)
    task_id = sent["data"]["task"].removeprefix("/fhir/Task/")
    assert task_id == f"{code}-r1"
    early = await receiving.task(task_id, "completed")
    refused(early, 409, "task_transition_not_allowed")  # not accepted yet: nothing recorded
    taken = ok(await receiving.task(task_id, "accepted", businessStatus={"text": "intervenante à l'accueil"}))
    Task.model_validate(taken)
    assert (taken["status"], taken["owner"]["identifier"]["value"]) == ("accepted", RECEIVING)
    assert live.root.crisis_cases.view(code).stage is CaseStage.REFERRAL  # accepted is not reached
    completed = await receiving.task(task_id, "completed", key=f"{task_id}-completed")
    done = ok(completed)
    Task.model_validate(done)
    assert done["status"] == "completed"
    assert live.root.crisis_cases.view(code).stage is CaseStage.CLOSED
    # its retry with the same key (the answer lost): the same Task, nothing recorded
    await live.logged(SubjectKind.CASE, code, [
        (FIRST, "handoff.requested", 1, Outcome.DELIVERED, 1), (SECOND, "handoff.requested", 1, Outcome.DELIVERED, 1),
        (RECEIVING, "referral.sent", 1, Outcome.DELIVERED, 1)])
    count = events(live.root.record)
    again = await receiving.task(task_id, "completed", key=f"{task_id}-completed")
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (200, done, "true")
    assert events(live.root.record) == count

    assert live.root.crisis_cases.view(code).intake_org == CSSS
    assert live.trail(code) == [
        ("Opened", SYSTEM_811, None),  # its intake_org: the CISSS (below)
        ("MobileInterventionRequested", SYSTEM_811, CSSS),
        ("TeamAsked", None, None),
        ("HandoffDeclined", FIRST, FIRST),
        ("TeamAsked", None, None),
        ("HandoffAccepted", SECOND, SECOND),
        ("ArrivedOnSite", SECOND, SECOND),
        ("OutcomeRecorded", SECOND, SECOND),
        ("FollowUpStarted", SECOND, SECOND),
        ("ContactMade", SECOND, SECOND),
        ("ContactMade", SECOND, SECOND),
        ("ContactMade", SECOND, SECOND),
        ("FollowUpCompleted", None, None),
        ("ReferralSent", SECOND, SECOND),
        ("ReferralAccepted", RECEIVING, RECEIVING),
        ("PersonReachedService", RECEIVING, RECEIVING),
        ("CaseClosed", RECEIVING, RECEIVING),
    ]
    # every webhook taken once, nothing forged, late or doubled; the delivery log says the same
    assert [(w.verdict, w.status) for w in first.wire] == [("ok", 200)]
    assert [(w.verdict, w.status) for w in second.wire] == [("ok", 200)]
    assert [(w.verdict, w.status) for w in receiving.wire] == [("ok", 200)]
    assert [[m["id"] for m in p.taken] for p in (first, second, receiving)] == [
        [w.event_id for w in p.wire] for p in (first, second, receiving)]
    assert line_811.wire == []  # the CISSS registered no endpoint: nothing sent
    assert live.deliveries(SubjectKind.CASE, code) == [
        (FIRST, "handoff.requested", 1, Outcome.DELIVERED, 1), (SECOND, "handoff.requested", 1, Outcome.DELIVERED, 1),
        (RECEIVING, "referral.sent", 1, Outcome.DELIVERED, 1)]

    # the Tasks as the CISSS's auditor reads them through /fhir
    auditor = s["auditrice"]
    states = {}
    for n in ("h1", "h2", "r1"):
        read = await auditor.http.get(f"/fhir/Task/{code}-{n}", headers={"Authorization": f"Bearer {auditor.key}"})
        states[n] = (ok(read)["status"], read.json()["owner"]["identifier"]["value"])
        Task.model_validate(read.json())
    assert states == {"h1": ("rejected", FIRST), "h2": ("completed", SECOND), "r1": ("completed", RECEIVING)}


# ---------------------------------------------------------------------- the whole entente
async def test_an_entente_drafted_then_signed_by_each_party_asked_by_webhook_comes_into_force(live: World) -> None:
    s = live.systems
    supervisor = s[SUPERVISOR]
    code = f"ENT-PJ-{uuid.uuid4().hex[:8].upper()}"
    content = crisis_content(SECOND, may_refer=[FIRST])  # parties: the CISSS, SECOND (provider), FIRST (refers)
    drafted = await supervisor.http.post("/v1/ententes", json={"code": code, "content": content.model_dump(
        mode="json")}, headers=supervisor.headers(f"{code}-draft"))
    assert ok(drafted, 201)["status"] == "brouillon"
    submitted = ok(await supervisor.entente(code, {"type": "submit"}))
    assert submitted["status"] == "en_signature"

    # each partner party's system takes its signature request and signs for its organisation; the CISSS signs
    # through its supervisor (no endpoint: it is asked in its own system)
    signed = [ok(await supervisor.entente(code, {"type": "sign", "version": 1, "signatory": "D.G. CISSS"}))]
    for org in (FIRST, SECOND):
        [asked] = await s[org].messages(code, 1)
        assert (asked["type"], asked["sequence"], asked["subject"]) == (
            "signature.requested", 1, {"kind": "entente", "code": code})
        data = asked["data"]
        assert (data["entente_code"], data["version"], data["party_id"], data["read"]) == (
            code, 1, org, f"/v1/ententes/{code}")
        assert data["fingerprint"] == submitted["versions"][0]["fingerprint"]
        sign = {"type": "sign", "version": data["version"], "signatory": f"D.G. {org}"}
        signed.append(ok(await s[org].entente(code, sign, key=f"{code}-sign-{org}")))
    assert [v["status"] for v in signed] == ["en_signature", "en_signature", "signee"]
    await in_force(live, code)
    await live.logged(SubjectKind.ENTENTE, code, [(FIRST, "signature.requested", 1, Outcome.DELIVERED, 1),
                                                  (SECOND, "signature.requested", 1, Outcome.DELIVERED, 1)])

    # each system retries its signature: with the same key, its first answer and nothing recorded; with a new
    # key, the entente's rule refuses it (signed already: in force, it no longer awaits any signature)
    count = events(live.root.record)
    for org, first_answer in zip((FIRST, SECOND), signed[1:], strict=True):
        sign = {"type": "sign", "version": 1, "signatory": f"D.G. {org}"}
        again = await s[org].entente(code, sign, key=f"{code}-sign-{org}")
        assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (200, first_answer, "true")
        refused(await s[org].entente(code, sign), 409, "not_in_signature")
    assert events(live.root.record) == count

    assert [(h["event"], h.get("by")) for h in live.root.ententes.history(code)] == [
        ("Drafted", SUPERVISOR), ("SubmittedForSignature", SUPERVISOR), ("Signed", SUPERVISOR), ("Signed", FIRST),
        ("Signed", SECOND), ("Activated", None)]
    assert [(g["party_id"], g["signatory"]) for g in signed[-1]["proposal"]["signatures"]] == [
        (CSSS, "D.G. CISSS"), (FIRST, f"D.G. {FIRST}"), (SECOND, f"D.G. {SECOND}")]
    for org in (FIRST, SECOND):
        assert [(w.verdict, w.status) for w in s[org].wire] == [("ok", 200)]
    assert live.deliveries(SubjectKind.ENTENTE, code) == [
        (FIRST, "signature.requested", 1, Outcome.DELIVERED, 1),
        (SECOND, "signature.requested", 1, Outcome.DELIVERED, 1)]


async def in_force(live: World, code: str) -> Any:
    """The workflow's calendar puts it in force after the last signature: poll the record (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WITHIN
    while (view := live.root.ententes.view(code)).status is not EntenteStatus.ACTIVE:
        if loop.time() > deadline:
            pytest.fail(f"{code} never came into force: {view.status}")
        await asyncio.sleep(0.05)
    return view


# ---------------------------------------------------------------------- duplicate, late, out of order
@pytest.fixture
async def skipping(time_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str], tmp_path: Path
                   ) -> AsyncIterator[World]:
    async with world(time_env.client, task_queue, store_env, tmp_path) as opened:
        yield opened


async def test_duplicate_late_and_out_of_order_deliveries_both_ways_lose_nothing_and_double_nothing(
    time_env: WorkflowEnvironment, task_queue: str, skipping: World
) -> None:
    env, live = time_env, skipping
    s = live.systems
    first, second, supervisor = s[FIRST], s[SECOND], s[SUPERVISOR]
    record = live.root.record
    first.down = True  # the first organisation's system is stopped while it is asked
    second.lose_answer = {"handoff.requested"}  # the second's 200 to its request will be lost on the way

    # The case as the 8-1-1 system opens it, started here with the Temporal client because the time-skipping
    # server holds no custom search attributes (the gateway's opening sets them); the rest goes through the API.
    code = new_case_code()
    await start_case(env.client, open_cmd(code).model_copy(update={"by": SYSTEM_811}), task_queue)
    ok(await s[SYSTEM_811].command(code, {"type": "request_mobile", "csss_teams": []}))

    # The first organisation is asked while its system is down: each attempt gets 503 and is tried again later
    # (5 s, 10 s, 20 s … apart); its answer deadline passes (skipped) and the second organisation is asked.
    await past_answer_deadline(env, live, code, FIRST)
    # Arrimage → partner, duplicate: the second's 200 was lost, so the same event id came again after the
    # back-off (skipped); the partner knew it by its id and kept the message once.
    [to_second] = await second.messages(code, 1)
    assert handoff(to_second) == ("handoff.requested", 1, 2, SECOND)
    await wire_count(second, 2)
    assert [(w.event_id, w.verdict, w.status) for w in second.wire] == [
        (to_second["id"], "ok", 503), (to_second["id"], "duplicate", 200)]
    assert second.taken == [to_second]

    # Partner → arrimage, late: the second's dispatch sits on the request until its deadline passed (skipped); the
    # case went to a supervisor; its acceptance then is refused with the rule's code and records nothing.
    await past_answer_deadline(env, live, code, SECOND)
    await live.logged(SubjectKind.CASE, code, [(FIRST, "handoff.requested", 1, Outcome.RETRYING, 9),
                                               (SECOND, "handoff.requested", 1, Outcome.DELIVERED, 2)])
    count = events(record)
    refused(await answer_handoff(second, to_second, "accept"), 409, "out_of_turn")
    assert events(record) == count

    # Arrimage → partner, out of order: the supervisor asks the first organisation again (its second message,
    # sequence 2, refused while it is still down). Back up, it takes the retry of message 2 first (5 s later),
    # and holds it: message 1 is still coming. Message 1's own retry comes at its 10th attempt, 30 minutes after
    # the first one (skipped, 10 s at a time); then it acts on the latest request only.
    ok(await supervisor.command(code, {"type": "reassign", "team": {"team_id": FIRST, "org_id": FIRST},
                                       "reason": "le centre de crise a une équipe libérée"}))
    await wire_count(first, sum(w.verdict == "down" for w in first.wire) + 1)  # message 2 refused
    first.down = False
    await skip_until(env, "message 2 taken", lambda: bool(first.taken))
    assert (first.in_order(code), [m["sequence"] for m in first.taken]) == ([], [2])  # a gap: held
    await skip_until(env, "message 1 taken", lambda: len(first.in_order(code)) == 2)
    stale, latest = first.in_order(code)
    assert [handoff(m) for m in (stale, latest)] == [("handoff.requested", 1, 1, FIRST),
                                                   ("handoff.requested", 2, 3, FIRST)]
    assert [m["sequence"] for m in first.taken] == [2, 1]
    assert stale["data"]["answer_by"] < latest["occurred_at"]  # its deadline long past: nothing to answer
    await live.logged(SubjectKind.CASE, code, [
        (FIRST, "handoff.requested", 1, Outcome.DELIVERED, MAX_ATTEMPTS),  # taken at its last attempt
        (SECOND, "handoff.requested", 1, Outcome.DELIVERED, 2),
        (FIRST, "handoff.requested", 2, Outcome.DELIVERED, 2)])

    # Partner → arrimage, out of order: the team's arrival reaches arrimage before its acceptance: refused with
    # the rule's code, nothing recorded; the acceptance, retried with its Idempotency-Key, is taken once; the
    # arrival resent, taken.
    count = events(record)
    refused(await first.command(code, {"type": "arrive"}), 409, "out_of_turn")
    assert events(record) == count
    accepted = await answer_handoff(first, latest, "accept", key=f"{code}-accept-3")
    assert ok(accepted)["stage"] == "intervention"
    count = events(record)
    again = await answer_handoff(first, latest, "accept", key=f"{code}-accept-3")
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (200, accepted.json(), "true")
    assert events(record) == count
    ok(await first.command(code, {"type": "arrive"}))

    # nothing lost, nothing doubled: each answer recorded once, each message taken once in the end
    assert live.trail(code) == [
        ("Opened", SYSTEM_811, None),
        ("MobileInterventionRequested", SYSTEM_811, CSSS),
        ("TeamAsked", None, None),  # FIRST, down
        ("HandoffTimedOut", None, None),
        ("TeamAsked", None, None),  # SECOND, which sat on it
        ("HandoffTimedOut", None, None),
        ("Escalated", None, None),
        ("Reassigned", SUPERVISOR, CSSS),
        ("TeamAsked", None, None),  # FIRST again
        ("HandoffAccepted", FIRST, FIRST),
        ("ArrivedOnSite", FIRST, FIRST),
    ]
    one, two = stale["id"], latest["id"]
    assert [(w.event_id, w.verdict, w.status) for w in first.wire] == [
        *[(one, "down", 503)] * 9, (two, "down", 503), (two, "ok", 200), (one, "ok", 200)]


async def skip_until(env: WorkflowEnvironment, what: str, done: Callable[[], bool]) -> None:
    """Skip workflow time 10 s at a time until `done` (at most an hour of it)."""
    for _ in range(360):
        if done():
            return
        await env.sleep(timedelta(seconds=10))
    pytest.fail(f"{what}: not within an hour of workflow time")


async def past_answer_deadline(env: WorkflowEnvironment, live: World, code: str, org: str) -> None:
    """Skip time past the answer deadline of the team of `org` being asked, until the case moved on."""
    view = live.root.crisis_cases.view(code)
    attempt = view.pending_attempt
    assert attempt is not None and attempt.candidate.team.org_id == org, view.attempts
    due = view.deadline(attempt.answer_deadline)
    assert due is not None
    await env.sleep(until(due.due_at, await env.get_current_time()))
    await wait_for(env.client.get_workflow_handle(f"case-{code}"), f"{org} timed out",
                   lambda v: v.attempts[attempt.number - 1].status is not AttemptStatus.PENDING)


async def wire_count(system: PartnerSystem, count: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WITHIN
    while len(system.wire) < count:
        if loop.time() > deadline:
            pytest.fail(f"{system.org}: {len(system.wire)} deliveries on the wire, {count} expected")
        await asyncio.sleep(0.05)
