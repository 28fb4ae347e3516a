"""When `interlink run` turns tracing on (OTEL_* and --otel), what it refuses, and the External Service client
span (HTTP client conventions, its context sent as the traceparent)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from interlink.adapters.http import HttpExternalServices
from interlink.core import ExternalService
from interlink.exceptions import ConfigurationError, ExternalServiceError
from interlink.observability import tracing
from interlink.observability.sdk import start_tracing, tracing_wanted
from tests.support.run_options import assert_documented


@pytest.mark.parametrize(
    ("flag", "environ", "wanted"),
    [
        (False, {}, False),
        (True, {}, True),
        (False, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        (False, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        (False, {"OTEL_TRACES_EXPORTER": "console"}, True),
        (False, {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, False),
        (True, {"OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_tracing_is_on_when_the_flag_or_the_otel_environment_asks(
    flag: bool, environ: dict[str, str], wanted: bool
) -> None:
    """--otel, an OTLP endpoint or a named exporter turn tracing on; `none` and OTEL_SDK_DISABLED keep it off."""
    assert tracing_wanted(flag, environ) is wanted


def test_nothing_is_set_up_when_tracing_is_not_asked_for() -> None:
    """No flag and no OTEL_*: no SDK, tracing stays off."""
    assert start_tracing("d", False, {}) is None
    assert not tracing.enabled()


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "zipkin"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "http/json"),
    ],
)
def test_an_exporter_or_protocol_it_cannot_serve_is_refused_by_name(environ: dict[str, str], named: str) -> None:
    """An unknown exporter or OTLP protocol is a configuration error naming it; tracing stays off."""
    with pytest.raises(ConfigurationError, match=named):
        start_tracing("d", False, environ)
    assert not tracing.enabled()


def test_the_otel_and_log_options_are_in_the_help_and_the_docs() -> None:
    """`interlink run --help` and docs/observability.md list --otel, --access-log and --log-payloads with their
    variables."""
    assert_documented(
        {
            "--otel": "INTERLINK_OTEL",
            "--access-log": "INTERLINK_ACCESS_LOG",
            "--log-payloads": "INTERLINK_LOG_PAYLOADS",
        },
        "observability.md",
    )


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, every span kept in memory; off again afterwards."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    yield exporter
    tracing.disable()
    provider.shutdown()


async def test_an_external_service_call_is_a_client_span_per_attempt_whose_context_is_sent(
    spans: InMemorySpanExporter,
) -> None:
    """A GET retried once after a 503: two CLIENT spans `GET`, the first an error with its status, the second
    with resend_count 1; each attempt sent its own span's context as the traceparent."""
    sent: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["traceparent"])
        if len(sent) == 1:
            return httpx.Response(503)
        return httpx.Response(200, json={"id": "c1"})

    async def no_wait(_: float) -> None:
        return None

    service: ExternalService[Any] = ExternalService("customer", "/customers/{id}", dict, "http://customer.test")
    async with HttpExternalServices(
        [service], environ={}, transport=httpx.MockTransport(answer), sleep=no_wait
    ) as external:
        await external.get(service, "/customers/c1", {"traceparent": tracing.child_traceparent(None)})
    first, second = spans.get_finished_spans()
    for span, header in ((first, sent[0]), (second, sent[1])):
        assert span.kind is SpanKind.CLIENT
        assert span.name == "GET"
        assert span.context is not None
        assert header.split("-")[2] == format(span.context.span_id, "016x")
        attributes = dict(span.attributes or {})
        assert attributes["peer.service"] == "customer"
        assert attributes["url.full"] == "http://customer.test/customers/c1"
        assert (attributes["server.address"], attributes["server.port"]) == ("customer.test", 80)
    assert dict(first.attributes or {})["http.response.status_code"] == 503
    assert first.status.status_code is StatusCode.ERROR
    assert dict(second.attributes or {})["http.response.status_code"] == 200
    assert dict(second.attributes or {})["http.request.resend_count"] == 1


async def test_a_failed_connection_gives_a_client_span_with_the_error_type(spans: InMemorySpanExporter) -> None:
    """A call that cannot connect: the span says which error, with status ERROR."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async def no_wait(_: float) -> None:
        return None

    service: ExternalService[Any] = ExternalService("customer", "/customers/{id}", dict, "http://customer.test")
    async with HttpExternalServices([service], environ={}, transport=httpx.MockTransport(refuse), sleep=no_wait) as ext:
        with pytest.raises(ExternalServiceError):
            await ext.get(service, "/customers/c1", {})
    found = spans.get_finished_spans()
    assert found
    assert all(dict(s.attributes or {})["error.type"] == "ConnectError" for s in found)
    assert all(s.status.status_code is StatusCode.ERROR for s in found)
