"""HTTP spans after the OpenTelemetry HTTP conventions: the server span of every API request, and the client
span of every External Service call (each attempt: a retried call is one span per attempt).

Both do nothing while tracing is off (:mod:`interlink.observability.tracing`).
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

__all__ = ["HttpCall", "HttpServerTracing", "http_call"]

_propagator = TraceContextTextMapPropagator()

ASGIApp = Any


class HttpServerTracing:
    """ASGI middleware: a SERVER span ``{method} {route}`` per HTTP request, a child of the caller's
    ``traceparent``; the command or query it runs, and the messages that creates, are its children."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        tracer = tracing._tracer
        if tracer is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        method = scope["method"]
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        if scope.get("query_string"):
            attributes["url.query"] = scope["query_string"].decode("latin-1")
        if scope.get("server"):
            attributes["server.address"], attributes["server.port"] = scope["server"][0], scope["server"][1]
        if scope.get("client"):
            attributes["client.address"] = scope["client"][0]
        if "user-agent" in headers:
            attributes["user_agent.original"] = headers["user-agent"]
        root_path = scope.get("root_path", "")
        with tracer.start_as_current_span(
            method, context=_propagator.extract(headers), kind=SpanKind.SERVER, attributes=attributes
        ) as span:

            async def sending(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_attribute("error.type", str(status))
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, sending)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    # Under a mount (several domains in one process) the route is relative to the mount.
                    template = scope.get("root_path", "")[len(root_path) :] + route
                    span.set_attribute("http.route", template)
                    span.update_name(f"{method} {template}")


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
    if tracing._tracer is None:
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
