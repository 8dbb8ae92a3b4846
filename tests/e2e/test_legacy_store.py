"""A store written before a change still reads (issue 8's requirement), through the installed CLI.

`tests/fixtures/legacy_2026_11/` holds a SQLite record written by arrimage at commit d675a69 (see its
README.md and make.py): five ententes in different states, four crisis cases with personal content,
consents (one withdrawn), two registers, a signed checkpoint and a shredded person — 59 events,
the checkpoint covering the first 58. Each test copies it into its own folder (the committed file is
never opened for writing) and reads it with the current code, with the public development keys it
was made with, and with Temporal unreachable: every read here comes from the record.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Result, cli_env, run_cli

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "legacy_2026_11"
EVENTS = 59  # every event of the record as committed
CHECKPOINTED = 58  # the signed head in checkpoint.json: everything before the shredding

DRAFT, SIGNING, REVIEWED, AMENDED, REVOKED = (
    "ENT-DEMO-2026-01", "ENT-DEMO-2026-02", "ENT-DEMO-2025-03", "ENT-DEMO-2026-04", "ENT-DEMO-2026-05")
PHONE, FOLLOW, REFER, MOBILE = "C-DEMOPHONEA", "C-DEMOSUIVIB", "C-DEMOREFERC", "C-DEMOMOBILD"
SHREDDED = "demo-legacy-a1"  # the person of C-DEMOPHONEA
FOLLOW_SUBJECT, MOBILE_SUBJECT = "demo-legacy-b2", "demo-legacy-d4"
CSSS, CC = "cisss-laval", "cc-laval"
UNREACHABLE = "127.0.0.1:1"  # no Temporal: reads must come from the record


@dataclass
class Legacy:
    dir: Path
    record: Path
    checkpoint: Path
    env: dict[str, str]

    def run(self, *args: str) -> Result:
        return run_cli(*args, env=self.env, cwd=self.dir)

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.code == 0, result
        return result

    def json(self, *args: str) -> Any:
        return self.ok(*args, "--json").json()

    def replay(self, aggregate: str, *args: str) -> dict[str, Any]:
        r: dict[str, Any] = self.json("audit", "replay", aggregate, *args)
        return r

    def event_count(self) -> int:
        with sqlite3.connect(self.record) as conn:
            return int(conn.execute("SELECT count(*) FROM stored_events").fetchone()[0])


@pytest.fixture
def legacy(tmp_path: Path) -> Legacy:
    record = tmp_path / "record.sqlite"
    checkpoint = tmp_path / "checkpoint.json"
    shutil.copyfile(FIXTURE / "record.sqlite", record)
    shutil.copyfile(FIXTURE / "checkpoint.json", checkpoint)
    env = cli_env(record_path=record, data_dir=tmp_path / "var", columns=250, target=UNREACHABLE,
                  ARRIMAGE_USER="auditrice")
    return Legacy(dir=tmp_path, record=record, checkpoint=checkpoint, env=env)


def intervenant_facts(legacy: Legacy) -> str:
    """An active access authorisation for `interv-1` (training current, discretion undertaking signed)."""
    now = datetime.now(UTC)
    path = legacy.dir / "facts.json"
    path.write_text(json.dumps({"authorisations": [{
        "holder_id": "interv-1", "granted_by": "dsp", "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat(),
        "training_current_until": (now + timedelta(days=60)).date().isoformat(), "discretion_undertaking_signed": True,
    }]}))
    return str(path)


def moment(value: str | None) -> datetime | None:
    """A moment as the CLI writes it ("…Z" or "…+00:00": the same instant)."""
    return None if value is None else datetime.fromisoformat(value)


def items(replay: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in replay["items"]}


def personal_of(replay: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(e["event"], e["payload"].get("personal")) for e in replay["events"]]


# --------------------------------------------------------------------------- the chain


def test_verify_passes_on_the_legacy_record_and_names_its_event_count(legacy: Legacy) -> None:
    """The hash chain written by d675a69 (each event chained in its insert's transaction) recomputes
    with the current code: 59 events, none altered, inserted, reordered or removed."""
    assert legacy.event_count() == EVENTS
    text = legacy.run("audit", "verify")
    assert (text.code, text.err) == (0, "")
    assert text.out.startswith(f"verified {EVENTS} events (")
    report = legacy.json("audit", "verify")
    assert (report["ok"], report["events_checked"], report["problem"]) == (True, EVENTS, None)
    assert (report["head"]["notification_id"], report["head"]["seq"]) == (EVENTS, EVENTS)
    assert report["checkpoints_checked"] == 1  # the copy `audit checkpoint` kept in the database
    assert report["notes"] == ["checkpoint keys are the public DEVELOPMENT default"]


def test_verify_against_the_checkpoint_kept_with_the_fixture(legacy: Legacy) -> None:
    """The signed head written by d675a69's `audit checkpoint --out` (58 events, before the shredding)
    is a prefix of the chain as it is now, and its Ed25519 signature (development key) still checks."""
    cp = json.loads(legacy.checkpoint.read_text())
    assert (cp["format"], cp["key_id"], cp["notification_id"], cp["count"]) == (
        "arrimage-audit-checkpoint/1", "dev-checkpoint", CHECKPOINTED, CHECKPOINTED)
    text = legacy.run("audit", "verify", "--against", str(legacy.checkpoint))
    assert (text.code, text.err) == (0, "")
    assert text.out.startswith(f"verified {EVENTS} events (")
    report = legacy.json("audit", "verify", "--against", str(legacy.checkpoint))
    assert (report["ok"], report["events_checked"], report["checkpoints_checked"]) == (True, EVENTS, 2)
    forged = legacy.dir / "forged.json"
    forged.write_text(json.dumps({**cp, "chain_hash": "0" * 64}))
    refused = legacy.run("audit", "verify", "--against", str(forged), "--json")
    assert refused.code == 1
    assert refused.json()["problem"]["kind"] == "bad_signature"


# --------------------------------------------------------------------------- ententes


def test_replay_rebuilds_every_entente_in_its_state(legacy: Legacy) -> None:
    """Each entente replayed by the auditor from its chained events alone: its state and event list."""
    expected = {
        DRAFT: ("brouillon", None, 1, ["Drafted"]),
        SIGNING: ("en_signature", None, 1, ["Drafted", "SubmittedForSignature", "Signed"]),
        REVIEWED: ("en_vigueur", 1, 1, ["Drafted", "SubmittedForSignature", "Signed", "Signed", "Activated",
                                        "ReviewDue", "ReviewRecorded"]),
        AMENDED: ("en_vigueur", 2, 2, ["Drafted", "SubmittedForSignature", "Signed", "Signed", "Activated",
                                       "AmendmentProposed", "SubmittedForSignature", "Signed", "Signed",
                                       "AmendmentInForce"]),
        REVOKED: ("revoquee", 1, 1, ["Drafted", "SubmittedForSignature", "Signed", "Signed", "Activated",
                                     "RevocationNoticeGiven", "Revoked"]),
    }
    for code, (status, in_force, latest, events) in expected.items():
        r = legacy.replay(f"entente:{code}", "--role", "auditeur")
        assert (r["kind"], r["outcome"], r["version"], r["latest_version"]) == ("entente", "autorise", len(events),
                                                                                 len(events)), code
        state = items(r)["entente"]
        assert state["status"] == "shown"
        view = state["value"]
        assert (view["code"], view["status"], view["in_force_version"], view["latest_version"]) == (
            code, status, in_force, latest), code
        assert [e["event"] for e in r["events"]] == events, code
    reviewed = legacy.replay(f"entente:{REVIEWED}", "--role", "auditeur")
    view = items(reviewed)["entente"]["value"]
    assert (view["activated_on"], view["next_review_due"], view["review_pending"]) == (
        "2025-11-05", "2027-11-05", None)
    assert [(x["due_on"], x["outcome"], x["by"]) for x in view["reviews"]] == [
        ("2026-11-05", "maintenir", "demo-comite")]


def test_ententes_list_and_show_read_the_legacy_ententes_without_temporal(legacy: Legacy) -> None:
    """`ententes list|show --json` read the record (events stored under the old `domain.agreements` topics);
    the workflow part says Temporal is unreachable. `ententes`, the group's former name, still answers."""
    rows = legacy.json("ententes", "list")
    assert legacy.json("agreements", "list") == rows
    assert [(v["code"], v["status"], v["in_force_version"], v["latest_version"], v["event_count"]) for v in rows] == [
        (DRAFT, "brouillon", None, 1, 1),
        (SIGNING, "en_signature", None, 1, 3),
        (REVIEWED, "en_vigueur", 1, 1, 7),
        (AMENDED, "en_vigueur", 2, 2, 10),
        (REVOKED, "revoquee", 1, 1, 7),
    ]
    assert [v["code"] for v in legacy.json("ententes", "list", "--status", "en_vigueur")] == [REVIEWED, AMENDED]

    signing = legacy.json("ententes", "show", SIGNING)
    assert signing["workflow"]["reachable"] is False
    proposal = signing["view"]["proposal"]
    assert (proposal["version"], proposal["stage"], moment(proposal["signature_deadline"])) == (
        1, "en_signature", datetime(2026, 12, 15, 5, tzinfo=UTC))
    assert [(s["party_id"], s["version"]) for s in proposal["signatures"]] == [(CSSS, 1)]

    amended = legacy.json("ententes", "show", AMENDED)["view"]
    assert (amended["status"], amended["in_force_version"], amended["activated_on"]) == ("en_vigueur", 2, "2026-11-04")
    assert [(v["number"], v["reason"]) for v in amended["versions"]] == [
        (1, "version initiale"), (2, "[DÉMO] Volume annuel revu par le comité de suivi")]
    assert amended["content"]["services"][0]["annual_volume"] == 1500

    revoked = legacy.json("ententes", "show", REVOKED)["view"]
    assert (revoked["status"], revoked["ended_on"]) == ("revoquee", "2026-11-18")
    assert {k: revoked["revocation"][k] for k in ("party_id", "effective_date")} == {
        "party_id": CSSS, "effective_date": "2026-11-18"}

    reviewed = legacy.json("ententes", "show", REVIEWED)["view"]
    assert [(x["due_on"], x["outcome"]) for x in reviewed["reviews"]] == [("2026-11-05", "maintenir")]


# --------------------------------------------------------------------------- crisis cases


def test_cases_show_reads_each_legacy_case_at_its_stage(legacy: Legacy) -> None:
    """`cases show --json` rebuilds each case from the record (Temporal unreachable)."""
    expected = {
        PHONE: ("fermee", None, 2), FOLLOW: ("suivi_post_crise", CSSS, 8), REFER: ("reference", CSSS, 8),
        MOBILE: ("transfert", CSSS, 3),
    }
    shown = {}
    for code, (stage, holder, count) in expected.items():
        out = legacy.json("cases", "show", code)
        assert out["workflow"]["reachable"] is False
        view = out["view"]
        assert (view["case_code"], view["stage"], view["holder"], view["event_count"]) == (code, stage, holder, count)
        shown[code] = view
    assert shown[PHONE]["closure"]["kind"] == "fermeture_telephonique"
    assert shown[PHONE]["subject_id"] == SHREDDED
    follow = shown[FOLLOW]
    assert (follow["intervention"]["team"]["team_id"], follow["intervention"]["outcome"]) == (
        "crise-laval-1", "crise_desamorcee")
    (plan,) = follow["follow_ups"]
    assert (plan["plan"], [c["made_at"] is not None for c in plan["contacts"]]) == (
        "suivi_etroit", [True, False, False, False, False])
    (referral,) = shown[REFER]["referrals"]
    assert (referral["receiving"]["org_id"], referral["status"], referral["reached_at"]) == (
        "clsc-demo-laval", "acceptee", None)
    assert [(a["number"], a["candidate"]["team"]["team_id"], a["candidate"]["kind"],
             a["candidate"]["agreement_code"], a["status"]) for a in shown[MOBILE]["attempts"]] == [
        (1, CC, "organisme_communautaire", REVIEWED, "en_attente")]
    closed = legacy.json("cases", "list", "--closed")
    assert [(r["case_code"], r["stage"], r["source"]) for r in closed] == [(PHONE, "fermee", "record")]


def test_replay_rebuilds_a_case_and_withholds_its_content_from_the_auditor(legacy: Legacy) -> None:
    """The auditor reads the case's state and events, never the words about the person."""
    r = legacy.replay(f"case:{FOLLOW}", "--role", "auditeur")
    assert (r["subject_id"], r["outcome"], r["metadata_basis"], r["version"]) == (
        FOLLOW_SUBJECT, "partiel", "POL-AUDIT", 8)
    found = items(r)
    assert list(found) == ["etat du dossier", "journal des evenements", "reason", "person_ref", "notes"]
    state = found["etat du dossier"]["value"]
    assert (state["case_code"], state["stage"], state["event_count"]) == (FOLLOW, "suivi_post_crise", 8)
    assert [(found[n]["status"], found[n]["code"]) for n in ("reason", "person_ref", "notes")] == [
        ("withheld", "auditor_no_content")] * 3
    assert [e["event"] for e in r["events"]] == [
        "Opened", "MobileInterventionRequested", "TeamAsked", "HandoffAccepted", "ArrivedOnSite", "OutcomeRecorded",
        "FollowUpStarted", "ContactMade"]
    assert "Idées suicidaires" not in json.dumps(r, ensure_ascii=False)


def test_content_sealed_by_the_old_code_opens_for_an_authorised_intervenant(legacy: Legacy) -> None:
    """The per-person keys wrapped by d675a69 with the development KEK still unwrap: an intervenant with
    an active authorisation reads the words recorded in Nov 2026."""
    r = legacy.replay(f"case:{FOLLOW}", "--role", "intervenant", "--actor", "interv-1",
                      "--facts", intervenant_facts(legacy))
    assert (r["outcome"], r["basis"]) == ("autorise", "LRSSS-R1-8")
    found = items(r)
    assert found["reason"]["value"] == [{"seq": 1, "value": "[DÉMO] Idées suicidaires, plan vague (fictif)"}]
    assert found["person_ref"]["value"] == [{"seq": 1, "value": "[DÉMO] dossier fictif demo-legacy-b2"}]
    assert found["notes"]["value"] == [{"seq": 6, "value": "[DÉMO] Plan de sécurité établi avec la personne (fictif)"}]
    refer = legacy.replay(f"case:{REFER}", "--role", "intervenant", "--actor", "interv-1",
                          "--facts", intervenant_facts(legacy))
    assert items(refer)["message"]["value"] == [{"seq": 7, "value": "[DÉMO] Rendez-vous souhaité en soirée (fictif)"}]


def test_the_shredded_person_reads_as_shredded_and_the_chain_still_verifies(legacy: Legacy) -> None:
    """The key of demo-legacy-a1 was destroyed by d675a69's `audit shred`: for every reader, even one
    authorised, the content is erased; the state and the chain are intact; the erasure is recorded."""
    for role in (("--role", "auditeur"),
                 ("--role", "intervenant", "--actor", "interv-1", "--facts", intervenant_facts(legacy))):
        r = legacy.replay(f"case:{PHONE}", *role)
        assert r["subject_id"] == SHREDDED
        found = items(r)
        erased = found["contenu personnel efface"]
        assert (erased["status"], erased["code"], erased["value"]) == ("shredded", "shredded", {"events": [1]})
        assert "reason" not in found and "person_ref" not in found
        assert found["etat du dossier"]["value"]["stage"] == "fermee"
        assert personal_of(r) == [("Opened", "shredded"), ("CaseClosed", None)]
        assert "Détresse" not in json.dumps(r, ensure_ascii=False)
    again = legacy.json("audit", "shred", SHREDDED, "--by", "auditrice", "--reason", "[DÉMO] vérification")
    assert (again["subject_id"], again["already_recorded"]) == (SHREDDED, True)
    # Every replay above is itself an access, appended (by the current code) to the old chain.
    grown = legacy.event_count()
    assert grown > EVENTS
    report = legacy.json("audit", "verify", "--against", str(legacy.checkpoint))
    assert (report["ok"], report["events_checked"], report["problem"]) == (True, grown, None)


# --------------------------------------------------------------------------- consents and registers


def test_consents_and_registers_of_the_legacy_record(legacy: Legacy) -> None:
    """The intake sent to the crisis centre on consent F-DEMO-1 (registered), a partner's refused request,
    the withdrawn consent F-DEMO-2; the shredded person has no register."""
    (entry,) = legacy.json("audit", "register", "--person", MOBILE_SUBJECT)
    assert {k: entry[k] for k in ("decision_id", "recipient_id", "role", "nature", "purpose", "basis_code",
                                  "register_article")} == {
        "decision_id": f"{MOBILE}/envoi/1", "recipient_id": CC, "role": "organisme_partenaire",
        "nature": ["motif", "niveau_urgence", "estimation_risques"], "purpose": "continuite",
        "basis_code": "CONSENTEMENT", "register_article": "LRSSS-265",
    }
    assert moment(entry["communicated_at"]) == datetime(2026, 11, 27, 21, 34, tzinfo=UTC)
    assert legacy.json("audit", "register", "--person", SHREDDED) == []
    # Without the reads this test makes itself (issue 9: the two register reads, the access log read).
    rows = [r for r in legacy.json("audit", "accesses")
            if not r["access_id"].startswith("register:") and not r["about"].startswith("record:")]
    assert [(r["access_id"], r["about"], r["outcome"], r["basis"], r["refusal"]) for r in rows] == [
        (f"{MOBILE}/envoi/1", f"person:{MOBILE_SUBJECT}", "autorise", "CONSENTEMENT", None),
        ("demo-req-1", f"person:{FOLLOW_SUBJECT}", "refuse", None, "no_basis"),
    ]
    used = items(legacy.replay(f"consent:{MOBILE_SUBJECT}/F-DEMO-1", "--role", "auditeur"))["etat du consentement"]
    assert (used["value"]["purpose"], used["value"]["recipients"], used["value"]["withdrawn_at"]) == (
        "continuite", [CC], None)
    withdrawn = items(legacy.replay(f"consent:{MOBILE_SUBJECT}/F-DEMO-2", "--role", "auditeur"))
    terms = withdrawn["etat du consentement"]["value"]
    assert (terms["purpose"], terms["recipients"], moment(terms["withdrawn_at"]), terms["event_count"]) == (
        "recherche", ["demo-equipe-recherche"], datetime(2026, 11, 21, 9, tzinfo=UTC), 2)
