"""`arrimage audit` end to end: the installed command, run as a subprocess, on a real record: a SQLite file and a
PostgreSQL schema (`store_env`, issue 12).

Each test builds the record with the domain's own use cases (ententes, a crisis case, consents,
an emergency disclosure), the way the activities do, then reads it through the CLI as an auditor
would, with the store's ARRIMAGE_* variables and ARRIMAGE_DATA_DIR. No Temporal: these are reads of the record.
No mocks: every decision comes from `disclosure.rules.decide`, every hash from the store.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.disclosure import commands as dc
from domain.disclosure.consent import consent_id
from domain.disclosure.roles import PurposeKind, Role
from domain.ententes.aggregate import entente_id
from tests.audit_builders import CASE, ENTENTE, PERSON, Store, build
from tests.disclosure_builders import (
    AFTER,
    CONFIG,
    PARTNER,
    SUBJECT,
    active_entente,
    context,
    request,
)
from tests.tamper_builders import Raw
from usecases.disclosure import Disclosures


@pytest.fixture
def store(tmp_path: Path, store_env: dict[str, str]) -> Store:
    return build(tmp_path, store_env)


# --------------------------------------------------------------------------- verify


def test_verify_confirms_a_clean_store(store: Store) -> None:
    """Tamper-evidence (issue 4): every event of the record is chained in its insert's transaction;
    verify recomputes the whole chain and exits 0 when nothing was edited."""
    n = store.event_count()
    text = store.run("verify")
    assert (text.code, text.err) == (0, "")
    assert text.out.startswith(f"verified {n} events (")
    report = store.ok("verify", "--json").json()
    assert (report["ok"], report["events_checked"], report["problem"]) == (True, n, None)


def test_verify_names_the_row_edited_in_the_database(store: Store) -> None:
    """Someone with write access edits one stored event with plain SQL: verify exits 1 and names that
    event (notification, aggregate, version, topic) and the kind of tampering."""
    raw = Raw(store.record_env)  # plain SQL on either store, as the attacker's reaches it
    try:
        ((rowid, oid, version, topic),) = raw.x(
            "SELECT {nid}, originator_id, originator_version, topic FROM {events} WHERE originator_id = ? "
            "AND originator_version = 2", raw.oid(entente_id(ENTENTE)))
        raw.x("UPDATE {events} SET state = ? WHERE {nid} = ?", b"{}", rowid)
    finally:
        raw.close()
    result = store.run("verify", "--json")
    assert result.code == 1
    problem = result.json()["problem"]
    assert problem == {
        "kind": "altered", "notification_id": rowid, "originator_id": str(entente_id(ENTENTE)),
        "originator_version": 2, "topic": topic,
        "detail": "stored bytes differ from what was chained",
    }
    assert oid == raw.oid(entente_id(ENTENTE)) and version == 2
    text = store.run("verify")
    assert text.code == 1
    assert text.out == (f"TAMPERING altered at notification {rowid} (aggregate {entente_id(ENTENTE)} v2, {topic}): "
                        "stored bytes differ from what was chained\n")


# --------------------------------------------------------------------------- replay


def test_replay_as_of_a_moment_rebuilds_the_entente_as_it_stood(store: Store) -> None:
    """An entente replayed as of a moment is rebuilt from the events recorded at or before it
    (`repository.get(id, version=n)`): the draft before the signatures, the entente in force after.
    Ententes carry no personal content: every role that reads them sees them whole."""
    before = store.ok("replay", f"entente:{ENTENTE}", "--as-of", store.drafted_only.isoformat(), "--role",
                      "auditeur", "--json").json()
    assert (before["version"], before["latest_version"]) == (1, 5)
    state = before["items"][0]
    assert (state["name"], state["status"], state["value"]["status"]) == ("entente", "shown", "brouillon")
    assert [e["event"] for e in before["events"]] == ["Drafted"]
    assert before["readers"] == ["auditeur", "intervenant", "organisme_partenaire", "superviseur"]
    now = store.ok("replay", f"entente:{ENTENTE}", "--role", "auditeur", "--json").json()
    assert (now["version"], now["items"][0]["value"]["status"]) == (5, "en_vigueur")
    assert [e["event"] for e in now["events"]] == ["Drafted", "SubmittedForSignature", "Signed", "Signed", "Activated"]


def test_an_entente_before_its_first_event_does_not_exist(store: Store) -> None:
    """As of a moment before its first recorded event, the entente is not in the record: exit 3."""
    result = store.run("replay", f"entente:{ENTENTE}", "--as-of", "2020-01-01", "--role", "auditeur")
    assert result.code == 3
    assert result.err.startswith(
        f"not found: entente:{ENTENTE} did not exist yet at 2020-01-01 23:59 HNE: its first event was recorded at ")


def test_the_auditor_sees_the_case_metadata_and_events_never_its_personal_content(store: Store) -> None:
    """Disclosure-law 3.1 R3 (POL-AUDIT): the auditor reads the audit metadata of a case (its state, its
    event list) and never its content; the words about the person are withheld with the reason and rule."""
    r = store.ok("replay", f"case:{CASE}", "--role", "auditeur", "--json").json()
    assert (r["subject_id"], r["outcome"], r["metadata_basis"], r["basis"]) == (PERSON, "partiel", "POL-AUDIT", None)
    items = {i["name"]: i for i in r["items"]}
    assert list(items) == ["etat du dossier", "journal des evenements", "reason", "person_ref"]
    assert items["etat du dossier"]["status"] == "shown"
    assert items["etat du dossier"]["value"]["case_code"] == CASE
    assert items["journal des evenements"]["status"] == "shown"
    for name in ("reason", "person_ref"):
        assert {k: items[name][k] for k in ("status", "code", "reason", "article", "value")} == {
            "status": "withheld", "code": "auditor_no_content", "reason": "the auditor role never reads record content",
            "article": "POL-AUDIT", "value": None,
        }
    (opened,) = r["events"]
    assert opened["event"] == "Opened" and opened["payload"]["case_code"] == CASE
    assert opened["payload"]["personal"] == {
        "reason": {"withheld": "auditor_no_content", "article": "POL-AUDIT"},
        "person_ref": {"withheld": "auditor_no_content", "article": "POL-AUDIT"},
    }
    assert "idées suicidaires" not in json.dumps(r, ensure_ascii=False)
    text = store.ok("replay", f"case:{CASE}", "--role", "auditeur").out
    assert "idées suicidaires" not in text and "ps-12" not in text
    assert "│ reason                 │ withheld │ the auditor role never reads record content │ POL-AUDIT │" in text


def test_an_intervenant_without_authorisation_is_refused_and_the_refusal_is_an_access(store: Store) -> None:
    """Default deny (LRSSS 5; R-22.1, r. 1, s. 8): an intervenant reads a record only with an active access
    authorisation. Without one the replay is refused (exit 2), and the refusal is itself logged."""
    result = store.run("replay", f"case:{CASE}", "--role", "intervenant", "--actor", "interv-9", "--json")
    assert result.code == 2
    r = json.loads(result.out)
    assert r["outcome"] == "refuse" and r["events"] is None
    assert {i["name"]: (i["status"], i["code"], i["article"]) for i in r["items"]} == {
        n: ("withheld", "no_active_authorisation", "LRSSS-R1-8")
        for n in ("etat du dossier", "journal des evenements", "reason", "person_ref")
    }
    assert json.loads(result.err) == {  # with --json, the refusal is a problem object on stderr (one line)
        "type": "urn:arrimage:problem:refused", "title": "refused by a rule", "status": 2,
        "code": "no_active_authorisation",
        "detail": "no active access authorisation (training current, discretion undertaking signed) "
                  f"(this refused access is recorded: {r['access_id']})",
    }
    (row,) = store.accesses("--actor", "interv-9")
    assert (row["about"], row["role"], row["purpose"], row["outcome"], row["allowed"], row["refusal"]) == (
        f"person:{PERSON}", "intervenant", "soins", "refuse", [], "no_active_authorisation")
    assert row["access_id"] == r["access_id"]


def test_an_intervenant_with_an_active_authorisation_reads_the_whole_case(store: Store, tmp_path: Path) -> None:
    """R-22.1, r. 1, s. 8 (LRSSS-R1-8): with an active authorisation (training current, discretion undertaking
    signed) the care team reads the case, its words about the person included."""
    now = datetime.now(UTC)
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"authorisations": [{
        "holder_id": "interv-1", "granted_by": "dsp", "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat(),
        "training_current_until": (now + timedelta(days=60)).date().isoformat(), "discretion_undertaking_signed": True,
    }]}))
    r = store.ok("replay", f"case:{CASE}", "--role", "intervenant", "--actor", "interv-1", "--facts", str(facts),
                 "--json").json()
    assert (r["outcome"], r["basis"]) == ("autorise", "LRSSS-R1-8")
    items = {i["name"]: i for i in r["items"]}
    assert items["reason"]["value"] == [{"seq": 1, "value": "idées suicidaires"}]
    assert r["events"][0]["payload"]["personal"] == {"reason": "idées suicidaires", "person_ref": "ps-12"}


def test_every_replay_adds_exactly_one_access(store: Store) -> None:
    """LRSSS 103 (policy until in force): every access is logged, and a replay is an access — exactly one
    entry each, for a case, a consent (in the person's register) and an entente (its read log)."""
    before = store.accesses()
    consent = str(consent_id(SUBJECT, "F-1"))
    store.ok("replay", f"case:{CASE}", "--role", "auditeur")
    store.ok("replay", f"consent:{consent}", "--role", "auditeur")
    store.ok("replay", f"entente:{ENTENTE}", "--role", "superviseur")
    refused = store.run("replay", f"entente:{ENTENTE}", "--role", "usager", "--actor", "u-1")
    assert refused.code == 2
    assert refused.err.startswith("refused [not_an_entente_reader]: only auditeur, intervenant, "
                                  "organisme_partenaire, superviseur read ententes from the record")
    after = store.accesses()
    # Reading the access log is itself a read (issue 9): each `accesses` adds one row about the record.
    assert [r["about"] for r in after[len(before):] if r["about"].startswith("record:")] == [
        "record:journal_des_acces"]
    new = [r for r in after[len(before):] if not r["about"].startswith("record:")]
    assert [r["access_id"] for r in before] == [r["access_id"] for r in after[: len(before)]]
    assert [(r["about"], r["actor_id"], r["role"], r["outcome"]) for r in new] == [
        (f"person:{PERSON}", "auditrice", "auditeur", "partiel"),
        (f"person:{SUBJECT}", "auditrice", "auditeur", "partiel"),
        (f"entente:{ENTENTE}", "auditrice", "superviseur", "autorise"),
        (f"entente:{ENTENTE}", "u-1", "usager", "refuse"),
    ]
    assert new[0]["access_id"].startswith(f"replay:case:{CASE}@v1:")
    assert new[1]["access_id"].startswith(f"replay:consent:{consent}@v1:")


def test_a_consent_replayed_by_the_auditor_shows_its_terms_not_its_words(store: Store) -> None:
    """LRSSS 6: a consent's terms (purpose, recipients, items, validity) are audit metadata for the auditor;
    its free text (purpose as worded, the signed form's reference) is content, withheld (POL-AUDIT)."""
    r = store.ok("replay", f"consent:{SUBJECT}/F-1", "--role", "auditeur", "--json").json()
    items = {i["name"]: i for i in r["items"]}
    assert list(items) == ["etat du consentement", "journal des evenements", "purpose_text", "document_ref"]
    terms = items["etat du consentement"]["value"]
    assert (terms["purpose"], terms["recipients"], terms["items"]) == ("continuite", [PARTNER],
                                                                       ["motif", "niveau d'urgence"])
    assert [(items[n]["status"], items[n]["code"]) for n in ("purpose_text", "document_ref")] == [
        ("withheld", "auditor_no_content")] * 2


# --------------------------------------------------------------------------- register, accesses, exceptions


def test_register_gives_the_person_the_entries_about_them(store: Store, tmp_path: Path) -> None:
    """LSSSS 27.2 / LRSSS 265 with s. 18: the person obtains the register entries about them, whole (in the
    usager role, as themselves, 14 or over: issue 9, every read decided)."""
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"subject": {"birth_date": "1990-01-01"}}))
    person = ("--role", "usager", "--by", SUBJECT, "--facts", str(facts))
    entry, emergency = store.ok("register", "--person", SUBJECT, *person, "--json").json()
    assert (emergency["decision_id"], emergency["basis_code"]) == ("urg-1", "LRSSS-74")
    assert {k: entry[k] for k in ("decision_id", "recipient_id", "role", "nature", "purpose", "basis_code",
                                  "register_article", "intended_use", "justification")} == {
        "decision_id": "req-1", "recipient_id": PARTNER, "role": "organisme_partenaire",
        "nature": ["motif", "niveau d'urgence"], "purpose": "continuite", "basis_code": "CONSENTEMENT",
        "register_article": "LRSSS-265", "intended_use": "prise en charge par l'équipe mobile",
        "justification": "consentement écrit",
    }
    assert store.ok("register", "--person", PERSON, "--json").json() == []
    assert "prise en charge par l'équipe mobile" in store.ok("register", "--person", SUBJECT, *person).out


def test_accesses_filter_by_person_and_period(store: Store) -> None:
    """The access log answers who read what about whom, when: filtered by person, actor and period."""
    rows = store.accesses("--person", SUBJECT)
    assert [(r["access_id"], r["actor_id"], r["role"], r["outcome"], r["basis"]) for r in rows] == [
        ("req-1", "agent-cc", "organisme_partenaire", "autorise", "CONSENTEMENT"),
        ("urg-1", "intervenant-7", "organisme_partenaire", "autorise", "LRSSS-74"),
    ]
    assert [r["access_id"] for r in store.accesses("--until", "2025-03-15")] == ["req-1"]
    since = store.accesses("--since", "2025-03-16")  # with the reads of the log itself (issue 9), about the record
    assert [r["access_id"] for r in since if r["about"].startswith("person:")] == ["urg-1"]
    # A person the record knows nothing of is not found, as in `audit register` (test_refusals_worded.py).
    assert store.run("accesses", "--person", "p-nobody-00").code == 3


def test_exceptions_list_emergencies_and_bases_and_no_expired_consent(store: Store) -> None:
    """Disclosure-law 3.10 R29: emergency disclosures (LRSSS 74) with their review, communications without
    consent by basis, and uses of an expired or withdrawn consent, which must be none (exit 0). The record
    note of the emergency is withheld from the auditor (`for_reader`)."""
    data = store.ok("exceptions", "--json").json()
    assert data["expired_or_withdrawn_consent_uses"] == 0 and data["expired_consent_uses"] == []
    assert data["without_consent_by_basis"] == {"LRSSS-74": 1}
    (e,) = data["emergencies"]
    assert (e["disclosure_id"], e["basis_code"], e["pending"], e["personal"]) == ("urg-1", "LRSSS-74", True, "<retenu>")
    assert data["pending_reviews"] == ["urg-1"] and data["overdue_reviews"] == ["urg-1"]
    assert "tentative de suicide" not in json.dumps(data, ensure_ascii=False)
    assert "uses of an expired or withdrawn consent: 0" in store.ok("exceptions").out


def test_a_consent_withdrawn_before_a_use_is_reported_and_exits_1(tmp_path: Path, store_env: dict[str, str]) -> None:
    """LRSSS 6: a withdrawn consent has no effect. A withdrawal recorded late, effective before a
    communication made under the consent, makes that communication a use of a withdrawn consent:
    exceptions names it and exits 1."""
    store = build(tmp_path, store_env)
    record = store.record()
    disclosures = Disclosures(record, CONFIG)
    ctx = context(consents=None).model_copy(update={"consents": None, "ententes": [active_entente()]})
    used = disclosures.decide_and_record(request(
        Role.PARTNER_ORG, PurposeKind.CONTINUITY, by="agent-cc", recipient_id=PARTNER, command_id="req-2",
        agreement_purpose="continuité de l'intervention de crise", items=["motif"], moment=AFTER + timedelta(days=2),
    ), ctx, AFTER + timedelta(days=2))
    assert used.basis is not None and used.basis.code == "CONSENTEMENT"
    disclosures.withdraw_consent(dc.WithdrawConsent(by="intervenant-1", subject_id=SUBJECT, consent_key="F-1",
                                                    withdrawn_at=AFTER + timedelta(days=1)), AFTER + timedelta(days=3))
    record.close()
    result = store.run("exceptions", "--json")
    assert result.code == 1
    assert result.json()["expired_consent_uses"] == ["req-2"]
    text = store.run("exceptions")
    assert text.code == 1 and "uses of an expired or withdrawn consent: 1 — req-2" in text.out


# --------------------------------------------------------------------------- export, shredding


def test_export_writes_the_bundle_and_its_manifest(store: Store, tmp_path: Path) -> None:
    """The hand-over bundle: verify report, signed checkpoint, register, accesses, exceptions, each
    hashed (SHA-256) in MANIFEST.json; the checkpoint it wrote verifies against the store."""
    out = tmp_path / "bundle"
    result = store.ok("export", "--out", str(out))
    assert result.out.endswith(f"verified; bundle in {out} (MANIFEST.json)\n")
    manifest = json.loads((out / "MANIFEST.json").read_text())
    names = ["verify.json", "checkpoint.json", "checkpoint.note", "register.json", "accesses.json",
             "exceptions.json", "record.jsonl", "tree.json"]
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, "MANIFEST.json"])
    assert list(manifest["files"]) == names and manifest["verified"] is True
    for name in names:
        body = (out / name).read_bytes()
        assert manifest["files"][name] == {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
    assert [(e["decision_id"], e["personal"]) for e in json.loads((out / "register.json").read_text())] == [
        ("req-1", "<retenu>"), ("urg-1", "<retenu>")]
    *persons, export = json.loads((out / "accesses.json").read_text())  # the export is itself an access (issue 9)
    assert [r["access_id"] for r in persons] == ["req-1", "urg-1"]
    assert (export["about"], export["role"], export["purpose"], export["access_id"]) == (
        "record:export_d_audit", "auditeur", "audit", manifest["read"]["read_id"])
    assert json.loads((out / "verify.json").read_text())["events_checked"] == manifest["events_checked"]
    assert store.run("verify", "--against", str(out / "checkpoint.json")).code == 0


def test_after_shredding_the_replay_shows_the_content_erased_and_the_chain_still_verifies(store: Store) -> None:
    """Erasure is the destruction of the person's key: the case's words about them read back as shredded
    for every reader, the erasure is itself an event, the replay is still logged, and the hash chain
    (over the stored ciphertext) still verifies."""
    store.close_case()  # a person is erased once their cases are closed
    shred = store.ok("shred", PERSON, "--by", "dpo", "--reason", "decision D-2026-14", "--json").json()
    assert shred["subject_id"] == PERSON and shred["already_recorded"] is False
    r = store.ok("replay", f"case:{CASE}", "--role", "auditeur", "--json").json()
    items = {i["name"]: i for i in r["items"]}
    assert list(items) == ["etat du dossier", "journal des evenements", "contenu personnel efface"]
    assert (items["contenu personnel efface"]["status"], items["contenu personnel efface"]["value"]) == (
        "shredded", {"events": [1, 2]})  # the opening and the supervisor's closing
    assert r["events"][0]["payload"]["personal"] == "shredded"
    assert [row["outcome"] for row in store.accesses("--person", PERSON)] == ["autorise"]
    assert store.ok("verify", "--json").json()["ok"] is True
