"""`python -m benchmarks.merkle --quick` (issue 13) runs in its own process, as `make bench` runs it, and what it
prints and writes parses: every part's figure lines, its `--json` figures and its `--summary-json` rows (which
the `make bench` table renders). Nothing about a time is asserted: only that the figures are there and finite,
and the facts that do not depend on the machine (proof sizes within O(log n), the tree's bytes beside the chain's).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.summary import Row, met, table

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^  (append|tree|proofs|verify|bundle) +\| (.+?) \| ([0-9][0-9,.e+-]*) (\S+)$")

pytestmark = pytest.mark.slow


def test_quick_run_prints_and_writes_parsable_figures(tmp_path: Path) -> None:
    figures, rows = tmp_path / "figures.json", tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.merkle", "--quick", "--json", str(figures), "--summary-json", str(rows)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert "FABRICATED" in out  # the tree's rows are said to be fabricated, and why
    assert "load average" in out
    printed = [m.groups() for line in out.splitlines() if (m := LINE.match(line))]
    assert {p[0] for p in printed} == {"append", "tree", "proofs", "verify", "bundle"}

    data = json.loads(figures.read_text())["figures"]
    assert len(data) == len(printed)
    for f in data:
        assert isinstance(f["value"], int | float) and math.isfinite(f["value"]) and f["value"] >= 0, f
        assert f["unit"] and f["load"]
    by_name = {f["name"]: f for f in data}
    inclusion = next(f for n, f in by_name.items() if n.startswith("inclusion at 20,000: hashes"))
    assert inclusion["max"] <= math.ceil(math.log2(20_000))  # RFC 9162: at most ⌈log2 n⌉ hashes
    tree = next(f for n, f in by_name.items() if n.startswith("tree tables at 20,000"))
    assert 0 < tree["ratio"] < 1  # one node of 32 bytes per event beside the chain's row of ~250

    parsed = [Row.from_json(r) for r in json.loads(rows.read_text())]
    assert {r.benchmark for r in parsed} >= {"merkle", "merkle (sqlite)"}
    assert not [r for r in parsed if r.error]
    sizes = [r for r in parsed if r.goal_text == "O(log n)"]
    assert sizes and all(met(r) for r in sizes)
    assert any(r.goal_text == "≥ 300,000 ev/s" for r in parsed)
    assert len(table(parsed)) == len(parsed) + 2
