"""`arrimage standards --json` says where each figure comes from; a region file that loosens a fixed standard
is refused at start (`standards`, `worker`), with exit code 2, its message, and nothing created or recorded. On a
SQLite file and a PostgreSQL schema (`store_env`, issue 12): `standards` reads the ententes in the record, the
refused starts must create no table in either, the report reads the record.

Seed 001 annexe II, legend « SF : standard fixé » (L2307): the ministry's figures bind the region, which may
tighten them; what the seed leaves open (« immédiat » in minutes, the urgency scale) is an engine default.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.e2e.engines import CaseEngine, case_engine
from tests.e2e.harness import Result, cli_env, no_record, run_cli, store_cli_env

pytestmark = pytest.mark.slow

LOOSE = 'region = "13-laxiste"\n\n[standards."aaor.premier_contact"]\nduration = "PT3H"\n'
LOOSE_ERR = ("invalid standards file {path}: aaor.premier_contact is fixed by the ministry at 2 heures (seed 001 "
             "L778-779; annexe L2300-2305); the region asks 3 h: a region may tighten a fixed standard, never "
             "loosen it\n")


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def run(tmp_path: Path, store_env: dict[str, str], standards: Path, *args: str) -> Result:
    env = cli_env(record_path=tmp_path / "record.sqlite", data_dir=tmp_path / "var", columns=200,
                  target=closed_port(), ARRIMAGE_STANDARDS_FILE=str(standards), **store_cli_env(store_env))
    return run_cli(*args, env=env, cwd=tmp_path)


def test_standards_json_lists_each_figure_with_its_provenance(tmp_path: Path, store_env: dict[str, str]) -> None:
    region = Path(__file__).parents[2] / "examples" / "standards-laval.toml"
    shown = run(tmp_path, store_env, region, "standards", "--json")
    assert (shown.code, shown.err) == (0, "")
    figures = {f["key"]: f for f in shown.json()["figures"]}
    # tightened by the region file
    assert {k: (f["provenance"], f["fixed"]) for k, f in figures.items() if f["provenance"] == "fichier_region"} == {
        "standards.aaor.premier_contact": ("fichier_region", True),
        "standards.info_social.reponse": ("fichier_region", True),
        "meeting_caps.aaor": ("fichier_region", True),
        "immediate_minutes": ("fichier_region", False),
        "p38_designations": ("fichier_region", False),
        "aaor_hours": ("fichier_region", False),  # the hours are the region's; their 70 h floor the ministry's
        "csss_teams": ("fichier_region", False),
    }
    assert figures["standards.aaor.premier_contact"]["value"] == {"timing": "fixe", "duration": "PT1H30M",
                                                                  "text": "1 h 30 min"}
    assert figures["standards.info_social.reponse"]["value"]["target_ratio"] == 0.95
    # the ministry's, with its seed line
    assert figures["standards.aaor.retour_appel"] == {
        "key": "standards.aaor.retour_appel", "value": {"timing": "fixe", "duration": "P1D", "text": "24 h"},
        "provenance": "ministere", "fixed": True, "reference": "seed 001 L781-782; annexe L2339-2344"}
    assert figures["info_social.duree_moyenne_appel"] == {
        "key": "info_social.duree_moyenne_appel", "value": "PT25M", "provenance": "ministere", "fixed": True,
        "reference": "seed 001 L1030-1031; annexe L2452-2453"}
    # engine defaults the seed does not give, said as such: the urgency scale
    for level in ("immediat", "urgent", "semi_urgent", "non_urgent"):
        assert (figures[f"urgency.{level}"]["provenance"], figures[f"urgency.{level}"]["fixed"]) == (
            "defaut_moteur", False)
        assert figures[f"urgency.{level}"]["reference"].startswith("pas dans le seed")
    assert figures["immediate_minutes"]["reference"].startswith("pas dans le seed : « immédiat »")
    assert figures["standards.crise.reponse_equipe"]["provenance"] == "defaut_moteur"


@pytest.mark.parametrize("command", [("standards",), ("standards", "--json"), ("worker",), ("gateway",)])
def test_a_loosening_region_file_is_refused_at_start(tmp_path: Path, store_env: dict[str, str],
                                                     command: tuple[str, ...]) -> None:
    loose = tmp_path / "laxiste.toml"
    loose.write_text(LOOSE, encoding="utf-8")
    refused = run(tmp_path, store_env, loose, *command)
    message = LOOSE_ERR.format(path=loose)
    if "--json" in command:  # one problem object (RFC 9457 members, status = the exit code)
        assert (refused.code, refused.out) == (2, "")
        assert json.loads(refused.err) == {"type": "urn:arrimage:problem:invalid-input", "title": "invalid input",
                                           "status": 2, "detail": message.rstrip("\n")}
    else:
        assert (refused.code, refused.out, refused.err) == (2, "", message)
    assert no_record(store_env)  # the worker created no record: nothing recorded


@pytest_asyncio.fixture
async def engine(case_server: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                 store_env: dict[str, str]) -> AsyncIterator[CaseEngine]:
    async with case_engine(case_server, task_queue, tmp_path, store_env) as built:
        yield built


async def test_the_report_shows_the_info_social_average_call_as_not_measured(engine: CaseEngine) -> None:
    """Seed 001 L1030-1031: the 25-minute average call is an indicator beside the 90 % in 4 minutes; the record
    holds no call durations, so the report says « not measured » and why, and invents no figure."""
    report = (await engine.ok("report", "standards", "--from", "2001-01-01", "--to", "2001-01-31", "--json")).json()
    assert report["indicators"] == {"info_social.duree_moyenne_appel": {
        "seed_average": "PT25M", "reference": "seed 001 L1030-1031; annexe L2452-2453", "calls": 0,
        "measured_average": None, "within_seed": None,
        "not_measured": "the record holds no Info-Social call durations (a case records when a call was received "
                        "and answered, not when it ended)"}}
    text = (await engine.ok("report", "standards", "--from", "2001-01-01", "--to", "2001-01-31")).out
    assert ("Info-Social average call (seed 25 min, seed 001 L1030-1031; annexe L2452-2453): not measured: the "
            "record holds no Info-Social call durations") in " ".join(text.split())
