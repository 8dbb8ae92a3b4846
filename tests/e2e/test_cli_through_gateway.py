"""`arrimage` on a person's machine (issue 10): ARRIMAGE_API_URL and ARRIMAGE_TOKEN set, no record settings, no
key, production mode. The installed CLI runs as a subprocess against a real gateway on loopback (uvicorn), a real
Temporal dev server with the production worker and a record (SQLite, then PostgreSQL) on the server's side.

The CLI's own record settings point at a folder that does not exist (a record opened there would fail, one
created there would be found): the person's commands never open it, and neither Temporal (its address is a closed
port). Who acts and reads is the token's person: an identity option given with the gateway is refused (exit 2,
nothing recorded), and the events recorded name the token's person.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from domain.disclosure.roles import Role
from gateway.server import Gateway
from tests.crisis_builders import CSSS, crisis_content, crisis_worker
from tests.e2e.harness import Engine, Result, free_port
from tests.gateway.api import ENTENTE, Api, events, gateway

pytestmark = pytest.mark.slow

TEAM = {"team_id": "crise-laval-1", "org_id": CSSS}
TOKEN_SAYS = ("the token says who you are (ARRIMAGE_TOKEN): leave out --by, --org, --role and --facts, and unset "
              "ARRIMAGE_USER, ARRIMAGE_ORG and ARRIMAGE_ROLE, when working through the gateway\n")
SUBJECT = "p-7f3a9c2e"


@dataclass
class Remote:
    api: Api
    url: str
    workdir: Path
    nowhere: Path  # where this machine's record settings point: never created

    def cli(self, who: str, **extra: str) -> Engine:
        """`arrimage` as `who` runs it on their own machine: the gateway's address and their token, nothing else."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")}
        env.update({"ARRIMAGE_API_URL": self.url, "ARRIMAGE_TOKEN": self.api.keys[who],
                    "ARRIMAGE_DATA_DIR": str(self.nowhere), "ARRIMAGE_SQLITE_PATH": str(self.nowhere / "r.sqlite"),
                    "ARRIMAGE_STORE": "sqlite", "ARRIMAGE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
                    "ARRIMAGE_LOG_FORMAT": "console", "ARRIMAGE_LOG_LEVEL": "WARNING", "COLUMNS": "200", **extra})
        return Engine(env, self.workdir)

    def write(self, name: str, data: dict[str, Any]) -> str:
        return Engine({}, self.workdir).write(name, data)


@pytest_asyncio.fixture
async def remote(case_server: WorkflowEnvironment, task_queue: str, store_env: dict[str, str],
                 tmp_path: Path) -> AsyncIterator[Remote]:
    record = Record(store_env)
    async with crisis_worker(case_server.client, task_queue, record, tmp_path), \
            gateway(case_server.client, task_queue, store_env, tmp_path, gateway_rate=10_000,
                    gateway_burst=10_000) as api:
        now = datetime.now(UTC)
        for user, org, role in (("superviseure", CSSS, Role.SUPERVISOR), ("sup-ailleurs", "cisss-ailleurs",
                                                                          Role.SUPERVISOR)):
            api.keys[user] = api.root.principals.add_user(user, org, role, by="t", at=now).key
        server = Gateway(api.root, host="127.0.0.1", port=0)
        url = await server.start()
        work = tmp_path / "poste"
        work.mkdir()
        try:
            yield Remote(api, url, work, tmp_path / "nulle-part")
        finally:
            await server.stop()
    record.close()


def intake() -> dict[str, Any]:
    """The CISSS's own intake, as `arrimage cases template` gives it: no `by`, no `actor_org` (the token's)."""
    return {"responsible_org": CSSS, "territory": "laval", "subject_id": SUBJECT,
            "personal": {"reason": "Idees suicidaires apres rupture"},
            "intake": {"service": "info_social", "request_mode": "telephone", "urgency": "urgent",
                       "face_to_face_needed": True, "risks": {"suicide": "eleve"}}}


def refused(result: Result, line: str) -> None:
    assert (result.code, result.out, result.err) == (2, "", line), result


async def test_a_supervisor_opens_acts_and_reads_as_the_token_says(remote: Remote) -> None:
    sup = remote.cli("superviseure")
    opened = await sup.run("cases", "open", "--file", remote.write("intake.json", intake()), "--json")
    assert opened.code == 0, opened
    code = opened.json()["case_code"]
    assert (opened.json()["stage"], opened.json()["intake_org"]) == ("accueil", CSSS)

    acted = await sup.run("cases", "act", code, "--json", "--file", remote.write(
        "mobile.json", {"type": "request_mobile", "csss_teams": [TEAM]}))
    assert acted.code == 0, acted
    assert acted.json()["stage"] == "transfert"
    history = remote.api.root.crisis_cases.history(code)
    assert [(h["event"], h.get("by")) for h in history] == [
        ("Opened", "superviseure"), ("MobileInterventionRequested", "superviseure"), ("TeamAsked", None)]

    # the read is registered in the person's register, as the token's person in the token's role
    shown = await sup.run("cases", "show", code, "--json")
    assert shown.code == 0, shown
    assert shown.json()["view"]["stage"] == "transfert" and shown.json()["access"]["outcome"] == "autorise"
    last = remote.api.root.disclosures.accesses(subject_id=SUBJECT)[-1]
    assert (last.actor_id, last.role) == ("superviseure", Role.SUPERVISOR)
    assert shown.json()["access"]["access_id"] == last.decision_id

    listed = await sup.run("cases", "list", "--json")
    assert listed.code == 0, listed
    assert [(r["case_code"], r["stage"], r["source"]) for r in listed.json()] == [(code, "transfert", "gateway")]
    told = await sup.run("cases", "history", code, "--json")
    assert told.code == 0, told
    assert [e["event"] for e in told.json()] == ["Opened", "MobileInterventionRequested", "TeamAsked"]

    closed = await sup.run("cases", "close", code, "--reason", "Fermé par la superviseure", "--json")
    assert closed.code == 0, closed
    assert remote.api.root.crisis_cases.history(code)[-1]["by"] == "superviseure"

    ententes = await sup.run("ententes", "list", "--json")
    assert ententes.code == 0, ententes
    assert [v["code"] for v in ententes.json()] == [ENTENTE]
    entente = await sup.run("ententes", "show", ENTENTE, "--json")
    assert entente.code == 0, entente
    assert entente.json()["view"]["code"] == ENTENTE and entente.json()["access"]["outcome"] == "autorise"
    before = events(remote.api.root.record)
    other = await sup.run("ententes", "revoke", ENTENTE, "--party", "cc-laval", "--reason", "x", "--effective",
                          "2099-01-01")
    refused(other, "refused [not_a_party]: cisss-laval may act only for itself, not for cc-laval\n")
    assert events(remote.api.root.record) == before
    # an entente drafted and submitted from this machine: the workflow runs on the server, by the token's person.
    # A code of its own: the Temporal server is the module's, and the other store's run left its workflow (same id,
    # entente-<code>) waiting for signatures on a task queue no worker polls any more; a draft under that code
    # would be sent there (update-with-start, USE_EXISTING) and wait until the CLI gave up (TimeoutError).
    drafted_code = f"ENT-GW-{uuid.uuid4().hex[:8].upper()}"
    content = remote.write("entente.json", crisis_content("cc-laval").model_dump(mode="json"))
    drafted = await sup.run("ententes", "draft", drafted_code, "--file", content, "--json")
    assert drafted.code == 0, drafted
    submitted = await sup.run("ententes", "submit", drafted_code, "--json")
    assert submitted.code == 0, submitted
    assert submitted.json()["status"] == "en_signature"
    assert [(h["event"], h.get("by")) for h in remote.api.root.ententes.history(drafted_code)] == [
        ("Drafted", "superviseure"), ("SubmittedForSignature", "superviseure")]

    assert not remote.nowhere.exists()  # this machine's record was never opened, nor created


async def test_identity_options_are_refused_and_record_nothing(remote: Remote) -> None:
    record = remote.api.root.record
    sup = remote.cli("superviseure")
    opened = await sup.run("cases", "open", "--file", remote.write("intake.json", intake()), "--json")
    code = opened.json()["case_code"]
    before = events(record)
    mobile = remote.write("mobile.json", {"type": "request_mobile", "csss_teams": [TEAM]})
    refused(await sup.run("cases", "act", code, "--org", "cisss-ailleurs", "--file", mobile),
            f"refused [identity_from_token]: --org: {TOKEN_SAYS}")
    refused(await sup.run("cases", "show", code, "--role", "auditeur", "--by", "quelqu-un"),
            f"refused [identity_from_token]: --by, --role: {TOKEN_SAYS}")
    refused(await sup.run("cases", "show", code, ARRIMAGE_ROLE="auditeur"),
            f"refused [identity_from_token]: ARRIMAGE_ROLE: {TOKEN_SAYS}")
    refused(await sup.run("cases", "act", code, "--file", remote.write(
        "forged.json", {"type": "request_mobile", "csss_teams": [TEAM], "actor_org": "cisss-ailleurs"})),
        f"refused [identity_from_token]: {remote.workdir / 'forged.json'} gives actor_org: {TOKEN_SAYS}")
    refused(await sup.run("cases", "close", code, "--reason", "x", "--org", "cisss-ailleurs"),
            f"refused [identity_from_token]: --org: {TOKEN_SAYS}")
    # a supervisor of another organisation: the token's organisation is not a party to the case
    elsewhere = await remote.cli("sup-ailleurs").run("cases", "act", code, "--file", mobile)
    assert (elsewhere.code, elsewhere.out) == (2, ""), elsewhere
    assert elsewhere.err == f"refused [not_a_party]: cisss-ailleurs is not a party to case {code}\n"
    # a wrong token; a gateway that does not answer
    refused(await remote.cli("superviseure", ARRIMAGE_TOKEN="ark_nope").run("cases", "show", code),
            "refused [unauthenticated]: the gateway does not accept ARRIMAGE_TOKEN (missing, invalid, expired or "
            "revoked): ask for a token with `arrimage users add` on the server\n")
    port = free_port()
    down = await remote.cli("superviseure", ARRIMAGE_API_URL=f"http://127.0.0.1:{port}").run(
        "cases", "act", code, "--file", mobile)
    assert (down.code, down.out) == (4, ""), down
    assert down.err.startswith(f"unreachable: the gateway at http://127.0.0.1:{port} did not answer: ")
    # what the gateway does not serve needs the record itself: an operator's, on the server
    accesses = await sup.run("audit", "accesses")
    refused(accesses, "refused [operators_only]: this machine works through the gateway (ARRIMAGE_API_URL): "
                      "`arrimage audit accesses` needs direct record access, which is for operators on the server\n")
    assert events(record) == before
    assert not remote.nowhere.exists()


async def test_an_auditor_replays_in_the_role_of_the_token(remote: Remote) -> None:
    record = remote.api.root.record
    opened = await remote.cli("superviseure").run(
        "cases", "open", "--file", remote.write("intake.json", intake()), "--json")
    code = opened.json()["case_code"]
    auditor = remote.cli("auditrice")
    before = events(record)
    refused(await auditor.run("audit", "replay", f"case:{code}", "--role", "superviseur"),
            f"refused [identity_from_token]: --role: {TOKEN_SAYS}")
    refused(await auditor.run("audit", "replay", f"case:{code}", "--facts", remote.write("facts.json", {})),
            f"refused [identity_from_token]: --facts: {TOKEN_SAYS}")
    assert events(record) == before

    replayed = await auditor.run("audit", "replay", f"case:{code}", "--json")
    assert replayed.code == 0, replayed
    done = replayed.json()
    assert (done["role"], done["actor_id"], done["purpose"], done["aggregate"]) == (
        "auditeur", "auditrice", "audit", f"case:{code}")
    last = remote.api.root.disclosures.accesses(subject_id=SUBJECT)[-1]
    assert (last.decision_id, last.actor_id, last.role) == (done["access_id"], "auditrice", Role.AUDITOR)

    register = await auditor.run("audit", "register", "--person", SUBJECT, "--json")
    assert register.code == 0, register
    assert register.json() == []  # no communication about the person yet; the read itself is an access:
    read = remote.api.root.disclosures.accesses(subject_id=SUBJECT)[-1]
    assert (read.actor_id, read.role) == ("auditrice", Role.AUDITOR) and read.decision_id != done["access_id"]
    entente = await auditor.run("audit", "replay", f"entente:{ENTENTE}", "--json")
    assert entente.code == 0, entente
    assert (entente.json()["role"], entente.json()["actor_id"]) == ("auditeur", "auditrice")
    assert not remote.nowhere.exists()


async def test_outside_development_mode_a_person_needs_the_gateway(tmp_path: Path) -> None:
    """No ARRIMAGE_API_URL, production mode: a person's command is refused before anything is opened; operators'
    commands are not."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")}
    env.update({"ARRIMAGE_DATA_DIR": str(tmp_path / "var"), "ARRIMAGE_TEMPORAL_ADDRESS": "127.0.0.1:1",
                "ARRIMAGE_LOG_FORMAT": "console"})
    cli = Engine(env, tmp_path)
    line = ("refused [operators_only]: direct record access is for operators on the server: on your machine, set "
            "ARRIMAGE_API_URL (the gateway) and ARRIMAGE_TOKEN (your token), and the token says who you are\n")
    for args in (("cases", "list"), ("cases", "show", "C-ABCDEFGH23", "--role", "auditeur"),
                 ("ententes", "list"), ("audit", "replay", "entente:ENT-1", "--role", "auditeur"),
                 ("audit", "register", "--person", SUBJECT, "--role", "auditeur")):
        refused(await cli.run(*args), line)
    doctor = await cli.run("doctor")
    assert doctor.code == 1 and doctor.out.startswith("mode      production\n"), doctor
    assert not (tmp_path / "var").exists()
