"""`arrimage directory` through the installed CLI on a real record, a SQLite file or a PostgreSQL schema (issue 11;
`store_env`, issue 12; seed 002 L403-437): the HSDS example imported and exported equal, listed and shown; a service
already listed, bad input and an unknown service refused with their code, nothing recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.audit_builders import Store, build
from tests.e2e.harness import Result, run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "annuaire-laval.hsds.json"


@pytest.fixture
def store(tmp_path: Path, store_env: dict[str, str]) -> Store:
    built = build(tmp_path, store_env)
    built.env["ARRIMAGE_TEMPORAL_ADDRESS"] = "127.0.0.1:1"  # nothing answers: the directory is the record's
    return built


def arrimage(store: Store, *args: str) -> Result:
    return run_cli(*args, env=store.env)


def test_import_list_show_export(store: Store, tmp_path: Path) -> None:
    before = store.event_count()
    done = arrimage(store, "directory", "import", str(EXAMPLE), "--by", "admin", "--json")
    assert (done.code, done.json()) == (0, {"recorded": 8}), done
    assert store.event_count() == before + 9  # the directory created, then one event per service
    listed = arrimage(store, "directory", "list", "--sector", "logement", "--json")
    assert listed.code == 0, listed
    assert [(s["service_id"], s["link"], s["current_wait"]) for s in listed.json()] == [
        ("omh-laval-logement", "agent_de_liaison", "18 mois")]
    shown = arrimage(store, "directory", "show", "cc-laval-crise", "--json")
    assert (shown.code, shown.json()["hours"], shown.json()["link"]) == (0, "24/7, 365 jours", "protocole_d_entente")
    assert shown.json()["schedule"] == {  # structured: every day, the whole day (seed 001 L1259-1260)
        "windows": [{"days": [1, 2, 3, 4, 5, 6, 7], "opens": "00:00:00", "closes": "00:00:00"}], "closed_on": []}
    out = tmp_path / "export.json"
    assert arrimage(store, "directory", "export", "--out", str(out)).code == 0
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_refusals_record_nothing(store: Store, tmp_path: Path) -> None:
    arrimage(store, "directory", "import", str(EXAMPLE), "--by", "admin")
    count = store.event_count()
    again = arrimage(store, "directory", "add", "omh-laval-logement", "--name", "Autre", "--org", "omh-laval",
                     "--org-name", "OMH", "--territory", "laval", "--sector", "logement", "--by", "admin")
    assert (again.code, again.out) == (2, "")
    assert again.err.startswith("refused [duplicate_service]: "), again.err
    bad = arrimage(store, "directory", "add", "x", "--name", "X", "--org", "BAD ORG", "--org-name", "O",
                   "--territory", "laval", "--sector", "logement")
    assert bad.code == 2 and "organisation_id" in bad.err, bad
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"organizations": [], "services": [
        {"id": "x", "organization_id": "nobody", "name": "X", "service_areas": [{"name": "laval"}]}]}))
    refused = arrimage(store, "directory", "import", str(wrong))
    assert refused.code == 2 and refused.err.startswith("refused [invalid_hsds]: "), refused
    assert arrimage(store, "directory", "show", "inconnu").code == 3
    new = ("directory", "add", "cps-laval-crise", "--name", "Crise", "--org", "cps-laval", "--org-name", "CPS",
           "--territory", "laval", "--sector", "crise", "--by", "admin", "--json")
    sunday8 = '{"windows": [{"days": [8], "opens": "08:00", "closes": "16:00"}]}'
    for schedule, field in ((sunday8, "schedule.windows[0]"), ("lun-ven", "schedule")):
        refused = arrimage(store, *new, "--schedule", schedule)
        assert refused.code == 2 and [e["field"] for e in json.loads(refused.err)["errors"]] == [field], refused
    assert store.event_count() == count
    weekdays = '{"windows": [{"days": [1, 2, 3, 4, 5], "opens": "08:00", "closes": "16:00"}]}'
    added = arrimage(store, *new, "--schedule", weekdays)
    assert added.code == 0 and added.json()["schedule"]["windows"][0]["days"] == [1, 2, 3, 4, 5], added


def test_cases_list_without_pivot_reads_the_record(store: Store) -> None:
    """Seed 002 L349-350: the supervisor sees the cases that have no personne pivot (the built record's case has
    none), read from the record."""
    store.env["ARRIMAGE_ROLE"] = "superviseur"
    done = arrimage(store, "cases", "list", "--without-pivot", "--json")
    assert done.code == 0, done
    assert [(r["case_code"], r["pivot"], r["source"]) for r in done.json()] == [("C-ABCDEFGH23", None, "record")]
