"""Exit codes of `arrimage agreements` and the one place where failures become them.

Scripts match on the exit code and, for a refusal, on the stable refusal code
printed between brackets on stderr: `refused [not_a_party]: …`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import NoReturn

import typer
from pydantic import ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import NotFound


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


class CliError(Exception):
    """A failure already worded for the supervisor, with its exit code."""

    def __init__(self, exit_code: Exit, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message


def refused(code: str, message: str) -> CliError:
    return CliError(Exit.REFUSED, f"refused [{code}]: {message}")


def bad_input(message: str) -> CliError:
    return CliError(Exit.REFUSED, f"invalid input: {message}")


def not_found(message: str) -> CliError:
    return CliError(Exit.NOT_FOUND, f"not found: {message}")


def unreachable(message: str) -> CliError:
    return CliError(Exit.UNREACHABLE, f"unreachable: {message}\nhint: {UP_HINT}")


def describe_validation(err: ValidationError, what: str, names: dict[str, str] | None = None) -> str:
    """One line per invalid field: `services[0].provider: Field required`; `names` maps fields to options."""
    names = names or {}
    lines = [f"invalid {what} ({err.error_count()} error{'s' if err.error_count() > 1 else ''}):"]
    for e in err.errors():
        path = ""
        loc = list(e["loc"])
        if len(loc) == 1 and isinstance(loc[0], str) and loc[0] in names:
            loc = [names[loc[0]]]
        for part in loc:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = e["msg"].removeprefix("Value error, ")
        lines.append(f"  {path or '(whole document)'}: {message}")
    return "\n".join(lines)


def translate(err: BaseException) -> CliError | None:
    """The CLI meaning of an exception raised by Temporal, pydantic or the record; None if unknown."""
    if isinstance(err, CliError):
        return err
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        if isinstance(cause, ApplicationError):
            return refused(cause.type or "refused", cause.message)
        return CliError(Exit.FAILED, f"the command failed in the workflow: {cause}")
    if isinstance(err, WorkflowAlreadyStartedError):
        return refused("duplicate_code", "an entente with this code already exists (its workflow has ended)")
    if isinstance(err, ValidationError):
        return CliError(Exit.REFUSED, describe_validation(err, "command"))
    if isinstance(err, NotFound):
        return not_found(err.message)
    if isinstance(err, RPCError):
        if err.status == RPCStatusCode.NOT_FOUND:
            return not_found(err.message)
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return unreachable(f"Temporal: {err.message}")
        return CliError(Exit.FAILED, f"Temporal refused the call ({err.status.name}): {err.message}")
    if isinstance(err, RuntimeError) and "Failed client connect" in str(err):
        return unreachable(f"cannot connect to Temporal ({err})")
    return None


def fail(err: CliError) -> NoReturn:
    typer.echo(err.message, err=True)
    raise typer.Exit(int(err.exit_code))


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
