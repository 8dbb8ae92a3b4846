"""`arrimage episodes` on a person's machine (issues 10, 11): ARRIMAGE_API_URL and ARRIMAGE_TOKEN set, no record,
no Temporal. The installed CLI runs as a subprocess against the real gateway on loopback (`/v1/episodes`), a real
Temporal dev server with the production worker and a record (SQLite, then PostgreSQL) on the server's side: the
token's person opens and commands the episode, a refusal keeps the rule's code and exit 2, and the events name the
token's person."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from domain.disclosure.roles import Role
from gateway.server import Gateway
from tests.crisis_builders import CSSS, crisis_worker
from tests.e2e.harness import Engine, free_port
from tests.gateway.api import Api, events, gateway

pytestmark = pytest.mark.slow


@dataclass
class Remote:
    api: Api
    url: str
    workdir: Path

    def cli(self, who: str) -> Engine:
        """`arrimage` as `who` runs it on their own machine: the gateway's address and their token only."""
        nowhere = self.workdir / "nulle-part"  # never created: the person's commands open no record
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARRIMAGE_")}
        env.update({"ARRIMAGE_API_URL": self.url, "ARRIMAGE_TOKEN": self.api.keys[who],
                    "ARRIMAGE_DATA_DIR": str(nowhere), "ARRIMAGE_SQLITE_PATH": str(nowhere / "r.sqlite"),
                    "ARRIMAGE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", "ARRIMAGE_LOG_LEVEL": "WARNING",
                    "COLUMNS": "200"})
        return Engine(env, self.workdir)


@pytest_asyncio.fixture
async def remote(dev_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str],
                 tmp_path: Path) -> AsyncIterator[Remote]:
    record = Record(store_env)
    async with crisis_worker(dev_env.client, task_queue, record, tmp_path), \
            gateway(dev_env.client, task_queue, store_env, tmp_path, gateway_rate=10_000,
                    gateway_burst=10_000) as api:
        now = datetime.now(UTC)
        for user, org in (("superviseure", CSSS), ("sup-ailleurs", "cisss-ailleurs")):
            api.keys[user] = api.root.principals.add_user(user, org, Role.SUPERVISOR, by="t", at=now).key
        server = Gateway(api.root, host="127.0.0.1", port=0)
        url = await server.start()
        try:
            yield Remote(api, url, tmp_path)
        finally:
            await server.stop()
    record.close()


async def test_a_supervisor_follows_an_episode_through_the_gateway(remote: Remote) -> None:
    me = remote.cli("superviseure")
    opened = (await me.ok("episodes", "open", "--service", "consultation_sociale", "--subject", "p-3c4d5e6f",
                          "--territory", "laval", "--request-mode", "en_personne", "--json")).json()
    code = opened["episode_code"]
    assert (opened["responsible_org"], opened["stage"]) == (CSSS, "demande_recue")
    accepted = await me.ok("episodes", "accept", code)
    assert accepted.out.startswith(f"{code}: consultation sociale · demande acceptée · meetings 0 / 12\n")
    met = await me.ok("episodes", "meeting", code, "--intervenant", "ts-042", "--mode", "telephone")
    assert "meetings 1 / 12" in met.out
    root = remote.api.root
    assert [(h["event"], h["by"]) for h in root.episodes.history(code)][-2:] == [
        ("RequestAccepted", "superviseure"), ("MeetingHeld", "superviseure")]

    count = events(root.record)
    named = await me.run("episodes", "meeting", code, "--intervenant", "ts-042", "--org", CSSS)
    assert named.code == 2 and named.err.startswith("refused [identity_from_token]: "), named
    plan = await me.run("episodes", "revise-plan", code, "--meetings", "2", "--justification", "Encore")
    assert plan.code == 2 and plan.err.startswith("refused [no_intervention_plan]: "), plan  # the rule's code
    elsewhere = await remote.cli("sup-ailleurs").run("episodes", "accept", code)
    assert elsewhere.code == 2 and elsewhere.err.startswith("refused [not_a_party]: "), elsewhere
    assert events(root.record) == count  # nothing recorded by the refusals

    shown = (await me.ok("episodes", "show", code, "--json")).json()
    assert shown["meetings"]["held"] == 1 and shown["access"]["outcome"] == "autorise"
    assert shown["workflow"]["reachable"] is False  # read from the record, through the gateway
    assert {k["standard_id"] for k in shown["clocks"]} == {"consultation_sociale.premier_contact",
                                                          "consultation_sociale.amorce_suivi"}
    assert not (remote.workdir / "nulle-part").exists()
