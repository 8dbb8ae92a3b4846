"""« Qui a vu mon dossier ? » and the audit trail as FHIR AuditEvents, through the installed `arrimage` on a real
SQLite record (issue 11): the person reads every access and communication of their record (LRSSS s. 265 with
s. 18; LSSSS 27.2), itself an access registered first; an auditor exports the accesses and communications as
IHE BALP AuditEvents, itself a registered export; a refused role gets the rule's code and only the refusal is
recorded (or nothing, when no register is named)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from adapters.fhir.auditevent import DISCLOSURE, PATIENT_READ
from tests.audit_builders import Store, build
from tests.disclosure_builders import SUBJECT
from tests.e2e.harness import ARRIMAGE, Result


@pytest.fixture
def store(tmp_path: Path) -> Store:
    built = build(tmp_path)
    built.env["ARRIMAGE_TEMPORAL_ADDRESS"] = "127.0.0.1:1"  # nothing answers: reads come from the record
    return built


def arrimage(store: Store, *args: str) -> Result:
    proc = subprocess.run([ARRIMAGE, *args], env=store.env, capture_output=True, text=True, timeout=120)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def person_rows(store: Store) -> list[dict[str, object]]:
    return [r for r in store.accesses() if r["about"] == f"person:{SUBJECT}"]


def test_the_person_reads_who_saw_their_record_and_that_read_is_the_last_line(store: Store) -> None:
    before = person_rows(store)
    done = arrimage(store, "audit", "my-register", "--by", SUBJECT, "--born", "1990-01-01", "--json")
    assert done.code == 0, done
    seen = done.json()
    kinds = [(s["kind"], s["reference"]) for s in seen]
    assert ("communication", "req-1") in kinds
    sent = next(s for s in seen if s["reference"] == "req-1")
    assert (sent["organisation"], sent["article"], sent["outcome"]) == ("cc-laval", "LRSSS-265", "autorise")
    mine = seen[-1]  # the read itself, recorded in the register before it was answered
    assert (mine["kind"], mine["who"], mine["role"], mine["purpose"], mine["outcome"], mine["basis"]) == (
        "acces", SUBJECT, "usager", "acces_personnel", "autorise", "LRSSS-17")
    new = person_rows(store)[len(before):]
    assert [(r["actor_id"], r["role"], r["purpose"], r["outcome"], r["access_id"]) for r in new] == [
        (SUBJECT, "usager", "acces_personnel", "autorise", mine["reference"])]


def test_another_role_is_refused_before_anything_is_recorded(store: Store) -> None:
    count = store.event_count()
    done = arrimage(store, "audit", "my-register", "--person", SUBJECT, "--by", "aud-1", "--role", "auditeur")
    assert (done.code, done.out) == (2, "")
    assert done.err.startswith("refused [not_the_person_or_representative]: ")
    assert store.event_count() == count


def test_the_person_without_their_age_is_refused_and_only_the_refusal_is_recorded(store: Store) -> None:
    """Under 14 no access of one's own (LRSSS s. 21): the age on the day is needed; the refusal is registered."""
    before = person_rows(store)
    done = arrimage(store, "audit", "my-register", "--by", SUBJECT)
    assert (done.code, done.out) == (2, "")
    assert done.err.startswith("refused [age_unknown]: ")
    (row,) = person_rows(store)[len(before):]
    assert (row["actor_id"], row["outcome"], row["allowed"]) == (SUBJECT, "refuse", [])


def test_an_auditor_exports_the_trail_as_balp_auditevents_and_the_export_is_registered(store: Store) -> None:
    done = arrimage(store, "audit", "fhir-events", "--person", SUBJECT)  # ARRIMAGE_ROLE=auditeur
    assert done.code == 0, done
    bundle = Bundle.model_validate_json(done.out)
    data = bundle.model_dump(mode="json")
    assert data["type"] == "collection"
    events = [e["resource"] for e in data["entry"]]
    disclosures = [e for e in events if e["meta"]["profile"] == [DISCLOSURE]]
    assert [(e["type"]["code"], e["subtype"][0]["code"], e["entity"][0]["what"]["identifier"]["value"])
            for e in disclosures] == [("110106", "disclose", SUBJECT)] * len(disclosures) and disclosures
    assert all(e["meta"]["profile"] == [PATIENT_READ] for e in events if e not in disclosures)
    assert "prise en charge par l'équipe mobile" not in done.out  # metadata only
    (row,) = [r for r in store.accesses() if r["about"] == "record:export_d_audit"]
    assert (row["role"], row["outcome"], row["scope"]) == (
        "auditeur", "autorise", {"format": "fhir-auditevent", "person": SUBJECT})


def test_a_partner_is_refused_the_export_and_only_the_refusal_is_recorded(store: Store) -> None:
    count = store.event_count()
    done = arrimage(store, "audit", "fhir-events", "--role", "organisme_partenaire", "--by", "agent-cc")
    assert (done.code, done.out) == (2, "")
    assert store.event_count() == count + 1  # the refusal, nothing else
    assert done.err.startswith("refused [not_a_metadata_reader]: ")
    (row,) = [r for r in store.accesses() if r["about"] == "record:export_d_audit"]
    assert (row["actor_id"], row["role"], row["outcome"], row["scope"]) == (
        "agent-cc", "organisme_partenaire", "refuse", {"format": "fhir-auditevent"})
    assert done.err.endswith(f"(this refused access is recorded: {row['access_id']})\n")
