"""`arrimage standards --json` with the region file: the AAOR's weekly hours per territory and channel against the
70 h floor (seed 001 L767-770), and the 24/7 coverage counting the CSSS teams the file declares (L1259-1260);
a file declaring fewer than 70 h is refused (exit 2) with the standard, the seed figure and the value asked.

Both tests run on a SQLite file and a PostgreSQL schema (`store_env`, issue 12): `standards` looks for the record's
ententes, finds no record (no file, no table in the schema), creates none and still shows the declared teams. The
region file is read before the record is opened: pointed at a PostgreSQL where nothing listens, a bad file is
still refused with its reason (before, the connection's OperationalError came first).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Result, cli_env, no_record, run_cli, store_cli_env

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parents[2] / "examples" / "standards-laval.toml"
SHORT = '''region = "13-court"

[[aaor_hours]]
territory = "laval"
telephone = { windows = [{ days = [1, 2, 3, 4, 5], opens = "08:00", closes = "22:00" }] }
en_personne = { windows = [{ days = [1, 2, 3, 4, 5], opens = "09:00", closes = "17:00" }] }
'''


def run(tmp_path: Path, store: dict[str, str], standards: Path, *args: str) -> Result:
    env = cli_env(record_path=tmp_path / "record.sqlite", data_dir=tmp_path / "var", columns=200,
                  ARRIMAGE_STANDARDS_FILE=str(standards), **store_cli_env(store))
    return run_cli(*args, env=env, cwd=tmp_path)


def test_standards_json_shows_the_aaor_hours_and_the_declared_teams_coverage(tmp_path: Path,
                                                                             store_env: dict[str, str]) -> None:
    shown = run(tmp_path, store_env, EXAMPLE, "standards", "--json")
    assert (shown.code, shown.err) == (0, "")
    data = shown.json()
    assert [(w["territory"], w["channel"], w["weekly_hours"], w["floor_hours"], w["meets_floor"])
            for w in data["aaor_hours"]] == [("laval", "telephone", 86.0, 70, True),
                                              ("laval", "en_personne", 72.0, 70, True)]
    # no record here: the teams the file declares still give the 24/7 view
    [laval] = data["coverage"]
    assert (laval["territory"], laval["covers_24_7"], laval["weekly_gaps"]) == ("laval", True, [])
    assert [(p["provider"], p["entente"]) for p in laval["providers"]] == [
        ("crise-laval-1", None), ("crise-laval-2", None)]
    text = run(tmp_path, store_env, EXAMPLE, "standards").out
    assert "AAOR hours a week against the 70 h floor" in text and "en_personne" in text
    assert no_record(store_env)


def test_a_region_file_under_70_h_of_aaor_is_refused(tmp_path: Path, store_env: dict[str, str]) -> None:
    short = tmp_path / "court.toml"
    short.write_text(SHORT, encoding="utf-8")
    refused = run(tmp_path, store_env, short, "standards")
    assert (refused.code, refused.out) == (2, "")
    assert refused.err == (
        f"invalid standards file {short}: aaor_hours.laval.en_personne is fixed by the ministry at au moins 70 "
        "heures par semaine (seed 001 L767-770; L692-693; annexe L2253-2256); the region asks 40 h par semaine: "
        "a region may tighten a fixed standard, never loosen it\n")


def test_a_bad_region_file_is_refused_before_the_record_is_opened(tmp_path: Path) -> None:
    short = tmp_path / "court.toml"
    short.write_text(SHORT, encoding="utf-8")
    nowhere = {"PERSISTENCE_MODULE": "adapters.record.postgres", "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "1",
               "POSTGRES_DBNAME": "test", "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "",
               "POSTGRES_SCHEMA": "nowhere"}  # a PostgreSQL where nothing listens
    refused = run(tmp_path, nowhere, short, "standards")
    assert (refused.code, refused.out) == (2, "")
    assert refused.err.startswith(f"invalid standards file {short}: aaor_hours.laval.en_personne is fixed"), refused
