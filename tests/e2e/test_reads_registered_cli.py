"""Every read of content is an access (issue 9), through the installed `arrimage` on a real record: a SQLite file
and a PostgreSQL schema (`store_env`, issue 12).

Before: only `audit replay` registered the access it made. `cases show`, `cases history`, `cases list
--closed`, `audit register --person` (which printed the decrypted purpose and justification),
`audit accesses`, `audit exceptions` and `audit export` read the record in no role, with no decision
and nothing registered. Each test below reproduces one of those reads and checks that it is now
decided with the reader's role and purpose, registered (allowed or refused), and that a refused reader
gets nothing. No Temporal (its address answers nothing): these are reads of the record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.audit_builders import CASE, PERSON, Store, build
from tests.disclosure_builders import SUBJECT
from tests.e2e.harness import Result, run_cli

NO_ROLE = ("invalid input: give the role you read in with --role (or set ARRIMAGE_ROLE): every read of the "
           "record is registered\n")


@pytest.fixture
def store(tmp_path: Path, store_env: dict[str, str]) -> Store:
    built = build(tmp_path, store_env)
    built.env["ARRIMAGE_TEMPORAL_ADDRESS"] = "127.0.0.1:1"  # nothing answers: reads come from the record
    return built


def arrimage(store: Store, *args: str, unset: tuple[str, ...] = ()) -> Result:
    env = {k: v for k, v in store.env.items() if k not in unset}
    return run_cli(*args, env=env)


def about(store: Store, who: str) -> list[dict[str, Any]]:
    """The access log's rows about `who` (person:ID or record:KIND), read by the auditor."""
    return [r for r in store.accesses() if r["about"] == who]


def test_cases_show_is_an_access_registered_with_the_readers_role_and_purpose(store: Store) -> None:
    """LRSSS 103: `cases show` is one decision in the person's register, before anything is shown; its JSON
    names the access. Before the fix the register held no access for this read."""
    assert about(store, f"person:{PERSON}") == []
    shown = arrimage(store, "cases", "show", CASE, "--json", "--by", "sup-1", "--role", "superviseur")
    assert shown.code == 0, shown
    data = shown.json()
    assert data["view"]["case_code"] == CASE
    access = data["access"]
    assert (access["outcome"], access["role"], access["purpose"], access["actor_id"], access["basis"]) == (
        "autorise", "superviseur", "audit", "sup-1", "POL-AUDIT")
    (row,) = about(store, f"person:{PERSON}")
    assert (row["access_id"], row["role"], row["purpose"], row["allowed"]) == (
        access["access_id"], "superviseur", "audit", ["etat du dossier"])
    assert shown.err == ""


def test_cases_history_as_auditor_masks_personal_content_and_is_registered(store: Store) -> None:
    """Disclosure-law 3.1 R3: the auditor reads the event list as metadata; the words about the person stay
    masked; the read is an access in the person's register."""
    result = arrimage(store, "cases", "history", CASE, "--json")  # ARRIMAGE_ROLE=auditeur
    assert result.code == 0, result
    (opened,) = result.json()
    assert opened["personal"] == "<2 champ(s) personnel(s)>"
    assert "idées suicidaires" not in result.out and "ps-12" not in result.out
    (row,) = about(store, f"person:{PERSON}")
    assert (row["role"], row["purpose"], row["allowed"], row["access_id"][:29]) == (
        "auditeur", "audit", ["journal des evenements"], f"history:case:{CASE}@v1:")


@pytest.mark.parametrize("verb", ["show", "history"])
def test_a_refused_role_gets_nothing_of_the_case_and_leaves_a_refused_entry(store: Store, verb: str) -> None:
    """Default deny (LRSSS 5): a partner organisation with no entente covering this read is refused; nothing
    of the case is printed, and the refusal is recorded like the replay's."""
    result = arrimage(store, "cases", verb, CASE, "--role", "organisme_partenaire", "--by", "agent-cc")
    assert (result.code, result.out) == (2, "")
    (row,) = about(store, f"person:{PERSON}")
    assert (row["actor_id"], row["role"], row["outcome"], row["allowed"]) == (
        "agent-cc", "organisme_partenaire", "refuse", [])
    assert result.err.startswith(f"refused [{row['refusal']}]: ")
    assert result.err.endswith(f"(this refused access is recorded: {row['access_id']})\n")


def test_register_as_auditor_masks_purpose_and_justification_and_registers_the_read(store: Store) -> None:
    """LSSSS 27.2 / LRSSS 265: the auditor reads the entries' metadata, never their words (before: printed
    decrypted, to anyone); the read is an access in that person's register."""
    before = about(store, f"person:{SUBJECT}")
    result = arrimage(store, "audit", "register", "--person", SUBJECT, "--json")
    assert result.code == 0, result
    entry, emergency = result.json()
    assert (entry["decision_id"], entry["intended_use"], entry["justification"]) == ("req-1", "<retenu>", "<retenu>")
    assert "prise en charge par l'équipe mobile" not in result.out and emergency["decision_id"] == "urg-1"
    new = about(store, f"person:{SUBJECT}")[len(before):]
    assert [(r["role"], r["purpose"], r["outcome"], r["allowed"]) for r in new] == [
        ("auditeur", "audit", "partiel", ["registre des communications"])]
    refused = arrimage(store, "audit", "register", "--person", SUBJECT, "--role", "usager", "--by", "u-other")
    assert (refused.code, refused.out) == (2, "")
    assert about(store, f"person:{SUBJECT}")[-1]["outcome"] == "refuse"


def test_listing_accesses_exceptions_and_export_are_registered_in_the_reads_log(store: Store, tmp_path: Path) -> None:
    """Reads across persons: one registered read each, with the reader, role, purpose and what was asked."""
    assert arrimage(store, "cases", "list", "--closed", "--json", "--role", "intervenant", "--by", "int-1").code == 0
    assert arrimage(store, "audit", "exceptions", "--json").code == 0
    assert arrimage(store, "audit", "export", "--out", str(tmp_path / "bundle"), "--since", "2025-01-01").code == 0
    rows = [r for r in store.accesses() if r["about"].startswith("record:")]  # this read registers itself last
    assert [(r["about"], r["actor_id"], r["role"], r["purpose"], r["outcome"]) for r in rows] == [
        ("record:liste_des_dossiers", "int-1", "intervenant", "soins", "autorise"),
        ("record:rapport_d_exceptions", "auditrice", "auditeur", "audit", "autorise"),
        ("record:export_d_audit", "auditrice", "auditeur", "audit", "autorise"),
        ("record:journal_des_acces", "auditrice", "auditeur", "audit", "autorise"),
    ]
    assert rows[0]["scope"] == {"closed": "true"}
    assert rows[2]["scope"] == {"since": "2025-01-01T05:00:00+00:00", "out": str(tmp_path / "bundle")}


def test_the_standards_report_is_a_registered_read(store: Store) -> None:
    """`report standards` reads every case of its period (their clocks, from views that hold the person's
    characterisation): one registered read across persons, with its period. Before, nothing was registered."""
    done = arrimage(store, "report", "standards", "--from", "2027-03-01", "--to", "2027-03-31", "--json")
    assert done.code == 0 and done.json()["cases"] == 1, done
    (row,) = about(store, "record:rapport_des_normes")
    assert (row["actor_id"], row["role"], row["purpose"], row["outcome"], row["scope"]) == (
        "auditrice", "auditeur", "audit", "autorise", {"from": "2027-03-01", "to": "2027-03-31"})


@pytest.mark.parametrize("args", [
    ("audit", "accesses"), ("audit", "exceptions"), ("cases", "list", "--closed"), ("cases", "list"),
    ("report", "standards", "--from", "2027-03-01", "--to", "2027-03-31"),
], ids=" ".join)
def test_a_role_refused_the_metadata_of_many_gets_nothing_and_is_registered(
    store: Store, args: tuple[str, ...]
) -> None:
    """Default deny: a partner organisation reads neither the access log, the exceptions nor the institution's
    list of cases (open ones from Temporal included); each refusal is registered."""
    result = arrimage(store, *args, "--role", "organisme_partenaire", "--by", "agent-cc")
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith("refused [not_a_metadata_reader]: ")
    (row,) = [r for r in store.accesses() if r["actor_id"] == "agent-cc" and r["about"].startswith("record:")]
    assert (row["role"], row["outcome"]) == ("organisme_partenaire", "refuse")
    assert result.err.endswith(f"(this refused access is recorded: {row['access_id']})\n")


@pytest.mark.parametrize("args", [
    ("cases", "show", CASE), ("cases", "history", CASE), ("cases", "list", "--closed"),
    ("audit", "register", "--person", SUBJECT), ("audit", "accesses"), ("audit", "exceptions"),
    ("audit", "replay", f"case:{CASE}"), ("report", "standards", "--from", "2027-03-01", "--to", "2027-03-31"),
], ids=" ".join)
def test_without_a_role_a_read_is_refused_and_nothing_is_recorded(store: Store, args: tuple[str, ...]) -> None:
    """No implicit role (default deny): without --role or ARRIMAGE_ROLE, exit 2 with one line, nothing read,
    nothing recorded."""
    count = store.event_count()
    result = arrimage(store, *args, unset=("ARRIMAGE_ROLE",))
    assert (result.code, result.out, result.err) == (2, "", NO_ROLE)
    assert store.event_count() == count


def test_an_intervenant_reads_with_the_authorisation_registered_on_their_account(
    store: Store, tmp_path: Path,
) -> None:
    """R-22.1, r. 1, s. 8 (LRSSS-R1-8): the care team reads a record only with an active access authorisation.
    A reader with a user account reads locally with the authorisations registered on it (`users authorise`), as
    through the gateway and `audit replay`: refused before, allowed after, no --facts needed; a --facts file
    of authorisations is refused for them (facts_in_record, exit 2, nothing recorded). A reader without an
    account (older records) still gives them in --facts."""
    now = datetime.now(UTC)
    terms = {"granted_by": "dsp", "valid_from": (now - timedelta(days=1)).isoformat(),
             "valid_until": (now + timedelta(days=30)).isoformat(),
             "training_current_until": (now + timedelta(days=60)).date().isoformat(),
             "discretion_undertaking_signed": True}
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"authorisations": [{"holder_id": "interv-1", **terms}]}))
    as_intervenant = ("cases", "show", CASE, "--json", "--role", "intervenant", "--by")
    added = arrimage(store, "users", "add", "interv-1", "--org", "cisss-laval", "--role", "intervenant", "--json")
    assert added.code == 0, added
    before = arrimage(store, *as_intervenant, "interv-1")
    assert before.code == 2 and json.loads(before.err)["code"] == "no_active_authorisation", before
    authorised = arrimage(store, "users", "authorise", "interv-1", "--granted-by", "dsp",
                          "--from", (now - timedelta(days=1)).date().isoformat(),
                          "--until", (now + timedelta(days=30)).date().isoformat(),
                          "--training-until", (now + timedelta(days=60)).date().isoformat(), "--undertaking-signed")
    assert authorised.code == 0, authorised
    shown = arrimage(store, *as_intervenant, "interv-1")
    assert shown.code == 0, shown
    assert (shown.json()["access"]["outcome"], shown.json()["access"]["basis"]) == ("autorise", "LRSSS-R1-8")
    count = len(about(store, f"person:{PERSON}"))
    given = arrimage(store, *as_intervenant, "interv-1", "--facts", str(facts))
    assert (given.code, given.out) == (2, ""), given
    assert json.loads(given.err)["code"] == "facts_in_record"
    assert len(about(store, f"person:{PERSON}")) == count  # nothing recorded
    facts.write_text(json.dumps({"authorisations": [{"holder_id": "interv-2", **terms}]}))
    legacy = arrimage(store, *as_intervenant, "interv-2", "--facts", str(facts))  # no account: --facts still read
    assert legacy.code == 0, legacy
    assert legacy.json()["access"]["outcome"] == "autorise"
