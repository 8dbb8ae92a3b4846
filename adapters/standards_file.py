"""A region's access standards, read from its file (`.toml` or `.json`) and merged over the defaults.

The configuration model and its merge live in ``domain.standards.config``; this module only reads
bytes and parses them. The file holds only what differs from the ministry's figures (see the model's
docstring for an example).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from domain.standards.config import StandardsConfig


def load_standards(path: Path | str, base: StandardsConfig | None = None) -> StandardsConfig:
    """A region's configuration: its file (`.toml` or `.json`) merged over `base` (the ministry defaults)."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix == ".toml":
        data = tomllib.loads(raw.decode("utf-8"))
    elif path.suffix == ".json":
        data = json.loads(raw)
    else:
        raise ValueError(f"{path.name}: a standards file is .toml or .json")
    return (base or StandardsConfig()).with_overrides(data)
