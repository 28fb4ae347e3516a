"""The HTTP access log of ``interlink run --http --access-log``: one line per request on the
``interlink.access`` logger, never a body.

A line names the method, the path (without its query string, which may carry personal data), the status,
the duration and the bytes of the response body sent. It is written inside the request's server span, so
in JSON it carries that span's trace and span ids; with tracing off, the trace id is the caller's
``traceparent``'s, or, when the caller sent none, that of one made here and handed on to the request, the
trace id every message the request causes carries too.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interlink.observability import tracing
from interlink.observability.logs import bound

__all__ = ["AccessLog"]

log = logging.getLogger("interlink.access")

_TRACEPARENT = re.compile(rb"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


class AccessLog:
    """ASGI middleware writing one ``interlink.access`` line per HTTP request once its response is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        traceparent = self._traceparent(scope)
        started = time.perf_counter()
        status, sent = 500, 0

        async def counting(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting)
        finally:
            milliseconds = round((time.perf_counter() - started) * 1000, 3)
            client = scope.get("client")
            fields = {
                "http_method": scope["method"],
                "url_path": scope["path"],
                "http_status": status,
                "duration_ms": milliseconds,
                "response_bytes": sent,
                "client_address": client[0] if client else None,
            }
            # Tracing on: the server span is current here and gives the ids; off: the traceparent does.
            with bound(traceparent=None if tracing.enabled() else traceparent):
                log.info("%s %s %d %.1fms", scope["method"], scope["path"], status, milliseconds, extra=fields)

    @staticmethod
    def _traceparent(scope: Scope) -> str:
        """The caller's valid ``traceparent``; else, with tracing off, a new one added to the request's
        headers, so that the line and what the request causes share one trace id."""
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        found = next((v for k, v in headers if k == b"traceparent"), None)
        if found is not None and _TRACEPARENT.match(found):
            return found.decode("latin-1")
        made = tracing.child_traceparent(None)
        if not tracing.enabled():
            scope["headers"] = [(k, v) for k, v in headers if k != b"traceparent"] + [
                (b"traceparent", made.encode("latin-1"))
            ]
        return made
