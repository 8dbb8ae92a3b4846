"""Domain refusals, and the one error of a record that will not be read.

A refusal is raised *before* anything is recorded. Its `code` is stable (scripts
and partner systems match on it); its message is written for a supervisor.
"""

from __future__ import annotations


class DomainError(Exception):
    """A command the rules refuse. Nothing was recorded."""

    code: str = "refused"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    code = "not_found"


class RuleViolation(DomainError):
    code = "rule_violation"


class UnreadableRecord(Exception):
    """A stored row the record refuses to read (it names a class that is not one of the record's): not a rule's
    refusal but a row altered or inserted in the database. The message names the event; `arrimage audit verify`
    names every such row."""
