"""The RabbitMQ broker's settings: parsed from its URL once, frozen, and safe to print.

``amqp://user:password@host:port/vhost?option=value&...`` (``amqps://`` for TLS). Options:

- ``namespace`` (default ``interlink``): prefix of every exchange and queue name, so several landscapes
  (or tests) share one vhost without seeing each other's messages;
- ``visibility_timeout`` (s, default 30): a delivery not acked by then is handed back to the queue;
- ``prefetch`` (default 400): deliveries RabbitMQ pushes ahead to each subscription's consumer; about twice
  the consumer's batch keeps the next batch on its way while one is being processed;
- ``request_timeout`` and ``publish_timeout`` (s, defaults 10 and 30): how long connecting or any other
  round trip, and the confirms of one published batch, may take before BrokerUnavailable;
- ``max_message_size`` (bytes, default 134217728: RabbitMQ 3.8+'s own default ``max_message_size`` of
  128 MiB): the largest message to publish. AMQP does not tell a client the server's limit, so set it to
  the server's value (RabbitMQ 4.x lowered its default to 16 MiB); a server that refuses a larger message
  anyway is understood too, and its limit learnt from the refusal;
- TLS, ``amqps://`` only: ``ca_file``, ``cert_file``, ``key_file`` (a client certificate) and ``verify``
  (default true; ``verify=false`` skips certificate and host name checks, for test setups only).

The password never leaves this module in text form: ``repr`` hides it and :meth:`RabbitMqSettings.address`
is what messages and logs show.
"""

from __future__ import annotations

import math
import re
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from interlink.exceptions import ConfigurationError

__all__ = ["RETRY_DELAYS", "RabbitMqSettings", "parse_url", "redact", "retry_bucket"]

_NUMBERS = {"visibility_timeout": 30.0, "request_timeout": 10.0, "publish_timeout": 30.0}
_TLS = ("ca_file", "cert_file", "key_file", "verify")
_OPTIONS = {"namespace", "prefetch", "max_message_size", *_NUMBERS, *_TLS}
#: RabbitMQ's default max_message_size since 3.8 (bytes).
DEFAULT_MAX_MESSAGE_SIZE = 128 * 1024 * 1024
# Names go into exchange and queue names: keep them to characters every RabbitMQ tool shows plainly.
_NAMESPACE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
#: Delays (s) of the retry queues. A retry waits in the smallest one not shorter than its delay: each queue
#: has one message TTL, so it expires messages in order and needs no per-message timer.
RETRY_DELAYS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs (same rule as the runtime's ``redact``)."""
    # Adapters may not import interlink.runtime (import-linter), hence this small twin.
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()


def retry_bucket(delay: float) -> float:
    """The retry queue delay for ``delay``: rounded up to the next bucket, the longest one at most."""
    return next((bucket for bucket in RETRY_DELAYS if bucket >= delay), RETRY_DELAYS[-1])


@dataclass(frozen=True)
class RabbitMqSettings:
    """Everything the broker needs from its URL and keyword overrides (made by :func:`parse_url`)."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    vhost: str = "/"
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True
    namespace: str = "interlink"
    prefetch: int = 400
    visibility_timeout: float = 30.0
    request_timeout: float = 10.0
    publish_timeout: float = 30.0
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE

    @property
    def address(self) -> str:
        """Where the broker is, without credentials: for messages and logs."""
        vhost = "" if self.vhost == "/" else self.vhost
        return f"{'amqps' if self.tls else 'amqp'}://{self.host}:{self.port}/{vhost}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every connection, or None for plain ``amqp://``."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
            if self.cert_file:
                context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"TLS files for {self.address} cannot be loaded: {exc}") from None
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    # -- names: every exchange and queue is prefixed with the namespace ---------------------------------

    def exchange(self, channel: str) -> str:
        """The topic exchange of a channel (``customer.events``: the events its domain produces)."""
        return f"{self.namespace}.{channel}"

    def queue(self, subscription: str) -> str:
        """The quorum queue of a subscription."""
        return f"{self.namespace}.{subscription}"

    def dead_letter_queue(self, subscription: str) -> str:
        """Where a subscription's rejected messages go."""
        return f"{self.namespace}.{subscription}.dead"

    def retry_queue(self, bucket: float) -> str:
        """The retry queue (and its fanout exchange) of one delay bucket, shared by all subscriptions."""
        return f"{self.namespace}.retry.{round(bucket * 1000)}ms"

    @staticmethod
    def queue_arguments(*, dead_letters_to: str | None = None, ttl: float | None = None) -> dict[str, Any]:
        """Arguments of a durable quorum queue; ``dead_letters_to`` and ``ttl`` (s) both dead-letter.

        A subscription's queue dead-letters rejected messages to ``dead_letters_to``; a retry queue
        dead-letters expired ones back to the queue named by their routing key. Both through the default
        exchange, and at-least-once: a message leaves only once its target queue confirmed it (which
        RabbitMQ allows with reject-publish overflow only; no length limit is set, so that never bites).
        """
        arguments: dict[str, Any] = {"x-queue-type": "quorum"}
        if dead_letters_to is not None or ttl is not None:
            arguments |= {"x-dead-letter-exchange": "", "x-dead-letter-strategy": "at-least-once"}
            arguments["x-overflow"] = "reject-publish"
        if dead_letters_to is not None:
            arguments["x-dead-letter-routing-key"] = dead_letters_to
        if ttl is not None:
            arguments["x-message-ttl"] = round(ttl * 1000)
        return arguments


def parse_url(url: str, **overrides: float | int | None) -> RabbitMqSettings:
    """Parse a broker URL; keyword arguments that are not None override the URL's options."""
    safe = redact(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"not a RabbitMQ URL: {safe!r} ({exc})") from None
    if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
        raise ConfigurationError(f"not a RabbitMQ URL: {safe!r} (use amqp://user:pass@host:5672/vhost)")
    options = dict(parse_qsl(parts.query))
    if unknown := set(options) - _OPTIONS:
        raise ConfigurationError(f"unknown option(s) {sorted(unknown)} in broker URL {safe!r}")
    tls = parts.scheme == "amqps"
    if not tls and (given := [k for k in _TLS if k in options]):
        raise ConfigurationError(f"TLS option(s) {given} need an amqps:// URL, got {safe!r}")
    numbers = {name: _number(name, overrides.get(name), options, value, safe) for name, value in _NUMBERS.items()}
    prefetch = overrides.get("prefetch") or options.get("prefetch", "400")
    if not str(prefetch).isdigit() or not 0 < int(prefetch) < 65536:
        raise ConfigurationError(f"prefetch in {safe!r} must be a whole number from 1 to 65535")
    namespace = options.get("namespace", "interlink")
    if not _NAMESPACE.match(namespace):
        raise ConfigurationError(f"namespace {namespace!r} must be 1-64 letters, digits, '_', '.', '-'")
    verify = options.get("verify", "true").lower()
    if verify not in ("true", "false", "1", "0"):
        raise ConfigurationError(f"verify in {safe!r} must be true or false")
    size = str(overrides.get("max_message_size") or options.get("max_message_size", DEFAULT_MAX_MESSAGE_SIZE))
    if not size.isdigit() or int(size) < 1:
        raise ConfigurationError(f"max_message_size in {safe!r} must be a whole number of bytes")
    path = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    return RabbitMqSettings(
        host=parts.hostname,
        port=port or (5671 if tls else 5672),
        username=unquote(parts.username) if parts.username is not None else "guest",
        password=unquote(parts.password) if parts.password is not None else "guest",
        vhost=path or "/",
        tls=tls,
        ca_file=options.get("ca_file"),
        cert_file=options.get("cert_file"),
        key_file=options.get("key_file"),
        verify=verify in ("true", "1"),
        namespace=namespace,
        prefetch=int(prefetch),
        max_message_size=int(size),
        **numbers,
    )


def _number(name: str, override: float | int | None, options: dict[str, str], default: float, url: str) -> float:
    try:
        value = float(override if override is not None else options.get(name, default))
    except ValueError:
        raise ConfigurationError(f"{name} in {url!r} must be a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value}")
    return value
