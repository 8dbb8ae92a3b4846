"""The one way every process talks to Temporal: same converter, same interceptors.

Worker, CLI, tests and the replayer all build their client and data converter
here, so they can never disagree on how payloads are encoded.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from workers.settings import Settings


def data_converter() -> DataConverter:
    return pydantic_data_converter


async def connect(settings: Settings, *, tracing: bool = True) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(),
        interceptors=[TracingInterceptor()] if tracing else [],
    )
