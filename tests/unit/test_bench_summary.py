"""The one benchmark table of `make bench` (benchmarks/summary.py), on rows given: ratio, goal met or not, a failed
benchmark's row, and the rows a benchmark module writes with `--summary-json`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from benchmarks import summary
from benchmarks.summary import Row, met, ratio, table


def store_row(value: float, baseline: float) -> Row:
    return Row(
        "store (SQLite)",
        "one command per transaction",
        value,
        "events/s",
        baseline,
        "bare library",
        "value/baseline",
        "record ÷ bare",
        "ratio",
        ">=",
        1.0,
    )


def test_ratio_each_way() -> None:
    assert ratio(store_row(767, 1906)) == pytest.approx(767 / 1906)
    slower = Row("cases", "cases/s", 4.17, "wf/s", 5.70, "bare workflow", "baseline/value")
    assert ratio(slower) == pytest.approx(5.70 / 4.17)
    assert ratio(Row("codec", "µs", 10.0)) is None  # no baseline, no ratio


def test_goal_on_the_ratio() -> None:
    assert met(store_row(767, 1906)) is False
    assert met(store_row(1906, 1906)) is True  # ≥ 1.0: equal meets it
    cases = Row("cases", "cases/s", 4.17, "wf/s", 5.70, "bare", "baseline/value", "", "ratio", "<=", 1.15)
    assert met(cases) is False  # 1.37 > 1.15
    assert met(Row("cases", "cases/s", 5.0, "wf/s", 5.70, "bare", "baseline/value", "", "ratio", "<=", 1.15)) is True


def test_goal_on_the_value() -> None:
    replay = Row("replay", "10,000 events", 99.0, "ms", 547.0, "library", "baseline/value", "", "value", "<", 100.0)
    assert met(replay) is True
    assert met(Row("replay", "10,000 events", 100.0, "ms", goal_on="value", goal_op="<", goal_target=100.0)) is False
    verify = Row("verify", "events/s", 145_000, "events/s", 105_000, goal_on="value", goal_op=">=", goal_target=3e5)
    assert met(verify) is False
    assert met(Row("listings", "view", 0.3, "ms", 28.0)) is None  # no goal: nothing judged


def test_table_rows() -> None:
    lines = table(
        [
            store_row(767, 1906),
            Row(
                "cases",
                "cases/s",
                5.0,
                "wf/s",
                5.70,
                "bare workflow",
                "baseline/value",
                "bare ÷ case",
                "ratio",
                "<=",
                1.15,
            ),
        ]
    )
    assert lines[0] == "| benchmark | figure | value | goal | baseline (same run) | ratio | met? |"
    assert lines[2] == (
        "| store (SQLite) | one command per transaction | 767 events/s | ratio ≥ 1 | "
        "1,906 events/s (bare library) | 0.402× (record ÷ bare) | **not met** |"
    )
    assert lines[3] == (
        "| cases | cases/s | 5 wf/s | ratio ≤ 1.15 | 5.70 wf/s (bare workflow) | 1.14× (bare ÷ case) | met |"
    )


def test_load_run_figures_judged_only_on_a_stated_goal() -> None:
    data = {
        "parameters": {"ententes": 10, "cases": 5, "burst": 5, "wake": 20},
        "figures": [
            {"name": "burst failures", "figure": 0, "unit": "cases", "goal": "0"},
            {"name": "worker RSS max, largest single worker", "figure": 1100.0, "unit": "MiB", "goal": "< 1024"},
            {"name": "wake-up: ReviewDue recorded", "figure": 20, "unit": "events", "goal": "= 20"},
            {"name": "open long-lived workflows", "figure": 15, "unit": "workflows", "goal": "10,000"},
            {"name": "burst cases/s (gateway, 6 commands each)", "figure": 1.06, "unit": "cases/s", "goal": ""},
            {"name": "dev server database", "figure": 3.1, "unit": "MiB", "goal": ""},  # neither goal nor headline
        ],
        "notes": ["burst failure: none", "STOPPED by --timeout 420 s: figures so far"],
    }
    rows = summary.load_rows(data)
    assert rows[-1] == Row.failed(
        "load (ententes 10, cases 5, burst 5, wake 20)", "STOPPED by --timeout 420 s: figures so far"
    )
    rows = rows[:-1]
    assert [r.figure for r in rows] == [
        "burst failures",
        "worker RSS max, largest single worker",
        "wake-up: ReviewDue recorded",
        "open long-lived workflows",
        "burst cases/s (gateway, 6 commands each)",
    ]
    assert [met(r) for r in rows] == [True, False, True, None, None]
    assert rows[0].benchmark == "load (ententes 10, cases 5, burst 5, wake 20)"


def test_a_failed_benchmark_is_a_row_and_judges_nothing() -> None:
    failed = Row.failed("gateway", "timed out after 300 s")
    assert met(failed) is None and ratio(failed) is None
    lines = table([failed, store_row(2000, 1906)])
    assert lines[2] == "| gateway | (whole benchmark) | failed: timed out after 300 s | — | | | |"
    assert lines[3].endswith("| met |")  # the others still print
    assert "|" not in table([Row.failed("x", "exit 1: a | b")])[2].split("failed: ")[1].split(" | ")[0]


def test_rows_written_by_a_module_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summary, "_rows", [])
    monkeypatch.setattr(summary, "_target", None)
    parser = argparse.ArgumentParser()
    summary.option(parser)
    target = tmp_path / "rows.json"
    parser.parse_args(["--summary-json", str(target)])
    assert json.loads(target.read_text()) == []
    summary.add(store_row(767, 1906))
    summary.add(Row("codec", "µs", 399.0, "µs", 127.0))
    written = json.loads(target.read_text())
    assert [Row.from_json(r) for r in written] == [store_row(767, 1906), Row("codec", "µs", 399.0, "µs", 127.0)]
    assert written[0]["met"] is False and written[0]["ratio"] == pytest.approx(767 / 1906)
