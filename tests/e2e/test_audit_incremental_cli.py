"""Issue 12, "an incremental verify from the last verified checkpoint that costs only the new events", through
the installed `arrimage audit verify --since-checkpoint FILE` on a record built by the use cases
(tests/audit_builders.py), on SQLite and PostgreSQL (`store_env`); the same checks at the use case:
tests/integration/test_audit_incremental.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.audit_builders import build
from tests.e2e.test_audit_checkpoints_cli import pinned, rechain


def test_verify_since_a_checkpoint_reads_the_new_events_and_refuses_a_rewritten_past(
        tmp_path: Path, store_env: dict[str, str]) -> None:
    folder = tmp_path / "a"
    folder.mkdir()
    store = build(folder, store_env)
    kept = tmp_path / "kept.json"
    store.ok("checkpoint", "--out", str(kept))
    head = json.loads(kept.read_text())
    before = store.event_count()
    store.close_case()  # events after the checkpoint
    new = store.event_count() - before
    assert new > 0
    key = pinned(tmp_path)
    report = store.ok("verify", "--since-checkpoint", str(kept), "--trusted-key", key, "--json").json()
    assert (report["ok"], report["events_checked"], report["rows_read"]) == (True, new, 2 * new)
    assert (report["since"]["notification_id"], report["since"]["seq"]) == (head["notification_id"], head["count"])
    text = store.ok("verify", "--since-checkpoint", str(kept), "--trusted-key", key).out
    assert f"verified {new} events after checkpoint position {head['count']:,}" in text
    # The thorough attacker rewrites an event before the checkpoint and rechains: the head it signed is gone.
    rechain(store, head["notification_id"] - 3)
    refused = store.run("verify", "--since-checkpoint", str(kept), "--trusted-key", key, "--json")
    assert (refused.code, refused.json()["problem"]["kind"]) == (1, "checkpoint_mismatch")
    assert refused.json()["rows_read"] == 0
