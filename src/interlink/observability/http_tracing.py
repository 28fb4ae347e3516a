"""The client span of every External Service call, after the OpenTelemetry HTTP conventions (one span per
attempt: a retried call is several). Nothing while tracing is off (:mod:`interlink.observability.tracing`).

The server span of every API request is FastAPI's own (its native telemetry, on whenever a tracer provider
is configured, as ``interlink run`` does when tracing is asked for): HTTP conventions, ``http.route``
included, the caller's ``traceparent`` as its parent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from interlink.observability import tracing

__all__ = ["HttpCall", "http_call"]

_propagator = TraceContextTextMapPropagator()


class HttpCall:
    """One External Service request in its client span: :meth:`headers` carries the span's context."""

    def __init__(self, span: trace.Span | None) -> None:
        self._span = span

    def headers(self, sent: Mapping[str, str]) -> Mapping[str, str]:
        """``sent`` with this span as the ``traceparent`` the service continues."""
        if self._span is None:
            return sent
        carrier = dict(sent)
        _propagator.inject(carrier, trace.set_span_in_context(self._span))
        return carrier

    def answered(self, status: int) -> None:
        """Record the response's status (4xx and 5xx are errors of a client span)."""
        if self._span is None:
            return
        self._span.set_attribute("http.response.status_code", status)
        if status >= 400:
            self._span.set_attribute("error.type", str(status))
            self._span.set_status(Status(StatusCode.ERROR))


_NO_CALL = contextlib.nullcontext(HttpCall(None))


def http_call(service: str, method: str, url: str, attempt: int) -> contextlib.AbstractContextManager[HttpCall]:
    """Around one attempt of an External Service call: a CLIENT span ``{method}`` (``url`` with its secrets
    already redacted)."""
    if tracing._tracer is None or tracing.dropped(tracing.parent_of(None)):
        return _NO_CALL
    return _client_span(tracing._tracer, service, method, url, attempt)


@contextlib.contextmanager
def _client_span(tracer: trace.Tracer, service: str, method: str, url: str, attempt: int) -> Iterator[HttpCall]:
    parts = urlsplit(url)
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.full": url,
        "server.address": parts.hostname or "",
        "server.port": parts.port or (443 if parts.scheme == "https" else 80),
        "peer.service": service,
    }
    if attempt > 1:
        attributes["http.request.resend_count"] = attempt - 1
    with tracer.start_as_current_span(method, kind=SpanKind.CLIENT, attributes=attributes) as span:
        try:
            yield HttpCall(span)
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            raise
