"""`arrimage audit fact` through the installed CLI on a real record, a SQLite file or a PostgreSQL schema (issue 11;
`store_env`, issue 12): the facts a decision rests on are events of the record; `audit replay` decides with them
from their moment on, and a `--facts` file is then refused with its code, nothing recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from domain.disclosure.facts import PersonFacts
from tests.audit_builders import CASE, PERSON, build


def test_a_recorded_birth_date_decides_the_replay_and_a_facts_file_is_then_refused(
        tmp_path: Path, store_env: dict[str, str]) -> None:
    store = build(tmp_path, store_env)
    facts_file = tmp_path / "facts.json"
    facts_file.write_text(json.dumps({"subject": {"birth_date": "1990-01-01"}}))
    as_usager = ("replay", f"case:{CASE}", "--role", "usager", "--by", PERSON, "--json")
    before = store.run(*as_usager)
    assert before.code == 2 and json.loads(before.err)["code"] == "age_unknown"  # LRSSS 21: age needed
    bad = store.run("fact", PERSON, "--kind", "deces")
    assert bad.code == 2 and "the date" in bad.err
    twelve = f"{datetime.now(UTC).year - 12}-01-01"
    done = store.ok("fact", PERSON, "--kind", "date_naissance", "--on", twelve, "--by", "archiviste-1",
                    "--command-id", "f-1", "--json").json()
    assert (done["number"], done["fact"]["kind"], done["fact"]["on"]) == (1, "date_naissance", twelve)
    assert store.ok("fact", PERSON, "--kind", "date_naissance", "--on", twelve, "--command-id", "f-1",
                    "--json").json()["number"] == 1  # a retry records nothing new
    minor = store.run(*as_usager)
    assert minor.code == 2
    assert (json.loads(minor.err)["code"], json.loads(minor.out)["refusal"]["article"]) == (
        "minor_under_14", "LRSSS-21")
    accesses = len(store.accesses("--person", PERSON))
    refused = store.run(*as_usager, "--facts", str(facts_file))
    assert refused.code == 2 and json.loads(refused.err)["code"] == "facts_in_record"
    assert len(store.accesses("--person", PERSON)) == accesses  # nothing recorded
    record = store.record()
    try:
        stored = [ev.personal for ev in record.events_of(PersonFacts.FactRecorded, sealed=True)]  # type: ignore[attr-defined]
        assert len(stored) == 1 and twelve not in json.dumps(stored[0], default=str)
    finally:
        record.close()
