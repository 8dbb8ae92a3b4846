"""Errors a person can act on (issue 7), end to end through the installed `arrimage`.

Every failure is one line on stderr in the domain's words (one line per invalid field), with the
exit code of the README's table, and nothing on stdout; with `--json` it is one problem object
(RFC 9457 members, `status` = the exit code). Reads that the record can answer work with the
engine down. A reader that leaves early (`| head`) is not a failure.

The record is built with the domain's own use cases (tests/e2e/test_audit_cli.build: an entente, an
open crisis case, consents); Temporal is a closed port: every check here is about what the CLI says
before, or instead of, reaching a workflow. "Nothing recorded" is checked on the store's rows.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer

from cli.main import app
from cli.options import TIMEOUT_HELP
from domain.crisis.state import CaseStage
from tests.audit_builders import CASE, ENTENTE, PERSON, Store, build
from tests.disclosure_builders import SUBJECT
from tests.e2e.harness import ARRIMAGE, Result, run_cli

pytestmark = pytest.mark.slow

MOMENT = "not a date/time: expected ISO 8601 with a time zone, e.g. 2026-12-01T05:00-05:00"


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


class Shell:
    """`arrimage` as a shell user runs it, on the test's record, with Temporal down."""

    def __init__(self, store: Store, workdir: Path) -> None:
        self.store = store
        self.workdir = workdir
        self.down = closed_port()
        self.env = {**store.env, "ARRIMAGE_TEMPORAL_ADDRESS": self.down, "ARRIMAGE_TASK_QUEUE": "errors"}

    def run(self, *args: str, **env: str) -> Result:
        return run_cli(*args, env={**self.env, **env}, cwd=self.workdir)

    def fails(self, code: int, *args: str, **env: str) -> str:
        """Run a command that must fail: its exit code, nothing on stdout, nothing recorded; its stderr."""
        before = self.store.event_count()
        result = self.run(*args, **env)
        assert (result.code, result.out) == (code, ""), result
        assert self.store.event_count() == before
        return result.err

    def problem(self, code: int, *args: str, **env: str) -> dict[str, Any]:
        """With `--json`: one line on stderr, a problem object whose status is the exit code."""
        err = self.fails(code, *args, "--json", **env)
        assert err.endswith("\n") and err.count("\n") == 1, err
        found: dict[str, Any] = json.loads(err)
        assert found["status"] == code
        return found

    def write(self, name: str, data: Any) -> str:
        path = self.workdir / name
        path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
        return str(path)


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    workdir = tmp_path / "shell"
    workdir.mkdir()
    return Shell(build(tmp_path), workdir)


# ----------------------------------------------------------------- 1. one line, in the domain's words
def test_usage_errors_are_one_line_with_where_to_look(shell: Shell) -> None:
    assert shell.fails(2, "ententes", "list", "--bogus") == (
        "usage: no such option: --bogus (see arrimage ententes list --help)\n")
    assert shell.fails(2, "ententes", "show") == (
        "usage: missing argument 'CODE' (see arrimage ententes show --help)\n")
    assert shell.fails(2, "cases", "list", "--stage", "partout") == (
        f"usage: invalid value for '--stage': 'partout' is not one of {', '.join(repr(s.value) for s in CaseStage)} "
        "(see arrimage cases list --help)\n")
    assert shell.fails(2, "cases", "close", CASE, "--reason", "r", "--org", "cisss-laval", "--timeout", "0") == (
        "usage: invalid value for '--timeout' (env var: 'ARRIMAGE_CLI_TIMEOUT'): expected at least 1 "
        "(see arrimage cases close --help)\n")


def test_invalid_fields_one_line_each_without_pydantic_wording(shell: Shell) -> None:
    content = shell.write("content.json", {"title": 1, "kind": "entente_secrete", "signature_deadline": "x"})
    assert shell.fails(2, "ententes", "draft", "ENT-NEUVE-01", "--file", content) == (
        "invalid input: title: expected text\n"
        "invalid input: kind: expected one of 'entente_collaboration', 'entente_service' or 'entente_cadre'\n"
        "invalid input: parties: required\n"
        "invalid input: object: required\n"
        "invalid input: signature_deadline: unknown field\n"
    )
    # Options are named as typed; dates and date-times say what is expected, not how the parser failed.
    assert shell.fails(2, "ententes", "sign", ENTENTE, "--party", "cc-laval", "--version", "0",
                       "--signatory", " ") == (
        "invalid input: --version: expected at least 1\n"
        "invalid input: --signatory: must not be empty\n"
    )
    assert shell.fails(2, "ententes", "revoke", ENTENTE, "--party", "cc-laval", "--effective", "31/12/2099",
                       "--reason", "r") == (
        "invalid input: --effective: not a date: expected ISO 8601, e.g. 2026-12-01\n")
    command = shell.write("extend.json", {"type": "extend", "deadline_id": "d", "until": "2026-13-01T10:00",
                                          "reason": "r", "note": "?"})
    assert shell.fails(2, "cases", "act", CASE, "--org", "cisss-laval", "--file", command) == (
        f"invalid input: until: {MOMENT}\n"
        "invalid input: note: unknown field\n"
    )
    unknown = shell.write("teleport.json", {"type": "teleport"})
    err = shell.fails(2, "cases", "act", CASE, "--org", "cisss-laval", "--file", unknown)
    assert err.startswith(f"invalid input: {unknown}: unknown type 'teleport': expected one of 'first_contact', ")
    assert err.count("\n") == 1 and "Input should" not in err and "pydantic" not in err


def test_files_and_settings_in_plain_words(shell: Shell) -> None:
    assert shell.fails(2, "ententes", "draft", "ENT-NEUVE-01", "--file", "nowhere.json") == (
        "no such file: nowhere.json\n")
    broken = shell.write("broken.json", '{"title": "x",\n  "kind": }')
    assert shell.fails(2, "ententes", "draft", "ENT-NEUVE-01", "--file", broken) == (
        f"not valid JSON: {broken} line 2 column 11: Expecting value\n")
    assert shell.fails(2, "cases", "act", CASE, "--org", "cisss-laval", "--file", broken) == (
        f"not valid JSON: {broken} line 2 column 11: Expecting value\n")
    assert shell.fails(2, "audit", "replay", f"case:{CASE}", "--role", "auditeur", "--facts", "absent.json") == (
        "no such file: absent.json\n")
    assert shell.fails(2, "standards", ARRIMAGE_STANDARDS_FILE="/nowhere/laval.toml") == (
        "no such file: /nowhere/laval.toml\n")
    assert shell.fails(2, "ententes", "list", ARRIMAGE_STORE="oracle") == (
        "ARRIMAGE_STORE: expected one of 'sqlite' or 'postgres'; set one of them\n")


def test_an_unexpected_failure_names_its_type_and_leaves_the_traceback_in_the_log(shell: Shell) -> None:
    garbage = shell.workdir / "not-a-record.sqlite"
    garbage.write_text("this is not a database\n", encoding="utf-8")
    log = Path(shell.env["ARRIMAGE_DATA_DIR"]) / "arrimage-cli.log"
    err = shell.fails(1, "ententes", "list", ARRIMAGE_SQLITE_PATH=str(garbage))
    assert err == f"unexpected failure: DatabaseError; details in the log ({log})\n"
    assert "Traceback (most recent call last)" in log.read_text(encoding="utf-8")


# ----------------------------------------------------------------- 2. --json errors are problem objects
def test_json_errors_are_one_problem_object_on_stderr(shell: Shell) -> None:
    assert shell.problem(2, "ententes", "list", "--bogus") == {
        "type": "urn:arrimage:problem:usage", "title": "usage error", "status": 2,
        "detail": "no such option: --bogus (see arrimage ententes list --help)",
    }
    content = shell.write("content.json", {"title": "", "kind": "entente_service"})
    assert shell.problem(2, "ententes", "draft", "ENT-NEUVE-01", "--file", content) == {
        "type": "urn:arrimage:problem:invalid-input", "title": "invalid input", "status": 2,
        "detail": "3 invalid fields",
        "errors": [{"field": "title", "message": "must not be empty"}, {"field": "parties", "message": "required"},
                   {"field": "object", "message": "required"}],
    }
    # A refused replay still shows what was withheld (stdout) and is itself recorded as an access.
    replay = shell.run("audit", "replay", f"case:{CASE}", "--role", "intervenant", "--json")
    assert replay.code == 2 and replay.err.count("\n") == 1
    refusal = json.loads(replay.err)
    assert {k: refusal[k] for k in ("type", "title", "status", "code")} == {
        "type": "urn:arrimage:problem:refused", "title": "refused by a rule", "status": 2,
        "code": "no_active_authorisation"}
    assert f"(this refused access is recorded: {replay.json()['access_id']})" in refusal["detail"]
    assert shell.problem(3, "ententes", "show", "ENT-INCONNUE") == {
        "type": "urn:arrimage:problem:not-found", "title": "not found", "status": 3,
        "detail": "no entente with code ENT-INCONNUE",
    }
    down = shell.problem(4, "ententes", "submit", ENTENTE)
    assert (down["type"], down["title"]) == ("urn:arrimage:problem:unreachable", "engine unreachable")
    assert down["detail"] == (f"Temporal does not answer at {shell.down} (Connection refused): start the engine "
                              "with `arrimage up` or check ARRIMAGE_TEMPORAL_ADDRESS")


def test_without_json_an_unreachable_engine_is_one_line_with_the_hint(shell: Shell) -> None:
    assert shell.fails(4, "ententes", "submit", ENTENTE) == (
        f"unreachable: Temporal does not answer at {shell.down} (Connection refused): start the engine with "
        "`arrimage up` or check ARRIMAGE_TEMPORAL_ADDRESS\n")


# ----------------------------------------------------------------- 3. the register of nobody
def test_the_register_of_a_person_the_record_does_not_know_is_not_found(shell: Shell) -> None:
    assert shell.fails(3, "audit", "register", "--person", "NOBODY") == (
        "not found: no register entries for person NOBODY (the record holds nothing about this person)\n")
    assert shell.problem(3, "audit", "register", "--person", "NOBODY")["detail"] == (
        "no register entries for person NOBODY (the record holds nothing about this person)")
    # A person the record knows: with entries, or without any (the crisis case's person, nothing communicated).
    assert len(shell.run("audit", "register", "--person", SUBJECT, "--json").json()) == 2
    about_the_case = shell.run("audit", "register", "--person", PERSON, "--json")
    assert (about_the_case.code, about_the_case.json()) == (0, [])


# ----------------------------------------------------------------- 4. reads with the engine down
def test_cases_list_with_the_engine_down_reads_the_record(shell: Shell) -> None:
    listed = shell.run("cases", "list", "--json")
    assert listed.code == 0, listed
    assert listed.err == "Temporal unreachable: listed from the record; next wake-ups unknown\n"
    rows = listed.json()
    assert [(r["case_code"], r["stage"], r["holder"], r["source"]) for r in rows] == [
        (CASE, "accueil", "cisss-laval", "record")]
    table = shell.run("cases", "list")
    assert table.code == 0 and CASE in table.out
    assert shell.run("cases", "list", "--stage", "fermee", "--json").json() == []
    assert shell.run("cases", "list", "--holder", "cc-laval", "--json").json() == []
    shown = shell.run("cases", "show", CASE, "--json")
    assert shown.code == 0 and shown.json()["workflow"]["reachable"] is False
    assert shell.run("ententes", "list", "--json").code == 0
    assert shell.run("ententes", "show", ENTENTE, "--json").json()["view"]["status"] == "en_vigueur"


# ----------------------------------------------------------------- 5. a reader that leaves early
@pytest.mark.parametrize("args", [
    ("ententes", "history", ENTENTE, "--json"), ("standards", "--json"), ("audit", "accesses"),
])
def test_output_into_a_closed_pipe_exits_0(shell: Shell, args: tuple[str, ...]) -> None:
    read, write = os.pipe()
    os.close(read)  # `| head -1` that has already left: every write meets a closed pipe
    try:
        proc = subprocess.run([ARRIMAGE, *args], env=shell.env, cwd=shell.workdir, stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_head_takes_the_first_line_and_the_pipeline_succeeds(shell: Shell) -> None:
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", f"'{ARRIMAGE}' standards --json | head -c 1"],
                          env=shell.env, cwd=shell.workdir, capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "{", "")


# ----------------------------------------------------------------- 6. --timeout, one option everywhere
ENTENTE_VERBS = {"draft", "revise", "submit", "sign", "refuse", "withdraw", "amend", "renew", "review", "revoke"}
WAITING_FOR_A_WORKER = {
    "ententes": ENTENTE_VERBS,
    "agreements": ENTENTE_VERBS,  # the group's former name, a hidden alias of the same commands
    "cases": {"open", "act", "reassign", "extend", "close", "name-pivot"},
    "episodes": {"open", "act", "accept", "first-contact", "meeting", "revise-plan", "follow-up", "close"},
    "": {"demo"},
}


def test_every_command_that_waits_for_a_worker_takes_the_same_timeout() -> None:
    root = typer.main.get_command(app)
    found: dict[str, set[str]] = {}
    for group_name, group in [("", root), *[(n, c) for n, c in root.commands.items()  # type: ignore[attr-defined]
                                             if hasattr(c, "commands")]]:
        assert not any(p.name == "timeout" for p in group.params), f"{group_name}: --timeout belongs to the verb"
        for name, command in group.commands.items():
            options = [p for p in command.params if p.name == "timeout"]
            if options:
                found.setdefault(group_name, set()).add(name)
                (option,) = options
                assert (option.opts, option.default, option.help, option.envvar) == (
                    ["--timeout"], 30.0, TIMEOUT_HELP, "ARRIMAGE_CLI_TIMEOUT"), f"{group_name} {name}"
    assert found == WAITING_FOR_A_WORKER


def test_the_timeout_is_given_after_the_verb(shell: Shell) -> None:
    assert shell.fails(4, "ententes", "submit", ENTENTE, "--timeout", "5").startswith("unreachable: ")
    assert shell.fails(2, "ententes", "--timeout", "5", "submit", ENTENTE) == (
        "usage: no such option: --timeout (see arrimage ententes --help)\n")
