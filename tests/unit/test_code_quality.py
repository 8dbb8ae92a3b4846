"""The codebase stays ruff- and mypy-clean and keeps its layers: part of the test command, so CI holds it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_finds_nothing() -> None:
    """Lint rules of pyproject.toml over every package, test and benchmark."""
    result = _run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    """Types of the product packages, the tests and the benchmarks (pyproject.toml [tool.mypy] packages)."""
    result = _run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_layers_hold() -> None:
    """The import contracts of pyproject.toml [tool.importlinter]: the domain loads no driver, thread, file
    reader, Temporal or cryptography; workflows reach the record only through activities; use cases know
    nothing of Temporal; the CLI builds no engine; no layer imports one above it."""
    result = _run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
