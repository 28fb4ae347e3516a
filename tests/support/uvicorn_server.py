"""A real uvicorn server on 127.0.0.1 and a free port, in the test's own event loop.

It is built with :func:`interlink.runtime.http.make_server`, the function ``Runtime.serve`` (and so
``interlink run --http``) uses, so the tests see the same uvicorn configuration as production.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType

from fastapi import FastAPI

from interlink import Domain
from interlink.patterns.api_exposure import ApiSettings
from interlink.runtime import DomainRuntime, Runtime, Settings
from interlink.runtime.http import HttpEndpoint, api_for, make_server

__all__ = ["LiveServer", "serve_domain"]


class LiveServer:
    """``async with LiveServer(app) as server:`` serves ``app`` at ``server.url`` until the block ends."""

    def __init__(self, app: FastAPI, *, start_timeout: float = 10.0) -> None:
        self.app = app
        self.start_timeout = start_timeout
        self.port = 0
        self._server, self._socket = make_server(app, HttpEndpoint("127.0.0.1", 0))
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> LiveServer:
        self.port = self._socket.getsockname()[1]
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]), name="uvicorn")
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("uvicorn stopped before it started")
            if time.monotonic() > deadline:
                raise TimeoutError(f"uvicorn did not start within {self.start_timeout}s")
            await asyncio.sleep(0.005)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=15)
        self._socket.close()


@asynccontextmanager
async def serve_domain(
    domain: Domain, workdir: Path, api: ApiSettings | None = None
) -> AsyncIterator[tuple[LiveServer, DomainRuntime]]:
    """Run ``domain`` on a SQLite store and the SQLite broker in ``workdir`` and serve its API as
    ``Runtime.serve`` does (same app builder, same uvicorn configuration); yields the server and the domain's
    runtime. The runtime stops (relay flushed) when the block ends."""
    settings = Settings(
        store_url=f"sqlite:///{workdir}/{{domain}}.db",
        broker_url=f"sqlite:///{workdir}/broker.db",
        relay_poll_interval=0.2,
        fetch_wait=0.2,
    )
    async with Runtime([domain], settings) as runtime:
        app = api_for({domain.name: runtime[domain.name]}, api or ApiSettings())
        async with LiveServer(app) as server:
            yield server, runtime[domain.name]
