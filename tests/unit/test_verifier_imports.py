"""The offline verifier runs where the engine is not installed: importing it, and running it, loads nothing of
Temporal, eventsourcing, pydantic, the drivers, structlog or the engine's own layers (checked in a fresh
interpreter, at run time; `tool.importlinter` contract `verifier-standalone` checks the imports statically)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FORBIDDEN = ("temporalio", "eventsourcing", "pydantic", "psycopg", "psycopg_pool", "structlog", "usecases", "adapters",
             "workers", "cli", "gateway", "workflows", "activities")
ROOT = Path(__file__).resolve().parents[2]


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
                         timeout=60).stdout
    return set(out.split())


def test_importing_the_verifier_loads_no_engine_module() -> None:
    modules = loaded_after("import verifier, verifier.__main__")
    assert "verifier.check" in modules and "cryptography" in modules
    assert sorted(m for m in modules if m.split(".")[0] in FORBIDDEN) == []
    assert sorted(m for m in modules if m.startswith("domain.")) == [
        "domain.audit", "domain.audit.checkpoint", "domain.audit.hashing", "domain.audit.merkle", "domain.audit.note",
        "domain.errors"]


def test_running_it_loads_none_either(tmp_path: Path) -> None:
    modules = loaded_after(f"from verifier.__main__ import main\nmain(['--bundle', {str(tmp_path)!r}])")
    assert sorted(m for m in modules if m.split(".")[0] in FORBIDDEN) == []
