"""`arrimage cases`, `standards` and `report standards` end to end: the installed command as a subprocess,
against a real Temporal dev server with the case search attributes registered (as `arrimage up` does),
a real worker in this process and a real record: a SQLite file or a PostgreSQL schema (issue 12; the standards
test, which reads the region file and not the record, on SQLite only).

The region file of this test shortens one standard (`aaor.analyse`: 3 seconds) so that a case
becomes overdue while the test runs; the clocks the report measures are set by the intake's own
moments (`received_at`, `first_contact_at`), so every delay is known and every count exact.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from domain.clock import local_date
from tests.e2e.engines import CSSS, case_engine, eventually, intake, open_case
from tests.e2e.engines import CaseEngine as Engine

pytestmark = pytest.mark.slow

@pytest_asyncio.fixture
async def engine(case_server: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                 store_env: dict[str, str]) -> AsyncIterator[Engine]:
    """On each store (issue 12): the worker's record and the CLI's, a SQLite file or a PostgreSQL schema."""
    async with case_engine(case_server, task_queue, tmp_path, store_env) as engine:
        yield engine


async def test_a_supervisor_follows_and_acts_on_cases(engine: Engine) -> None:
    minute = timedelta(minutes=1)
    # Info-Social answered after 7 minutes (late: 4 min standard), then sends a mobile team.
    late = await open_case(engine, "late.json", intake("info_social", received=10 * minute, first=3 * minute))
    # AAOR called back after 1 hour (24 h standard: in time); its 3-second analysis clock will run out.
    aaor = await open_case(engine, "aaor.json", intake("aaor", received=120 * minute, first=60 * minute,
                                                       face=False, urgency="non_urgent"))
    # Info-Social answered within 1 minute (in time) and closes at the phone.
    quick = await open_case(engine, "quick.json", intake("info_social", received=5 * minute, first=4 * minute))
    assert len({late, aaor, quick}) == 3 and all(c.startswith("C-") and len(c) == 12 for c in (late, aaor, quick))

    closed = await engine.ok("cases", "act", quick, "--org", CSSS, "--file", engine.write("phone.json", {
        "type": "close_at_phone", "disposition": "crise_stabilisee", "reason": "Crise désamorcée au téléphone"}))
    assert closed.out.splitlines() == [f"{quick}: fermée · holder —",
                                       "closed (fermeture au téléphone) by superviseure: crise_stabilisee: "
                                       "Crise désamorcée au téléphone"]
    requested = (await engine.ok("cases", "act", late, "--org", CSSS, "--json", "--file", engine.write(
        "mobile.json", {"type": "request_mobile", "csss_teams": [
            {"team_id": "crise-laval-1", "org_id": CSSS}]}))).json()
    assert requested["stage"] == "transfert"

    async def listed_as_expected() -> bool:
        return sorted(await engine.listed()) == sorted([late, aaor]) and await engine.listed(
            "--stage", "transfert") == [late]
    await eventually(listed_as_expected, "the open cases in visibility")
    assert await engine.listed("--stage", "accueil") == [aaor]
    assert sorted(await engine.listed("--territory", "laval")) == sorted([late, aaor])
    assert await engine.listed("--territory", "montreal") == []
    assert await engine.listed("--team", "crise-laval-1") == [late]
    assert await engine.listed("--since", "2099-01-01") == []
    assert sorted(await engine.listed("--since", local_date(datetime.now(UTC)).isoformat())) == sorted([late, aaor])

    async def aaor_overdue() -> bool:
        return await engine.listed("--overdue") == [aaor]
    await eventually(aaor_overdue, "the AAOR case overdue (its 3-second analysis clock missed)")
    table = (await engine.ok("cases", "list", "--overdue")).out
    assert aaor in table and "OVERDUE" in table and late not in table
    assert [e for e in await engine.events(aaor)] == ["Opened", "DeadlineMissed", "Escalated"]

    shown = (await engine.ok("cases", "show", late, "--json")).json()
    assert shown["workflow"]["reachable"] is True and shown["workflow"]["running"] is True
    assert shown["view"]["stage"] == "transfert" and shown["view"]["holder"] == CSSS
    deadlines = {d["deadline_id"]: d for d in shown["deadlines"]}
    assert sorted(deadlines) == ["crise.urgence", "info_social.reponse", "reponse_equipe.1"]
    assert deadlines["info_social.reponse"]["status"] == "manque"
    assert deadlines["info_social.reponse"]["state"] == "stopped 3 min late"
    assert 0 < deadlines["reponse_equipe.1"]["seconds_left"] <= 600  # 10-minute answer deadline
    assert 0 < deadlines["crise.urgence"]["seconds_left"] <= 3600  # « immédiat »: 60 minutes
    text = (await engine.ok("cases", "show", late)).out
    assert "min left" in text and "stopped 3 min late" in text and "crise-laval-1" in text and "en attente" in text

    accepted = await engine.ok("cases", "act", late, "--org", CSSS, "--file", engine.write(
        "accept.json", {"type": "accept", "team_id": "crise-laval-1"}))
    assert accepted.out.startswith(f"{late}: intervention · holder {CSSS}\n")

    # A supervisor of another organisation is refused; nothing is recorded.
    before = await engine.events(late)
    for args in (["extend", late, "--deadline", "crise.urgence", "--until", "+3h"],
                 ["reassign", late, "--team", "crise-laval-2"], ["close", late]):
        wrong = await engine.run("cases", *args, "--reason", "Essai", "--org", "cc-laval")
        assert (wrong.code, wrong.out) == (2, ""), wrong
        assert wrong.err.startswith("refused [wrong_party]: ")
        assert "is done by cisss-laval, not by cc-laval" in wrong.err
    unknown = await engine.run("cases", "extend", late, "--deadline", "nope", "--until", "+1h", "--reason", "r",
                               "--org", CSSS)
    assert (unknown.code, unknown.err) == (2, f"refused [unknown_deadline]: case {late} has no deadline nope\n")
    assert await engine.events(late) == before

    due = datetime.fromisoformat(deadlines["crise.urgence"]["due_at"])
    extended = (await engine.ok("cases", "extend", late, "--deadline", "crise.urgence", "--until", "+3h",
                                "--reason", "Équipe retenue par une autre urgence", "--org", CSSS, "--json")).json()
    urgence = next(d for d in extended["deadlines"] if d["deadline_id"] == "crise.urgence")
    assert urgence["status"] == "prolonge" and urgence["original_due_at"] == due.isoformat()
    assert timedelta(hours=2) < datetime.fromisoformat(urgence["due_at"]) - datetime.now(UTC) <= timedelta(hours=3)
    assert urgence["extensions"][0]["reason"] == "Équipe retenue par une autre urgence"

    reassigned = (await engine.ok("cases", "reassign", late, "--team", "crise-laval-2", "--org", CSSS,
                                  "--reason", "Équipe 1 rappelée", "--json")).json()
    assert [(a["candidate"]["team"]["team_id"], a["status"], a["assigned_by_supervisor"])
            for a in reassigned["attempts"]] == [("crise-laval-1", "acceptee", False),
                                                 ("crise-laval-2", "en_attente", True)]
    assert reassigned["stage"] == "transfert" and reassigned["intervention"] is None

    done = await engine.ok("cases", "close", late, "--org", CSSS, "--reason", "Personne hébergée chez un proche")
    assert done.out.splitlines()[0] == f"{late}: fermée · holder —"
    again = await engine.run("cases", "close", late, "--org", CSSS, "--reason", "encore")
    assert (again.code, again.err) == (2, f"refused [case_closed]: case {late} is closed: it accepts no command\n")
    assert (await engine.events(late))[-4:] == ["DeadlineExtended", "Reassigned", "TeamAsked", "CaseClosed"]

    async def only_aaor_open() -> bool:
        return await engine.listed() == [aaor]
    await eventually(only_aaor_open, "closed cases gone from the open list")
    assert sorted(await engine.listed("--closed")) == sorted([late, quick])
    assert sorted(await engine.listed("--all")) == sorted([late, aaor, quick])
    assert await engine.listed("--closed", "--stage", "accueil") == []

    today = local_date(datetime.now(UTC)).isoformat()
    report = (await engine.ok("report", "standards", "--from", today, "--to", today, "--json")).json()
    assert (report["cases"], report["region"]) == (3, "13-laval-essai")
    figures = {f["standard_id"]: f for f in report["standards"]}
    # Cancelled clocks (the urgency deadline extended then closed, team 2's answer) measure nothing.
    assert sorted(figures) == ["aaor.analyse", "aaor.retour_appel", "crise.reponse_equipe", "info_social.reponse"]
    info = figures["info_social.reponse"]
    assert (info["observations"], info["in_time"], info["late"], info["open_overdue"]) == (2, 1, 1, 0)
    assert (info["in_time_ratio"], info["in_time_percent"], info["target_ratio"], info["meets_target"]) == (
        "1/2", 50.0, 0.9, False)
    assert (info["median_delay_seconds"], info["p90_delay_seconds"]) == (60.0, 420.0)  # nearest rank of 1 and 7 min
    callback = figures["aaor.retour_appel"]
    assert (callback["in_time"], callback["late"], callback["median_delay_seconds"]) == (1, 0, 3600.0)
    analysis = figures["aaor.analyse"]
    assert (analysis["observations"], analysis["open_overdue"], analysis["in_time_ratio"]) == (1, 1, "0/1")
    assert analysis["median_delay_seconds"] is None  # a running clock has no delay yet
    assert (figures["crise.reponse_equipe"]["in_time"], figures["crise.reponse_equipe"]["late"]) == (1, 0)
    text = (await engine.ok("report", "standards", "--from", today, "--to", today)).out
    assert "50.0 % (1/2)" in text and "3 cases" in text
    empty = (await engine.ok("report", "standards", "--from", "2001-01-01", "--to", "2001-01-31", "--json")).json()
    assert (empty["cases"], empty["standards"]) == (0, [])
    backwards = await engine.run("report", "standards", "--from", today, "--to", "2001-01-01")
    assert (backwards.code, backwards.err) == (2, f"invalid input: --to 2001-01-01 is before --from {today}\n")

    history = (await engine.ok("cases", "history", late)).out
    assert "personal content masked" in history and "test-personne-0001" in history


@pytest.mark.parametrize("store_env", ["sqlite"], indirect=True)  # reads the region file, not the record
async def test_standards_in_force_with_their_source(engine: Engine) -> None:
    shown = (await engine.ok("standards", "--json")).json()
    assert shown["source"] == str(engine.standards_file)
    config = shown["config"]
    assert config["region"] == "13-laval-essai"
    assert config["standards"]["aaor.analyse"]["duration"] == "PT3S"
    assert config["standards"]["info_social.reponse"]["duration"] == "PT4M"  # the ministry's, not overridden
    assert config["immediate_minutes"] == 60
    assert sorted(config["follow_up_plans"]) == ["hebergement_temporaire", "suivi_crise_courte_duree", "suivi_etroit"]
    text = (await engine.ok("standards")).out
    assert "region 13-laval-essai" in text and str(engine.standards_file) in text and "3 s" in text
    defaults = (await engine.run_without(("ARRIMAGE_STANDARDS_FILE",), "standards", "--json")).json()
    assert defaults["source"] == "ministry defaults" and defaults["config"]["region"] == "defaut"


async def test_bad_input_unknown_cases_and_engine_down(engine: Engine) -> None:
    for args in (["show", "C-AAAAAAAAAA"], ["history", "C-AAAAAAAAAA"]):
        missing = await engine.run("cases", *args)
        assert (missing.code, missing.err) == (3, "not found: no crisis case with code C-AAAAAAAAAA\n")
    no_case = await engine.run("cases", "close", "C-AAAAAAAAAA", "--org", CSSS, "--reason", "r")
    assert (no_case.code, no_case.err) == (3, "not found: no crisis case with code C-AAAAAAAAAA\n")
    bad = await engine.run("cases", "act", "C-AAAAAAAAAA", "--org", CSSS, "--file",
                           engine.write("bad.json", {"type": "teleport"}))
    assert bad.code == 2
    assert bad.err.startswith(f"invalid input: {engine.workdir / 'bad.json'}: unknown type 'teleport'")
    no_org = await engine.run("cases", "close", "C-AAAAAAAAAA", "--reason", "r")
    assert (no_org.code, no_org.err) == (2, "invalid input: give your organisation with --org (or set ARRIMAGE_ORG)\n")
    bad_until = await engine.run("cases", "extend", "C-AAAAAAAAAA", "--deadline", "d", "--until", "demain",
                                 "--reason", "r", "--org", CSSS)
    assert bad_until.code == 2 and bad_until.err.startswith("invalid input: --until 'demain': expected +90m")

    code = await open_case(engine, "down.json", intake("info_social", received=timedelta(minutes=2),
                                                         first=timedelta(minutes=1)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    acted = await engine.run("cases", "close", code, "--org", CSSS, "--reason", "r", ARRIMAGE_TEMPORAL_ADDRESS=closed)
    assert acted.code == 4 and acted.err.startswith(f"unreachable: Temporal does not answer at {closed}")
    listed = await engine.run("cases", "list", "--json", ARRIMAGE_TEMPORAL_ADDRESS=closed)  # from the record
    assert (listed.code, listed.err) == (0, "Temporal unreachable: listed from the record; next wake-ups unknown\n")
    assert code in [row["case_code"] for row in listed.json()]
    shown = await engine.run("cases", "show", code, "--json", ARRIMAGE_TEMPORAL_ADDRESS=closed)
    assert shown.code == 0 and shown.json()["view"]["stage"] == "accueil"
    assert shown.json()["workflow"]["reachable"] is False
    text = (await engine.run("cases", "show", code, ARRIMAGE_TEMPORAL_ADDRESS=closed)).out
    assert "shown from the record only" in text
    assert (await engine.run("cases", "list", "--closed", "--json", ARRIMAGE_TEMPORAL_ADDRESS=closed)).json() == []
