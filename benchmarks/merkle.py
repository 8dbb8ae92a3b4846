"""The record's Merkle tree (issue 13) beside today's chain, in one run: figures and ratios, nothing asserted.

    python -m benchmarks.merkle                      # README sizes: tree at 1 M and 10 M, verify over 1 M
    python -m benchmarks.merkle --quick              # CI-size smoke (~1 min)
    python -m benchmarks.merkle --parts tree,proofs --tree-events 1000000,10000000

Five parts (``--parts``), each bounded by its sizes:

1. ``append``: the record's append, one command (one event) per transaction as ``benchmarks.store`` measures
   it (its trivial aggregate: the store's own cost, so the follower's share is the largest it can be), on
   SQLite and PostgreSQL, same store, same run, rounds alternating: the chain only; the chain with the tree's
   follower (``TreeStore.catch_up``) run after every save (a batch of one event); and the follower run once
   after the chain-only saves (amortised per event).
2. ``tree``: the follower over 1 M and 10 M chain rows. The rows are *fabricated*: written straight into the
   chain table of a scratch SQLite store with the real hashing functions (``domain.audit.hashing``: event,
   aggregate and chain hashes, one event per aggregate), with no stored event behind them, because building
   10 M real events through the record's append takes hours on this machine and the follower reads only
   ``seq`` and ``event_hash``. Events/s of the follower, bytes of the tree tables beside the chain table.
3. ``proofs``: inclusion and consistency proofs at each tree size through ``TreeStore.lookup`` (a read
   transaction per node) and ``TreeStore.read`` (one for the proof), and ``usecases.audit.proofs.consistency``;
   bytes and hashes of each proof, median ms of many, and the time to verify one
   (``merkle.verify_inclusion`` / ``verify_consistency``). The inclusion use case needs the stored event
   (it rehashes it), so it is timed on the real store of part 4.
4. ``verify``: a real store built through the chaining recorder (``benchmarks.verify.build``), a C2SP checkpoint
   signed at its head (``proofs.checkpoint_with_note``); the offline verifier (``python -m verifier --database``,
   ``--jobs 1`` and its default, a fresh process: events/s, its own peak RSS, VmHWM) beside
   ``usecases.audit.trail.verify`` (what ``arrimage audit verify`` runs; a fresh process each, jobs=1 and jobs=N,
   ``benchmarks.verify --verify-only``); then ``--since-events`` more events: the incremental verify from the JSON
   checkpoint, the follower's catch-up over them, a tree checkpoint signed again (``proofs.sign_tree_checkpoint``,
   timed as implemented at the commit printed), and the offline verifier ``--since`` the first note against it.
5. ``bundle``: the offline verifier on an export bundle of ``--bundle-events`` + ``--since-events``, the full pass
   beside ``--bundle DIR --since OLD.note`` (CPU s of each process, same run; ``benchmarks.verify_bundle``).

The load average is printed with every part: the machine may be shared; the ratios, measured in the same run,
are steadier than the rates. ``--json FILE`` writes every figure; ``--summary-json FILE`` the headline rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from adapters.record.environment import record_env
from adapters.record.record import Record
from adapters.record.tree import TreeStore
from benchmarks import summary
from domain.audit import merkle
from domain.audit.hashing import ZERO, aggregate_hash, chain_hash, event_hash
from workers.bootstrap import open_record

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "benchmarks.merkle:Fabricated.Noted"
FABRICATE_BATCH = 50_000
FIGURES: list[dict[str, Any]] = []
_json_out: Path | None = None


# ---------------------------------------------------------------------------------------------------- output
def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"load average: {load()}"


def figure(part: str, name: str, value: float, unit: str, **extra: Any) -> None:
    """One figure, printed as a line (`part | name | value unit`) and kept for `--json`."""
    FIGURES.append({"part": part, "name": name, "value": value, "unit": unit, "load": load(), **extra})
    shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    print(f"  {part:7} | {name} | {shown} {unit}", flush=True)
    if _json_out is not None:
        _json_out.write_text(json.dumps({"figures": FIGURES}, indent=1) + "\n")


def heading(title: str) -> None:
    print(f"\n== {title} ==\n  {uptime()}", flush=True)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


# -------------------------------------------------------------------------------------------- 1. append cost
def append_part(kinds: list[str], events: int, rounds: int) -> None:
    from benchmarks.store import Counter, open_store

    heading(f"1. append cost per event: {events:,} events a shape a round, {rounds} round(s), one event a transaction")
    for kind in kinds:
        chain_only: list[float] = []
        per_save: list[float] = []
        amortised: list[float] = []
        with open_store(kind) as record:
            tree = record.audit_tree()
            agg = Counter(name="warm-up")
            record.save(agg)
            for _ in range(min(50, events)):  # imports, statement caches, pool
                agg.increment(by=1)
                record.save(agg)
                tree.catch_up()

            def saves(follow: bool, agg: Counter = agg, tree: TreeStore = tree) -> float:
                t0 = time.perf_counter()
                for _ in range(events):
                    agg.increment(by=1)
                    record.save(agg)
                    if follow:
                        tree.catch_up()
                return time.perf_counter() - t0

            for r in range(rounds):
                for follow in (False, True) if r % 2 == 0 else (True, False):
                    seconds = saves(follow)
                    if follow:
                        per_save.append(seconds / events)
                    else:
                        chain_only.append(seconds / events)
                        t0 = time.perf_counter()
                        head = tree.catch_up()
                        amortised.append((time.perf_counter() - t0) / events)
            assert head.size > 0
        a, b, c = (statistics.median(x) * 1e6 for x in (chain_only, per_save, amortised))
        label = "SQLite" if kind == "sqlite" else "PostgreSQL"
        figure("append", f"{label}: chain only (today), per event", a, "µs", events_per_s=1e6 / a)
        figure("append", f"{label}: chain + follower after every save (batch of 1), per event", b, "µs",
               events_per_s=1e6 / b, ratio=b / a)
        figure("append", f"{label}: follower once after {events:,} saves, amortised per event", c, "µs",
               ratio=(a + c) / a)
        print(f"  append  | {label}: chain + follower per save ÷ chain only = {b / a:.2f}x; "
              f"with the follower amortised over {events:,} events = {(a + c) / a:.3f}x; load {load()}", flush=True)
        summary.add(summary.Row(f"merkle ({kind})", "append, one event a transaction: chain + tree follower per save",
                                1e6 / b, "events/s", 1e6 / a, "chain only (today)", "baseline/value",
                                "chain only ÷ with follower", note=f"load {load()}"))
        summary.add(summary.Row(f"merkle ({kind})", f"append: tree follower once per {events:,} events, amortised",
                                c, "µs/event", a, "chain-only append per event", "value/baseline",
                                "follower ÷ append", note=f"load {load()}"))


# -------------------------------------------------------------------------------- 2. fabricated chain, tree
def fabricate(path: Path, start: int, stop: int) -> float:
    """Chain rows at positions start+1 … stop written straight into the scratch store's chain table with the real
    hashing functions (one event per aggregate: no stored event behind them). Seconds."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    prev = ZERO
    if start:
        row = conn.execute("SELECT seq, chain_hash FROM audit_chain ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None or int(row[0]) != start:
            raise SystemExit(f"{path}: the chain does not end at position {start}")
        prev = bytes(row[1])
    t0 = time.perf_counter()
    n = start
    while n < stop:
        rows = []
        for i in range(n, min(n + FABRICATE_BATCH, stop)):
            seq = i + 1
            okey = seq.to_bytes(16, "big")
            eh = event_hash(okey, 1, TOPIC, b'{"n":%d}' % seq)
            ah = aggregate_hash(ZERO, eh)
            prev = chain_hash(prev, seq, seq, 0, eh, ah)
            rows.append((seq, okey.hex(), 1, TOPIC, seq, 0, eh, ah, prev))
        with conn:
            conn.executemany("INSERT INTO audit_chain (notification_id, originator_id, originator_version, topic, "
                             "seq, aggregate_prev_nid, event_hash, aggregate_hash, chain_hash) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        n += len(rows)
    conn.close()
    return time.perf_counter() - t0


def table_bytes(path: Path) -> dict[str, int]:
    """Bytes of each table with its indexes (SQLite's dbstat), by table."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT m.tbl_name, SUM(s.pgsize) FROM dbstat s JOIN sqlite_master m ON m.name = s.name "
                            "GROUP BY m.tbl_name").fetchall()
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
    return {str(name): int(size) for name, size in rows}


def tree_and_proofs(workdir: Path, sizes: list[int], parts: set[str], repeat: int) -> None:
    path = workdir / "fabricated.sqlite"
    record = open_record(env=record_env(sqlite=path))  # the record's tables, then rows written beside it
    record.close()
    heading(f"2. tree build by the follower over fabricated chain rows, at {', '.join(f'{s:,}' for s in sizes)}")
    print("  rows are FABRICATED: written straight into the chain table with the real hashing functions, no stored\n"
          "  event behind them (10 M real appends take hours here; the follower reads only seq and event_hash)")
    built = 0
    for size in sizes:
        fab = fabricate(path, built, size)
        figure("tree", f"chain rows fabricated {built:,} → {size:,} (4 SHA-256 a row + insert)",
               (size - built) / fab, "rows/s", seconds=fab)
        record = open_record(env=record_env(sqlite=path))
        try:
            tree = record.audit_tree()
            t0, c0 = time.perf_counter(), time.process_time()
            head = tree.catch_up()
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            assert head.size == size, head
            rate = (size - built) / seconds
            figure("tree", f"follower over rows {built:,} → {size:,}", rate, "events/s", seconds=seconds,
                   cpu_seconds=cpu, events_per_cpu_s=(size - built) / cpu)
            by_table = table_bytes(path)
            tree_b = by_table.get("audit_tree", 0) + by_table.get("audit_tree_head", 0)
            chain_b = by_table.get("audit_chain", 0)
            if chain_b:
                figure("tree", f"tree tables at {size:,} (chain table {chain_b / 2**20:,.0f} MiB)", tree_b / 2**20,
                       "MiB", ratio=tree_b / chain_b, bytes_per_event=tree_b / size)
                print(f"  tree    | tree tables ÷ chain table at {size:,}: {tree_b / chain_b:.2f}x "
                      f"({tree_b / size:.1f} vs {chain_b / size:.1f} bytes per event)", flush=True)
            summary.add(summary.Row("merkle", f"tree follower over {size - built:,} chain rows (fabricated, SQLite)",
                                    rate, "events/s", note=f"load {load()}"))
            if "proofs" in parts:
                proofs_at(record, tree, size, head.root, repeat)
        finally:
            record.close()
        built = size


# ------------------------------------------------------------------------------------------------- 3. proofs
def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    samples, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        samples.append(time.perf_counter() - t0)
    return median_ms(samples), out


def _inclusion(lookup: merkle.NodeLookup, *, index: int, size: int) -> list[bytes]:
    return merkle.inclusion_proof(lookup, index, size)


def _consistency(lookup: merkle.NodeLookup, *, old: int, size: int) -> list[bytes]:
    return merkle.consistency_proof(lookup, old, size)


def _root(lookup: merkle.NodeLookup, *, size: int) -> bytes:
    return merkle.root_at(lookup, size)


def proofs_at(record: Record, tree: TreeStore, size: int, root: bytes, repeat: int) -> None:
    from usecases.audit import proofs

    rng = random.Random(size)
    bound = math.ceil(math.log2(size))
    indices = [rng.randrange(size) for _ in range(repeat)]
    olds = [rng.randrange(1, size) for _ in range(repeat)]
    it = iter(indices * 2)
    per_node, _ = timed(lambda: merkle.inclusion_proof(tree.lookup, next(it), size), repeat)
    it = iter(indices)
    one_txn, _ = timed(lambda: tree.read(lambda lk: merkle.inclusion_proof(lk, next(it), size)), repeat)
    paths = [tree.read(partial(_inclusion, index=i, size=size)) for i in indices]
    leaves = [tree.lookup(i, 0) for i in indices]
    k = iter(range(repeat))

    def check_inclusion() -> None:
        j = next(k)
        merkle.verify_inclusion(indices[j], size, leaves[j], paths[j], root)

    verify_ms, _ = timed(check_inclusion, repeat)
    hashes = [len(p) for p in paths]
    figure("proofs", f"inclusion at {size:,}: hashes median / max (⌈log2 n⌉ = {bound})", statistics.median(hashes),
           "hashes", max=max(hashes), bytes_median=32 * statistics.median(hashes))
    figure("proofs", f"inclusion at {size:,}: TreeStore.lookup, a transaction per node, median of {repeat}", per_node,
           "ms")
    figure("proofs", f"inclusion at {size:,}: TreeStore.read, one transaction, median of {repeat}", one_txn, "ms")
    figure("proofs", f"inclusion at {size:,}: merkle.verify_inclusion, median of {repeat}", verify_ms, "ms")

    it = iter(olds)
    cons_ms, _ = timed(lambda: tree.read(lambda lk: merkle.consistency_proof(lk, next(it), size)), repeat)
    it = iter(olds)
    uc_ms, _ = timed(lambda: proofs.consistency(record, next(it), size), repeat)
    cproofs = [tree.read(partial(_consistency, old=m, size=size)) for m in olds]
    old_roots = [tree.read(partial(_root, size=m)) for m in olds]
    k = iter(range(repeat))

    def check_consistency() -> None:
        j = next(k)
        merkle.verify_consistency(olds[j], size, old_roots[j], root, cproofs[j])

    cverify_ms, _ = timed(check_consistency, repeat)
    chashes = [len(p) for p in cproofs]
    figure("proofs", f"consistency m → {size:,} (random m): hashes median / max", statistics.median(chashes), "hashes",
           max=max(chashes), bytes_median=32 * statistics.median(chashes))
    figure("proofs", f"consistency at {size:,}: TreeStore.read, median of {repeat}", cons_ms, "ms")
    figure("proofs", f"consistency at {size:,}: usecases.audit.proofs.consistency, median of {repeat}", uc_ms, "ms")
    figure("proofs", f"consistency at {size:,}: merkle.verify_consistency, median of {repeat}", cverify_ms, "ms")
    for what, got, ms in (("inclusion", hashes, one_txn), ("consistency", chashes, cons_ms)):
        summary.add(summary.Row("merkle", f"{what} proof at {size:,} events: bytes (max of {repeat})",
                                32.0 * max(got), "bytes", goal_on="value", goal_op="<=",
                                goal_target=32.0 * 2 * bound, goal_text="O(log n)",
                                note=f"{max(got)} hashes; ⌈log2 n⌉ = {bound}; judged ≤ 2⌈log2 n⌉ hashes"))
        summary.add(summary.Row("merkle", f"{what} proof at {size:,} events: time (median of {repeat}, one read)",
                                ms, "ms", note=f"load {load()}"))
    summary.add(summary.Row("merkle", f"inclusion proof at {size:,} events: verify (median of {repeat})", verify_ms,
                            "ms"))


# ------------------------------------------------------------------------------------------------- 4. verify
# Run in a fresh interpreter, the module's own `main`, then its memory high-water mark (VmHWM) from /proc. Not
# ru_maxrss: Linux carries the parent's peak over fork and exec into the child's, so a child started by a big
# benchmark process reports at least the parent's RSS, whatever its own is.
WRAPPER = """
import runpy, sys
module, sys.argv = sys.argv[1], sys.argv[1:]
code = 0
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
finally:
    with open("/proc/self/status") as f:
        hwm = next((line.split()[1] for line in f if line.startswith("VmHWM")), "0")
    print("VMHWM", hwm, file=sys.stderr)
sys.exit(code)
"""


def measured(module: str, *args: str) -> tuple[dict[str, Any], float, float]:
    """`python -m module args` (the last stdout line is JSON): that JSON, the process's own peak RSS in MB (VmHWM)
    and its wall seconds (start-up included)."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER, module, *args], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    hwm = [line.split()[1] for line in done.stderr.splitlines() if line.startswith("VMHWM ")]
    if done.returncode != 0 or not hwm:
        raise SystemExit(f"{module} {' '.join(args)}: exit {done.returncode}: {done.stdout[-500:]}{done.stderr[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result, int(hwm[-1]) / 1024, wall


def run_verifier(path: Path, note: Path, key: str, jobs: int, since: Path | None = None) -> dict[str, float]:
    """`python -m verifier --database --jobs N [--since OLD.note]` in its own process: events/s of its report (new
    events only when incremental), wall seconds, peak RSS of the verifier process (its segment processes not
    counted)."""
    extra = ["--since", str(since)] if since is not None else []
    report, rss, wall = measured("verifier", "--database", str(path), "--against", str(note), "--log-key", key,
                                 "--jobs", str(jobs), "--json", *extra)
    if not report["ok"]:
        raise SystemExit(f"offline verifier failed: {report.get('problem')}")
    checked = report["events"] - report.get("since", 0)
    return {"events": checked, "seconds": report["seconds"], "wall": wall,
            "events_per_s": checked / report["seconds"], "peak_rss_mb": rss}


def run_verify(path: Path, jobs: int, since: Path | None = None) -> dict[str, float]:
    """`usecases.audit.trail.verify` (what `arrimage audit verify` runs) in its own process
    (`benchmarks.verify --verify-only`); peak RSS of that process (range processes not counted)."""
    extra = ["--since", str(since)] if since is not None else []
    result, rss, wall = measured("benchmarks.verify", "--verify-only", str(path), "--mode", "now", "--jobs",
                                 str(jobs), *extra)
    return {**result, "peak_rss_mb": rss, "wall": wall}


def verify_part(workdir: Path, events: int, since_events: int, repeat: int) -> None:
    from benchmarks.verify import build
    from usecases.audit import proofs

    heading(f"4. verify over a real store of {events:,} events (chaining recorder), then {since_events:,} more")
    path = workdir / "real.sqlite"
    record = open_record(env=record_env(sqlite=path))
    try:
        seconds = build(record, 0, events)
        figure("verify", f"store built through the chaining recorder, {events:,} events", events / seconds,
               "events/s")
        t0 = time.perf_counter()
        head = record.audit_tree().catch_up()
        follow = time.perf_counter() - t0
        figure("verify", f"tree follower over the real store's {head.size:,} rows", head.size / follow, "events/s")
        t0 = time.perf_counter()
        cp, note = proofs.checkpoint_with_note(record, now=datetime.now(UTC))
        figure("verify", "checkpoint_with_note (full verify + JSON checkpoint + tree note)", time.perf_counter() - t0,
               "s")
        note_file, cp_file = workdir / "head.note", workdir / "head.json"
        note_file.write_text(str(note))  # `format_note`: text, blank line, signatures
        cp_file.write_text(cp.to_json())
        key = str(proofs.log_verifier(record))
        nids = [random.Random(events).randrange(1, events + 1) for _ in range(repeat)]
        it = iter(nids)
        inc_ms, proof = timed(lambda: proofs.inclusion(record, next(it)), repeat)
        figure("proofs", f"usecases.audit.proofs.inclusion at {events:,} (rehash of the event + proof + root + "
               f"verify), median of {repeat}", inc_ms, "ms", hashes=len(proof.proof))
        summary.add(summary.Row("merkle", f"inclusion proof use case at {events:,} events (median of {repeat})",
                                inc_ms, "ms", note=f"load {load()}"))
    finally:
        record.close()
    cores = os.cpu_count() or 1
    jobs = min(cores, 4)  # the offline verifier's default
    offline1 = run_verifier(path, note_file, key, 1)
    offline = run_verifier(path, note_file, key, jobs) if jobs > 1 else offline1
    one = run_verify(path, 1)
    par = run_verify(path, cores) if cores > 1 else one
    figure("verify", f"offline verifier (python -m verifier --database --jobs 1), {int(offline1['events']):,} events",
           offline1["events_per_s"], "events/s", peak_rss_mb=offline1["peak_rss_mb"], wall=offline1["wall"])
    figure("verify", f"offline verifier (python -m verifier --database --jobs {jobs}), {int(offline['events']):,} "
           "events", offline["events_per_s"], "events/s", peak_rss_mb=offline["peak_rss_mb"], wall=offline["wall"])
    figure("verify", "offline verifier peak RSS (its VmHWM)", offline["peak_rss_mb"], "MB")
    figure("verify", "audit verify jobs=1 peak RSS (its VmHWM)", one["peak_rss_mb"], "MB")
    figure("verify", f"audit verify full (trail.verify, jobs=1), {int(one['events']):,} events", one["events_per_s"],
           "events/s", peak_rss_mb=one["peak_rss_mb"])
    figure("verify", f"audit verify full (trail.verify, jobs={cores})", par["events_per_s"], "events/s",
           peak_rss_mb=par["peak_rss_mb"])
    print(f"  verify  | offline verifier ÷ audit verify jobs=1 = {offline['events_per_s'] / one['events_per_s']:.2f}x;"
          f" load {load()}", flush=True)
    summary.add(summary.Row("merkle", f"offline verifier (python -m verifier --jobs {jobs}), {events:,} events, "
                            "SQLite copy", offline["events_per_s"], "events/s", par["events_per_s"],
                            f"audit verify, jobs={cores}", "value/baseline", "offline ÷ audit verify", "value", ">=",
                            300_000.0,
                            goal_text="≥ 300,000 ev/s",
                            note=f"peak RSS {offline['peak_rss_mb']:.0f} MB; load {load()}"))
    summary.add(summary.Row("merkle", f"audit verify full, {events:,} events (jobs={cores})", par["events_per_s"],
                            "events/s", one["events_per_s"], "jobs=1", "value/baseline", f"jobs={cores} ÷ jobs=1",
                            "value", ">=", 300_000.0, goal_text="≥ 300,000 ev/s", note=f"load {load()}"))

    record = open_record(env=record_env(sqlite=path))
    try:
        build(record, events, events + since_events)
        inc = run_verify(path, 1, since=cp_file)
        t0 = time.perf_counter()
        head = record.audit_tree().catch_up()
        follow = time.perf_counter() - t0
        t0 = time.perf_counter()
        new_note = proofs.sign_tree_checkpoint(record, now=datetime.now(UTC))
        signed = time.perf_counter() - t0
    finally:
        record.close()
    new_file = workdir / "new.note"
    new_file.write_text(str(new_note))
    offline_inc = run_verifier(path, new_file, key, 1, since=note_file)
    offline_full = run_verifier(path, new_file, key, 1)
    figure("verify", f"offline verifier --since (1 job), {since_events:,} new events after {events:,}",
           offline_inc["seconds"], "s", full_seconds=offline_full["seconds"],
           ratio=offline_full["seconds"] / offline_inc["seconds"])
    print(f"  verify  | offline --since {offline_inc['seconds']:.3f} s for {since_events:,} new events vs full "
          f"{offline_full['seconds']:.2f} s for {int(offline_full['events']):,} "
          f"({offline_full['seconds'] / offline_inc['seconds']:,.0f}x); load {load()}", flush=True)
    assert head.size == events + since_events, head
    figure("verify", f"incremental verify, {since_events:,} new events after {events:,}", inc["seconds"], "s",
           events=inc["events"], rows=inc["rows"], full_seconds=one["seconds"], ratio=one["seconds"] / inc["seconds"])
    figure("verify", f"follower catch-up over the {since_events:,} new events", follow, "s",
           events_per_s=since_events / follow)
    figure("verify", f"sign_tree_checkpoint after {since_events:,} new events (as implemented at this commit)", signed,
           "s", events_in_store=events + since_events)
    print(f"  verify  | incremental {inc['seconds']:.3f} s for {int(inc['events']):,} events vs full jobs=1 "
          f"{one['seconds']:.2f} s for {int(one['events']):,} ({one['seconds'] / inc['seconds']:,.0f}x); "
          f"per new event {inc['seconds'] / since_events * 1e6:.1f} µs vs full "
          f"{one['seconds'] / one['events'] * 1e6:.1f} µs; load {load()}", flush=True)
    summary.add(summary.Row("merkle", f"incremental verify, {since_events:,} new events (store of {events:,})",
                            inc["seconds"], "s", one["seconds"], f"full, {int(one['events']):,} events, jobs=1",
                            "baseline/value", "full ÷ incremental", note=f"{int(inc['rows']):,} rows read"))
    summary.add(summary.Row("merkle", f"tree follower + tree checkpoint signed after {since_events:,} new events",
                            follow + signed, "s", one["seconds"], "full verify, jobs=1", "baseline/value",
                            "full ÷ this", note=f"follower {follow:.3f} s, sign {signed:.2f} s"))


# ---------------------------------------------------------------------------------------------------- main
def sizes_arg(text: str) -> list[int]:
    try:
        sizes = sorted({int(s.replace("_", "")) for s in text.split(",") if s.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: sizes are integers separated by commas") from None
    if not sizes or sizes[0] < 2:
        raise argparse.ArgumentTypeError("tree sizes are 2 or more")
    return sizes


def positive(text: str) -> int:
    try:
        n = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return n


PARTS = ("append", "tree", "proofs", "verify", "bundle")
QUICK = {"append_events": 60, "rounds": 1, "tree_events": [20_000], "verify_events": 20_000, "since_events": 2_000,
         "bundle_events": 20_000,
         "repeat": 20}


def json_file(text: str) -> Path:
    global _json_out
    _json_out = Path(text)
    _json_out.write_text(json.dumps({"figures": []}) + "\n")
    return _json_out


@contextlib.contextmanager
def workspace(given: Path | None) -> Iterator[Path]:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        if any(given.iterdir()):
            raise SystemExit(f"{given} is not empty; give an empty --dir")
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="arrimage-merkle-") as tmp:
        yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.merkle", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="CI-size smoke: small sizes everywhere")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"some of {', '.join(PARTS)}")
    parser.add_argument("--append-events", type=positive, default=1_000, help="events a shape a round (part 1)")
    parser.add_argument("--rounds", type=positive, default=3, help="alternating rounds (part 1)")
    parser.add_argument("--skip-postgres", action="store_true", help="part 1 on SQLite only")
    parser.add_argument("--tree-events", type=sizes_arg, default=[1_000_000, 10_000_000],
                        help="tree sizes over fabricated rows (parts 2, 3)")
    parser.add_argument("--verify-events", type=positive, default=1_000_000, help="real store's size (part 4)")
    parser.add_argument("--since-events", type=positive, default=10_000, help="events after the checkpoint (part 4, 5)")
    parser.add_argument("--bundle-events", type=positive, default=400_000, help="bundle's events before the old note "
                        "(part 5: benchmarks.verify_bundle)")
    parser.add_argument("--repeat", type=positive, default=200, help="proofs timed at each size (median)")
    parser.add_argument("--dir", type=Path, default=None, help="an empty directory for the stores (default: temp)")
    parser.add_argument("--json", type=json_file, default=None, metavar="FILE", help="every figure as JSON")
    summary.option(parser)
    args = parser.parse_args(argv)
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if not parts or parts - set(PARTS):
        parser.error(f"--parts: some of {', '.join(PARTS)}")
    if args.quick:
        for name, value in QUICK.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    kinds = ["sqlite"]
    if not args.skip_postgres:
        from benchmarks.common import postgres_available

        if postgres_available():
            kinds.append("postgres")
        else:
            print("  PostgreSQL not reachable: part 1 on SQLite only", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    print(f"benchmarks.merkle at {commit.strip() or '?'} {'(quick) ' if args.quick else ''}"
          f"parts {', '.join(p for p in PARTS if p in parts)}; "
          f"{os.cpu_count()} cores; {uptime()}", flush=True)
    started = time.perf_counter()
    with workspace(args.dir) as workdir:
        if "append" in parts:
            append_part(kinds, args.append_events, args.rounds)
        if parts & {"tree", "proofs"}:
            tree_and_proofs(workdir, args.tree_events, parts, args.repeat)
        if "verify" in parts:
            verify_part(workdir, args.verify_events, args.since_events, args.repeat)
        if "bundle" in parts:
            from benchmarks.verify_bundle import bundle_part

            for name, value in bundle_part(workdir, args.bundle_events, args.since_events).items():
                figure("bundle", name, value, "s", events=args.bundle_events, since_events=args.since_events)
    print(f"\ndone in {time.perf_counter() - started:,.0f} s; {uptime()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
