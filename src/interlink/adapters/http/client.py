"""``HttpExternalServices``: the External Service adapter, calling other domains' APIs over httpx.

One ``httpx.AsyncClient`` per service, built in :meth:`~HttpExternalServices.connect` with the service's
timeout and a bounded connection pool, so a slow domain cannot take every connection of the process.
Each call:

- goes to the configured base URL plus a checked relative path (see :mod:`.config`);
- carries the declaration's static headers, the caller's headers (the unit of work adds
  ``X-Correlation-Id`` and ``traceparent``), and the credentials from the environment, which win;
- is retried with exponential backoff and full jitter, ``service.retries`` times, only when the method is
  idempotent and the failure retryable (no answer, timeout, 429, 5xx); a 4xx is final;
- passes through the service's :class:`~.circuit.CircuitBreaker`, which counts every failed attempt; a
  call refused by an open circuit, or one that opened it, carries the time until the circuit's trial call
  as ``retry_after`` (a 429 or 503 its Retry-After), so a consumer waits for it instead of trying in vain;
- returns the decoded JSON body, or raises one ``ExternalServiceError`` made by :mod:`.errors`.

Translating the payload into this domain's model is the declaration's ``translate``, applied by
``ctx.fetch``: this adapter only moves JSON.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import httpx

from interlink.adapters.http.circuit import CircuitBreaker
from interlink.adapters.http.config import ClientPolicy, ServiceEndpoint, redact
from interlink.adapters.http.errors import from_response, retry_after, translate
from interlink.core.external import ExternalService
from interlink.exceptions import ConfigurationError, ExternalServiceError
from interlink.observability.http_tracing import http_call
from interlink.observability.metrics import hooks as metrics

__all__ = ["IDEMPOTENT_METHODS", "HttpExternalServices"]

log = logging.getLogger("interlink.external")

#: Methods that may be sent twice with the effect of once (RFC 9110 9.2.2), so a retry is safe.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_NOT_CONNECTED = "HttpExternalServices is not connected: call connect() or use 'async with'"


class HttpExternalServices:
    """Reaches the declared external services over HTTP; implements ``core.external.ExternalServices``.

    ``base_urls`` (service name -> URL) overrides the environment and the declarations; ``environ``
    defaults to ``os.environ``; ``transport`` replaces the network (``httpx.MockTransport`` in tests);
    ``clock`` (monotonic seconds) drives the circuit breakers and ``sleep`` the backoff waits.
    Configuration is resolved here, so a service without a base URL fails at start-up, not mid-flow.
    """

    def __init__(
        self,
        services: Sequence[ExternalService[Any]],
        *,
        base_urls: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: ClientPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if environ is None:
            environ = os.environ
        self.policy = policy or ClientPolicy()
        self._endpoints: dict[str, ServiceEndpoint] = {}
        for service in services:
            if service.name in self._endpoints:
                raise ConfigurationError(f"external service {service.name!r} is given twice")
            self._endpoints[service.name] = ServiceEndpoint.resolve(service, base_urls or {}, environ)
        unknown = set(base_urls or {}) - set(self._endpoints)
        if unknown:
            raise ConfigurationError(f"base_urls name undeclared external service(s): {sorted(unknown)}")
        self._circuits = {
            name: CircuitBreaker(threshold=self.policy.failure_threshold, cooldown=self.policy.cooldown, clock=clock)
            for name in self._endpoints
        }
        self._transport = transport
        self._sleep = sleep
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._connected = False
        metrics.watch(self, _circuit_states)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={redact(e.base_url)}" for name, e in self._endpoints.items())
        return f"HttpExternalServices({shown})"

    # -- lifecycle ---------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Build one client per service (no request is sent); calling it again changes nothing."""
        limits = httpx.Limits(
            max_connections=self.policy.max_connections, max_keepalive_connections=self.policy.max_connections
        )
        for name, endpoint in self._endpoints.items():
            if name not in self._clients:
                self._clients[name] = httpx.AsyncClient(
                    transport=self._transport,
                    timeout=httpx.Timeout(endpoint.timeout),
                    limits=limits,
                    headers={"User-Agent": "interlink"},
                )
        self._connected = True

    async def close(self) -> None:
        """Close every client and its connections."""
        clients, self._clients, self._connected = list(self._clients.values()), {}, False
        for client in clients:
            await client.aclose()

    async def ping(self) -> None:
        """Check that the adapter is connected; raises ConfigurationError if not.

        It deliberately calls no other domain: a readiness check that followed our dependencies would
        take this domain out of service whenever one of them is down, spreading the outage.
        """
        if not self._connected:
            raise ConfigurationError(_NOT_CONNECTED)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- calls -------------------------------------------------------------------------------------

    def circuit(self, service: str) -> CircuitBreaker:
        """The circuit breaker of ``service`` (for health reports and tests)."""
        self._endpoint(service)
        return self._circuits[service]

    async def get(self, service: ExternalService[Any], path: str, headers: Mapping[str, str]) -> Any:
        """GET ``path`` of the service; returns the decoded JSON body or raises ExternalServiceError."""
        return await self.request(service, "GET", path, headers=headers)

    async def request(
        self,
        service: ExternalService[Any],
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send ``method path`` (with a JSON body if given); returns the decoded JSON body (None if empty).

        Retries only idempotent methods; raises ExternalServiceError when the call finally fails.
        """
        with metrics.external_call(service.name):
            return await self._request(service, method, path, json=json, headers=headers)

    async def _request(
        self, service: ExternalService[Any], method: str, path: str, *, json: Any, headers: Mapping[str, str] | None
    ) -> Any:
        endpoint = self._endpoint(service.name)
        url = endpoint.url(path)
        client = self._client(service.name)
        circuit = self._circuits[service.name]
        shown = redact(url)
        method = method.upper()
        sent = endpoint.headers_for(headers or {})
        attempts = 1 + (endpoint.retries if method in IDEMPOTENT_METHODS else 0)
        for attempt in range(1, attempts + 1):
            if not circuit.allow():
                raise ExternalServiceError(service.name, shown, "circuit open", retry_after=circuit.remaining())
            asked: float | None = None  # Retry-After
            cause: BaseException | None = None
            try:
                with http_call(service.name, method, shown, attempt) as call:
                    response = await client.request(method, url, json=json, headers=call.headers(sent))
                    call.answered(response.status_code)
            except (httpx.HTTPError, OSError) as exc:
                error, cause = translate(exc, service.name, shown), exc
            except BaseException:
                circuit.abandoned()
                raise
            else:
                if response.is_success:
                    circuit.succeeded()
                    return _decode(response, method, service.name, shown)
                error = from_response(response, service.name, shown)
                asked = error.retry_after = retry_after(response)
            if not error.retryable:
                circuit.succeeded()  # the source answered; the fault is in the request
                raise error from cause
            if self._trip(circuit, error):
                error.retry_after = max(error.retry_after or 0.0, circuit.remaining())
                raise error from cause
            if attempt == attempts:
                raise error from cause
            delay = self._delay(attempt, asked)
            if delay is None:
                raise error from cause
            log.info(
                "external service %r: %s at %s, retry %d/%d in %.2fs",
                service.name,
                error.reason,
                shown,
                attempt,
                attempts - 1,
                delay,
            )
            await self._sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    @staticmethod
    def _trip(circuit: CircuitBreaker, error: ExternalServiceError) -> bool:
        """Count a retryable failure; True when the circuit is now open, so retrying is pointless."""
        was_closed = circuit.state == "closed"
        circuit.failed()
        if circuit.state == "closed":
            return False
        if was_closed:
            log.warning("external service %r: circuit opened after %s at %s", error.service, error.reason, error.url)
        return True

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None when the source asked for more than we wait."""
        if retry_after is not None:
            return retry_after if retry_after <= self.policy.max_retry_after else None
        ceiling = min(self.policy.max_backoff, self.policy.backoff * 2.0 ** min(attempt - 1, 64))
        return random.uniform(0, ceiling)

    def _endpoint(self, name: str) -> ServiceEndpoint:
        try:
            return self._endpoints[name]
        except KeyError:
            known = ", ".join(sorted(self._endpoints)) or "none"
            raise ConfigurationError(f"external service {name!r} is not configured here (known: {known})") from None

    def _client(self, name: str) -> httpx.AsyncClient:
        if not self._connected:
            raise ConfigurationError(_NOT_CONNECTED)
        return self._clients[name]


def _decode(response: httpx.Response, method: str, service: str, url: str) -> Any:
    """The JSON body of a 2xx response; None when there is none to give (204, HEAD, an empty write reply)."""
    # A GET asks for a resource: an empty 200 is as broken as HTML, whereas a write may well answer nothing.
    if response.status_code == 204 or method == "HEAD" or (not response.content and method != "GET"):
        return None
    try:
        return response.json()
    except ValueError:
        raise ExternalServiceError(service, url, "invalid JSON", status=response.status_code) from None


_CIRCUIT_STATES = {"closed": 0, "half-open": 1, "open": 2}


def _circuit_states(client: HttpExternalServices) -> list[tuple[str, dict[str, str | int], float]]:
    """The gauge ``interlink.external_service.circuit_state`` of each service of a client."""
    return [
        ("interlink.external_service.circuit_state", {"interlink.external_service.name": name},
         _CIRCUIT_STATES[circuit.state])
        for name, circuit in client._circuits.items()
    ]  # fmt: skip
