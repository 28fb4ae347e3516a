"""The External Service adapter over httpx.MockTransport, and FakeExternalServices beside it.

Scenario tests take the ``harness`` fixture and run twice: ``http`` is HttpExternalServices in front of a
scripted server written here; ``fake`` is FakeExternalServices programmed the same way. Same calls, same
errors, same waits: what a handler learns against the fake holds in production.
"""

from __future__ import annotations

import socket
import ssl
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from interlink import Context, Domain
from interlink.adapters import http as http_package
from interlink.adapters.http import CircuitBreaker, ClientPolicy, HttpExternalServices, ServiceEndpoint
from interlink.adapters.http.errors import TRANSLATIONS
from interlink.adapters.stores.memory import MemoryStore
from interlink.core import ExternalService, Role, SystemClock
from interlink.delivery.unit_of_work import UnitOfWork
from interlink.exceptions import ConfigurationError, ExternalServiceError
from interlink.testing.fakes import FakeExternalServices

PARENT_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@dataclass(frozen=True)
class LocalCustomer:
    """The loan domain's own view of a customer."""

    id: str
    name: str


def to_local_customer(payload: dict[str, Any]) -> LocalCustomer:
    return LocalCustomer(id=payload["customerId"], name=f"{payload['firstName']} {payload['lastName']}")


loans = Domain("loan-request")
customers = loans.external_service(
    "customer", resource="/customers/{id}", translate=to_local_customer, base_url="http://customer.test"
)
offers = loans.external_service(
    "credit-offer", resource="/offers/{id}", translate=dict, base_url="http://offers.test/api/v2", retries=0
)
ADA = {"customerId": "42", "firstName": "Ada", "lastName": "Lovelace"}


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the two harnesses -------------------------------------------------------------------------------


class Harness(ABC):
    """One way to stand in for the other domains, programmed in the fake's terms."""

    external: Any
    clock: FakeClock
    waits: list[float]

    @abstractmethod
    def set(self, service: ExternalService[Any], path: str, body: Any) -> None: ...

    @abstractmethod
    def fail(
        self,
        service: ExternalService[Any],
        path: str,
        status: int | None = 503,
        *,
        times: int | None = 1,
        timeout: bool = False,
        retry_after: int | None = None,
    ) -> None: ...

    @abstractmethod
    def calls(self, service: ExternalService[Any], path: str) -> list[Mapping[str, str]]:
        """The headers of every request the service saw on ``path``."""

    @abstractmethod
    def total(self) -> int:
        """How many requests reached any service."""

    def circuit(self, service: ExternalService[Any]) -> CircuitBreaker:
        return self.external.circuit(service.name)  # type: ignore[no-any-return]


class Remote:
    """A scripted server: per (host, path) some failures first, then the body set, else 404."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.bodies: dict[tuple[str, str], Any] = {}
        self.steps: dict[tuple[str, str], list[Callable[[httpx.Request], httpx.Response]]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.url.host, request.url.raw_path.decode())
        if self.steps.get(key):
            return self.steps[key].pop(0)(request)
        if key in self.bodies:
            return httpx.Response(200, json=self.bodies[key])
        return httpx.Response(404)


class HttpHarness(Harness):
    """HttpExternalServices over MockTransport in front of a :class:`Remote`."""

    def __init__(self) -> None:
        self.remote = Remote()
        self.clock = FakeClock()
        self.waits = []
        self.external = HttpExternalServices(
            [customers, offers],
            environ={},
            transport=httpx.MockTransport(self.remote),
            clock=self.clock,
            sleep=self._wait,
        )

    async def _wait(self, seconds: float) -> None:
        self.waits.append(seconds)

    def _key(self, service: ExternalService[Any], path: str) -> tuple[str, str]:
        url = httpx.URL(f"{service.base_url}{path}")
        return url.host, url.raw_path.decode()

    def set(self, service: ExternalService[Any], path: str, body: Any) -> None:
        self.remote.bodies[self._key(service, path)] = body

    def fail(
        self,
        service: ExternalService[Any],
        path: str,
        status: int | None = 503,
        *,
        times: int | None = 1,
        timeout: bool = False,
        retry_after: int | None = None,
    ) -> None:
        def step(request: httpx.Request) -> httpx.Response:
            if status is None and timeout:
                raise httpx.ReadTimeout("timed out", request=request)
            if status is None:
                raise httpx.ConnectError("failed", request=request) from ConnectionRefusedError(111, "refused")
            return httpx.Response(status, headers={"Retry-After": str(retry_after)} if retry_after else {})

        self.remote.steps.setdefault(self._key(service, path), []).extend([step] * (times or 1000))

    def total(self) -> int:
        return len(self.remote.requests)

    def calls(self, service: ExternalService[Any], path: str) -> list[Mapping[str, str]]:
        key = self._key(service, path)
        return [r.headers for r in self.remote.requests if (r.url.host, r.url.raw_path.decode()) == key]


class FakeHarness(Harness):
    """FakeExternalServices, programmed directly."""

    external: FakeExternalServices

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.external = FakeExternalServices(clock=self.clock)
        self.waits = self.external.waits

    def set(self, service: ExternalService[Any], path: str, body: Any) -> None:
        self.external.set(service, path, body)

    def fail(
        self,
        service: ExternalService[Any],
        path: str,
        status: int | None = 503,
        *,
        times: int | None = 1,
        timeout: bool = False,
        retry_after: int | None = None,
    ) -> None:
        self.external.fail(service, path, status, times=times, timeout=timeout, retry_after=retry_after)

    def total(self) -> int:
        return len(self.external.calls)

    def calls(self, service: ExternalService[Any], path: str) -> list[Mapping[str, str]]:
        return [call.headers for call in self.external.calls_to(service, path)]


@pytest.fixture(params=["http", "fake"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """The real adapter over MockTransport, then the fake, with the same programming."""
    made: Harness = HttpHarness() if request.param == "http" else FakeHarness()
    if isinstance(made, HttpHarness):
        await made.external.connect()
    yield made
    await made.external.close()


def real(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> HttpExternalServices:
    """An adapter for both declared services over ``handler``, with no environment and no waiting."""

    async def no_wait(seconds: float) -> None:
        return None

    kw.setdefault("environ", {})
    return HttpExternalServices([customers, offers], transport=httpx.MockTransport(handler), sleep=no_wait, **kw)


# -- configuration -----------------------------------------------------------------------------------


def test_package_public_surface_is_pinned() -> None:
    """adapters.http exports exactly the adapter, its settings and its circuit breaker."""
    assert sorted(http_package.__all__) == ["CircuitBreaker", "ClientPolicy", "HttpExternalServices", "ServiceEndpoint"]


def test_base_url_resolution_order() -> None:
    """Explicit base_urls beat INTERLINK_SERVICE_<NAME>_URL, which beats the declaration's default."""
    env = {
        "INTERLINK_SERVICE_CUSTOMER_URL": "http://env-customer:8080/",
        "INTERLINK_SERVICE_CREDIT_OFFER_URL": "https://env-offers",
    }
    assert ServiceEndpoint.resolve(customers, {}, {}).base_url == "http://customer.test"
    assert ServiceEndpoint.resolve(customers, {}, env).base_url == "http://env-customer:8080"
    assert ServiceEndpoint.resolve(offers, {}, env).base_url == "https://env-offers"
    explicit = {"customer": "http://settings-customer"}
    assert ServiceEndpoint.resolve(customers, explicit, env).base_url == "http://settings-customer"


def test_missing_base_url_names_the_variable_to_set() -> None:
    """A service with no base URL anywhere fails at construction, naming its environment variable."""
    bare = ExternalService("credit-offer", "/offers/{id}", dict)
    with pytest.raises(ConfigurationError, match="INTERLINK_SERVICE_CREDIT_OFFER_URL"):
        HttpExternalServices([bare], environ={})


@pytest.mark.parametrize(
    "url",
    [
        "ftp://customer.test",
        "customer.test",
        "http://",
        "http://customer.test?token=x",
        "http://h/#frag",
        "http://h:99999",
        "http://[::1",
    ],
)
def test_unusable_base_url_is_refused(url: str) -> None:
    """Only http(s) URLs with a host and no query or fragment are base URLs."""
    with pytest.raises(ConfigurationError, match="customer"):
        HttpExternalServices([customers], base_urls={"customer": url}, environ={})


def test_duplicate_or_unknown_services_are_refused() -> None:
    """The same name twice, or a base URL for an undeclared service, is a configuration error."""
    with pytest.raises(ConfigurationError, match="twice"):
        HttpExternalServices([customers, customers], environ={})
    with pytest.raises(ConfigurationError, match="undeclared"):
        HttpExternalServices([customers], base_urls={"customr": "http://x"}, environ={})


async def test_credentials_from_environment_are_sent_and_never_shown() -> None:
    """TOKEN gives a bearer header, API_KEY an X-API-Key; a caller cannot override them; no repr or error shows them."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    env = {"INTERLINK_SERVICE_CUSTOMER_TOKEN": "t0ken-s3cret", "INTERLINK_SERVICE_CUSTOMER_API_KEY": "k3y-s3cret"}
    async with real(handler, environ=env) as external:
        with pytest.raises(ExternalServiceError) as caught:
            await external.get(customers, "/customers/42?access_token=q-s3cret", {"authorization": "Bearer forged"})
        shown = [repr(external), str(caught.value), caught.value.url, caught.value.reason, repr(caught.value)]
    shown.append(repr(ServiceEndpoint.resolve(customers, {}, env)))
    assert seen[0].headers.get_list("Authorization") == ["Bearer t0ken-s3cret"]
    assert seen[0].headers["X-API-Key"] == "k3y-s3cret"
    assert all("s3cret" not in text for text in shown), shown
    assert caught.value.url == "http://customer.test/customers/42"


async def test_password_in_the_base_url_is_used_and_never_shown() -> None:
    """user:password in the base URL is sent as Basic auth, never shown; beside a TOKEN it is ambiguous, so refused."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503)

    base = {"customer": "http://ada:pw-s3cret@customer.test"}
    async with real(handler, base_urls=base) as external:
        with pytest.raises(ExternalServiceError) as caught:
            await external.get(offers, "/offers/1", {})
        with pytest.raises(ExternalServiceError) as caught:
            await external.get(customers, "/customers/1", {})
        shown = [repr(external), str(caught.value), repr(ServiceEndpoint.resolve(customers, base, {}))]
    assert seen[-1].headers["Authorization"].startswith("Basic ")
    assert all("s3cret" not in text for text in shown), shown
    with pytest.raises(ConfigurationError, match="keep one") as refused:
        real(handler, base_urls=base, environ={"INTERLINK_SERVICE_CUSTOMER_TOKEN": "t-s3cret"})
    assert "s3cret" not in str(refused.value)


async def test_static_headers_of_the_declaration_are_sent() -> None:
    """Headers declared on the service go with every call, beside the caller's."""
    seen: list[httpx.Request] = []
    versioned = ExternalService("customer", "/c/{id}", dict, "http://c.test", headers={"Accept-Version": "2"})

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    async with HttpExternalServices([versioned], environ={}, transport=httpx.MockTransport(handler)) as external:
        await external.get(versioned, "/c/1", {"X-Correlation-Id": "c-1"})
    assert seen[0].headers["Accept-Version"] == "2"
    assert seen[0].headers["X-Correlation-Id"] == "c-1"


async def test_lifecycle_connect_ping_close() -> None:
    """Calls and ping need connect(); connect is idempotent; close ends it; unknown services are named."""
    external = real(lambda request: httpx.Response(200, json={}))
    with pytest.raises(ConfigurationError, match="not connected"):
        await external.ping()
    with pytest.raises(ConfigurationError, match="not connected"):
        await external.get(customers, "/customers/1", {})
    await external.connect()
    await external.connect()
    await external.ping()
    assert await external.get(customers, "/customers/1", {}) == {}
    stranger = ExternalService("stranger", "/s", dict, "http://s.test")
    with pytest.raises(ConfigurationError, match="stranger"):
        await external.get(stranger, "/s", {})
    await external.close()
    with pytest.raises(ConfigurationError, match="not connected"):
        await external.get(customers, "/customers/1", {})


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Correlation-Id": "a\r\nX-Injected: 1"},
        {"X-Correlation-Id": "caf\u00e9"},
        {"Bad Name": "x"},
        {"Host": "evil.test"},
    ],
    ids=["crlf", "non-ascii", "bad-name", "host"],
)
async def test_unsafe_caller_headers_are_refused_unsent(harness: Harness, headers: dict[str, str]) -> None:
    """A header that could split the request, cannot be encoded, or would change the Host is refused before any call."""
    with pytest.raises(ConfigurationError, match="header"):
        await harness.external.get(customers, "/customers/42", headers)
    assert harness.total() == 0
    assert harness.circuit(customers).state == "closed"


def test_unsafe_configured_headers_are_refused_at_construction() -> None:
    """A token that is not visible ASCII fails at start-up, without showing it."""
    with pytest.raises(ConfigurationError, match="Authorization") as caught:
        real(lambda request: httpx.Response(200), environ={"INTERLINK_SERVICE_CUSTOMER_TOKEN": "s3cret\n"})
    assert "s3cret" not in str(caught.value)


# -- paths -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "customers/1",
        "http://evil.test/customers/1",
        "//evil.test/customers/1",
        "/\\evil.test",
        "/customers/../admin",
        "/customers/%2e%2e/admin",
        "/customers/a%2F..%2Fadmin",
        "/customers/./1",
        "/customers/1\r\nX-Injected: 1",
        "/customers/1 2",
    ],
)
async def test_a_path_cannot_leave_the_base_url(harness: Harness, path: str) -> None:
    """Absolute URLs, '//' prefixes, dot segments (encoded too) and control characters are refused unsent."""
    with pytest.raises(ConfigurationError, match="path"):
        await harness.external.get(offers, path, {})
    assert harness.total() == 0


async def test_path_is_appended_to_the_base_url_prefix(harness: Harness) -> None:
    """A base URL with a path prefix keeps it; the query string of the path goes along."""
    harness.set(offers, "/offers/7?expand=terms", {"id": "7"})
    assert await harness.external.get(offers, "/offers/7?expand=terms", {}) == {"id": "7"}


# -- the same scenarios on both harnesses ---------------------------------------------------------------


async def test_fetch_translates_and_propagates_correlation_and_trace(harness: Harness) -> None:
    """ctx.fetch via the unit of work sends X-Correlation-Id and a child traceparent, and returns the local model."""
    harness.set(customers, "/customers/42", ADA)
    async with MemoryStore("memory://", domain=loans.name) as store:
        uow = UnitOfWork(loans, store, SystemClock(), traceparent=PARENT_TRACE, external=harness.external)
        ctx = Context(loans, uow, Role.QUERY, name="get_loan", clock=SystemClock(), correlation_id="corr-7")
        assert await ctx.fetch(customers, id="42") == LocalCustomer("42", "Ada Lovelace")
    (headers,) = harness.calls(customers, "/customers/42")
    assert headers["X-Correlation-Id"] == "corr-7"
    version, trace, span, flags = headers["traceparent"].split("-")
    assert (version, trace, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert span != "00f067aa0ba902b7"


@pytest.mark.parametrize(
    ("status", "times_out"),
    [(503, False), (500, False), (429, False), (None, False), (None, True)],
    ids=["503", "500", "429", "refused", "timeout"],
)
async def test_retryable_failure_is_retried_then_succeeds(
    harness: Harness, status: int | None, times_out: bool
) -> None:
    """One 5xx, 429, refused connection or timeout, then success: two calls and the body."""
    harness.fail(customers, "/customers/42", status, timeout=times_out)
    harness.set(customers, "/customers/42", ADA)
    assert await harness.external.get(customers, "/customers/42", {}) == ADA
    assert len(harness.calls(customers, "/customers/42")) == 2
    assert len(harness.waits) == 1
    assert 0 <= harness.waits[0] <= ClientPolicy().backoff


async def test_retries_are_bounded_and_backoff_grows_within_its_cap(harness: Harness) -> None:
    """A source that keeps failing gets 1 + retries calls; waits stay within the full-jitter ceilings."""
    harness.fail(customers, "/customers/42", 503, times=None)
    with pytest.raises(ExternalServiceError) as caught:
        await harness.external.get(customers, "/customers/42", {})
    assert (caught.value.status, caught.value.retryable, caught.value.gone) == (503, True, False)
    assert len(harness.calls(customers, "/customers/42")) == 1 + customers.retries
    policy = ClientPolicy()
    ceilings = [min(policy.max_backoff, policy.backoff * 2**n) for n in range(customers.retries)]
    assert len(harness.waits) == customers.retries
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(harness.waits, ceilings, strict=True))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422])
async def test_client_errors_are_never_retried(harness: Harness, status: int) -> None:
    """A 4xx is the request's fault: one call, not retryable; 404 and 410 say the resource is gone."""
    harness.fail(customers, "/customers/42", status)
    harness.set(customers, "/customers/42", ADA)
    with pytest.raises(ExternalServiceError) as caught:
        await harness.external.get(customers, "/customers/42", {})
    assert (caught.value.status, caught.value.retryable, caught.value.gone) == (status, False, status in (404, 410))
    assert len(harness.calls(customers, "/customers/42")) == 1


async def test_unknown_resource_is_gone(harness: Harness) -> None:
    """Nothing at the path: a 404 ExternalServiceError with .gone, after one call."""
    with pytest.raises(ExternalServiceError) as caught:
        await harness.external.get(customers, "/customers/404", {})
    assert caught.value.gone
    assert len(harness.calls(customers, "/customers/404")) == 1


@pytest.mark.parametrize(("method", "calls"), [("POST", 1), ("PATCH", 1), ("PUT", 2), ("DELETE", 2)])
async def test_only_idempotent_methods_are_retried(harness: Harness, method: str, calls: int) -> None:
    """POST and PATCH go once whatever happens; PUT and DELETE are retried like GET."""
    harness.fail(customers, "/customers/42", 503)
    harness.set(customers, "/customers/42", ADA)
    if calls == 1:
        with pytest.raises(ExternalServiceError, match="503"):
            await harness.external.request(customers, method, "/customers/42", json={"a": 1})
    else:
        assert await harness.external.request(customers, method, "/customers/42", json={"a": 1}) == ADA
    assert len(harness.calls(customers, "/customers/42")) == calls


async def test_retry_after_is_honoured(harness: Harness) -> None:
    """A 429 with Retry-After: 2 waits exactly 2 s (no jitter) before the retry."""
    harness.fail(customers, "/customers/42", 429, retry_after=2)
    harness.set(customers, "/customers/42", ADA)
    assert await harness.external.get(customers, "/customers/42", {}) == ADA
    assert harness.waits == [2.0]


async def test_retry_after_beyond_the_cap_ends_the_retries(harness: Harness) -> None:
    """A Retry-After longer than max_retry_after is not waited for: the 429 is raised at once, retryable."""
    harness.fail(customers, "/customers/42", 429, retry_after=3600)
    harness.set(customers, "/customers/42", ADA)
    with pytest.raises(ExternalServiceError) as caught:
        await harness.external.get(customers, "/customers/42", {})
    assert (caught.value.status, caught.value.retryable) == (429, True)
    assert harness.waits == []
    assert len(harness.calls(customers, "/customers/42")) == 1


async def test_circuit_opens_fails_fast_half_opens_and_closes(harness: Harness) -> None:
    """5 failures open it; then no call is made until the cooldown; one trial call closes it on success."""
    path = "/offers/1"
    harness.fail(offers, path, 503, times=5)
    harness.set(offers, path, {"id": "1"})
    for _ in range(5):
        with pytest.raises(ExternalServiceError):
            await harness.external.get(offers, path, {})
    assert harness.circuit(offers).state == "open"
    with pytest.raises(ExternalServiceError) as caught:
        await harness.external.get(offers, path, {})
    assert (caught.value.status, caught.value.reason, caught.value.retryable) == (None, "circuit open", True)
    assert len(harness.calls(offers, path)) == 5
    harness.clock.now += 29.9
    assert harness.circuit(offers).state == "open"
    harness.clock.now += 0.1
    assert harness.circuit(offers).state == "half-open"
    assert await harness.external.get(offers, path, {}) == {"id": "1"}
    assert harness.circuit(offers).state == "closed"
    assert len(harness.calls(offers, path)) == 6


async def test_failed_trial_reopens_the_circuit(harness: Harness) -> None:
    """A half-open trial that fails opens the circuit for another cooldown at once."""
    path = "/offers/1"
    harness.fail(offers, path, None, times=6)
    for _ in range(5):
        with pytest.raises(ExternalServiceError, match="connection refused"):
            await harness.external.get(offers, path, {})
    harness.clock.now += 30
    with pytest.raises(ExternalServiceError, match="connection refused"):
        await harness.external.get(offers, path, {})
    with pytest.raises(ExternalServiceError, match="circuit open"):
        await harness.external.get(offers, path, {})
    assert len(harness.calls(offers, path)) == 6


async def test_retries_count_toward_the_circuit_and_stop_when_it_opens(harness: Harness) -> None:
    """Every failed attempt counts; once the circuit opens mid-call, no further attempt is made."""
    harness.fail(customers, "/customers/42", 503, times=None)
    for _ in range(2):  # 3 attempts each: the fifth failure opens the circuit during the second call
        with pytest.raises(ExternalServiceError, match="503"):
            await harness.external.get(customers, "/customers/42", {})
    assert harness.circuit(customers).state == "open"
    assert len(harness.calls(customers, "/customers/42")) == 5


async def test_client_errors_do_not_open_the_circuit(harness: Harness) -> None:
    """A source that answers 404 is up: any number of them leaves the circuit closed."""
    for _ in range(10):
        with pytest.raises(ExternalServiceError):
            await harness.external.get(offers, "/offers/missing", {})
    assert harness.circuit(offers).state == "closed"


# -- the translation tables ---------------------------------------------------------------------------


def _refused() -> httpx.ConnectError:
    try:
        raise httpx.ConnectError("All connection attempts failed") from ConnectionRefusedError(111, "refused")
    except httpx.ConnectError as exc:
        return exc


def _caused(exc: httpx.HTTPError, cause: BaseException) -> httpx.HTTPError:
    exc.__cause__ = cause
    return exc


DRIVER_ERRORS: list[tuple[BaseException, str]] = [
    (_refused(), "connection refused"),
    (_caused(httpx.ReadError("reset"), ConnectionResetError(104, "reset")), "connection reset"),
    (_caused(httpx.ConnectError("dns"), socket.gaierror(-2, "Name or service not known")), "host not found"),
    (_caused(httpx.ConnectError("tls"), ssl.SSLError(1, "CERTIFICATE_VERIFY_FAILED")), "TLS error"),
    (httpx.ConnectTimeout("t"), "connect timeout"),
    (httpx.ReadTimeout("t"), "read timeout"),
    (httpx.WriteTimeout("t"), "write timeout"),
    (httpx.PoolTimeout("t"), "timeout waiting for a free connection"),
    (httpx.TimeoutException("t"), "timeout"),
    (TimeoutError(), "timeout"),
    (httpx.ConnectError("x"), "cannot connect"),
    (httpx.ReadError("x"), "connection lost while reading"),
    (httpx.WriteError("x"), "connection lost while writing"),
    (httpx.RemoteProtocolError("Server disconnected without sending a response."), "protocol error"),
    (httpx.LocalProtocolError("x"), "protocol error"),
    (httpx.ProxyError("x"), "proxy error"),
    (httpx.UnsupportedProtocol("x"), "unsupported protocol"),
    (httpx.DecodingError("x"), "undecodable response body"),
    (httpx.TooManyRedirects("x"), "too many redirects"),
    (httpx.TransportError("x"), "request failed"),
    (OSError("x"), "network error"),
]


@pytest.mark.parametrize(
    ("exc", "reason"),
    DRIVER_ERRORS,
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
async def test_driver_errors_translation_table(exc: BaseException, reason: str) -> None:
    """Every httpx (or socket) exception becomes one ExternalServiceError: status None, short reason, retryable."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    async with real(handler) as external:
        with pytest.raises(ExternalServiceError) as caught:
            await external.get(offers, "/offers/1?sig=secret", {})
    error = caught.value
    assert (error.status, error.reason, error.retryable, error.gone) == (None, reason, True, False)
    assert (error.service, error.url) == ("credit-offer", "http://offers.test/api/v2/offers/1")


def test_translation_table_is_fully_pinned() -> None:
    """Each row of TRANSLATIONS has a case in the parametrised table above, so a new row needs a test."""
    assert {reason for _, reason in TRANSLATIONS} == {reason for _, reason in DRIVER_ERRORS}


PROBLEM = {"Content-Type": "application/problem+json"}
HTTP_DATE = (datetime(2000, 1, 1, tzinfo=UTC)).strftime("%a, %d %b %Y %H:%M:%S GMT")


@pytest.mark.parametrize(
    ("response", "status", "reason"),
    [
        (httpx.Response(404), 404, "Not Found"),
        (httpx.Response(410), 410, "Gone"),
        (httpx.Response(302, headers={"Location": "http://evil.test"}), 302, "Found"),
        (
            httpx.Response(503, json={"title": "Maintenance", "detail": "back at 10:00"}, headers=PROBLEM),
            503,
            "Maintenance: back at 10:00",
        ),
        (httpx.Response(422, json={"title": "Invalid customer id"}, headers=PROBLEM), 422, "Invalid customer id"),
        (httpx.Response(409, json={"type": "about:blank"}, headers=PROBLEM), 409, "Conflict"),
        (httpx.Response(500, content=b"not json", headers=PROBLEM), 500, "Internal Server Error"),
        (httpx.Response(400, json={"title": "ignored: not problem+json"}), 400, "Bad Request"),
        (httpx.Response(400, json={"title": "x" * 500}, headers=PROBLEM), 400, "x" * 197 + "..."),
        (httpx.Response(599), 599, "HTTP 599"),
        (httpx.Response(200, content=b"<html>hello</html>"), 200, "invalid JSON"),
        (httpx.Response(200), 200, "invalid JSON"),
    ],
    ids=lambda value: None if not isinstance(value, httpx.Response) else f"{value.status_code}",
)
async def test_response_errors_translation_table(response: httpx.Response, status: int, reason: str) -> None:
    """A non-2xx answer carries its status and the problem's title/detail or the reason phrase; a 2xx must be JSON."""
    async with real(lambda request: response) as external:
        with pytest.raises(ExternalServiceError) as caught:
            await external.get(offers, "/offers/1", {})
    assert (caught.value.status, caught.value.reason) == (status, reason)


async def test_empty_answers_decode_to_none() -> None:
    """204, HEAD and an empty reply to a write give None; a JSON reply to a write is returned."""
    replies = {
        "/offers/a": httpx.Response(204),
        "/offers/b": httpx.Response(201),
        "/offers/c": httpx.Response(201, json=[1]),
    }
    async with real(lambda request: replies.get(request.url.path[7:], httpx.Response(200))) as external:
        assert await external.get(offers, "/offers/a", {}) is None
        assert await external.request(offers, "HEAD", "/offers/z") is None
        assert await external.request(offers, "POST", "/offers/b", json={}) is None
        assert await external.request(offers, "POST", "/offers/c", json={}) == [1]


@pytest.mark.parametrize(("header", "waited"), [("0", [0.0]), (HTTP_DATE, [0.0]), ("soon", None)])
async def test_retry_after_forms(header: str, waited: list[float] | None) -> None:
    """Retry-After as seconds or as a past HTTP-date is waited for; an unreadable one falls back to backoff."""
    answers = [httpx.Response(503, headers={"Retry-After": header}), httpx.Response(200, json={})]
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    external = HttpExternalServices(
        [customers], environ={}, transport=httpx.MockTransport(lambda request: answers.pop(0)), sleep=record
    )
    async with external:
        assert await external.get(customers, "/customers/1", {}) == {}
    if waited is None:
        assert 0 <= waits[0] <= ClientPolicy().backoff
    else:
        assert waits == waited


# -- the circuit breaker and the fake on their own ------------------------------------------------------


def test_circuit_breaker_state_machine() -> None:
    """Closed until the threshold; open; one trial when half-open; abandoning a trial frees the slot."""
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, cooldown=10, clock=clock)
    assert breaker.allow()
    breaker.failed()
    assert breaker.state == "closed"
    breaker.failed()
    assert (breaker.state, breaker.allow()) == ("open", False)
    clock.now += 10
    assert breaker.allow()
    assert not breaker.allow()  # the trial is in flight: everyone else still fails fast
    breaker.abandoned()
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == "closed"
    assert "closed" in repr(breaker)
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker(threshold=0)


async def test_fake_records_calls_and_checks_its_programming() -> None:
    """The fake records method, path, headers and body; refuses non-JSON bodies and times=0; names unused circuits."""
    fake = FakeExternalServices()
    with pytest.raises(TypeError):
        fake.set("customer", "/customers/1", object())
    with pytest.raises(ValueError, match="times"):
        fake.fail("customer", "/customers/1", times=0)
    with pytest.raises(LookupError, match="customer"):
        fake.circuit("customer")
    fake.set(customers, "/customers/1", ADA)
    await fake.request(customers, "PUT", "/customers/1", json={"x": 1}, headers={"X-Correlation-Id": "c"})
    (call,) = fake.calls
    assert (call.service, call.method, call.path, call.json) == ("customer", "PUT", "/customers/1", {"x": 1})
    assert call.headers["x-correlation-id"] == "c"
    with pytest.raises(ExternalServiceError, match="nothing set for /customers/2"):
        await fake.get(customers, "/customers/2", {})
    await fake.close()
