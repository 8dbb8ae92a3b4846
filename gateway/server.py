"""The gateway as a server: uvicorn in this process's event loop, for `arrimage gateway` (alone) and
`arrimage up` (beside the worker, `workers.embedded`). HTTPS when ARRIMAGE_GATEWAY_TLS_CERT / _KEY are set,
asking clients for certificates of ARRIMAGE_GATEWAY_TLS_CLIENT_CA (mutual TLS, `gateway.tls`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import uvicorn

from gateway.app import create_app
from gateway.tls import server_options

if TYPE_CHECKING:
    from workers.bootstrap import Root
    from workers.settings import Settings


def tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's TLS options from the gateway's certificate settings (none when they are not set: HTTP)."""
    if settings.gateway_tls_cert is None or settings.gateway_tls_key is None:
        return {}
    ca = settings.gateway_tls_client_ca
    return server_options(str(settings.gateway_tls_cert), str(settings.gateway_tls_key),
                          str(ca) if ca is not None else None, settings.gateway_tls_client_required)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the process that runs us handles its signals (up, gateway): uvicorn takes none


class Gateway:
    """One uvicorn server on `host:port` (port 0: a free one; `address` says which once started)."""

    def __init__(self, root: Root, host: str | None = None, port: int | None = None) -> None:
        settings = root.settings
        tls = tls_options(settings)
        self.scheme = "https" if tls else "http"
        config = uvicorn.Config(create_app(root), host=host or settings.gateway_host,
                                port=settings.gateway_port if port is None else port, log_level="warning",
                                lifespan="off", access_log=False, server_header=False, **tls)
        self.server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Listening, or an OSError (the port taken) raised here."""
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                self._task.result()  # its failure, raised here
                raise OSError(f"the gateway did not start on {self.server.config.host}:{self.server.config.port}")
            await asyncio.sleep(0.02)
        return self.address

    @property
    def address(self) -> str:
        sock = self.server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        return f"{self.scheme}://{host}:{port}"

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task

    async def run_until(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
