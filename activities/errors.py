"""How a failure inside an activity crosses into Temporal: the one place errors are classified.

Temporal retries a failed activity until it succeeds unless the error says otherwise, so
every error an activity raises is sorted here into one of four kinds:

- a **domain refusal** (`DomainError`): non-retryable, its `type` the refusal's stable code,
  so the CLI and partner systems can tell "superseded_version" from "not_a_party" without
  parsing messages;
- **bad input** (the input does not decode into the activity's model, or a pydantic model
  refuses a value): non-retryable, type `bad_input` — the same input fails the same way;
- **transient infrastructure** (the store locked or busy, its disk failing to read or write,
  PostgreSQL unreachable, a connection reset, an optimistic-concurrency conflict): re-raised as
  is, so the retry policy tries again with back-off. SQLite reports a missing table or column
  as an "operational" error too: those are sorted by SQLite's result code, and only a lock, a
  busy file or an I/O failure is transient; a schema or file that is wrong stays wrong;
- **a cancellation** Temporal raised in the activity (its workflow ended or cancelled it): re-raised
  as is, so it is reported as cancelled, not as a bug;
- anything else is **a bug**: non-retryable, type `internal_error`, logged once at error
  level with ids and the exception's class, never its message (it may quote personal
  content). Retrying a bug only repeats it, forever.

The input is decoded here rather than by the SDK: a payload the SDK cannot decode fails as
a *retryable* "Failed decoding arguments", attempted forever.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, get_type_hints

from eventsourcing.persistence import (
    ConnectionUnavailableError,
    InterfaceError,
    OperationalError,
    RecordConflictError,
)
from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError, CancelledError

from domain.errors import DomainError

if TYPE_CHECKING:
    import sqlite3

P = ParamSpec("P")
R = TypeVar("R")

BAD_INPUT = "bad_input"
INTERNAL_ERROR = "internal_error"

# The store or the network failing for a moment: the same call may succeed on the next attempt.
# (psycopg's OperationalError and InterfaceError too: connection lost, server shutting down,
# serialization failure, lock timeout; see `is_transient`.)
TRANSIENT: tuple[type[BaseException], ...] = (
    InterfaceError,
    ConnectionUnavailableError,
    RecordConflictError,  # another writer got there first: reload and decide again
    OSError,  # connection reset, timeouts, the store's file system
)

# SQLite's primary result codes (the low byte of `sqlite_errorcode`) for a moment's contention or the
# machine failing under the file: BUSY, LOCKED, IOERR, FULL (the disk; freed without a code change),
# PROTOCOL (a file-locking race). Everything else SQLite calls "operational" — SQLITE_ERROR for
# "no such table" / "no such column", CANTOPEN, NOTADB, CORRUPT — fails the same way on every attempt.
SQLITE_TRANSIENT_CODES = frozenset({5, 6, 10, 13, 15})
_SQLITE_TRANSIENT_WORDS = ("database is locked", "database table is locked", "database schema is locked",
                           "disk i/o error")

log = logging.getLogger("arrimage.activities")


def bad_input(message: str) -> ApplicationError:
    return ApplicationError(message, type=BAD_INPUT, non_retryable=True)


def classify(err: Exception) -> BaseException:
    """The error to raise for `err`: itself when transient (retried), else a final application error."""
    if isinstance(err, (ApplicationError, CancelledError)):
        return err  # a cancellation (the workflow ended, the activity was cancelled) is Temporal's, not a bug
    if isinstance(err, DomainError):
        return ApplicationError(err.message, type=err.code, non_retryable=True)
    if isinstance(err, ValidationError):
        return bad_input(_validation_summary(err))
    if is_transient(err):
        return err
    return _internal_error(err)


def is_transient(err: BaseException) -> bool:
    """Whether the same call may succeed on a later attempt: the store or the network failing for a moment."""
    # The drivers are imported here, for an error already raised, never when this module is: the
    # workflows import the activities classes (to call them by reference) inside their sandbox,
    # which must load no database driver (tests/unit/test_workflow_imports.py).
    import sqlite3

    import psycopg

    if isinstance(err, sqlite3.Error):
        return _sqlite_transient(err)
    if isinstance(err, (*TRANSIENT, psycopg.OperationalError, psycopg.InterfaceError)):
        return True
    if isinstance(err, OperationalError):
        # eventsourcing's wrapping of the driver's error (`raise OperationalError(e) from e`): judge the
        # driver's. One the library raises itself, with no driver error under it, is a misconfiguration.
        driver = err.__cause__
        return driver is not None and driver is not err and is_transient(driver)
    return False


def _sqlite_transient(err: sqlite3.Error) -> bool:
    import sqlite3

    if not isinstance(err, sqlite3.OperationalError):
        return False  # DatabaseError ("file is not a database", "malformed"), ProgrammingError, IntegrityError…
    code = getattr(err, "sqlite_errorcode", None)
    if isinstance(code, int) and code > 0:
        return code & 0xFF in SQLITE_TRANSIENT_CODES
    return str(err).lower().startswith(_SQLITE_TRANSIENT_WORDS)  # raised without a result code


def _validation_summary(err: ValidationError) -> str:
    """Which fields are invalid and why, without the values (they may be personal)."""
    fields = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(input)'}: {e['type']}" for e in err.errors())
    return f"invalid {err.title}: {fields}"


def _internal_error(err: Exception) -> ApplicationError:
    info = activity.info() if activity.in_activity() else None
    ids = {
        "activity": info.activity_type if info else None,
        "activity_id": info.activity_id if info else None,
        "workflow_id": info.workflow_id if info else None,
        "attempt": info.attempt if info else None,
        "error": type(err).__name__,
    }
    # The frames say where; the message is left out, since it may quote a person's details.
    where = "".join(traceback.format_tb(err.__traceback__)[-3:]).strip()
    log.error("activity failed on a bug: not retried", extra={**ids, "where": where})
    what = f"{ids['activity']} failed on an internal error ({type(err).__name__})" if info else type(err).__name__
    return ApplicationError(
        f"{what}: nothing was recorded by this attempt; see the worker log (workflow {ids['workflow_id']})",
        type=INTERNAL_ERROR,
        non_retryable=True,
    )


def classified(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap an activity method `(self, inp: Model) -> Result`: decode `inp`, classify what fails.

    The SDK is told the input is a raw payload, so decoding happens here, where a payload that
    does not fit the model becomes `bad_input` instead of a retried "Failed decoding arguments".
    A model instance passed directly (tests calling the method) is used as is.
    """
    params = list(inspect.signature(fn).parameters)
    if len(params) != 2:
        raise TypeError(f"{fn.__qualname__}: an activity takes one typed input")
    name = params[1]
    model: type[BaseModel] = get_type_hints(fn)[name]

    @wraps(fn)
    def wrapper(self: Any, raw: Any) -> Any:
        try:
            inp = raw if isinstance(raw, model) else _decode(raw, model)
        except (ValidationError, ValueError, TypeError) as err:
            raise bad_input(_decode_failure(err, model)) from None
        try:
            return cast(Callable[..., Any], fn)(self, inp)
        except Exception as err:
            final = classify(err)
            if final is err:
                raise
            # A bug's own message and frames stay out of the failure sent to Temporal.
            raise final from (err if isinstance(err, DomainError) else None)

    wrapper.__annotations__ = {**fn.__annotations__, name: RawValue}
    return cast(Callable[P, R], wrapper)


def _decode(raw: Any, model: type[BaseModel]) -> BaseModel:
    if isinstance(raw, RawValue):
        decoded = activity.payload_converter().from_payload(raw.payload, model)
        if not isinstance(decoded, model):
            raise TypeError(f"decoded {type(decoded).__name__}, expected {model.__name__}")
        return decoded
    return model.model_validate(raw)


def _decode_failure(err: Exception, model: type[BaseModel]) -> str:
    cause = err if isinstance(err, ValidationError) else err.__cause__ or err.__context__
    if isinstance(cause, ValidationError):
        return _validation_summary(cause)
    return f"the input does not decode into {model.__name__} ({type(err).__name__})"
