"""The wire layout of a broker URL: the URL ``interlink run --broker`` takes, read into its :class:`Wire`."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlsplit

from interlink.exceptions import ConfigurationError
from interlink.specs.wire import AmqpWire, EmbeddedWire, MemoryWire, NatsWire, RedisWire, Wire, redacted

__all__ = ["wire_for"]

_DEFAULT_NAMESPACE = "interlink"


def _host(hostname: str | None, port: int | None, default_port: int) -> str:
    host = hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port or default_port}"


def wire_for(url: str) -> Wire:
    """The layout of the broker at ``url`` (the same URLs ``interlink run --broker`` takes)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"not a broker URL: {redacted(url)!r} ({exc})") from None
    options = dict(parse_qsl(parts.query))
    namespace = options.get("namespace", _DEFAULT_NAMESPACE)
    scheme = parts.scheme
    if scheme == "sqlite":
        return EmbeddedWire(url, pathname=parts.path or None, options=options)
    if scheme == "memory":
        return MemoryWire(url, options=options)
    if scheme in ("amqp", "amqps"):
        vhost = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
        vhost = vhost or "/"
        return AmqpWire(
            url, namespace=namespace, host=_host(parts.hostname, port, 5671 if scheme == "amqps" else 5672),
            pathname=None if vhost == "/" else "/" + quote(vhost, safe=""), tls=scheme == "amqps",
            options=options, vhost=vhost,
        )  # fmt: skip
    if scheme in ("nats", "tls"):
        tls = scheme == "tls" or options.get("tls", "").lower() in ("1", "true", "yes", "on")
        tls = tls or any(options.get(f) for f in ("ca_file", "cert_file", "key_file"))
        return NatsWire(url, namespace=namespace, host=_host(parts.hostname, port, 4222), tls=tls, options=options)
    if scheme in ("redis", "rediss"):
        db = parts.path.strip("/") or "0"
        return RedisWire(
            url, namespace=namespace, host=_host(parts.hostname, port, 6379), pathname=f"/{db}",
            tls=scheme == "rediss", options=options,
        )  # fmt: skip
    raise ConfigurationError(
        f"no broker for {scheme or '(no scheme)'}:// in {redacted(url)!r}; known: amqp, amqps, memory, nats, "
        "redis, rediss, sqlite, tls"
    )
