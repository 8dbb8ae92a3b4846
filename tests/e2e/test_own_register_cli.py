"""« Qui a vu mon dossier ? » and the audit trail as FHIR AuditEvents, through the installed `arrimage` on a real
record, a SQLite file or a PostgreSQL schema (issue 11; `store_env`, issue 12): the person reads every access and
communication of their record (LRSSS s. 265 with s. 18; LSSSS 27.2), itself an access registered first; an auditor
exports the accesses and communications as IHE BALP AuditEvents, itself a registered export; a refused role gets
the rule's code and only the refusal is recorded (or nothing, when no register is named)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from adapters.fhir.auditevent import DISCLOSURE, PATIENT_READ
from tests.audit_builders import Store, build
from tests.disclosure_builders import SUBJECT
from tests.e2e.harness import Result, run_cli


@pytest.fixture
def store(tmp_path: Path, store_env: dict[str, str]) -> Store:
    built = build(tmp_path, store_env)
    built.env["ARRIMAGE_TEMPORAL_ADDRESS"] = "127.0.0.1:1"  # nothing answers: reads come from the record
    return built


def arrimage(store: Store, *args: str) -> Result:
    return run_cli(*args, env=store.env)


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


def test_the_recorded_birth_date_is_used_and_a_born_flag_against_it_is_refused(store: Store) -> None:
    """The facts a decision rests on are events of the record (issue 11): from 14 the person reads their own
    register (LRSSS s. 17 / 21), their age taken from the recorded birth date; `--born` then contradicts the
    record and is refused (facts_in_record), nothing recorded."""
    assert arrimage(store, "audit", "fact", SUBJECT, "--kind", "date_naissance", "--on", "1990-01-01").code == 0
    done = arrimage(store, "audit", "my-register", "--by", SUBJECT, "--json")
    assert done.code == 0, done
    assert (done.json()[-1]["outcome"], done.json()[-1]["basis"]) == ("autorise", "LRSSS-17")
    count = store.event_count()
    again = arrimage(store, "audit", "my-register", "--by", SUBJECT, "--born", "1990-01-01")
    assert (again.code, again.out) == (2, "")
    assert again.err.startswith("refused [facts_in_record]: the record holds the birth date of person ")
    assert store.event_count() == count


def test_a_recorded_parent_or_representative_reads_the_register_in_the_person_s_name(store: Store) -> None:
    """LRSSS s. 265 with s. 18: the register is read by the person or in their name. A parent recorded as such
    (a standing fact naming them) reads a child's under 14 under LRSSS 23, the read registered in the child's
    register; a tutor (LSSSS 22) is refused after 2024-07-01, its LRSSS counterpart not located (the refusal
    registered); once the parent's standing is lifted, they are refused before anything is recorded."""
    child = date(date.today().year - 10, 1, 1).isoformat()
    for args in (("--kind", "date_naissance", "--on", child),
                 ("--kind", "autorite_parentale", "--holder", "parent-1", "--reference", "jugement 500-04-1"),
                 ("--kind", "representant", "--holder", "tutrice-1", "--reference", "tutelle 500-14-2")):
        assert arrimage(store, "audit", "fact", SUBJECT, *args).code == 0
    before = person_rows(store)
    done = arrimage(store, "audit", "my-register", "--by", "parent-1", "--person", SUBJECT, "--json")
    assert done.code == 0, done
    mine = done.json()[-1]
    assert (mine["who"], mine["role"], mine["purpose"], mine["outcome"], mine["basis"]) == (
        "parent-1", "parent", "autorite_parentale", "autorise", "LRSSS-23")
    tutor = arrimage(store, "audit", "my-register", "--by", "tutrice-1", "--person", SUBJECT)
    assert tutor.code == 2
    assert tutor.err.startswith("refused [lrsss_counterpart_not_located]: LSSSS-22 ")
    new = person_rows(store)[len(before):]
    assert [(r["actor_id"], r["role"], r["outcome"]) for r in new] == [
        ("parent-1", "parent", "autorise"), ("tutrice-1", "representant", "refuse")]
    assert arrimage(store, "audit", "fact", SUBJECT, "--kind", "autorite_parentale", "--holder", "parent-1",
                    "--lift").code == 0
    count = store.event_count()
    lifted = arrimage(store, "audit", "my-register", "--by", "parent-1", "--person", SUBJECT)
    assert (lifted.code, lifted.out) == (2, "")
    assert lifted.err.startswith("refused [not_the_person_or_representative]: parent-1 is not person ")
    assert store.event_count() == count
