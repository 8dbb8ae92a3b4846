"""Exit codes of `arrimage ententes` and the one place where failures become them.

Scripts match on the exit code and, for a refusal, on the stable refusal code
printed between brackets on stderr: `refused [not_a_party]: …`.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from typer._click.exceptions import ClickException  # Typer's own copy of Click (typer >= 0.24 vendors it)
from typer._click.globals import get_current_context

from adapters.gateway_client.errors import GatewayProblem, GatewayUnreachable
from adapters.temporal.errors import AcceptsNoCommand, InternalFailure, NotCompleted, NoWorkflow, Unreachable
from domain.errors import DomainError, NotFound, UnreadableRecord


class Exit(IntEnum):
    OK = 0
    FAILED = 1  # unexpected: a bug, or a failure Temporal reported that is not a refusal
    REFUSED = 2  # a rule refused the command, or the input is malformed; nothing was recorded
    NOT_FOUND = 3  # no such entente (or version)
    UNREACHABLE = 4  # Temporal did not answer, or no worker completed the command in time


EXIT_CODES_HELP = (
    "Exit codes: 0 done; "
    "2 refused by a rule or malformed input, nothing recorded (stderr: `refused \\[code]: message`, "
    "or one line per invalid field); "
    "3 no such entente or version; "
    "4 Temporal unreachable or no worker answered (start the engine: `arrimage up`); "
    "1 unexpected failure."
)

UP_HINT = "start the engine in another shell with `arrimage up` (or check ARRIMAGE_TEMPORAL_ADDRESS)"
START_HINT = ": start the engine with `arrimage up` or check ARRIMAGE_TEMPORAL_ADDRESS"
GROUPS = {"entente": "ententes", "case": "cases", "episode": "episodes"}  # the command group that shows a subject


@dataclass(frozen=True)
class FieldError:
    """One invalid field: its path as the person typed it (`--version`, `services[0].provider`)."""

    field: str
    message: str


# The problem types of `--json` errors (RFC 9457 shape), by the first words of the line.
PROBLEMS = {
    "refused": "refused by a rule",
    "invalid-input": "invalid input",
    "usage": "usage error",
    "not-found": "not found",
    "unreachable": "engine unreachable",
    "unexpected": "unexpected failure",
}
_PREFIX = re.compile(
    r"^(?:refused \[(?P<code>[^\]]*)\]|not found|unreachable|invalid input|usage|unexpected failure): "
)


class CliError(Exception):
    """A failure already worded for the supervisor, with its exit code.

    `message` is what stderr shows (a `hint: …` line is folded into it: every error is one line);
    `errors` are the invalid fields, one stderr line each; `code` the stable refusal code.
    """

    def __init__(self, exit_code: Exit, message: str, *, errors: Sequence[FieldError] = (),
                 code: str | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message
        self.errors = tuple(errors)
        found = _PREFIX.match(message)
        self.code = code or (found.group("code") if found else None)

    def lines(self) -> list[str]:
        """What stderr shows: one line, or one line per invalid field."""
        if self.errors:
            return [f"invalid input: {e.field}: {e.message}" for e in self.errors]
        parts = [p.strip().removeprefix("hint: ") for p in self.message.splitlines() if p.strip()]
        return ["; ".join(parts)]

    @property
    def kind(self) -> str:
        if self.errors:
            return "invalid-input"
        if self.code:
            return "refused"
        if self.exit_code is Exit.REFUSED:
            return "usage" if self.message.startswith("usage: ") else "invalid-input"
        return {Exit.NOT_FOUND: "not-found", Exit.UNREACHABLE: "unreachable"}.get(self.exit_code, "unexpected")

    def problem(self) -> dict[str, Any]:
        """The `--json` form: a problem object (RFC 9457 members; `status` is the exit code)."""
        detail = _PREFIX.sub("", self.lines()[0]) if not self.errors else (
            f"{len(self.errors)} invalid field{'s' if len(self.errors) > 1 else ''}")
        out: dict[str, Any] = {
            "type": f"urn:arrimage:problem:{self.kind}", "title": PROBLEMS[self.kind],
            "status": int(self.exit_code), "detail": detail,
        }
        if self.code:
            out["code"] = self.code
        if self.errors:
            out["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return out


def refused(code: str, message: str) -> CliError:
    return CliError(Exit.REFUSED, f"refused [{code}]: {message}", code=code)


def bad_input(message: str) -> CliError:
    return CliError(Exit.REFUSED, f"invalid input: {message}")


def not_found(message: str) -> CliError:
    return CliError(Exit.NOT_FOUND, f"not found: {message}")


def unreachable(message: str) -> CliError:
    return CliError(Exit.UNREACHABLE, f"unreachable: {message}\nhint: {UP_HINT}")


def usage(message: str, command: str) -> CliError:
    return CliError(Exit.REFUSED, f"usage: {message} (see {command} --help)")


def no_such_file(path: Path | str) -> CliError:
    return CliError(Exit.REFUSED, f"no such file: {path}")


def not_json(path: Path | str, err: json.JSONDecodeError) -> CliError:
    return CliError(Exit.REFUSED, f"not valid JSON: {path} line {err.lineno} column {err.colno}: {err.msg}")


def read_text(path: Path) -> str:
    """A file the person named: missing or unreadable is their input's fault (exit 2), in plain words."""
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        raise no_such_file(path) from None
    except IsADirectoryError:
        raise CliError(Exit.REFUSED, f"not a file: {path} is a directory") from None
    except PermissionError:
        raise CliError(Exit.REFUSED, f"cannot read {path}: permission denied") from None
    except UnicodeDecodeError:
        raise CliError(Exit.REFUSED, f"cannot read {path}: not UTF-8 text") from None


def read_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise not_json(path, err) from None


MOMENT_EXAMPLE = "expected ISO 8601 with a time zone, e.g. 2026-12-01T05:00-05:00"


def _plain(e: ErrorDetails) -> str:
    """Pydantic's message in the domain's words: no "Input should be", no parser jargon."""
    kind, ctx = e["type"], e.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", e["msg"])).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind.startswith("datetime") or kind in ("timezone_aware", "timezone_naive"):
        if kind == "timezone_aware":
            return f"no time zone: {MOMENT_EXAMPLE}"
        return f"not a date/time: {MOMENT_EXAMPLE}"
    if kind.startswith("date"):
        return "not a date: expected ISO 8601, e.g. 2026-12-01"
    if kind in ("time_parsing", "time_type"):
        return "not a time: expected e.g. 05:00"
    if kind in ("time_delta_parsing", "time_delta_type"):
        return "not a duration: expected ISO 8601, e.g. PT4M or P10D"
    if kind == "string_too_long":
        return f"longer than {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        n = ctx.get("min_length", 1)
        return "must not be empty" if n == 1 else f"shorter than {n} characters"
    if kind == "string_pattern_mismatch":
        return "not in the expected form"
    if kind == "too_short":
        n = ctx.get("min_length")
        return f"at least {n} item{'s' if n != 1 else ''} needed, {ctx.get('actual_length')} given"
    if kind == "too_long":
        n = ctx.get("max_length")
        return f"at most {n} item{'s' if n != 1 else ''} allowed, {ctx.get('actual_length')} given"
    if kind in ("enum", "literal_error"):
        return f"expected one of {ctx.get('expected')}"
    if kind == "union_tag_invalid":
        return f"unknown type '{ctx.get('tag')}': expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"required: the {str(ctx.get('discriminator', 'type')).strip(chr(39))} of the command"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "not a whole number"
    if kind in ("float_parsing", "float_type", "decimal_parsing", "decimal_type"):
        return "not a number"
    if kind in ("bool_parsing", "bool_type"):
        return "expected true or false"
    if kind in ("string_type", "string_unicode"):
        return "expected text"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "expected an object"
    if kind in ("list_type", "tuple_type", "set_type", "iterable_type"):
        return "expected a list"
    bounds = {"greater_than": ("more than", "gt"), "greater_than_equal": ("at least", "ge"),
              "less_than": ("less than", "lt"), "less_than_equal": ("at most", "le")}
    if kind in bounds:
        words, key = bounds[kind]
        return f"expected {words} {ctx.get(key)}"
    if kind in ("json_invalid", "json_type"):
        return "not valid JSON"
    msg = e["msg"].removeprefix("Value error, ")
    return re.sub(r"^Input should (be|have)", "expected", msg)


def _settings_field(loc: Sequence[int | str]) -> str:
    """A settings field as the variable that sets it: ARRIMAGE_ENTENTE_POLICY__REVIEW_WINDOW_DAYS."""
    return "ARRIMAGE_" + "__".join(str(p) for p in loc).upper()


def field_errors(err: ValidationError, names: dict[str, str] | None = None, whole: str = "(whole input)"
                 ) -> list[FieldError]:
    """One FieldError per invalid field; `names` maps top-level fields to the options that set them."""
    names = names or {}
    tagged = err.title.startswith("tagged-union[")
    out = []
    for e in err.errors():
        loc = [p for p in e["loc"] if not (isinstance(p, str) and "[" in p and "]" in p)]  # validator wrappers
        if tagged and loc:
            loc = loc[1:]  # the command's type tag, not a field the person wrote
        if err.title == "Settings" and loc:
            path = _settings_field(loc)
        else:
            if loc and isinstance(loc[0], str) and loc[0] in names:
                loc = [names[loc[0]], *loc[1:]]
            path = ""
            for part in loc:
                path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        out.append(FieldError(path or whole, _plain(e)))
    return out


def invalid(err: ValidationError, names: dict[str, str] | None = None, whole: str = "(whole input)") -> CliError:
    """Exit 2 with one `invalid input: FIELD: message` line per invalid field."""
    errors = field_errors(err, names, whole)
    return CliError(Exit.REFUSED, "\n".join(f"invalid input: {f.field}: {f.message}" for f in errors),
                    errors=errors)


def describe_validation(err: ValidationError, what: str, names: dict[str, str] | None = None) -> str:
    """One `invalid input: FIELD: message` line per invalid field (kept for callers that build their own
    CliError; prefer `invalid`, which also gives `--json` its field list)."""
    return invalid(err, names, whole=what).message


def engine_error(err: BaseException) -> CliError | None:
    """The CLI meaning of what the typed Temporal clients raise (`adapters.temporal.errors`); None otherwise."""
    if isinstance(err, CliError):
        return err
    if isinstance(err, Unreachable):
        return CliError(Exit.UNREACHABLE, f"unreachable: {err}{START_HINT}")
    if isinstance(err, NotCompleted):
        group, code = GROUPS[err.subject.noun], err.subject.code
        return CliError(
            Exit.UNREACHABLE,
            f"unreachable: no worker completed the command within {err.timeout:g} s: is a worker running on task "
            f"queue {err.task_queue}? Nothing is recorded unless `arrimage {group} show {code}` shows it",
        )
    if isinstance(err, InternalFailure):
        return CliError(Exit.FAILED, f"unexpected failure: {err.message}")
    if isinstance(err, AcceptsNoCommand):
        return refused(err.code, err.message)
    if isinstance(err, NoWorkflow):
        return not_found(err.message)
    return None


GATEWAY_HINT = "check ARRIMAGE_API_URL, or run the command again: a write is sent with the same key, never twice"


def gateway_error(err: BaseException) -> CliError | None:
    """The CLI meaning of the gateway's answers (`adapters.gateway_client`): the same exit codes and wording as
    the direct commands' (a rule's refusal `refused [code]` exit 2, invalid fields one line each, 404 exit 3,
    no answer exit 4); None for anything else."""
    if isinstance(err, GatewayUnreachable):
        return CliError(Exit.UNREACHABLE, f"unreachable: {err}\nhint: {GATEWAY_HINT}")
    if not isinstance(err, GatewayProblem):
        return None
    if err.errors:
        fields = [FieldError(e.field, e.message.removeprefix("Value error, ")) for e in err.errors]
        return CliError(Exit.REFUSED, "\n".join(f"invalid input: {f.field}: {f.message}" for f in fields),
                        errors=fields)
    if err.status == 401:
        return refused("unauthenticated", "the gateway does not accept ARRIMAGE_TOKEN (missing, invalid, expired or "
                                          "revoked): ask for a token with `arrimage users add` on the server")
    if err.status == 404:
        return not_found(err.detail)
    if err.status >= 500:
        return CliError(Exit.FAILED, f"unexpected failure: the gateway answered {err.status}: {err.detail}")
    if err.code:
        return refused(err.code, err.detail)
    return bad_input(err.detail)


def translate(err: BaseException) -> CliError | None:
    """The CLI meaning of an exception raised by Temporal, pydantic, the record or the gateway; None if unknown."""
    known = engine_error(err) or gateway_error(err)
    if known is not None:
        return known
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return refused(cause.type or "refused", cause.message)
        return CliError(Exit.FAILED, f"the command failed in the workflow: {cause}")
    if isinstance(err, WorkflowAlreadyStartedError):
        return refused("duplicate_code", "an entente with this code already exists (its workflow has ended)")
    if isinstance(err, ValidationError):
        return invalid(err)
    if isinstance(err, NotFound):
        return not_found(err.message)
    if isinstance(err, UnreadableRecord):  # a row altered in the database: which one, not just the type
        return CliError(Exit.FAILED, f"unexpected failure: {err}")
    if isinstance(err, RPCError):
        if err.status == RPCStatusCode.NOT_FOUND:
            return not_found(err.message)
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return unreachable(f"Temporal: {err.message}")
        return CliError(Exit.FAILED, f"Temporal refused the call ({err.status.name}): {err.message}")
    if isinstance(err, FileNotFoundError) and err.filename:
        return no_such_file(err.filename)
    if isinstance(err, RuntimeError) and "Failed client connect" in str(err):
        return unreachable(f"cannot connect to Temporal ({err})")
    if isinstance(err, DomainError):  # a rule of the domain refused, in its own words and code
        return refused(err.code, err.message)
    return None


def wants_json(argv: Sequence[str] | None = None) -> bool:
    """Whether the command was given `--json`: its parsed options when there are some, else the words typed
    (a usage error stops before the options are parsed)."""
    ctx = get_current_context(silent=True)
    while ctx is not None:
        if "as_json" in ctx.params:
            return bool(ctx.params["as_json"])
        ctx = ctx.parent
    words = list(sys.argv[1:] if argv is None else argv)
    return "--json" in (words[:words.index("--")] if "--" in words else words)


def show(err: CliError, as_json: bool | None = None) -> None:
    """The error on stderr: its line(s), or with `--json` one problem object. Nothing on stdout."""
    if wants_json() if as_json is None else as_json:
        sys.stderr.write(json.dumps(err.problem(), ensure_ascii=False) + "\n")
    else:
        sys.stderr.write("".join(f"{line}\n" for line in err.lines()))
    sys.stderr.flush()


def fail(err: CliError) -> NoReturn:
    show(err)
    raise typer.Exit(int(err.exit_code))


def from_click(err: ClickException) -> CliError:
    """A usage error (unknown option, missing argument, bad choice) as one line, with where to look."""
    ctx = getattr(err, "ctx", None)
    command = ctx.command_path if ctx is not None else "arrimage"
    message = err.format_message().replace("Value error, ", "").replace(" greater than or equal to ", " at least ")
    message = message.replace("Input should be ", "expected ")
    message = message[:1].lower() + message[1:]
    return usage(message.rstrip("."), command)


def unexpected(err: BaseException, log: Path | None) -> CliError:
    """A bug or a failure nobody worded: its type only; the traceback goes to the log, never to the screen."""
    where = f" ({log})" if log is not None else ""
    return CliError(Exit.FAILED, f"unexpected failure: {type(err).__name__}; details in the log{where}")


@contextmanager
def reported() -> Iterator[None]:
    """Turn every known failure into its message on stderr and its exit code."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except Exception as err:
        known = translate(err)
        if known is None:
            raise
        fail(known)
