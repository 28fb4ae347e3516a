"""Where each external service is and how to authenticate to it: resolved once, frozen, safe to print.

The base URL of a service comes from configuration, in this order:

1. the ``base_urls`` mapping given to the adapter (the runtime's settings);
2. the environment variable ``INTERLINK_SERVICE_<NAME>_URL`` (name upper-cased, ``-`` and other
   punctuation as ``_``);
3. the ``base_url`` of the declaration, a default for development.

Never from an incoming message: a message that could choose the host would turn every consumer into a
proxy to anywhere (server-side request forgery). For the same reason the path of a call is checked so it
can only add to the base URL, never replace its host or climb above its prefix.

Credentials come from the environment only: ``INTERLINK_SERVICE_<NAME>_TOKEN`` (sent as
``Authorization: Bearer ...``) and ``INTERLINK_SERVICE_<NAME>_API_KEY`` (sent as ``X-API-Key``); both are
sent when both are set (an API gateway key in front of a bearer-protected API). They are kept out of
``repr`` and of every message; :func:`redact` is what errors show of a URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from interlink.core.external import ExternalService
from interlink.exceptions import ConfigurationError

__all__ = ["ClientPolicy", "ServiceEndpoint", "env_var", "redact"]

_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field-name
_VALUE = re.compile(r"[\x20-\x7e\t]*")  # visible ASCII, space and tab: nothing to split a header with


def env_var(service: str, setting: str) -> str:
    """The environment variable of ``setting`` (``URL``, ``TOKEN``, ``API_KEY``) for ``service``."""
    return f"INTERLINK_SERVICE_{_NOT_ALNUM.sub('_', service.upper())}_{setting}"


def redact(url: str) -> str:
    """``url`` as errors show it: no user info and no query string, where credentials tend to hide."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc, query="", fragment="").geturl()


def _check_headers(service: str, headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(value) or name.lower() == "host":
            # Neither the value (it may be a credential) nor more than the start of the name is shown.
            raise ConfigurationError(
                f"external service {service!r}: header {name[:40]!r} is not allowed (Host) or not visible ASCII"
            )


def _check_base_url(name: str, url: str, origin: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number in range
    except ValueError:
        raise ConfigurationError(f"external service {name!r}: base URL from {origin} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"external service {name!r}: base URL from {origin} must be http(s)://host[:port][/prefix], "
            f"got {redact(url)!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"external service {name!r}: base URL from {origin} may not have a query")
    return url.rstrip("/")


@dataclass(frozen=True)
class ClientPolicy:
    """How the adapter treats every service; per-service timeouts and retries come from the declarations.

    - ``backoff`` and ``max_backoff`` (s): before retry n, wait a uniform draw from
      [0, min(max_backoff, backoff * 2**(n-1))] ("full jitter", as the delivery retries do);
    - ``max_retry_after`` (s): a 429 or 503 whose Retry-After asks for longer ends the retries at once,
      since calling sooner than asked only earns another refusal; the message-level retry takes over;
    - ``failure_threshold`` and ``cooldown`` (s): the circuit breaker of each service;
    - ``max_connections``: connections kept to each service (keep-alive pool and ceiling).
    """

    backoff: float = 0.2
    max_backoff: float = 5.0
    max_retry_after: float = 30.0
    failure_threshold: int = 5
    cooldown: float = 30.0
    max_connections: int = 20

    def __post_init__(self) -> None:
        if not 0 <= self.backoff <= self.max_backoff or self.max_retry_after < 0 or self.max_connections < 1:
            raise ConfigurationError(
                "ClientPolicy: 0 <= backoff <= max_backoff, max_retry_after >= 0, max_connections >= 1"
            )
        if self.failure_threshold < 1 or self.cooldown < 0:
            raise ConfigurationError("ClientPolicy: failure_threshold >= 1 and cooldown >= 0")


@dataclass(frozen=True, repr=False)
class ServiceEndpoint:
    """One external service as configured for this process: where it is, how long to wait, what to send."""

    name: str
    base_url: str
    timeout: float
    retries: int
    headers: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        # The headers may hold credentials and the base URL a password: neither is shown.
        return f"ServiceEndpoint({self.name!r}, {redact(self.base_url)!r}, timeout={self.timeout})"

    @classmethod
    def resolve(
        cls, service: ExternalService[Any], base_urls: Mapping[str, str], environ: Mapping[str, str]
    ) -> ServiceEndpoint:
        """The endpoint of ``service`` from explicit settings, the environment and the declaration."""
        url_var = env_var(service.name, "URL")
        if service.name in base_urls:
            base_url = _check_base_url(service.name, base_urls[service.name], "settings")
        elif environ.get(url_var):
            base_url = _check_base_url(service.name, environ[url_var], url_var)
        elif service.base_url:
            base_url = _check_base_url(service.name, service.base_url, "its declaration")
        else:
            raise ConfigurationError(
                f"external service {service.name!r} has no base URL: set {url_var} "
                f"(or pass base_urls, or declare base_url=...)"
            )
        headers = dict(service.headers)
        # Configuration decides the credentials, so they are added last and nothing else overrides them.
        if token := environ.get(env_var(service.name, "TOKEN")):
            if urlsplit(base_url).username is not None:
                # httpx would turn the URL's user:password into Basic auth and silently drop the token.
                raise ConfigurationError(
                    f"external service {service.name!r}: {env_var(service.name, 'TOKEN')} is set and the base URL "
                    f"has a user:password; keep one of them"
                )
            headers["Authorization"] = f"Bearer {token}"
        if api_key := environ.get(env_var(service.name, "API_KEY")):
            headers["X-API-Key"] = api_key
        _check_headers(service.name, headers)
        return cls(service.name, base_url, service.timeout, service.retries, headers)

    def headers_for(self, caller: Mapping[str, str]) -> dict[str, str]:
        """The caller's headers (checked) plus the configured ones, which win: credentials are not theirs to set."""
        # The caller's values may come from a message (a correlation id): checked before any attempt, so a
        # bad one is refused once rather than retried and counted against the source's circuit.
        _check_headers(self.name, caller)
        configured = {name.lower() for name in self.headers}
        return {**{k: v for k, v in caller.items() if k.lower() not in configured}, **self.headers}

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` under the base URL; ConfigurationError if it could leave it."""
        # Appended to a base URL without a trailing slash, a path starting with one '/' can only add to it:
        # '//' would start a new host for some parsers, a backslash is a '/' to others, controls split headers.
        if not path.startswith("/") or path.startswith("//") or "\\" in path or any(c < "!" for c in path):
            raise ConfigurationError(
                f"external service {self.name!r}: path must be relative to the base URL, like /items/1"
            )
        # A decoded '..' or '.' segment could climb above the base URL's prefix once a proxy normalises it.
        if any(part in (".", "..") for part in unquote(path.split("?", 1)[0]).split("/")):
            raise ConfigurationError(f"external service {self.name!r}: path may not contain '.' or '..' segments")
        return self.base_url + path
