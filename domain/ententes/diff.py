"""Compare two versions of an entente field by field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from domain.ententes.model import EntenteContent


class Change(BaseModel):
    path: str
    before: Any = None
    after: Any = None
    kind: str  # "added" | "removed" | "changed"


def diff_contents(old: EntenteContent, new: EntenteContent) -> list[Change]:
    changes: list[Change] = []
    _walk("", old.model_dump(mode="json"), new.model_dump(mode="json"), changes)
    return changes


def _walk(path: str, a: Any, b: Any, out: list[Change]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a:
                out.append(Change(path=sub, after=b[key], kind="added"))
            elif key not in b:
                out.append(Change(path=sub, before=a[key], kind="removed"))
            else:
                _walk(sub, a[key], b[key], out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(f"{path}[{i}]", x, y, out)
    elif a != b:
        if a in (None, [], {}) and b not in (None, [], {}):
            kind = "added"
        elif b in (None, [], {}) and a not in (None, [], {}):
            kind = "removed"
        else:
            kind = "changed"
        out.append(Change(path=path, before=a, after=b, kind=kind))
