"""Fixtures of the end-to-end tests (the shared dev server, `dev_env`, is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from workers.binaries import temporal_cli
from workers.bootstrap import data_converter
from workflows.crisis import SEARCH_ATTRIBUTES


@pytest_asyncio.fixture(scope="module")
async def case_server() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of our own, with the case search attributes registered as `arrimage up` registers them."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), data_converter=data_converter(), ui=False,
        search_attributes=SEARCH_ATTRIBUTES,
    )
    yield env
    await env.shutdown()
