"""`arrimage standards` shows whether the ententes in force cover the mobile crisis service 24/7/365
(seed 001 L1259-1260): per territory, who provides it under which entente, and the gaps left (Québec time). On a
SQLite file and a PostgreSQL schema (`store_env`, issue 12): the coverage is read from the record's ententes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.ententes.model import EntenteContent
from domain.hours import ServiceHours
from tests.crisis_builders import activate, crisis_content
from tests.e2e.engines import store_settings
from tests.e2e.harness import Result, cli_env, run_cli, store_cli_env
from workers.bootstrap import bootstrap
from workers.settings import Settings

pytestmark = pytest.mark.slow

WEEKDAYS_8_16 = {"windows": [{"days": [1, 2, 3, 4, 5], "opens": "08:00", "closes": "16:00"}]}


def run(tmp_path: Path, store: dict[str, str], *args: str) -> Result:
    env = cli_env(record_path=tmp_path / "record.sqlite", data_dir=tmp_path / "var", columns=200,
                  **store_cli_env(store))
    return run_cli(*args, env=env, cwd=tmp_path)


def test_standards_show_the_24_7_coverage_of_the_ententes_in_force(tmp_path: Path, store_env: dict[str, str]) -> None:
    assert run(tmp_path, store_env, "standards", "--json").json()["coverage"] is None  # no record here: nothing to read
    settings = Settings(_env_file=None, data_dir=tmp_path / "var", **store_settings(store_env))
    with bootstrap(settings, create=True) as root:
        data = crisis_content("cc-jour").model_dump(mode="json")
        data["services"][0]["schedule"] = ServiceHours.model_validate(WEEKDAYS_8_16).model_dump(mode="json")
        activate(root.ententes, "ENT-JOUR", EntenteContent.model_validate(data), datetime.now(UTC))
    shown = run(tmp_path, store_env, "standards", "--json")
    assert (shown.code, shown.err) == (0, "")
    [laval] = shown.json()["coverage"]
    assert (laval["service"], laval["territory"], laval["covers_24_7"], laval["must_be_24_7"]) == (
        "intervention_crise_mobile", "laval", False, "seed 001 L1259-1260")
    assert [(p["provider"], p["entente"]) for p in laval["providers"]] == [("cc-jour", "ENT-JOUR")]
    assert laval["weekly_gaps"][:2] == ["lun 00:00 – lun 08:00", "lun 16:00 – mar 08:00"]
    text = run(tmp_path, store_env, "standards").out
    assert "24/7 coverage of the mobile crisis service" in text and "lun 16:00 – mar 08:00" in text
