"""The NATS broker's configuration: its URL parsed into settings, TLS, redaction, and the names on the server.

::

    nats://user:password@host:4222?namespace=bank&visibility_timeout=30&dedupe_window=120
    nats://token@host:4222
    tls://host:4222?ca_file=ca.pem&cert_file=client.pem&key_file=client.key
    nats://host:4222?tls=1&ca_file=ca.pem

Query options: ``namespace`` (default ``interlink``; prefixes every subject and stream name, so landscapes or
test runs can share a server), ``visibility_timeout`` (s, default 30: the consumers' ack wait),
``dedupe_window`` (s, default 120: the streams' duplicate window), ``request_timeout`` (s, default 5:
JetStream API calls and publish acks), and for TLS ``tls``, ``ca_file``, ``cert_file``, ``key_file``,
``tls_hostname``. A ``tls://`` URL, ``tls=1`` or any certificate file turns TLS on.

Names on the server: a channel's first part is its producing domain; the stream ``<namespace>_<domain>``
holds the subjects ``<namespace>.<domain>.>``, and a message of ``type`` on ``channel`` goes to
``<namespace>.<channel>.<type>``. A subscription has a durable consumer ``<subscription>__<channel>`` per
channel, on that channel's stream. Every part is escaped by :func:`token`.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Collection
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from interlink import urls
from interlink.exceptions import BrokerError, ConfigurationError

__all__ = [
    "NatsSettings", "consumer_config", "history_config", "parse_url", "redact", "ssl_context",
    "stream_config", "token",
]  # fmt: skip

DEFAULTS = {"visibility_timeout": 30.0, "dedupe_window": 120.0, "request_timeout": 5.0}
_FILES = ("ca_file", "cert_file", "key_file")
_OPTIONS = {"namespace", "tls", "tls_hostname", *DEFAULTS, *_FILES}
_NAMESPACE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_KEEP = re.compile(r"[^A-Za-z0-9-]")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def redact(url: str) -> str:
    """The URL without its secrets: the password, and the user part too when it is a bare NATS token."""
    parts = urlsplit(url)
    if parts.password is None and "@" in parts.netloc:
        return parts._replace(netloc=f"***@{parts.netloc.rsplit('@', 1)[1]}").geturl()
    return urls.redact(url)


def token(text: str) -> str:
    """``text`` as one subject token or stream/consumer name: letters, digits and ``-`` stay as they are.

    Anything else becomes ``_`` plus the hex of its UTF-8 bytes (``.`` -> ``_2E``, ``_`` -> ``_5F``), so two
    different texts never share a name. Not ``%``: nats-server 2.9 loses pull requests to names with ``%XX``.
    """
    if not text:
        raise ConfigurationError("NATS names cannot be empty (a channel with an empty part?)")
    return _KEEP.sub(lambda m: "".join(f"_{b:02X}" for b in m.group().encode()), text)


@dataclass(frozen=True)
class NatsSettings:
    """What a :class:`~interlink.adapters.brokers.nats.NatsBroker` connects with; secrets stay out of repr."""

    server: str
    namespace: str = "interlink"
    visibility_timeout: float = DEFAULTS["visibility_timeout"]
    dedupe_window: float = DEFAULTS["dedupe_window"]
    request_timeout: float = DEFAULTS["request_timeout"]
    user: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    auth_token: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_hostname: str | None = None

    def stream(self, channel: str) -> str:
        """The stream of the domain producing on ``channel``."""
        return f"{self.namespace}_{token(channel.split('.', 1)[0])}"

    def stream_subjects(self, channel: str) -> str:
        """The subjects the stream of ``channel`` holds: everything of its producing domain."""
        return f"{self.namespace}.{token(channel.split('.', 1)[0])}.>"

    def channel_subjects(self, channel: str) -> str:
        """Every type on ``channel``."""
        return f"{self.namespace}.{'.'.join(token(part) for part in channel.split('.'))}.*"

    def consumer(self, subscription: str, channel: str) -> str:
        """The durable consumer of ``subscription`` on ``channel``; ``__`` never occurs in a :func:`token`."""
        return f"{token(subscription)}__{token(channel)}"

    def subject(self, channel: str, type: str) -> str:
        """Where a message of ``type`` on ``channel`` is published."""
        return f"{self.channel_subjects(channel)[:-1]}{token(type)}"


def _seconds(name: str, argument: float | None, options: dict[str, str], shown: str) -> float:
    try:
        value = argument if argument is not None else float(options.get(name, DEFAULTS[name]))
    except ValueError:
        raise ConfigurationError(f"{name} in {shown!r} must be a number of seconds") from None
    if not value > 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def _flag(value: str | None, shown: str) -> bool | None:
    if value is None:
        return None
    if value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ConfigurationError(f"tls in {shown!r} must be 1 or 0, got {value!r}")


def parse_url(url: str, *, namespace: str | None = None, **seconds: float | None) -> NatsSettings:
    """Settings from a ``nats://`` or ``tls://`` URL; keyword arguments override the query's values.

    Raises ConfigurationError naming the problem, with the URL's secrets redacted.
    """
    shown = redact(url)
    parts = urlsplit(url)
    if parts.scheme not in ("nats", "tls") or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigurationError(f"not a NATS broker URL: {shown!r} (use nats://[user:password@]host:4222)")
    try:
        port = parts.port or 4222
    except ValueError:
        raise ConfigurationError(f"bad port in NATS broker URL {shown!r}") from None
    options = dict(parse_qsl(parts.query))
    if unknown := set(options) - _OPTIONS:
        raise ConfigurationError(f"unknown option(s) {sorted(unknown)} in broker URL {shown!r}")
    if unknown := set(seconds) - set(DEFAULTS):
        raise TypeError(f"unexpected keyword argument(s) {sorted(unknown)}")
    namespace = namespace if namespace is not None else options.get("namespace", "interlink")
    if not _NAMESPACE.fullmatch(namespace):
        raise ConfigurationError(f"namespace must be 1-64 letters, digits, '-' or '_', got {namespace!r}")
    files = {name: options[name] for name in _FILES if options.get(name)}
    asked = _flag(options.get("tls"), shown)
    if asked is False and (parts.scheme == "tls" or files):
        raise ConfigurationError(f"tls=0 contradicts the TLS settings of {shown!r}")
    if "key_file" in files and "cert_file" not in files:
        raise ConfigurationError(f"key_file without cert_file in {shown!r}: a client certificate needs both")
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return NatsSettings(
        server=f"nats://{host}:{port}",
        namespace=namespace,
        user=user if password is not None else None,
        password=password,
        # nats://secret@host is token authentication, as in every NATS client.
        auth_token=user if password is None else None,
        tls=bool(asked) or parts.scheme == "tls" or bool(files),
        ca_file=files.get("ca_file"),
        cert_file=files.get("cert_file"),
        key_file=files.get("key_file"),
        tls_hostname=options.get("tls_hostname"),
        visibility_timeout=_seconds("visibility_timeout", seconds.get("visibility_timeout"), options, shown),
        dedupe_window=_seconds("dedupe_window", seconds.get("dedupe_window"), options, shown),
        request_timeout=_seconds("request_timeout", seconds.get("request_timeout"), options, shown),
    )


def ssl_context(settings: NatsSettings) -> ssl.SSLContext | None:
    """The TLS context for ``settings`` (None without TLS); reads the certificate files, so call it in connect."""
    if not settings.tls:
        return None
    what = f"ca_file {settings.ca_file!r}"
    try:
        context = ssl.create_default_context(cafile=settings.ca_file)
        if settings.cert_file:
            what = f"cert_file {settings.cert_file!r} / key_file {settings.key_file!r}"
            context.load_cert_chain(settings.cert_file, settings.key_file)
    except (OSError, ssl.SSLError) as exc:
        # ssl's own messages often leave out which file it was.
        raise ConfigurationError(f"cannot load the NATS TLS {what}: {exc}") from exc
    return context


# -- what the server holds -------------------------------------------------------------------------

_DESCRIPTION_MAX = 4096  # nats-server refuses longer consumer descriptions
# The server's default (1,000) would cap a subscription at two batches in flight across all its consumers.
_MAX_ACK_PENDING = 20_000
_HISTORY_IDLE = 60.0  # s after which the server drops a history reader that was abandoned


def stream_config(settings: NatsSettings, channel: str) -> StreamConfig:
    """The stream of ``channel``'s producing domain: on disk, kept (not a work queue) for replica rebuilds."""
    return StreamConfig(
        name=settings.stream(channel),
        subjects=[settings.stream_subjects(channel)],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        duplicate_window=settings.dedupe_window,
    )


def consumer_config(
    settings: NatsSettings, subscription: str, channel: str, subjects: Collection[str], multi_filter: bool
) -> ConsumerConfig:
    """The durable pull consumer of ``subscription`` on ``channel``, delivering ``subjects`` (types of it).

    With ``multi_filter`` (nats-server 2.10+) the server filters on exactly ``subjects``. Older servers know one
    filter subject per consumer, ignore a list and lose track of messages when that one is changed: there the
    consumer takes every type of its channel, for good, and its description keeps the subjects wanted, so
    every process acks the other types away alike.
    """
    ordered = sorted(subjects)
    description = json.dumps(ordered, separators=(",", ":"))
    if len(description.encode()) > _DESCRIPTION_MAX:
        if not multi_filter:
            raise BrokerError(
                f"subscription {subscription!r} wants too many types of {channel!r} for nats-server before "
                f"2.10 ({len(ordered)}, over {_DESCRIPTION_MAX} bytes): upgrade the server or split it"
            )
        description = ""
    return ConsumerConfig(
        durable_name=settings.consumer(subscription, channel),
        description=description or None,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.visibility_timeout,
        # Interlink's consumer decides when a message is parked; the broker keeps delivering until then.
        max_deliver=-1,
        max_ack_pending=_MAX_ACK_PENDING,
        deliver_policy=DeliverPolicy.NEW,
        filter_subject=None if multi_filter else settings.channel_subjects(channel),
        filter_subjects=ordered if multi_filter else None,
    )


def history_config(
    settings: NatsSettings, channel: str, subjects: Collection[str] | None, multi_filter: bool
) -> ConsumerConfig:
    """An ephemeral reader of ``channel`` (of ``subjects``, when given) from its first retained message."""
    return ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL,
        inactive_threshold=_HISTORY_IDLE,
        mem_storage=True,
        filter_subject=None if multi_filter and subjects else settings.channel_subjects(channel),
        filter_subjects=sorted(subjects) if multi_filter and subjects else None,
    )
