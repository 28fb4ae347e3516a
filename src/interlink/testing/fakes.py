"""Test doubles for users' unit tests: ``FakeExternalServices``, another domain's API without a server.

A fake that fails differently from production proves nothing about the handler under test. So this one
is not a second implementation: it is :class:`~interlink.adapters.http.HttpExternalServices` itself over
an ``httpx.MockTransport`` that answers from what the test programmed. Retries, the circuit breaker,
header handling, path checks and every ``ExternalServiceError`` (status, reason, ``retryable``,
``gone``) are the production code's; only the network and the waiting are replaced (backoff waits are
recorded in :attr:`FakeExternalServices.waits` and take no time).

::

    fake = FakeExternalServices()
    fake.set("customer", "/customers/42", {"id": "42", "name": "Ada"})
    fake.fail("customer", "/customers/7", status=503, times=1)   # retried, then 404 (nothing set)
    runtime = DomainRuntime(domain, store, broker, external=fake)
"""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from interlink.adapters.http import CircuitBreaker, ClientPolicy, HttpExternalServices
from interlink.core.external import ExternalService

__all__ = ["FakeCall", "FakeExternalServices"]

_NOWHERE = "http://external.invalid"  # .invalid never resolves (RFC 2606): nothing real can be reached


@dataclass(frozen=True)
class FakeCall:
    """One HTTP attempt as the other domain would have seen it (retries are separate calls)."""

    service: str
    method: str
    path: str
    headers: Mapping[str, str]  # case-insensitive (httpx.Headers)
    json: Any


@dataclass
class _Failure:
    status: int | None
    remaining: int | None  # None: for ever
    timeout: bool
    retry_after: int | None


class FakeExternalServices:
    """Programmable external services for unit tests; implements ``core.external.ExternalServices``.

    Paths are matched exactly as sent, query string included (``ctx.fetch`` percent-encodes parameters,
    so ``/customers/a%20b``). A path with nothing set answers 404, like a real service that does not
    know the resource. ``clock`` (monotonic seconds) drives the circuit breakers.
    """

    def __init__(self, *, policy: ClientPolicy | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.calls: list[FakeCall] = []
        self.waits: list[float] = []
        self._policy = policy or ClientPolicy()
        self._clock = clock
        self._bodies: dict[tuple[str, str], Any] = {}
        self._failures: dict[tuple[str, str], list[_Failure]] = {}
        self._adapters: dict[str, HttpExternalServices] = {}

    def set(self, service: str | ExternalService[Any], path: str, json_body: Any) -> None:
        """Answer ``path`` of ``service`` with 200 and ``json_body`` (checked to be JSON now, not later)."""
        jsonlib.dumps(json_body)
        self._bodies[(_name(service), path)] = json_body

    def fail(
        self,
        service: str | ExternalService[Any],
        path: str,
        status: int | None = 503,
        *,
        times: int | None = 1,
        timeout: bool = False,
        retry_after: int | None = None,
    ) -> None:
        """Make the next ``times`` attempts (None: all) on ``path`` fail, after any failures set before.

        ``status`` None means no answer: connection refused, or a read timeout with ``timeout=True``.
        ``retry_after`` (s) adds a Retry-After header to the answer.
        """
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every attempt)")
        failure = _Failure(status, times, timeout, retry_after)
        self._failures.setdefault((_name(service), path), []).append(failure)

    def circuit(self, service: str | ExternalService[Any]) -> CircuitBreaker:
        """The circuit breaker of ``service`` (it exists from the first call to the service on)."""
        name = _name(service)
        if name not in self._adapters:
            raise LookupError(f"FakeExternalServices: no call to {name!r} yet, so no circuit")
        return self._adapters[name].circuit(name)

    def calls_to(self, service: str | ExternalService[Any], path: str | None = None) -> list[FakeCall]:
        """The calls made to ``service`` (and ``path``, if given), in order."""
        name = _name(service)
        return [c for c in self.calls if c.service == name and (path is None or c.path == path)]

    async def get(self, service: ExternalService[Any], path: str, headers: Mapping[str, str]) -> Any:
        """GET ``path`` of the service; returns the decoded JSON body or raises ExternalServiceError."""
        return await (await self._adapter(service)).get(service, path, headers)

    async def request(
        self,
        service: ExternalService[Any],
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Like ``HttpExternalServices.request``; answers do not depend on the method."""
        adapter = await self._adapter(service)
        return await adapter.request(service, method, path, json=json, headers=headers)

    async def close(self) -> None:
        """Release the underlying clients (optional: they hold no sockets)."""
        for adapter in self._adapters.values():
            await adapter.close()

    async def _adapter(self, service: ExternalService[Any]) -> HttpExternalServices:
        adapter = self._adapters.get(service.name)
        if adapter is None:
            base_url = service.base_url or _NOWHERE
            adapter = HttpExternalServices(
                [service],
                base_urls={service.name: base_url},
                environ={},  # no credentials from the developer's shell in unit tests
                transport=httpx.MockTransport(self._responder(service.name, httpx.URL(base_url).raw_path)),
                policy=self._policy,
                clock=self._clock,
                sleep=self._wait,
            )
            await adapter.connect()
            self._adapters[service.name] = adapter
        return adapter

    async def _wait(self, seconds: float) -> None:
        self.waits.append(seconds)

    def _responder(self, service: str, prefix: bytes) -> Callable[[httpx.Request], httpx.Response]:
        strip = len(prefix.rstrip(b"/"))

        def respond(request: httpx.Request) -> httpx.Response:
            path = request.url.raw_path[strip:].decode("ascii")
            body = jsonlib.loads(request.content) if request.content else None
            self.calls.append(FakeCall(service, request.method, path, request.headers, body))
            failure = self._next_failure((service, path))
            if failure is not None:
                return _failing(failure, request)
            if (service, path) in self._bodies:
                return httpx.Response(200, json=self._bodies[(service, path)])
            problem = {"title": "Not Found", "detail": f"FakeExternalServices has nothing set for {path}"}
            return httpx.Response(404, json=problem, headers={"Content-Type": "application/problem+json"})

        return respond

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


def _failing(failure: _Failure, request: httpx.Request) -> httpx.Response:
    if failure.status is None:
        # Raised as the real transport raises them, so the adapter's one translation table applies.
        if failure.timeout:
            raise httpx.ReadTimeout("timed out", request=request)
        raise httpx.ConnectError("connection failed", request=request) from ConnectionRefusedError(
            111, "Connection refused"
        )
    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
    return httpx.Response(failure.status, headers=headers)


def _name(service: str | ExternalService[Any]) -> str:
    return service if isinstance(service, str) else service.name
