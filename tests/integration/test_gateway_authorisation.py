"""Who may do what through the gateway (issue 10): a partner cannot read or act on a case or an entente it is
not party to, nor on anything new once the entente that lets it act is revoked (`no_entente_in_force`) — but
the cases it holds keep going to their end (issue 11) —, nor with a revoked or rotated-out key (after the
overlap); a person's token cannot act for another organisation nor read in another role. Each refusal is a
problem document (status, code) and leaves the record's event count unchanged, but a refused read decided by
the disclosure rules, which registers its refusal. Real record (SQLite, PostgreSQL), dev server and
production worker."""

from __future__ import annotations

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
from domain.ententes import commands as ac
from domain.principals.model import PrincipalKind
from gateway import cases as gateway_cases
from tests.crisis_builders import CSSS, crisis_content, crisis_worker
from tests.gateway.api import ENTENTE, OTHER, PARTNER, Api, events, gateway, intake, problem, recorded_since
from usecases.ententes import Ententes

PROVIDER = "cc-laval"  # the community organisation ENTENTE lets intervene in Laval


@pytest.fixture
async def api(visible_env: WorkflowEnvironment, task_queue: str, record: Record, store_env: dict[str, str],
              tmp_path: Path) -> AsyncIterator[Api]:
    """ENTENTE with no notice period (a revocation can take effect today) and a key for PROVIDER too."""
    content = crisis_content(PROVIDER, may_refer=[PARTNER], notice_days=0)
    async with crisis_worker(visible_env.client, task_queue, record, tmp_path), \
            gateway(visible_env.client, task_queue, store_env, tmp_path, entente=content) as opened:
        opened.keys[PROVIDER] = opened.root.principals.add_partner(PROVIDER, "Centre de crise", by="t",
                                                                   at=datetime.now(UTC)).key
        yield opened


async def asked(api: Api) -> str:
    """PARTNER opens a case under ENTENTE and asks for a mobile team: routing asks PROVIDER under ENTENTE."""
    done = await api.post("/v1/cases", PARTNER, intake())
    assert done.status_code == 201, done.text
    code = str(done.json()["case_code"])
    sent = await api.post(f"/v1/cases/{code}/commands", PARTNER, {"type": "request_mobile", "csss_teams": []})
    assert sent.status_code == 200, sent.text
    assert api.root.crisis_cases.view(code).attempts[-1].candidate.team.org_id == PROVIDER
    return code


async def put_task(api: Api, task_id: str, status: str) -> httpx.Response:
    """PROVIDER's FHIR system sets its handoff Task's status (the case command it stands for)."""
    body = {"resourceType": "Task", "id": task_id, "status": status, "intent": "order"}
    return await api.client.put(f"/fhir/Task/{task_id}", json=body, headers=api.headers(PROVIDER, uuid.uuid4().hex))


def revoke_tomorrow(api: Api, monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The CISSS revokes ENTENTE with effect tomorrow (recorded by another process: the use case itself), and
    the gateway's door then reads the time as tomorrow, a minute after the revocation took effect (the
    moment a day-dated revocation takes effect cannot come within a test otherwise); the workflows keep the
    real time. What was accepted today was taken while the entente was in force."""
    now = datetime.now(UTC)
    effective = local_date(now) + timedelta(days=1)
    Ententes(api.root.record).execute(ENTENTE, ac.GiveRevocationNotice(
        by="dsp", party_id=CSSS, reason="fin du financement", effective_date=effective), now)
    monkeypatch.setattr(gateway_cases, "now", lambda: start_of(effective) + timedelta(minutes=1))
    return start_of(effective)


async def test_a_partner_acts_on_new_work_only_while_its_entente_is_in_force_and_on_held_cases_to_their_end(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10: « a partner only while the entente that lets it act is in force »; issue 11, later and more
    specific: from the revocation its organisation « is not asked for new handoffs … and receives no
    information under that entente; cases it already holds keep going to their end » (the CISSS answers for
    the organisation it entrusted, seed 001 L1181-1184). PROVIDER accepted `first` before the revocation and
    keeps it (a command, the partner view, its FHIR Task); `second` it was asked and had not accepted: refused,
    nothing recorded."""
    record = api.root.record
    first, second = await asked(api), await asked(api)
    accepted = await api.post(f"/v1/cases/{first}/commands", PROVIDER, {"type": "accept", "team_id": PROVIDER})
    assert accepted.status_code == 200 and accepted.json()["stage"] == "intervention", accepted.text
    revoked_from = revoke_tomorrow(api, monkeypatch)
    before = events(record)
    # the handoff it was asked and had not accepted: neither accepted nor declined, nor read (nor over FHIR)
    refused = problem(await api.post(f"/v1/cases/{second}/commands", PROVIDER,
                                     {"type": "accept", "team_id": PROVIDER}), 403, "no_entente_in_force")
    assert refused["detail"] == (
        f"{PROVIDER} acts on case {second} only under an entente in force with {CSSS}: {ENTENTE} revoked by "
        f"{CSSS} from {local_date(revoked_from).isoformat()}; the entente ended: only the cases {PROVIDER} "
        "held before it ended continue (a handoff it accepted, a follow-up or a référence given to it)")
    problem(await api.post(f"/v1/cases/{second}/commands", PROVIDER,
                           {"type": "decline", "team_id": PROVIDER, "reason": "entente révoquée"}),
            403, "no_entente_in_force")
    problem(await api.get(f"/v1/cases/{second}", PROVIDER), 403, "no_entente_in_force")
    for fhir in (await api.get(f"/fhir/Task/{second}-h1", PROVIDER),
                 await put_task(api, f"{second}-h1", "accepted")):
        assert fhir.status_code == 403 and "no_entente_in_force" in fhir.text, fhir.text
    # the partner that referred under it no longer has `first` (the team took it): neither reads nor acts
    problem(await api.get(f"/v1/cases/{first}", PARTNER), 403, "no_entente_in_force")
    problem(await api.post(f"/v1/cases/{first}/commands", PARTNER, {"type": "close", "reason": "x"}), 403,
            "no_entente_in_force")
    # nor opens another case under it (the intake's own rule)
    problem(await api.post("/v1/cases", PARTNER, intake()), 403, "no_agreement")
    assert events(record) == before
    # the case it holds goes on: its team is with the person (its FHIR Task), reports the outcome (/v1), reads
    # its part of the case and its Task
    arrived = await put_task(api, f"{first}-h1", "in-progress")
    assert arrived.status_code == 200 and arrived.json()["status"] == "in-progress", arrived.text
    reported = await api.post(f"/v1/cases/{first}/commands", PROVIDER, {
        "type": "outcome", "outcome": "crise_desamorcee", "subject_id": intake()["subject_id"]})
    assert reported.status_code == 200 and reported.json()["stage"] == "orientation", reported.text
    assert [n.rsplit(".", 1)[-1] for n in recorded_since(record, before)
            if n.endswith((".ArrivedOnSite", ".OutcomeRecorded"))] == ["ArrivedOnSite", "OutcomeRecorded"]
    part = await api.get(f"/v1/cases/{first}", PROVIDER)
    assert part.status_code == 200, part.text
    assert part.json()["case"]["holds_case"] is True and part.json()["case"]["intervention"]["arrived_at"]
    task = await api.get(f"/fhir/Task/{first}-h1", PROVIDER)
    assert task.status_code == 200 and task.json()["status"] == "completed", task.text  # the outcome recorded
    before = events(record)
    # its parties still read the revoked entente (a registered read)
    read = await api.get(f"/v1/ententes/{ENTENTE}", PROVIDER)
    assert read.status_code == 200 and read.json()["entente"]["revocation"]["party_id"] == CSSS, read.text
    registered = api.root.replays.entente_reads(actor_id=PROVIDER)
    assert [(r.read_id, r.code, r.role) for r in registered] == [
        (read.json()["access"]["access_id"], ENTENTE, Role.PARTNER_ORG)]
    assert events(record) == before + 2  # the entente's reads log, opened, and the read in it


async def test_a_partner_reads_and_acts_only_on_what_it_is_party_to(api: Api) -> None:
    record = api.root.record
    code = await asked(api)
    before = events(record)
    problem(await api.get(f"/v1/cases/{code}", OTHER), 403, "not_a_party")
    problem(await api.post(f"/v1/cases/{code}/commands", OTHER, {"type": "accept", "team_id": PROVIDER}), 403,
            "not_a_party")
    problem(await api.get(f"/v1/ententes/{ENTENTE}", OTHER), 403, "not_a_party")
    problem(await api.post(f"/v1/ententes/{ENTENTE}/commands", OTHER, {"type": "revoke", "reason": "x",
                                                                      "effective_date": "2030-01-01"}),
            403, "not_a_party")
    # a party acts for itself only: PARTNER cannot accept in PROVIDER's place, nor revoke for the CISSS
    taken = problem(await api.post(f"/v1/cases/{code}/commands", PARTNER, {"type": "accept", "team_id": PROVIDER}),
                    403)
    assert taken["code"] in {"wrong_party", "not_asked", "not_a_candidate"}, taken
    problem(await api.post(f"/v1/ententes/{ENTENTE}/commands", PARTNER, {"type": "revoke", "party_id": CSSS,
                                                                        "reason": "x", "effective_date": "2030-01-01"}),
            403, "not_a_party")
    assert events(record) == before


async def test_keys_revoked_or_rotated_out_after_their_overlap_are_refused(api: Api) -> None:
    record, principals = api.root.record, api.root.principals
    code = await asked(api)
    now = datetime.now(UTC)
    old = api.keys[PROVIDER]
    # rotated an hour ago with a 30-minute overlap: the old key is past its overlap
    api.keys[PROVIDER] = principals.rotate_key(PrincipalKind.PARTNER, PROVIDER, timedelta(minutes=30),
                                               at=now - timedelta(hours=1)).key
    # OTHER rotated now with a day's overlap: its old key still answers beside the new one
    other_old = api.keys[OTHER]
    other_new = principals.rotate_key(PrincipalKind.PARTNER, OTHER, timedelta(days=1), at=now).key
    before = events(record)
    bearer = {"Authorization": f"Bearer {old}", "Idempotency-Key": "k-old"}
    problem(await api.client.post(f"/v1/cases/{code}/commands", json={"type": "accept", "team_id": PROVIDER},
                                  headers=bearer), 401, "unauthenticated")
    problem(await api.client.get(f"/v1/cases/{code}", headers=bearer), 401, "unauthenticated")
    for key in (other_old, other_new):
        within = await api.client.get(f"/v1/cases/{code}", headers={"Authorization": f"Bearer {key}"})
        problem(within, 403, "not_a_party")  # authenticated: refused as a non-party, not as a stranger
    assert events(record) == before
    accepted = await api.post(f"/v1/cases/{code}/commands", PROVIDER, {"type": "accept", "team_id": PROVIDER})
    assert accepted.status_code == 200, accepted.text
    principals.revoke(PrincipalKind.PARTNER, PROVIDER, "clé compromise", by="t", at=datetime.now(UTC))
    before = events(record)
    problem(await api.post(f"/v1/cases/{code}/commands", PROVIDER, {"type": "arrive"}), 401, "unauthenticated")
    problem(await api.get(f"/v1/ententes/{ENTENTE}", PROVIDER), 401, "unauthenticated")
    assert events(record) == before


async def test_a_persons_token_acts_for_its_organisation_and_reads_in_its_role(api: Api) -> None:
    record, principals = api.root.record, api.root.principals
    code = await asked(api)
    now = datetime.now(UTC)
    api.keys["benevole"] = principals.add_user("benevole", OTHER, Role.INTERVENANT, by="t", at=now).key
    before = events(record)
    # a person of another organisation: not a party, whatever the body says
    problem(await api.post(f"/v1/cases/{code}/commands", "benevole", {"type": "accept", "team_id": PROVIDER}),
            403, "not_a_party")
    # the organisation and the actor come from the token: a body naming them is refused
    named = problem(await api.post(f"/v1/cases/{code}/commands", "intervenante",
                                   {"type": "close", "reason": "x", "actor_org": PROVIDER, "by": "dsp"}), 422)
    assert sorted(e["field"] for e in named["errors"]) == ["actor_org", "by"]
    problem(await api.post(f"/v1/ententes/{ENTENTE}/commands", "intervenante",
                           {"type": "revoke", "party_id": PROVIDER, "reason": "x", "effective_date": "2030-01-01"}),
            403, "not_a_party")
    assert events(record) == before
    known = len(api.root.disclosures.accesses(subject_id=intake()["subject_id"]))  # the handoff's sending
    # the role is the token's: asking for another in the query changes nothing (the auditor's read of audit
    # metadata is refused to the intervenant, and registered as the intervenant's)
    read = problem(await api.client.get(f"/v1/cases/{code}", params={"role": "auditeur", "purpose": "audit"},
                                        headers=api.headers("intervenante")), 403, "no_active_authorisation")
    assert "detail" in read
    accesses = api.root.disclosures.accesses(subject_id=intake()["subject_id"])
    assert len(accesses) == known + 1  # the refusal, in the person's register, and nothing else
    assert {t.rsplit(":", 1)[-1] for t in recorded_since(record, before)} == {
        "DisclosureRegister.AccessDecided", "DisclosureRegister.RefusalIssued"}
    access = accesses[-1]
    assert (access.actor_id, access.role, access.outcome.value) == ("intervenante", Role.INTERVENANT, "refuse")


async def test_a_refused_request_is_a_problem_whatever_the_client(api: Api) -> None:
    """Not JSON, not an object, a wrong method: problems, nothing recorded."""
    record = api.root.record
    before = events(record)
    for response in (
        await api.client.post("/v1/cases", content=b"[]", headers=api.headers(PARTNER, "k-list")),
        await api.client.post("/v1/cases", content=b"\xff\xfe", headers=api.headers(PARTNER, "k-bytes")),
    ):
        problem(response, 422)
    problem(await api.client.delete("/v1/cases", headers=api.headers(PARTNER)), 405)
    problem(await api.client.get("/v1/nowhere", headers=api.headers(PARTNER)), 404)
    assert events(record) == before
