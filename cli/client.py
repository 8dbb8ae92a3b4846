"""How a CLI command reaches the engine: one root (`workers.bootstrap`) per command, and what a
workflow says of itself, for `show`.

Commands go through the workflows (their validators are the rules), by the root's typed clients;
reads go to the record, the legal one, which needs no Temporal and no worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from adapters.temporal.updates import QUERY_TIMEOUT
from adapters.temporal.workflow_client import WorkflowStatus
from cli.errors import START_HINT, translate
from cli.render import WorkflowAnswer
from workers.bootstrap import Root, bootstrap

T = TypeVar("T")


@contextmanager
def root() -> Iterator[Root]:
    """The engine as this command sees it: settings read once (logging and tracing set up), the record
    opened on first use, Temporal connected on first use; everything closed when the command is done."""
    with bootstrap() as built:
        yield built


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def ask(asking: Callable[[], Awaitable[WorkflowStatus]]) -> WorkflowAnswer:
    """What a workflow says (running, next wake-up, events seen), from a typed client's `ask`. Never raises:
    says why it could not be asked."""
    try:
        status = await asking()
    except TimeoutError:
        return WorkflowAnswer(False, error=f"no answer within {QUERY_TIMEOUT:g}s (is a worker running?)")
    except Exception as err:
        known = translate(err)
        first = known.message.splitlines()[0].removeprefix("unreachable: ").removesuffix(START_HINT) if known else None
        # A history sealed with an erased person's key: say that, not the SDK's wrapping of the codec's error.
        erased = str(err).find("erased: ")
        return WorkflowAnswer(False, error=first or (str(err)[erased:] if erased >= 0 else None)
                              or f"{type(err).__name__}: {err}")
    return WorkflowAnswer(True, next_wakeup=status.next_wakeup, running=status.running,
                          event_count=status.event_count)
