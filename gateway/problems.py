"""Every failure as an RFC 9457 problem document (`application/problem+json`): `type`, `title`, `status`,
`detail`, and where relevant `code` (the rule's own, as the CLI prints it) and `errors` (the invalid fields).

The status says what the caller can do: 400/422 fix the request; 401 present a valid key; 403 this principal
may not (a rule, or not a party); 404 no such thing; 409 not now (out of turn, or the key's first request
still running); 413 smaller; 429 wait `Retry-After`; 503/504 the engine did not answer: retry with the same
Idempotency-Key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from adapters.temporal.errors import AcceptsNoCommand, InternalFailure, NotCompleted, Unreachable
from domain.errors import DomainError, NotFound
from domain.principals.access import NotAParty
from domain.principals.model import Unauthenticated

MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "bad request", 401: "unauthenticated", 403: "forbidden", 404: "not found", 405: "method not allowed",
    409: "conflict", 413: "request too large", 415: "unsupported media type", 422: "invalid input",
    429: "too many requests", 500: "internal failure", 503: "engine unreachable", 504: "engine did not answer",
}
# The rules' codes that mean "not this principal" (403) or "not these values" (422); any other refusal of a
# command is "not now" (409: out of turn, already done, closed…).
FORBIDDEN = frozenset({"not_a_party", "wrong_party", "not_a_partner", "not_a_candidate", "not_a_csss_team",
                       "not_asked", "no_agreement", "wrong_subject", "not_an_entente_reader",
                       "no_entente_in_force", "subject_not_registered"})
INVALID = frozenset({"date_implausible", "deadline_in_past", "ends_in_past", "moment_in_future", "moment_too_old",
                     "extension_too_long", "not_later", "received_at", "first_contact_at", "unknown_command",
                     "unknown_deadline", "unknown_plan", "unknown_contact", "invalid_overlap"})


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str | None = None
    errors: list[FieldProblem] | None = None


class ProblemError(Exception):
    """A failure already decided: its status, code, detail and fields (and headers: Retry-After…)."""

    def __init__(self, status: int, detail: str, *, code: str | None = None,
                 errors: list[FieldProblem] | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.code, self.errors = status, detail, code, errors
        self.headers = dict(headers or {})

    @property
    def final(self) -> bool:
        """An answer the same request would get again (kept for its Idempotency-Key); not a 5xx."""
        return self.status < 500 and self.code != "idempotency_key_in_progress"

    def problem(self) -> Problem:
        kind = (self.code or TITLES.get(self.status, "problem")).replace("_", "-").replace(" ", "-")
        return Problem(type=f"urn:arrimage:problem:{kind}", title=TITLES.get(self.status, "problem"),
                       status=self.status, detail=self.detail, code=self.code, errors=self.errors)

    def response(self) -> JSONResponse:
        return JSONResponse(self.problem().model_dump(mode="json", exclude_none=True), status_code=self.status,
                            media_type=MEDIA_TYPE, headers=self.headers)


def status_of(code: str) -> int:
    return 403 if code in FORBIDDEN else 422 if code in INVALID else 409


def field_problems(err: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[FieldProblem]:
    tagged = err.title.startswith("tagged-union[")
    out = []
    for e in err.errors():
        loc = [p for p in e["loc"] if not (isinstance(p, str) and "[" in p and "]" in p)]
        if tagged and loc:
            loc = loc[1:]  # the command's type tag, not a field the caller wrote
        path = ""
        for part in (*prefix, *loc):
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        out.append(FieldProblem(field=path or "(body)", message=e["msg"].removeprefix("Value error, ")))
    return out


def invalid(err: ValidationError) -> ProblemError:
    fields = field_problems(err)
    return ProblemError(422, f"{len(fields)} invalid field{'s' if len(fields) != 1 else ''}", errors=fields)


def translate(err: BaseException) -> ProblemError | None:
    """The HTTP meaning of what the use cases, the rules and the Temporal clients raise; None if unknown."""
    if isinstance(err, ProblemError):
        return err
    if isinstance(err, Unauthenticated):
        return ProblemError(401, err.message, code=err.code, headers={"WWW-Authenticate": 'Bearer realm="arrimage"'})
    if isinstance(err, NotAParty):
        return ProblemError(403, err.message, code=err.code)
    if isinstance(err, NotFound):
        return ProblemError(404, err.message, code=err.code)
    if isinstance(err, AcceptsNoCommand):
        return ProblemError(409, err.message, code=err.code)
    if isinstance(err, DomainError):
        return ProblemError(status_of(err.code), err.message, code=err.code)
    if isinstance(err, ValidationError):
        return invalid(err)
    if isinstance(err, WorkflowAlreadyStartedError):
        return ProblemError(409, "an entente with this code already exists (its workflow has ended)",
                            code="duplicate_code")
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        if isinstance(cause, ApplicationError):
            code = cause.type or "refused"
            return ProblemError(status_of(code), cause.message, code=code)
        return None
    if isinstance(err, Unreachable):
        return ProblemError(503, "the engine does not answer: retry later with the same Idempotency-Key",
                            headers={"Retry-After": "5"})
    if isinstance(err, NotCompleted):
        return ProblemError(504, f"no worker completed the command within {err.timeout:g} s: it may still be "
                            "applied; retry with the same Idempotency-Key", headers={"Retry-After": "5"})
    if isinstance(err, InternalFailure):
        return ProblemError(500, "the command failed in the engine (logged)")
    return None


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The problem responses of an operation, for the OpenAPI document."""
    return {s: {"description": TITLES[s], "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for s in statuses}
