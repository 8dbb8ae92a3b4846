"""What can go wrong reaching the workflows, as values the caller words (the CLI: `cli.errors.translate`)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import DomainError, NotFound


@dataclass(frozen=True)
class Subject:
    """What a command is about: an entente, a crisis case or an épisode de services, by its code (from its
    workflow id)."""

    noun: str  # "entente", "case" or "episode"
    code: str

    @classmethod
    def of(cls, wf_id: str) -> Subject:
        prefix, _, code = wf_id.partition("-")
        return cls(prefix, code) if prefix in ("case", "episode") else cls("entente", code)


class Unreachable(Exception):
    """Temporal does not answer at `address`; `reason` in the OS's or the server's words."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"Temporal does not answer at {address} ({reason})")
        self.address = address
        self.reason = reason


class NotCompleted(Exception):
    """Temporal answers, but no worker completed the command within `timeout` seconds: it may still be
    applied later (the update stays with Temporal)."""

    def __init__(self, subject: Subject, task_queue: str, timeout: float) -> None:
        super().__init__(f"no worker completed the command on {subject.noun} {subject.code} within {timeout:g} s")
        self.subject = subject
        self.task_queue = task_queue
        self.timeout = timeout


class InternalFailure(Exception):
    """The command's activity hit a bug (`activities.errors`: internal_error, attempted once)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NoWorkflow(NotFound):
    """No running workflow took the command, and the record says why: no such entente or case, or one
    Temporal does not know (another server or namespace)."""


class AcceptsNoCommand(DomainError):
    """No running workflow took the command: the entente ended, or the case is closed (its `code`)."""
