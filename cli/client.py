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

from typer._click.globals import get_current_context

from adapters.temporal.updates import QUERY_TIMEOUT
from adapters.temporal.workflow_client import WorkflowStatus
from cli.errors import START_HINT, refused, translate
from cli.render import WorkflowAnswer
from workers.bootstrap import Root, ThroughGateway, bootstrap, load_settings

T = TypeVar("T")
OPERATORS_ONLY = (
    "direct record access is for operators on the server: on your machine, set ARRIMAGE_API_URL (the gateway) "
    "and ARRIMAGE_TOKEN (your token), and the token says who you are"
)


@contextmanager
def root(*, person: bool = False) -> Iterator[Root]:
    """The engine as this command sees it: settings read once (logging and tracing set up), the record
    opened on first use, Temporal connected on first use; everything closed when the command is done.

    `person`: the command reads or acts on the record as a person (`cli.remote`). Outside development mode it
    runs only through the gateway (ARRIMAGE_API_URL), where the token says who the person is: anywhere else it is
    refused before anything is opened (`OPERATORS_ONLY`). Every other command (`audit verify`, `partners add`…)
    is an operator's, on the server: refused on a machine that works through the gateway (`ThroughGateway`)."""
    settings = load_settings()
    if person and settings.api_url is None and not settings.development:
        raise refused("operators_only", OPERATORS_ONLY)
    if not person and settings.api_url is not None:  # not served by the gateway: the record's own, on the server
        ctx = get_current_context(silent=True)
        raise ThroughGateway(f"`{ctx.command_path}`" if ctx is not None else "this command")
    with bootstrap(settings) as built:
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
