"""The landscape's External Services: each domain's real API, answered in-process over ASGI.

A consumer's External Service client is the production one (:class:`~interlink.adapters.http.HttpExternalServices`,
with its retries, circuit breaker and error translation); only its transport is this one, which routes a
request by host name (the producer domain's name) to that domain's API application. So a fetch-back
answers from the producer's real query, at the producer's current version. A producer that is stopped
refuses connections, like a server that is down; :meth:`InProcessTransport.fail` programs other failures.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from interlink.testing.fakes import FakeCall

__all__ = ["InProcessTransport"]


@dataclass
class _Failure:
    status: int | None
    remaining: int | None


class InProcessTransport(httpx.AsyncBaseTransport):
    """Routes ``http://<domain>/...`` to the ASGI app ``apps(domain)`` returns (None: refused).

    :attr:`calls` records every request (``FakeCall.service`` is the producer domain's name).
    """

    def __init__(self, apps: Callable[[str], object | None]) -> None:
        self._apps = apps
        self._transports: dict[int, httpx.ASGITransport] = {}
        self._failures: dict[tuple[str, str], list[_Failure]] = {}
        self.calls: list[FakeCall] = []

    def fail(self, domain: str, path: str, status: int | None = 503, *, times: int | None = 1) -> None:
        """Make the next ``times`` requests (None: all) for ``path`` of ``domain`` fail with ``status``
        (None: connection refused), after any failures set before."""
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every request)")
        self._failures.setdefault((domain, path), []).append(_Failure(status, times))

    def heal(self, domain: str, path: str | None = None) -> None:
        """Drop the failures programmed for ``domain`` (and ``path``, if given)."""
        for key in [k for k in self._failures if k[0] == domain and (path is None or k[1] == path)]:
            del self._failures[key]

    def calls_to(self, domain: str, path: str | None = None) -> list[FakeCall]:
        """The requests ``domain`` was sent (for ``path``, if given), in order."""
        return [c for c in self.calls if c.service == domain and (path is None or c.path == path)]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        domain = request.url.host
        path = request.url.raw_path.decode("ascii")
        body = jsonlib.loads(request.content) if request.content else None
        self.calls.append(FakeCall(domain, request.method, path, request.headers, body))
        failure = self._next_failure((domain, path))
        app = self._apps(domain)
        if app is None or (failure is not None and failure.status is None):
            raise httpx.ConnectError(f"{domain} is not running here", request=request) from ConnectionRefusedError(
                111, "Connection refused"
            )
        if failure is not None:
            return httpx.Response(failure.status or 503)
        transport = self._transports.get(id(app))
        if transport is None:
            # An application error answers 500, as a server would; it is not raised into the caller.
            transport = self._transports[id(app)] = httpx.ASGITransport(app, raise_app_exceptions=False)  # type: ignore[arg-type]
        return await transport.handle_async_request(request)

    def _next_failure(self, key: tuple[str, str]) -> _Failure | None:
        queue = self._failures.get(key)
        if not queue:
            return None
        failure = queue[0]
        if failure.remaining is not None:
            failure.remaining -= 1
            if failure.remaining == 0:
                queue.pop(0)
        return failure
