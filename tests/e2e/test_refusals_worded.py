"""Issue 7's last refusals, as a script and a person meet them through the installed `arrimage`: the exact
exit code, one line on stderr in the domain's words (or one JSON problem with `--json`), nothing on
stdout, and nothing recorded — the record's rows counted before and after. On a SQLite file and a PostgreSQL
schema (`store_env`, issue 12): the refusals are decided on what the record holds (the ententes in force for the
opening, the person's facts), and the malformed checkpoint's test takes the good one from the record and verifies
against it, so every test runs on both.

No Temporal: each refusal happens before any workflow could be reached (the address given points at a
port where nothing listens, so a command that got past its check would fail with exit 4 instead).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.record.record import Record
from tests.audit_builders import PERSON, Store, build
from tests.e2e.harness import Result, cli_env, run_cli, store_cli_env
from tests.tamper_builders import Raw

CSSS = "cisss-laval"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Shell:
    store: dict[str, str]  # the record's environment (conftest's `store_env`)
    env: dict[str, str]
    workdir: Path

    def run(self, *args: str) -> Result:
        return run_cli(*args, env=self.env, cwd=self.workdir)

    def write(self, name: str, data: dict[str, Any]) -> Path:
        path = self.workdir / name
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    def rows(self) -> dict[str, int]:
        return rows(self.store)


VIEW = ("listing_", "arrimage_listings_")  # the listings view's tables on SQLite, on PostgreSQL
EVENTS = ("stored_events", "arrimage_events")  # the events table on SQLite, on PostgreSQL: "events" below


def rows(store: dict[str, str]) -> dict[str, int]:
    """Every table of the record with its row count: events, chain, keys, checkpoints; in a SQLite file or a
    PostgreSQL schema, read with plain SQL (tests.tamper_builders.Raw). Not the listings view's (`listing_*` and
    `tracking` on SQLite, `arrimage_listings_*` on PostgreSQL): a read model rebuilt from the record, holding
    nothing of its own, created and caught up by the first read that uses it (routing reads it before refusing)."""
    raw = Raw(store)
    try:
        if raw.pg:
            schema = f'"{store["POSTGRES_SCHEMA"]}".'
            names = [r[0] for r in raw.x("SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                                         store["POSTGRES_SCHEMA"])]
        else:
            schema = ""
            names = [r[0] for r in raw.x("SELECT name FROM sqlite_master WHERE type = 'table'") if r[0] != "tracking"]
        return {("events" if n in EVENTS else n): int(raw.x(f'SELECT count(*) FROM {schema}"{n}"')[0][0])
                for n in names if not n.startswith(VIEW)}
    finally:
        raw.close()


@pytest.fixture
def shell(tmp_path: Path, store_env: dict[str, str]) -> Shell:
    """An empty record (created as `arrimage up` creates it) and the CLI's environment pointing at it."""
    Record(store_env).close()
    env = cli_env(record_path=tmp_path / "record.sqlite", data_dir=tmp_path, columns=200,
                  target=f"127.0.0.1:{closed_port()}", ARRIMAGE_USER="auditrice", **store_cli_env(store_env))
    return Shell(store_env, env, tmp_path)


# ---------------------------------------------------------------------- crisis: an opening refused for a person
def test_an_info_social_opening_by_a_partner_is_refused_in_words(shell: Shell) -> None:
    """Info-Social 8-1-1 is the CSSS's own service (seed 001 L683-685): a partner cannot open a case
    through it. The refusal names the service as people do, not by its code (`info_social`)."""
    now = datetime.now(UTC)
    intake = shell.write("intake.json", {
        "actor_org": "cps-laval", "responsible_org": CSSS, "territory": "laval", "subject_id": "test-personne-0001",
        "intake": {"service": "info_social", "request_mode": "telephone", "urgency": "urgent",
                   "face_to_face_needed": True},
        "received_at": (now - timedelta(minutes=2)).isoformat(), "first_contact_at": now.isoformat(),
    })
    before = shell.rows()
    assert before["events"] == 0
    result = shell.run("cases", "open", "--file", str(intake), "--by", "intervenant-1")
    assert (result.code, result.out, result.err) == (
        2, "", "refused [wrong_party]: opening a case through Info-Social 8-1-1 is done by cisss-laval, "
               "not by cps-laval\n")
    problem = json.loads(shell.run("cases", "open", "--file", str(intake), "--by", "intervenant-1", "--json").err)
    assert (problem["type"], problem["status"], problem["code"]) == ("urn:arrimage:problem:refused", 2, "wrong_party")
    assert shell.rows() == before


# ---------------------------------------------------------------------- audit
@pytest.fixture
def store(tmp_path: Path, store_env: dict[str, str]) -> Store:
    """The auditor's record of test_audit_cli: an entente, a crisis case (its person: PERSON), consents; in
    the store of `store_env`."""
    return build(tmp_path, store_env)


def problem(result: Result) -> dict[str, Any]:
    assert result.out == "" and len(result.err.splitlines()) == 1, result
    found: dict[str, Any] = json.loads(result.err)
    return found


def test_a_malformed_checkpoint_is_named_with_its_missing_field(store: Store, tmp_path: Path) -> None:
    """A checkpoint kept elsewhere that lost a field: one line on stderr in the checkpoint's terms (it used
    to print a KeyError's `'notification_id'` on stdout), exit 2, nothing verified nor recorded."""
    good = tmp_path / "head.json"
    store.ok("checkpoint", "--out", str(good))
    bad = tmp_path / "BAD.json"
    bad.write_text(json.dumps({k: v for k, v in json.loads(good.read_text()).items() if k != "notification_id"}))
    before = rows(store.record_env)

    result = store.run("verify", "--against", str(bad))
    assert (result.code, result.out, result.err) == (
        2, "", f"invalid checkpoint {bad}: missing field notification_id\n")
    as_json = store.run("verify", "--against", str(bad), "--json")
    assert as_json.code == 2 and problem(as_json) == {
        "type": "urn:arrimage:problem:invalid-input", "title": "invalid input", "status": 2,
        "detail": f"invalid checkpoint {bad}: missing field notification_id"}

    (tmp_path / "notjson.json").write_text("{notification_id: 1")
    result = store.run("verify", "--against", str(tmp_path / "notjson.json"))
    assert (result.code, result.out, result.err) == (
        2, "", f"invalid checkpoint {tmp_path / 'notjson.json'}: not valid JSON: line 1 column 2: "
               "Expecting property name enclosed in double quotes\n")
    result = store.run("verify", "--against", str(tmp_path / "missing.json"))
    assert (result.code, result.out, result.err) == (2, "", f"no such file: {tmp_path / 'missing.json'}\n")
    assert rows(store.record_env) == before
    assert store.run("verify", "--against", str(good)).code == 0


def test_shredding_a_person_the_record_does_not_know_is_refused(store: Store) -> None:
    """An erasure is a fact about a person of the record: for an unknown id it used to record one anyway
    (and print "key None"). Refused, exit 3, nothing recorded; the person of the case is still erasable."""
    before = rows(store.record_env)
    result = store.run("shred", "UNKNOWN", "--by", "dpo", "--reason", "decision D-2026-15")
    assert (result.code, result.out, result.err) == (
        3, "", "not found: the record holds nothing about person UNKNOWN\n")
    as_json = store.run("shred", "UNKNOWN", "--by", "dpo", "--reason", "decision D-2026-15", "--json")
    assert as_json.code == 3 and problem(as_json) == {
        "type": "urn:arrimage:problem:not-found", "title": "not found", "status": 3,
        "detail": "the record holds nothing about person UNKNOWN"}
    assert rows(store.record_env) == before

    open_case = store.run("shred", PERSON, "--by", "dpo", "--reason", "decision D-2026-14")
    assert (open_case.code, open_case.out, open_case.err) == (
        2, "", f"refused [open_cases]: person {PERSON} still has 1 open crisis case(s): C-ABCDEFGH23; close them "
        "first (`arrimage cases close CODE --reason …`), then erase\n")
    assert rows(store.record_env) == before
    store.close_case()
    done = store.ok("shred", PERSON, "--by", "dpo", "--reason", "decision D-2026-14")
    assert done.out.startswith(f"shredded {PERSON} (key ") and "key None" not in done.out, done


def test_the_accesses_of_a_person_the_record_does_not_know_are_not_found(store: Store) -> None:
    """Same rule as `audit register`: exit 3 only when the record holds nothing about the person; a person
    it knows (the case's, whose content is sealed with their key) with no access yet gets an empty list."""
    before = rows(store.record_env)
    result = store.run("accesses", "--person", "NOBODY")
    assert (result.code, result.out, result.err) == (
        3, "", "not found: the record holds nothing about person NOBODY\n")
    as_json = store.run("accesses", "--person", "NOBODY", "--json")
    assert as_json.code == 3 and problem(as_json)["detail"] == "the record holds nothing about person NOBODY"
    assert rows(store.record_env) == before
    assert store.accesses("--person", PERSON) == []
    # Reading the access log is itself an access, registered (issue 9): one event, nothing else.
    assert rows(store.record_env)["events"] == before["events"] + 1
