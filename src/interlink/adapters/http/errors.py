"""The one place where httpx's exceptions and unwelcome answers become ``ExternalServiceError``.

Two ways a call fails: no usable answer (an httpx or socket exception: :func:`translate`, status None,
always retryable) or an answer that is not a success (:func:`from_response`, with the status, so
``retryable`` and ``gone`` follow from it). Reasons are short and fixed, or the other domain's own
RFC 9457 title and detail; the URL is always :func:`~interlink.adapters.http.config.redact`-ed by the
caller, and no header ever appears, so no credential can leak through an error.
"""

from __future__ import annotations

import email.utils
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx

from interlink.exceptions import ExternalServiceError

__all__ = ["TRANSLATIONS", "from_response", "retry_after", "translate"]

#: (exception type, reason). The first row that matches the exception *or one of its causes* wins, so the
#: socket errors under httpx's wrappers come first (they say more), then the specific httpx classes before
#: their bases.
TRANSLATIONS: tuple[tuple[type[BaseException], str], ...] = (
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset"),
    (socket.gaierror, "host not found"),
    (ssl.SSLError, "TLS error"),
    (httpx.ConnectTimeout, "connect timeout"),
    (httpx.ReadTimeout, "read timeout"),
    (httpx.WriteTimeout, "write timeout"),
    (httpx.PoolTimeout, "timeout waiting for a free connection"),
    (httpx.TimeoutException, "timeout"),
    (TimeoutError, "timeout"),
    (httpx.ConnectError, "cannot connect"),
    (httpx.ReadError, "connection lost while reading"),
    (httpx.WriteError, "connection lost while writing"),
    (httpx.RemoteProtocolError, "protocol error"),  # e.g. the server closed without answering
    (httpx.LocalProtocolError, "protocol error"),
    (httpx.ProxyError, "proxy error"),
    (httpx.UnsupportedProtocol, "unsupported protocol"),
    (httpx.DecodingError, "undecodable response body"),
    (httpx.TooManyRedirects, "too many redirects"),
    (httpx.HTTPError, "request failed"),
    (OSError, "network error"),
)

_MAX_REASON = 200


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def translate(exc: BaseException, service: str, url: str) -> ExternalServiceError:
    """The ExternalServiceError (status None) for ``exc``, raised while calling ``url`` of ``service``."""
    if isinstance(exc, ExternalServiceError):
        return exc
    causes = list(_chain(exc))
    reason = next((reason for kind, reason in TRANSLATIONS for e in causes if isinstance(e, kind)), None)
    return ExternalServiceError(service, url, reason or type(exc).__name__)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def from_response(response: httpx.Response, service: str, url: str) -> ExternalServiceError:
    """The ExternalServiceError for a non-2xx ``response``: its status, and the problem's title/detail."""
    reason = response.reason_phrase or f"HTTP {response.status_code}"
    media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if media_type == "application/problem+json":
        try:
            problem = response.json()
        except ValueError:
            problem = None
        if isinstance(problem, dict):
            parts = [problem.get(key) for key in ("title", "detail")]
            told = [part for part in parts if isinstance(part, str) and part.strip()]
            if told:
                reason = ": ".join(told)
    return ExternalServiceError(service, url, _short(reason), status=response.status_code)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the response's Retry-After header asks to wait (delta-seconds or HTTP-date), or None."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable: fall back to our own backoff rather than guess
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
