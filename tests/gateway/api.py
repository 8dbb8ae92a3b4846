"""The gateway in the tests: the real application (`gateway.app.create_app`) over a root on the store under
test and the time-skipping server, reached with httpx through its ASGI transport; partners and users added
through the use case, as `arrimage partners add` does."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from adapters.record.record import Record
from domain.disclosure.roles import Role
from domain.ententes.model import EntenteContent
from gateway.app import create_app
from tests.crisis_builders import CSSS, activate, crisis_content
from usecases.ententes import Ententes
from workers.bootstrap import Root, bootstrap
from workers.settings import Settings

PARTNER = "cps-laval"  # a community organisation that refers under its entente with the CISSS
OTHER = "cc-autre"  # a partner with nothing to do with the case
ENTENTE = "ENT-CPS-GW"
PROBLEM = "application/problem+json"


def events(record: Record) -> int:
    """Every event of the record, whatever the aggregate: what a refused request must leave unchanged."""
    return record.recorder.max_notification_id() or 0


def recorded_since(record: Record, count: int) -> list[str]:
    """The topics of the events recorded after the record held `count`: what a request added."""
    return [n.topic for n in record.recorder.select_notifications(start=count + 1, limit=10_000)]


@dataclass
class Api:
    client: httpx.AsyncClient
    root: Root
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str | None, key: str | None = None) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        if key is not None:
            out["Idempotency-Key"] = key
        return out

    async def post(self, path: str, who: str | None, body: Any, key: str | None = "auto") -> httpx.Response:
        key = uuid.uuid4().hex if key == "auto" else key
        return await self.client.post(path, json=body, headers=self.headers(who, key))

    async def get(self, path: str, who: str | None) -> httpx.Response:
        return await self.client.get(path, headers=self.headers(who))


def problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem document with `status` (and the rule's `code`)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body


def intake(**extra: Any) -> dict[str, Any]:
    """A partner's intake (the body of `arrimage cases open --file` without by/actor_org)."""
    return {
        "responsible_org": CSSS, "territory": "laval", "subject_id": "p-7f3a9c2e",
        "personal": {"reason": "Idees suicidaires apres rupture"},
        "intake": {"service": "partenaire", "request_mode": "telephone", "urgency": "urgent",
                   "face_to_face_needed": True, "risks": {"suicide": "eleve"}, "p38_considered": True},
        **extra,
    }


@asynccontextmanager
async def gateway(client: Client, task_queue: str, store_env: dict[str, str], tmp_path: Path,
                  entente: EntenteContent | None = None, **settings: Any) -> AsyncIterator[Api]:
    """The gateway over the store under test, with an entente letting PARTNER refer in force (`entente`,
    by default `crisis_content("cc-laval", may_refer=[PARTNER])`), and keys for PARTNER, OTHER, a CISSS
    intervenant ("intervenante") and auditor ("auditrice")."""
    root = bootstrap(Settings(_env_file=None, mode="development", task_queue=task_queue, data_dir=tmp_path,
                              **settings), record_env=store_env, client=client)
    try:
        activate(Ententes(root.record), ENTENTE, entente or crisis_content("cc-laval", may_refer=[PARTNER]),
                 at=datetime.now(UTC) - timedelta(hours=1))
        now = datetime.now(UTC)
        keys = {
            PARTNER: root.principals.add_partner(PARTNER, "Centre de prévention du suicide", by="t", at=now).key,
            OTHER: root.principals.add_partner(OTHER, "Autre organisme", by="t", at=now).key,
            "intervenante": root.principals.add_user("intervenante", CSSS, Role.INTERVENANT, by="t", at=now).key,
            "auditrice": root.principals.add_user("auditrice", CSSS, Role.AUDITOR, by="t", at=now).key,
        }
        transport = httpx.ASGITransport(app=create_app(root))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield Api(http, root, keys)
    finally:
        root.close()
