"""The offline verifier on an export bundle: the full pass beside `--since OLD.note` (issue 13), same run.

    python -m benchmarks.verify_bundle                          # 400,000 events, then 10,000 more
    python -m benchmarks.verify_bundle --events 20000 --since-events 2000
    python -m benchmarks.merkle --parts bundle                  # the same, as part 5 of the Merkle benchmark

A real SQLite store built through the chaining recorder (`benchmarks.verify.build`), a tree checkpoint note signed
at its head (OLD), `--since-events` more events and a note at the new head (NEW); the bundle's `record.jsonl` and
`tree.json` written as `arrimage audit export` writes them (`usecases.audit.bundle.record_lines`,
`verifier.bundle_since.tree_nodes`). Then `python -m verifier --bundle DIR --against NEW --log-key VKEY`, in
a fresh process each, alternating: the full pass, and `--since OLD` (with tree.json; and once without it, the
frontier recomputed from every line's event hash). Then, alternating too, the CLI on the same bundle (its
MANIFEST.json signed as `audit export` signs it, naming record.jsonl, tree.json and NEW):
`arrimage audit verify --bundle DIR --against NEW --log-key VKEY` (every file hashed, record.jsonl read twice) and
the same with `--since-checkpoint OLD` (record.jsonl not hashed whole: its size and the head its new lines reach,
verifier/README.md §7.1). CPU seconds of each process (user + system, start-up included, from the parent's
RUSAGE_CHILDREN), and the report's own seconds. Nothing asserted but the verdicts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.record.environment import record_env
from benchmarks.verify import build
from usecases.audit import proofs
from usecases.audit.bundle import record_lines
from usecases.audit.trail import sign_manifest
from verifier.bundle_since import TREE, record_event_hashes, tree_nodes
from workers.bootstrap import open_record

ROOT = Path(__file__).resolve().parents[1]
ARRIMAGE = str(Path(sys.executable).parent / "arrimage")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def write_bundle(record: Any, folder: Path, new: Any = None) -> int:
    """record.jsonl and tree.json as the export writes them (and, given the note `new` at the record's head, its
    checkpoint.note and MANIFEST.json signed as `audit export` signs it); returns record.jsonl's bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with (folder / "record.jsonl").open("wb") as out:

        def written() -> Iterator[bytes]:
            for line in record_lines(record):
                out.write(line)
                digest.update(line)
                yield line

        tree = tree_nodes(record_event_hashes(written()))
    (folder / TREE).write_text(json.dumps(tree, separators=(",", ":")))
    size = (folder / "record.jsonl").stat().st_size
    if new is not None:
        (folder / "checkpoint.note").write_text(str(new))
        files = {"record.jsonl": {"sha256": digest.hexdigest(), "bytes": size}}
        for name in (TREE, "checkpoint.note"):
            body = (folder / name).read_bytes()
            files[name] = {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
        chain = next(line.split() for line in str(new).splitlines() if line.startswith("arrimage-chain "))
        manifest = {"format": "arrimage-audit-export/1", "verified": True, "events_checked": int(chain[1]),
                    "checkpoint": {"notification_id": int(chain[2]), "count": int(chain[1]), "chain_hash": chain[3]},
                    "files": files}
        (folder / "MANIFEST.json").write_text(json.dumps(sign_manifest(None, manifest)))
    return size


def run(*args: str, command: tuple[str, ...] = (sys.executable, "-m", "verifier")) -> tuple[dict[str, Any], float]:
    """`python -m verifier ARGS --json` (or `command`) in a fresh process: its report, and its CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([*command, *args, "--json"], cwd=ROOT, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"verifier {' '.join(args)}: exit {done.returncode}: {done.stdout[-600:]}{done.stderr[-600:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report, cpu


def bundle_part(workdir: Path, events: int, since_events: int, rounds: int = 2) -> dict[str, float]:
    print(f"\n5. offline verifier on a bundle of {events:,} events + {since_events:,} new: full vs --since",
          flush=True)
    path = workdir / "bundle-store.sqlite"
    record = open_record(env=record_env(sqlite=path))
    try:
        t0 = time.perf_counter()
        build(record, 0, events)
        record.audit_tree().catch_up()
        old = proofs.sign_tree_checkpoint(record, now=datetime.now(UTC))
        build(record, events, events + since_events)
        record.audit_tree().catch_up()
        new = proofs.sign_tree_checkpoint(record, now=datetime.now(UTC))
        key = str(proofs.log_verifier(record))
        folder = workdir / "bundle"
        size = write_bundle(record, folder, new)
        print(f"  bundle  | store, notes and bundle built in {time.perf_counter() - t0:.1f} s; record.jsonl "
              f"{size / 1e6:,.1f} MB, tree.json {(folder / TREE).stat().st_size:,} bytes", flush=True)
    finally:
        record.close()
    (workdir / "old.note").write_text(str(old))
    (workdir / "new.note").write_text(str(new))
    common = ("--bundle", str(folder), "--against", str(workdir / "new.note"), "--log-key", key)
    since = ("--since", str(workdir / "old.note"))
    full_cpu, inc_cpu, full_s, inc_s = [], [], [], []
    for _ in range(rounds):
        report, cpu = run(*common)
        assert report["ok"] and report["events"] == events + since_events, report
        full_cpu.append(cpu)
        full_s.append(report["seconds"])
        report, cpu = run(*common, *since)
        assert report["ok"] and (report["since"], report["events"]) == (events, events + since_events), report
        assert "tree.json" in report["notes"][-1], report["notes"]
        inc_cpu.append(cpu)
        inc_s.append(report["seconds"])
    (folder / TREE).rename(folder / "tree.json.aside")
    report, plain_cpu = run(*common, *since)
    assert report["ok"] and "recomputed" in report["notes"][-1], report
    plain_s = report["seconds"]
    (folder / "tree.json.aside").rename(folder / TREE)
    figures = {"full_cpu_s": min(full_cpu), "since_cpu_s": min(inc_cpu), "full_report_s": min(full_s),
               "since_report_s": min(inc_s), "since_without_tree_cpu_s": plain_cpu,
               "since_without_tree_report_s": plain_s}
    print(f"  bundle  | full pass {figures['full_cpu_s']:.3f} CPU s (report {figures['full_report_s']:.3f} s) for "
          f"{events + since_events:,} events; --since {figures['since_cpu_s']:.3f} CPU s (report "
          f"{figures['since_report_s']:.3f} s) for {since_events:,} new: {min(full_cpu) / min(inc_cpu):.1f}x CPU, "
          f"{min(full_s) / min(inc_s):.0f}x report; best of {rounds}, alternated; load {_load()}", flush=True)
    print(f"  bundle  | --since without tree.json (every line's event hash read): {plain_cpu:.3f} CPU s (report "
          f"{plain_s:.3f} s)", flush=True)
    figures.update(cli_part(folder, workdir, common, events, since_events, rounds))
    return figures


def cli_part(folder: Path, workdir: Path, common: tuple[str, ...], events: int, since_events: int,
             rounds: int) -> dict[str, float]:
    """`arrimage audit verify --bundle` full and `--since-checkpoint OLD`, alternated: the offline check plus the
    manifest's (full: every file hashed; incremental: record.jsonl by its size and the signed head)."""
    arrimage = (ARRIMAGE, "audit", "verify")
    since = ("--since-checkpoint", str(workdir / "old.note"))
    full_cpu, inc_cpu = [], []
    for _ in range(rounds):
        report, cpu = run(*common, command=arrimage)
        assert report["ok"] and report["manifest_covers"] == "every file hashed", report
        assert report["record"]["events"] == events + since_events, report
        full_cpu.append(cpu)
        report, cpu = run(*common, *since, command=arrimage)
        assert report["ok"] and report["manifest_problem"] is None, report
        assert (report["record"]["since"], report["record"]["events"]) == (events, events + since_events), report
        inc_cpu.append(cpu)
    starts = []
    for _ in range(rounds):  # the command's start-up alone (imports, typer): `arrimage audit verify --help`
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([*arrimage, "--help"], cwd=ROOT, capture_output=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        starts.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    t0 = time.process_time()  # what `--since-checkpoint` spent before (75ee2e9): record.jsonl's SHA-256, whole
    with (folder / "record.jsonl").open("rb") as f:
        hashlib.file_digest(f, "sha256")
    whole = time.process_time() - t0
    figures = {"cli_full_cpu_s": min(full_cpu), "cli_since_cpu_s": min(inc_cpu), "cli_start_cpu_s": min(starts),
               "record_sha256_cpu_s": whole}
    print(f"  bundle  | arrimage audit verify --bundle: full {min(full_cpu):.3f} CPU s (record.jsonl verified and "
          f"hashed), --since-checkpoint {min(inc_cpu):.3f} CPU s (record.jsonl by its size and signed head; every "
          f"other file hashed): {min(full_cpu) / min(inc_cpu):.1f}x; best of {rounds}, alternated; load {_load()}",
          flush=True)
    print(f"  bundle  | of which the command's start-up (`arrimage audit verify --help`): {min(starts):.3f} CPU s; "
          f"without it: full {_beyond(min(full_cpu), min(starts))}, --since-checkpoint "
          f"{_beyond(min(inc_cpu), min(starts))} CPU s; record.jsonl's SHA-256 whole (what --since-checkpoint also "
          f"did before): {whole:.3f} CPU s",
          flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.verify_bundle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=400_000, help="events before the old note")
    parser.add_argument("--since-events", type=int, default=10_000, help="events after it")
    parser.add_argument("--rounds", type=int, default=2, help="full and --since runs, alternated (best kept)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
        bundle_part(Path(tmp), args.events, args.since_events, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _beyond(total: float, start: float) -> str:
    """CPU seconds of a command beyond its start-up; a difference below 10 ms is within the start-up's own spread
    from run to run (it can even come out negative), so it is said so instead of printed."""
    extra = total - start
    return f"{extra:.3f}" if extra >= 0.01 else "< 0.01 (within the start-up's spread)"
