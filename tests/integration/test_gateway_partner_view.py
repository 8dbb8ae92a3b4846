"""`GET /v1/cases/{code}` through the real gateway (issue 10), on SQLite and PostgreSQL, with the dev server and
the production worker. A partner (an organisation other than the case's CISSS) reads its operational view: a
team asked with the person's consent sees the intake items its registered sending allowed, one asked without a
basis sees no intake content, a partner with no part in the case is refused at the door. The CISSS's own
intervenant reads through the disclosure rules with the access authorisations registered on their account
(R-22.1, r. 1, s. 8): allowed with one, refused `no_active_authorisation` without, or once it is withdrawn or
over. Each read is registered exactly once; no read records a case event; a refusal at the door records
nothing at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from adapters.record.record import Record
from domain.audit.reads import PARTNER_RULE
from domain.audit.record_reads import ReadKind
from domain.disclosure.model import AccessAuthorisation
from domain.ententes.model import InformationSharing
from tests.crisis_builders import crisis_content, crisis_worker
from tests.disclosure_builders import grant
from tests.gateway.api import OTHER, PARTNER, Api, events, gateway, intake, problem, recorded_since

PROVIDER = "cc-laval"  # the crisis centre the entente lets intervene: routing asks it when the CISSS names no team
SUBJECT = intake()["subject_id"]
REASON = intake()["personal"]["reason"]
READ_TOPIC = "RecordReadEntry.Registered"


@pytest.fixture
async def api(visible_env: WorkflowEnvironment, task_queue: str, record: Record, store_env: dict[str, str],
              tmp_path: Path) -> AsyncIterator[Api]:
    """The entente's section 7 names the intake items (as `test_crisis_handoff_disclosure`); keys for PROVIDER."""
    clause = InformationSharing(permitted=True, purposes=["continuité"],
                                items=["motif", "niveau_urgence", "estimation_risques"],
                                security_measures=["chiffrement"])
    content = crisis_content(PROVIDER, may_refer=[PARTNER]).model_copy(update={"information_sharing": clause})
    async with crisis_worker(visible_env.client, task_queue, record, tmp_path), \
            gateway(visible_env.client, task_queue, store_env, tmp_path, entente=content) as opened:
        opened.keys[PROVIDER] = opened.root.principals.add_partner(PROVIDER, "Centre de crise", by="t",
                                                                   at=datetime.now(UTC)).key
        yield opened


async def asked(api: Api, sharing: dict[str, Any] | None = None) -> str:
    """PARTNER opens a case and asks for a mobile team: routing asks PROVIDER, and the workflow decides and
    registers the intake's sending to it before the command answers."""
    done = await api.post("/v1/cases", PARTNER, intake())
    assert done.status_code == 201, done.text
    code = str(done.json()["case_code"])
    body: dict[str, Any] = {"type": "request_mobile", "csss_teams": []}
    if sharing is not None:
        body["sharing"] = sharing
    sent = await api.post(f"/v1/cases/{code}/commands", PARTNER, body)
    assert sent.status_code == 200, sent.text
    assert [a.candidate.team.org_id for a in api.root.crisis_cases.view(code).attempts] == [PROVIDER]
    return code


def case_events(api: Api, code: str) -> int:
    return len(api.root.crisis_cases.history(code))


async def test_a_team_asked_with_consent_reads_the_items_its_sending_allowed(api: Api) -> None:
    """LSSSS 19.1 / LRSSS 6: the consent names the centre and two items; the sending gave those two; the
    centre's read gives them back, registered once in the record-level reads log, and decides nothing anew."""
    record, root = api.root.record, api.root
    now = datetime.now(UTC)
    root.disclosures.grant_consent(grant(key="F-77", recipients=[PROVIDER], items=["motif", "niveau_urgence"],
                                         at=now, subject_id=SUBJECT, grantor_id=SUBJECT), now)
    code = await asked(api, {"consent_key": "F-77", "items": ["motif", "niveau_urgence", "estimation_risques"]})
    decisions = root.disclosures.accesses(subject_id=SUBJECT)
    assert [(d.decision_id, d.outcome.value, sorted(d.allowed)) for d in decisions] == [
        (f"{code}/envoi/1", "partiel", ["motif", "niveau_urgence"])]  # the risk estimates withheld
    before, history = events(record), case_events(api, code)
    read = await api.get(f"/v1/cases/{code}", PROVIDER)
    assert read.status_code == 200, read.text
    seen = read.json()["case"]
    assert (seen["case_code"], seen["org_id"], seen["stage"], seen["roles"]) == (
        code, PROVIDER, "transfert", ["equipe_sollicitee"])
    assert [(a["number"], a["status"], a["sending"]) for a in seen["attempts"]] == [
        (1, "en_attente", {"decision_id": f"{code}/envoi/1", "basis": "consent", "items": ["motif", "niveau_urgence"]})]
    assert seen["attempts"][0]["answer_by"] is not None
    assert seen["intake"] == {"items": ["motif", "niveau_urgence"], "motif": REASON, "niveau_urgence": "urgent",
                              "estimation_risques": None}
    assert SUBJECT not in read.text and "p38" not in read.text
    # registered once, in the record-level reads log, and nothing else: no case event, no new decision
    assert [t.rsplit(":", 1)[-1] for t in recorded_since(record, before)] == [READ_TOPIC]
    assert case_events(api, code) == history and root.disclosures.accesses(subject_id=SUBJECT) == decisions
    (registered,) = root.reads.record_reads(actor_id=PROVIDER)
    assert read.json()["access"] == {"access_id": registered.read_id, "outcome": "autorise", "basis": PARTNER_RULE}
    assert (registered.kind, registered.scope) == (ReadKind.PARTNER_CASE, {
        "case": code, "org": PROVIDER, "sendings": f"{code}/envoi/1", "items": "motif niveau_urgence"})
    # the partner that referred sees its own part: it wrote the intake, the record does not give it back
    mine = await api.get(f"/v1/cases/{code}", PARTNER)
    assert mine.status_code == 200, mine.text
    assert (mine.json()["case"]["roles"], mine.json()["case"]["attempts"], mine.json()["case"]["intake"]["items"]) == (
        ["accueil"], [], [])
    assert len(root.reads.record_reads(actor_id=PARTNER)) == 1


async def test_a_team_asked_without_a_basis_reads_no_intake_content(api: Api) -> None:
    """Default deny (LSSSS 19 / LRSSS 5): no consent, no emergency attested: the sending's basis is "none", the
    refusal registered when the team was asked; the team's view holds no intake content."""
    record, root = api.root.record, api.root
    code = await asked(api)
    before = events(record)
    read = await api.get(f"/v1/cases/{code}", PROVIDER)
    assert read.status_code == 200, read.text
    seen = read.json()["case"]
    assert seen["attempts"][0]["sending"] == {"decision_id": f"{code}/envoi/1", "basis": "none", "items": []}
    assert seen["intake"] == {"items": [], "motif": None, "niveau_urgence": None, "estimation_risques": None}
    assert REASON not in read.text and SUBJECT not in read.text
    assert [t.rsplit(":", 1)[-1] for t in recorded_since(record, before)] == [READ_TOPIC]
    (registered,) = root.reads.record_reads(actor_id=PROVIDER)
    assert "items" not in registered.scope


async def test_a_partner_not_party_is_refused_and_nothing_is_recorded(api: Api) -> None:
    code = await asked(api)
    before = events(api.root.record)
    problem(await api.get(f"/v1/cases/{code}", OTHER), 403, "not_a_party")
    assert events(api.root.record) == before


async def test_an_intervenant_reads_with_a_registered_authorisation_and_not_without(api: Api) -> None:
    """R-22.1, r. 1, s. 8: the CISSS's intervenant reads the case (the care team, its role's rules) only with
    an active authorisation registered on their account; without one, once it is withdrawn, or when it is over,
    refused `no_active_authorisation`. Each read, allowed or refused, is one decision in the person's register;
    none records a case event."""
    record, root = api.root.record, api.root
    code = await asked(api)
    history = case_events(api, code)
    known = len(root.disclosures.accesses(subject_id=SUBJECT))  # the handoff's sending

    async def refused() -> None:
        before = events(record)
        problem(await api.get(f"/v1/cases/{code}", "intervenante"), 403, "no_active_authorisation")
        assert {t.rsplit(":", 1)[-1] for t in recorded_since(record, before)} == {
            "DisclosureRegister.AccessDecided", "DisclosureRegister.RefusalIssued"}

    await refused()
    now = datetime.now(UTC)
    root.principals.authorise("intervenante", AccessAuthorisation(
        holder_id="intervenante", granted_by="dsp", valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30), training_current_until=date.today() + timedelta(days=180),
        discretion_undertaking_signed=True), by="admin", at=now)
    before = events(record)
    read = await api.get(f"/v1/cases/{code}", "intervenante")
    assert read.status_code == 200, read.text
    assert (read.json()["case"]["case_code"], read.json()["case"]["subject_id"]) == (code, SUBJECT)
    assert read.json()["access"]["outcome"] == "autorise"
    assert [t.rsplit(":", 1)[-1] for t in recorded_since(record, before)] == ["DisclosureRegister.AccessDecided"]
    root.principals.withdraw_authorisation("intervenante", 1, "changement de poste", by="admin",
                                           at=datetime.now(UTC))
    await refused()
    # an authorisation whose period is over holds nothing either
    root.principals.authorise("intervenante", AccessAuthorisation(
        holder_id="intervenante", granted_by="dsp", valid_from=now - timedelta(days=30),
        valid_until=now - timedelta(days=1), training_current_until=date.today() + timedelta(days=180),
        discretion_undertaking_signed=True), by="admin", at=now)
    await refused()
    accesses = root.disclosures.accesses(subject_id=SUBJECT)[known:]
    assert [(a.actor_id, a.outcome.value) for a in accesses] == [
        ("intervenante", "refuse"), ("intervenante", "autorise"), ("intervenante", "refuse"),
        ("intervenante", "refuse")]
    assert case_events(api, code) == history
