"""The offline verifier's fast pass over a database copy reads each stored event joined with its chain row in SQL
(`verifier.segments.JOINED_SQL`); the merge of the two streams decides wherever that join could differ from it.

The join does not see a chain row whose event is gone: the count of chain rows the fast pass covered sends the
segment to the merge. Here the chain after such a row is recomputed as if the row were not there (two chain rows
hold the same position), so no joined row fails on its own, and a version stored as text in the chain (equal in
SQLite's comparison with affinity, not in Python's): every number of jobs names what the one-pass reader names.
"""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.audit.hashing import link_batch
from tests.unit.test_verifier import database, events
from tests.unit.test_verifier_segments import SEAM, N, each_jobs, edit, named, nid
from verifier import Kind, check_rows
from verifier.rows import database_rows


def chained(evs: list[tuple[int, bytes, int, str, bytes]]) -> list[dict[str, Any]]:
    states = {n: state for n, _, _, _, state in evs}
    return [{"seq": seq, "notification_id": n, "originator_id": str(UUID(bytes=okey)), "originator_version": version,
             "topic": topic, "state": base64.b64encode(states[n]).decode(), "aggregate_prev_nid": prev_nid,
             "event_hash": eh.hex(), "aggregate_hash": agg.hex(), "chain_hash": ch.hex()}
            for n, okey, version, topic, seq, prev_nid, eh, agg, ch in link_batch(evs, None, {})]


def one_pass(path: Path) -> tuple[Kind | None, int | None, int | None]:
    report = check_rows(database_rows(path))
    assert report.problem is not None
    return report.problem.kind, report.problem.seq, report.problem.notification_id


@pytest.mark.parametrize("position", [1, 7, SEAM, SEAM + 1, N - 1])
def test_a_stale_chain_row_of_a_removed_event_before_a_recomputed_chain_is_named(tmp_path: Path, position: int) -> None:
    evs = events(N)
    kept = [e for e in evs if e[0] != nid(position)]
    path = database(tmp_path / "c.sqlite", chained(kept))
    stale = chained(evs)[position - 1]  # the chain row recorded for the removed event, left in place
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO audit_chain VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (
            stale["notification_id"], UUID(stale["originator_id"]).hex, stale["originator_version"], stale["topic"],
            stale["seq"], stale["aggregate_prev_nid"], bytes.fromhex(stale["event_hash"]),
            bytes.fromhex(stale["aggregate_hash"]), bytes.fromhex(stale["chain_hash"])))
    assert one_pass(path) == (Kind.REMOVED, position, nid(position))
    named(each_jobs(path), Kind.REMOVED, position, nid(position))


def test_the_last_event_removed_with_its_chain_row_kept_is_named(tmp_path: Path) -> None:
    path = database(tmp_path / "c.sqlite", chained(events(N)))
    edit(path, f"DELETE FROM stored_events WHERE rowid = {nid(N)}")
    assert one_pass(path) == (Kind.REMOVED, N, nid(N))
    named(each_jobs(path), Kind.REMOVED, N, nid(N))
