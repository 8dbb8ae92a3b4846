"""Domain refusals cross into Temporal as non-retryable application errors.

The error `type` is the refusal's stable code, so the CLI and partner systems
can tell "superseded_version" from "not_a_party" without parsing messages.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from temporalio.exceptions import ApplicationError

from domain.errors import DomainError

P = ParamSpec("P")
R = TypeVar("R")


def refusals_are_final(fn: Callable[P, R]) -> Callable[P, R]:
    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except DomainError as err:
            raise ApplicationError(err.message, type=err.code, non_retryable=True) from err

    return wrapper
