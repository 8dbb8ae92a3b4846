"""The one way every process talks to Temporal: same converter, same interceptors.

Worker, CLI, tests and the replayer all build their client and data converter here (through
`workers.bootstrap`), so they can never disagree on how payloads are encoded.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, Self

from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    SerializationContext,
    WithSerializationContext,
)
from temporalio.service import TLSConfig

from adapters.record.keys import DEV_PAYLOAD_KEYS, ring_or_default
from adapters.temporal.codec import CaseKeys, EncryptionCodec
from adapters.temporal.errors import Unreachable

CONNECT_TIMEOUT = 10.0


class TemporalSettings(Protocol):
    """What reaching Temporal needs from the settings (`workers.settings.Settings` has it)."""

    @property
    def temporal_address(self) -> str: ...
    @property
    def temporal_namespace(self) -> str: ...
    @property
    def task_queue(self) -> str: ...
    @property
    def payload_keys(self) -> SecretStr: ...
    @property
    def development(self) -> bool: ...
    @property
    def temporal_tls_ca(self) -> Path | None: ...
    @property
    def temporal_tls_cert(self) -> Path | None: ...
    @property
    def temporal_tls_key(self) -> Path | None: ...
    @property
    def temporal_tls_server_name(self) -> str: ...
    @property
    def temporal_api_key(self) -> SecretStr: ...
    def temporal_tls_on(self) -> bool: ...


@dataclasses.dataclass(frozen=True)
class BoundDataConverter(DataConverter):
    """The SDK's data converter, bound to a workflow or an activity more cheaply. The SDK binds one for each payload
    of a workflow's activities it encodes or decodes (~85 times per crisis case): its `with_context` copies itself
    with `dataclasses.replace`, which runs `__post_init__` — a new payload converter and failure converter, built
    only to be replaced by the bound ones. This one copies without building them; what it binds is the same."""

    def with_context(self, context: SerializationContext) -> Self:
        parts = {name: getattr(self, name) for name in _CONTEXT_AWARE}
        bound = {name: part.with_context(context) if isinstance(part, WithSerializationContext) else part
                 for name, part in parts.items()}
        if all(bound[name] is parts[name] for name in parts):
            return self
        clone = copy.copy(self)
        for name, part in bound.items():
            object.__setattr__(clone, name, part)
        return clone


# What `DataConverter.with_context` binds (temporalio 1.35), in its order.
_CONTEXT_AWARE = ("payload_converter", "payload_codec", "failure_converter", "external_storage")


def data_converter(settings: TemporalSettings, cases: Callable[[], CaseKeys] | None = None) -> DataConverter:
    """pydantic payloads, encrypted by the payload codec (keys: `settings.payload_keys`; with nothing
    configured, the public DEVELOPMENT key). Failure messages and stack traces are encoded too (they may
    quote personal content). Payloads in clear are refused outside development mode.

    `cases` reaches the record's case bindings and per-person keys (`adapters.temporal.case_keys`): a
    case's payloads are then sealed with its person's key. Without it (a process with no record), every
    payload is under the shared ring, and a payload sealed with a person's key does not open."""
    ring = ring_or_default(settings.payload_keys.get_secret_value(), DEV_PAYLOAD_KEYS)
    return BoundDataConverter(
        payload_converter_class=pydantic_data_converter.payload_converter_class,
        payload_codec=EncryptionCodec(ring, allow_plaintext=settings.development, cases=cases),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def with_case_keys(client: Client, settings: TemporalSettings, cases: Callable[[], CaseKeys]) -> Client:
    """The same connection (and interceptors), with the data converter that reaches the record's keys."""
    config = client.config()
    config["data_converter"] = data_converter(settings, cases)
    return Client(**config)


def tls_config(settings: TemporalSettings) -> TLSConfig | bool:
    """TLS to Temporal (`ARRIMAGE_TEMPORAL_TLS`, on by default outside development mode): the server's CA
    (`…_TLS_CA`, else the system's roots), this client's certificate and key for mTLS (`…_TLS_CERT`,
    `…_TLS_KEY`, both or neither) and the server name to verify (`…_TLS_SERVER_NAME`). False: plaintext."""
    if not settings.temporal_tls_on():
        return False
    cert, key = settings.temporal_tls_cert, settings.temporal_tls_key
    if (cert is None) != (key is None):
        raise ValueError("ARRIMAGE_TEMPORAL_TLS_CERT and ARRIMAGE_TEMPORAL_TLS_KEY go together (mTLS): "
                         "set both or neither")
    ca = settings.temporal_tls_ca
    return TLSConfig(
        server_root_ca_cert=ca.read_bytes() if ca else None,
        client_cert=cert.read_bytes() if cert else None,
        client_private_key=key.read_bytes() if key else None,
        domain=settings.temporal_tls_server_name or None,
    )


async def connect(settings: TemporalSettings, *, tracing: bool = True,
                  cases: Callable[[], CaseKeys] | None = None) -> Client:
    # Imported by the processes that connect only: with temporalio.worker and OpenTelemetry's logs it weighs
    # ~0.3 s, which every `arrimage` that reads the record without Temporal would pay at start.
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=tls_config(settings),
        api_key=settings.temporal_api_key.get_secret_value().strip() or None,  # Temporal Cloud: over TLS only
        data_converter=data_converter(settings, cases),
        interceptors=[TracingInterceptor()] if tracing else [],
    )


async def connect_within(settings: TemporalSettings, timeout: float = CONNECT_TIMEOUT,
                         cases: Callable[[], CaseKeys] | None = None) -> Client:
    """`connect`, or `Unreachable` after `timeout` seconds or when the connection is refused."""
    try:
        return await asyncio.wait_for(connect(settings, cases=cases), timeout)
    except TimeoutError:
        raise Unreachable(settings.temporal_address, f"no answer in {timeout:.0f}s") from None
    except RuntimeError as err:
        raise Unreachable(settings.temporal_address, _reason(err)) from None


def _reason(err: Exception) -> str:
    """The OS's words from a native connection error ("Connection refused"), else the error."""
    found = re.search(r'message: "([^"]+)"', str(err))
    return found.group(1) if found else str(err)


class Temporal:
    """One connection, made on first use (`connect_within`), or the client given; with `cases`, its codec
    seals a case's payloads with its person's key (a given client is re-made on the same connection so).

    A connection made inside an event loop serves that loop: a later `asyncio.run` gets its own.
    """

    def __init__(self, settings: TemporalSettings, client: Client | None = None,
                 cases: Callable[[], CaseKeys] | None = None) -> None:
        self.settings = settings
        self.cases = cases
        self._given = client if client is None or cases is None else with_case_keys(client, settings, cases)
        self._made: tuple[asyncio.AbstractEventLoop, Client] | None = None

    async def client(self) -> Client:
        if self._given is not None:
            return self._given
        loop = asyncio.get_running_loop()
        if self._made is None or self._made[0] is not loop:
            self._made = (loop, await connect_within(self.settings, cases=self.cases))
        return self._made[1]
