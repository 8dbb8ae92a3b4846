"""Where the settings come from, and what a bad one says at start.

Every process reads one `Settings` (workers/settings.py) from, highest first:

1. the environment (`ARRIMAGE_<FIELD>`, nested `ARRIMAGE_ENTENTE_POLICY__REVIEW_GRACE_DAYS`);
2. a `.env` file in the working directory;
3. the configuration file `ARRIMAGE_CONFIG` names (or `arrimage --config FILE …`): TOML, each setting by its
   field name in lower case (`temporal_address = "temporal.internal:7233"`), a nested one as a table
   (`[entente_policy]`);
4. the defaults.

A bad value stops the process before anything starts (no record, no Temporal connection), with every bad
value reported at once, one line each, `ARRIMAGE_X: <what is wrong>; <how to fix>` (`BadSettings`, exit 2). A
value is never echoed: a key or a password could be the bad one.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

CONFIG_VARIABLE = "ARRIMAGE_CONFIG"
REFERENCE = "deploy/RUNBOOK.md, Configuration reference"


@dataclass(frozen=True)
class Problem:
    """One bad setting: the variable that sets it, what is wrong with it, how to fix it."""

    variable: str
    wrong: str
    fix: str

    def line(self) -> str:
        return f"{self.variable}: {self.wrong}; {self.fix}"


class BadSettings(Exception):
    """The settings do not validate: every problem, one line each; the process starts nothing (exit 2)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        self.message = "\n".join(problem.line() for problem in self.problems)
        super().__init__(self.message)


def config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The configuration file ARRIMAGE_CONFIG names; None when unset or empty."""
    value = (os.environ if environ is None else environ).get(CONFIG_VARIABLE, "").strip()
    return Path(value) if value else None


def read_config(path: Path, fields: Mapping[str, object]) -> dict[str, Any]:
    """The settings of a TOML configuration file, keyed by field name. A missing or unreadable file, a file
    that is not TOML and every unknown setting in it are `BadSettings`, all at once."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadSettings([Problem(CONFIG_VARIABLE, f"no file {path}",
                                   "create it (deploy/arrimage.toml.example) or unset ARRIMAGE_CONFIG")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise BadSettings([Problem(CONFIG_VARIABLE, f"cannot read {path} ({type(err).__name__})",
                                   "make it a UTF-8 file readable by this service account")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise BadSettings([Problem(CONFIG_VARIABLE, f"{path} is not valid TOML ({err})",
                                   "fix the line named (https://toml.io)")]) from None
    unknown = [key for key in data if key not in fields]
    if unknown:
        raise BadSettings([Problem(CONFIG_VARIABLE, f"unknown setting {key!r} in {path}",
                                   f"remove it or correct its name ({REFERENCE})") for key in unknown])
    return data


def variable(loc: Sequence[int | str]) -> str:
    """The variable that sets a settings field: ARRIMAGE_ENTENTE_POLICY__REVIEW_GRACE_DAYS."""
    parts = [str(p) for p in loc]
    if parts and parts[0].upper().startswith("ARRIMAGE_"):  # a field read under an alias (entente_policy)
        parts[0] = parts[0].upper().removeprefix("ARRIMAGE_")
    return "ARRIMAGE_" + "__".join(parts).upper()


def _worded(error: Mapping[str, Any]) -> tuple[str, str]:
    """What is wrong and how to fix it, for one pydantic error (the value itself never repeated)."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("literal_error", "enum"):
        return f"expected one of {ctx.get('expected')}", "set one of them"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "not a whole number", "set a whole number"
    if kind in ("float_parsing", "float_type"):
        return "not a number", "set a number"
    if kind in ("bool_parsing", "bool_type"):
        return "expected true or false", "set true or false"
    bounds = {"greater_than": ("more than", "gt"), "greater_than_equal": ("at least", "ge"),
              "less_than": ("less than", "lt"), "less_than_equal": ("at most", "le")}
    if kind in bounds:
        words, key = bounds[kind]
        return f"expected {words} {ctx.get(key)}", f"set a value of {words} {ctx.get(key)}"
    if kind.startswith("url_"):
        return "not a URL", "set an address such as https://arrimage.example"
    if kind in ("path_type", "string_type"):
        return "expected text", "set it as text"
    if kind in ("model_type", "dict_type"):
        return "expected a table of settings", f"see its fields in {REFERENCE}"
    if kind == "extra_forbidden":
        return "unknown setting", f"remove it or correct its name ({REFERENCE})"
    message = str(error["msg"]).removeprefix("Value error, ")
    wrong, _, fix = message.partition("; ")
    return wrong, fix or f"see {REFERENCE}"


def problems(err: ValidationError, *, file: Path | None = None, file_data: Mapping[str, Any] | None = None,
             environ: Mapping[str, str] | None = None) -> list[Problem]:
    """One problem per invalid setting; one set in the configuration file and not in the environment says so."""
    environ = os.environ if environ is None else environ
    found = []
    for error in err.errors():
        loc = [p for p in error["loc"] if not (isinstance(p, str) and "[" in p)]  # validator wrappers
        name = variable(loc) if loc else "ARRIMAGE_*"
        wrong, fix = _worded(error)
        top = str(loc[0]).lower().removeprefix("arrimage_") if loc else ""
        if file is not None and file_data is not None and top in file_data and name not in environ:
            wrong += f" (set in {file})"
        found.append(Problem(name, wrong, fix))
    return found
