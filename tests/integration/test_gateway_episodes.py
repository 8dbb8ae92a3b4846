"""`/v1/episodes` (issue 11) over a real record (SQLite, PostgreSQL), the dev server and the production worker: the
CSSS's own people open an épisode de services and command it with the rules of `arrimage episodes`; a partner is
not a party; every refusal is a problem document with the rule's code and records nothing (the record's event
count before and after)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from tests.crisis_builders import CSSS, crisis_worker
from tests.gateway.api import PARTNER, Api, events, gateway, problem

SUBJECT = "p-5e1d0c2b"
OPENING: dict[str, Any] = {"service": "consultation_psychologique", "subject_id": SUBJECT, "territory": "laval",
           "request_mode": "en_personne", "personal": {"request": "Anxiété depuis un deuil"}}


@pytest.fixture
async def api(dev_env: WorkflowEnvironment, task_queue: str, record: Record, store_env: dict[str, str],
              tmp_path: Path) -> AsyncIterator[Api]:
    async with crisis_worker(dev_env.client, task_queue, record, tmp_path), \
            gateway(dev_env.client, task_queue, store_env, tmp_path) as opened:
        yield opened


async def command(api: Api, code: str, body: dict[str, Any], key: str = "auto") -> dict[str, Any]:
    done = await api.post(f"/v1/episodes/{code}/commands", "intervenante", body, key)
    assert done.status_code == 200, done.text
    answer: dict[str, Any] = done.json()
    return answer


async def test_the_csss_opens_and_follows_an_episode_a_partner_is_no_party(api: Api) -> None:
    """Seed 001 L1671-1674: a consultation psychologique holds at most 12 meetings; beyond, its PI is revised."""
    record = api.root.record
    before = events(record)
    for body in (OPENING, {**OPENING, "responsible_org": PARTNER}):  # a partner's system: never a party
        problem(await api.post("/v1/episodes", PARTNER, body), 403, "not_a_party")
    problem(await api.post("/v1/episodes", "intervenante", {**OPENING, "responsible_org": "cisss-autre"}), 403,
            "not_a_party")
    problem(await api.post("/v1/episodes", "intervenante", {**OPENING, "by": "quelqu-un"}), 422)  # from the key
    assert events(record) == before

    opened = await api.post("/v1/episodes", "intervenante", OPENING)
    assert opened.status_code == 201, opened.text
    view = opened.json()
    code = view["episode_code"]
    assert (view["responsible_org"], view["stage"], view["service"]) == (CSSS, "demande_recue",
                                                                        "consultation_psychologique")
    assert api.root.episodes.history(code)[0]["by"] == "intervenante"

    count = events(record)
    problem(await api.get(f"/v1/episodes/{code}", PARTNER), 403, "not_a_party")
    problem(await api.post(f"/v1/episodes/{code}/commands", PARTNER, {"type": "accept"}), 403, "not_a_party")
    assert events(record) == count

    await command(api, code, {"type": "accept"})
    await command(api, code, {"type": "intervention_plan", "personal": {"objectifs": "Réduire l'anxiété"}})
    for _ in range(12):
        await command(api, code, {"type": "meeting", "mode": "visio", "intervenant_id": "psy-007"})
    count = events(record)
    refused = problem(await api.post(f"/v1/episodes/{code}/commands", "intervenante", {
        "type": "meeting", "mode": "visio", "intervenant_id": "psy-007"}, "thirteenth-1"), 409, "meeting_cap_reached")
    assert "meeting 13 would exceed the cap of 12 meetings (seed 001 L1671-1674" in refused["detail"]
    again = await api.post(f"/v1/episodes/{code}/commands", "intervenante", {
        "type": "meeting", "mode": "visio", "intervenant_id": "psy-007"}, "thirteenth-1")
    assert again.status_code == 409 and again.headers["Idempotent-Replayed"] == "true"  # the key's first answer
    problem(await api.post(f"/v1/episodes/{code}/commands", "intervenante", {
        "type": "revise_plan", "additional_meetings": 2}), 422)  # an extension is justified
    assert events(record) == count

    revised = await command(api, code, {"type": "revise_plan", "additional_meetings": 2,
                                        "personal": {"justification": "Deuil compliqué"}}, "revise-1")
    assert [r["additional_meetings"] for r in revised["revisions"]] == [2]
    assert (await command(api, code, {"type": "revise_plan", "additional_meetings": 2, "personal": {
        "justification": "Deuil compliqué"}}, "revise-1")) == revised  # the same key: applied once
    thirteenth = await command(api, code, {"type": "meeting", "mode": "visio", "intervenant_id": "psy-007"})
    assert len(thirteenth["meetings"]) == 13 and len(thirteenth["revisions"]) == 1

    read = await api.get(f"/v1/episodes/{code.lower()}", "auditrice")
    assert read.status_code == 200, read.text
    assert read.json()["episode"]["episode_code"] == code and read.json()["access"]["outcome"] == "autorise"
    assert "Deuil" not in read.text and "anxiété" not in read.text.lower()  # no personal content in the view
    assert api.root.disclosures.accesses(subject_id=SUBJECT)[-1].actor_id == "auditrice"
    closed = await command(api, code, {"type": "close"})
    assert closed["stage"] == "ferme"
