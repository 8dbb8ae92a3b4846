"""What the gateway answers when it does not do what was asked: its RFC 9457 problem document, or no answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ProblemField:
    field: str
    message: str


@dataclass  # not frozen: Python sets an exception's __traceback__ as it travels
class GatewayProblem(Exception):
    """A problem document (`application/problem+json`): the status, the rule's code, the detail, the invalid
    fields. Nothing was recorded, unless the gateway says a refused read is (its detail names the access)."""

    status: int
    title: str
    detail: str
    code: str | None = None
    errors: tuple[ProblemField, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        return f"{self.status} {self.code or self.title}: {self.detail}"

    @classmethod
    def of(cls, status: int, body: Any, text: str) -> GatewayProblem:
        """From the answer's body; a body that is no problem document (a proxy's page) keeps its first words."""
        if not isinstance(body, dict):
            return cls(status, "problem", " ".join(text.split())[:200] or f"HTTP {status}")
        if body.get("resourceType") == "OperationOutcome":  # /fhir answers its failures so
            issue = (body.get("issue") or [{}])[0]
            coding = ((issue.get("details") or {}).get("coding") or [{}])[0]
            return cls(status, "problem", str(issue.get("diagnostics") or f"HTTP {status}"),
                       code=str(coding["code"]) if coding.get("code") else None)
        errors = tuple(ProblemField(str(e.get("field", "")), str(e.get("message", "")))
                       for e in body.get("errors") or [] if isinstance(e, dict))
        code = body.get("code")
        return cls(status, str(body.get("title") or "problem"), str(body.get("detail") or f"HTTP {status}"),
                   code=str(code) if code else None, errors=errors)


class GatewayUnreachable(Exception):
    """The gateway did not answer (connection refused, timed out, 503/504 after the retries)."""

    def __init__(self, url: str, why: str) -> None:
        super().__init__(f"the gateway at {url} did not answer: {why}")
        self.url = url
        self.why = why
