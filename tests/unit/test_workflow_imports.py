"""The workflows load no database driver (issue 8): they run in Temporal's sandbox, which re-imports
what they import on every run, and a workflow must never reach the record but through an activity.

They import the activities classes (to call them by reference, with typed inputs) and the inputs
module: neither may pull in a use case, the record, `sqlite3` or `psycopg`. Checked in a fresh
interpreter, since this test process has long loaded both drivers.
"""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ["sqlite3", "psycopg", "adapters.record.record", "usecases.ententes", "usecases.crisis", "usecases.handoff"]


def test_importing_both_workflows_loads_no_database_driver() -> None:
    probe = (
        "import json, sys\n"
        "import workflows.crisis, workflows.entente\n"
        f"print(json.dumps([m for m in {FORBIDDEN!r} if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_the_probe_would_see_a_driver() -> None:
    """The same probe on modules that do load the record and its stores names them (the check is not vacuous)."""
    probe = (
        "import json, sys\n"
        "import activities.errors, usecases.ententes, adapters.record.sqlite, adapters.record.postgres\n"
        f"print(json.dumps([m for m in {FORBIDDEN!r} if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert {"sqlite3", "psycopg", "adapters.record.record", "usecases.ententes"} <= set(json.loads(done.stdout))
