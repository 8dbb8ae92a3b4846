"""The one way every process talks to Temporal: same converter, same interceptors.

Worker, CLI, tests and the replayer all build their client and data converter
here, so they can never disagree on how payloads are encoded.
"""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from adapters.record.keys import DEV_PAYLOAD_KEYS, ring_or_default
from workers.codec import EncryptionCodec
from workers.settings import Settings


def data_converter(settings: Settings | None = None) -> DataConverter:
    """pydantic payloads, encrypted by the payload codec (keys: `settings.payload_keys`).

    Without arguments, the settings are read from the environment (ARRIMAGE_PAYLOAD_KEYS),
    so the test fixtures and the replayer agree with a worker started in the same
    environment; with nothing configured, the public DEVELOPMENT key is used.
    Failure messages and stack traces are encoded too (they may quote personal content).
    """
    settings = settings or Settings()
    ring = ring_or_default(settings.payload_keys.get_secret_value(), DEV_PAYLOAD_KEYS)
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings, *, tracing: bool = True) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        interceptors=[TracingInterceptor()] if tracing else [],
    )
