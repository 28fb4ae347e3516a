"""Where messages travel on each broker and what the broker puts beside the body: AsyncAPI servers, channel
addresses, bindings and headers.

Every broker carries the same body, the structured CloudEvent; what differs is the address and what sits
next to the body. The names follow the adapters (``interlink.adapters.brokers``), with the broker URL's
``namespace`` (default ``interlink``) in front; the wire tests capture real messages with each broker's own
client and check them against these names:

- RabbitMQ (AMQP 0-9-1): a durable topic exchange ``<namespace>.<channel>`` per channel, the CloudEvents
  ``type`` as routing key; a durable quorum queue ``<namespace>.<domain>`` per receiving domain, bound once
  per type it takes. Properties: ``content_type``, ``message_id`` (the CloudEvents ``id``), ``type`` and
  ``delivery_mode`` 2; a retried copy carries the header ``interlink-prior-attempts``.
- NATS JetStream: the subject ``<namespace>.<channel parts>.<type>``, each part one subject token (letters,
  digits and ``-`` as they are, anything else ``_`` plus its UTF-8 bytes in hex), in the stream
  ``<namespace>_<producing domain>``; the header ``Nats-Msg-Id`` is the CloudEvents ``id``. A receiving
  domain reads through a durable pull consumer ``<domain>__<channel>`` per channel.
- Redis: the stream ``<namespace>:stream:<channel>``; each entry has the fields ``message_id``, ``type``,
  ``channel`` and ``body`` (the CloudEvent). A receiving domain is a consumer group named after it.
- Embedded (SQLite): one row per message in the broker file's ``broker_messages`` table, with the columns
  ``message_id``, ``channel``, ``type``, ``ordering_key``, ``published_at`` and ``body``; no namespace.
- Memory: in one process; the channel and type route it.

A channel whose name is known only at run time (``{issuer}.replies``: where a command's reply goes, named
by its ``replyto``) has no fixed address; :meth:`Wire.coordinates` gives it with ``{issuer}`` left in.
:func:`~interlink.specs.wire_url.wire_for` picks the layout from a broker URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

__all__ = [
    "ISSUER",
    "AmqpWire",
    "EmbeddedWire",
    "MemoryWire",
    "NatsWire",
    "RedisWire",
    "Wire",
    "nats_token",
    "redacted",
]

#: The placeholder of a run-time channel name: the issuing domain of a command event.
ISSUER = "{issuer}"
_NATS_KEEP = re.compile(r"[^A-Za-z0-9-]")
_STRING: dict[str, Any] = {"type": "string", "minLength": 1}


def nats_token(text: str) -> str:
    """``text`` as one NATS subject token, escaped as the NATS adapter does (``.`` -> ``_2E``)."""
    return _NATS_KEEP.sub(lambda m: "".join(f"_{b:02X}" for b in m.group().encode()), text)


def redacted(url: str) -> str:
    """The URL without any secret: a password becomes ``***``, and so does a bare NATS token."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    user, host = parts.netloc.rsplit("@", 1)
    name, colon, _ = user.partition(":")
    if colon:
        shown = f"{name}:***"
    elif parts.scheme in ("nats", "tls"):
        shown = "***"  # nats://secret@host is token authentication
    else:
        shown = name
    return parts._replace(netloc=f"{shown}@{host}").geturl()


@dataclass(frozen=True)
class Wire:
    """How one broker lays out channels: the base addresses a message by its channel and carries nothing
    beside the body; each broker's subclass says what it does instead."""

    url: str
    #: The server's key in the document, and its protocol.
    name: ClassVar[str] = "broker"
    protocol: ClassVar[str] = ""
    namespace: str | None = None
    host: str = "localhost"
    pathname: str | None = None
    tls: bool = False
    options: dict[str, str] = field(default_factory=dict)

    # -- the server --------------------------------------------------------------------------------

    def describe(self) -> str:
        """What this server is, for its ``description``."""
        raise NotImplementedError

    def server_protocol(self) -> tuple[str, str | None]:
        """The server's protocol and its version."""
        return self.protocol, None

    def server(self) -> dict[str, Any]:
        """The AsyncAPI server object: where the broker is, never with credentials."""
        protocol, version = self.server_protocol()
        rendered: dict[str, Any] = {"host": self.host, "protocol": protocol}
        if version is not None:
            rendered["protocolVersion"] = version
        if self.pathname:
            rendered["pathname"] = self.pathname
        rendered["description"] = self.describe()
        rendered["x-interlink-url"] = redacted(self.url)
        if self.namespace is not None:
            rendered["x-interlink-namespace"] = self.namespace
        return rendered

    # -- addresses -----------------------------------------------------------------------------------

    def address(self, channel: str, type: str) -> str:
        """The AsyncAPI address of messages of ``type`` on ``channel``."""
        return channel

    def coordinates(self, channel: str, type: str) -> dict[str, str]:
        """Every name that locates such a message on the broker (``{issuer}`` kept in a run-time channel)."""
        return {"channel": channel, "type": type}

    # -- bindings and headers -------------------------------------------------------------------------

    def channel_bindings(self, channel: str, type: str) -> dict[str, Any]:
        """The channel's bindings (none for a broker AsyncAPI has no bindings for)."""
        return {}

    def operation_bindings(self, action: str, domain: str, channel: str) -> dict[str, Any]:
        """The bindings of ``domain`` sending to or receiving from ``channel``."""
        return {}

    def message_bindings(self, type: str) -> dict[str, Any]:
        """The message's bindings."""
        return {}

    def headers(self) -> dict[str, Any] | None:
        """The JSON Schema of what the broker carries beside the body, or None when nothing."""
        return None

    def security_schemes(self) -> dict[str, Any]:
        """How a client authenticates to this broker (AsyncAPI security schemes by name); none by default."""
        return {}


@dataclass(frozen=True)
class EmbeddedWire(Wire):
    """The embedded broker: a row per message in one SQLite file."""

    name: ClassVar[str] = "embedded"
    protocol: ClassVar[str] = "sqlite"

    def describe(self) -> str:
        return (
            "The embedded broker: one SQLite file shared by the processes of one machine. Each message is a "
            "row of its `broker_messages` table: `channel` and `type` route it, `body` is the CloudEvent."
        )

    def headers(self) -> dict[str, Any] | None:
        return {
            "type": "object",
            "description": "The other columns of the message's `broker_messages` row.",
            "required": ["message_id", "channel", "type", "published_at"],
            "properties": {
                "message_id": {**_STRING, "description": "The CloudEvents `id`: a message is stored once."},
                "channel": {**_STRING, "description": "The channel (the channel's address)."},
                "type": {**_STRING, "description": "The CloudEvents `type`."},
                "ordering_key": {
                    "type": ["string", "null"],
                    "description": "`<type>:<subject>`: messages about one aggregate keep their order.",
                },
                "published_at": {"type": "number", "description": "Seconds since the epoch."},
            },
        }


@dataclass(frozen=True)
class MemoryWire(Wire):
    """The in-process broker of tests."""

    name: ClassVar[str] = "memory"
    protocol: ClassVar[str] = "memory"

    def describe(self) -> str:
        return "The in-process broker (tests): the channel and the type route a message; nothing else travels."


@dataclass(frozen=True)
class AmqpWire(Wire):
    """RabbitMQ: a topic exchange per channel, the type as routing key, a quorum queue per domain."""

    name: ClassVar[str] = "rabbitmq"
    protocol: ClassVar[str] = "amqp"
    vhost: str = "/"

    def server_protocol(self) -> tuple[str, str | None]:
        return ("amqps" if self.tls else "amqp"), "0.9.1"

    def describe(self) -> str:
        return (
            f"RabbitMQ (AMQP 0-9-1), vhost `{self.vhost}`, namespace `{self.namespace}`: a durable topic exchange "
            f"`{self.namespace}.<channel>` per channel, the CloudEvents `type` as routing key (a channel's "
            f"address); a durable quorum queue `{self.namespace}.<domain>` per receiving domain, bound once per "
            "type it takes. The body is the CloudEvent; the properties carry `content_type`, `message_id` (the "
            "CloudEvents `id`), `type` and `delivery_mode` 2 (persistent)."
        )

    def security_schemes(self) -> dict[str, Any]:
        return {
            "userPassword": {
                "type": "userPassword",
                "description": "The user and password of the broker URL (`amqp://user:password@host/vhost`).",
            }
        }

    def exchange(self, channel: str) -> str:
        """The exchange of ``channel``."""
        return f"{self.namespace}.{channel}"

    def address(self, channel: str, type: str) -> str:
        return type  # the routing key; the exchange is in the channel's binding

    def coordinates(self, channel: str, type: str) -> dict[str, str]:
        return {"exchange": self.exchange(channel), "routingKey": type}

    def channel_bindings(self, channel: str, type: str) -> dict[str, Any]:
        exchange: dict[str, Any] = {"type": "topic", "durable": True, "autoDelete": False, "vhost": self.vhost}
        if ISSUER not in channel:  # a run-time exchange is named by the command's replyto
            exchange = {"name": self.exchange(channel), **exchange}
        return {"amqp": {"is": "routingKey", "exchange": exchange, "bindingVersion": "0.3.0"}}

    def operation_bindings(self, action: str, domain: str, channel: str) -> dict[str, Any]:
        if action == "send":
            return {"amqp": {"deliveryMode": 2, "mandatory": False, "timestamp": False, "bindingVersion": "0.3.0"}}
        queue = f"{self.namespace}.{domain}"
        return {
            "amqp": {
                "ack": True,
                "bindingVersion": "0.3.0",
                "x-queue": {"name": queue, "type": "quorum", "durable": True, "deadLetterQueue": f"{queue}.dead"},
            }
        }

    def message_bindings(self, type: str) -> dict[str, Any]:
        return {
            "amqp": {
                "messageType": type,
                "bindingVersion": "0.3.0",
                "x-properties": {
                    "content_type": "application/cloudevents+json",
                    "delivery_mode": 2,
                    "message_id": "the CloudEvents `id`",
                    "type": type,
                },
            }
        }

    def headers(self) -> dict[str, Any] | None:
        return {
            "type": "object",
            "description": (
                "The AMQP headers table: empty when a message is first published; a copy the consumer hands "
                "back for a retry carries `interlink-prior-attempts`, and RabbitMQ adds `x-delivery-count` to "
                "a redelivery from a quorum queue."
            ),
            "properties": {
                "interlink-prior-attempts": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "How many deliveries the message had before this retried copy was made.",
                },
                "x-delivery-count": {"type": "integer", "minimum": 0, "description": "Set by RabbitMQ."},
            },
        }


@dataclass(frozen=True)
class NatsWire(Wire):
    """NATS JetStream: a subject per channel and type, a stream per producing domain."""

    name: ClassVar[str] = "nats"
    protocol: ClassVar[str] = "nats"

    def describe(self) -> str:
        ns = self.namespace
        return (
            f"NATS JetStream{' over TLS' if self.tls else ''}, namespace `{ns}`: a message of `type` on "
            f"`<domain>.<kind>` is published on the subject `{ns}.<domain>.<kind>.<type>` (a channel's address; "
            "each part one subject token: letters, digits and `-` as they are, anything else `_` and its UTF-8 "
            f"bytes in hex, so `.` is `_2E`), kept in the stream `{ns}_<domain>` of the producing domain. The "
            "body is the CloudEvent; the header `Nats-Msg-Id` is its `id` (JetStream drops a re-sent one)."
        )

    def security_schemes(self) -> dict[str, Any]:
        return {
            "userPassword": {
                "type": "userPassword",
                "description": "The user and password (or the token) of the broker URL, never written here.",
            }
        }

    def _subject(self, channel: str, type: str) -> str:
        parts = [p if p == ISSUER else nats_token(p) for p in channel.split(".")]
        return ".".join([str(self.namespace), *parts, nats_token(type)])

    def stream(self, channel: str) -> str:
        """The stream holding ``channel``: its producing domain's."""
        first = channel.split(".", 1)[0]
        return f"{self.namespace}_{first if first == ISSUER else nats_token(first)}"

    def address(self, channel: str, type: str) -> str:
        return self._subject(channel, type)

    def coordinates(self, channel: str, type: str) -> dict[str, str]:
        return {"subject": self._subject(channel, type), "stream": self.stream(channel)}

    def channel_bindings(self, channel: str, type: str) -> dict[str, Any]:
        # NATS bindings 0.1.0 define no channel fields; the stream holding the subject is an extension.
        return {"nats": {"bindingVersion": "0.1.0", "x-stream": self.stream(channel)}}

    def operation_bindings(self, action: str, domain: str, channel: str) -> dict[str, Any]:
        if action == "send":
            return {}
        # A JetStream durable pull consumer, not a core NATS queue group: hence no `queue`.
        return {
            "nats": {"bindingVersion": "0.1.0", "x-durable-consumer": f"{nats_token(domain)}__{nats_token(channel)}"}
        }

    def headers(self) -> dict[str, Any] | None:
        return {
            "type": "object",
            "required": ["Nats-Msg-Id"],
            "properties": {
                "Nats-Msg-Id": {**_STRING, "description": "The CloudEvents `id`: JetStream drops a re-sent one."}
            },
        }


@dataclass(frozen=True)
class RedisWire(Wire):
    """Redis: a stream per channel, a consumer group per receiving domain."""

    name: ClassVar[str] = "redis"
    protocol: ClassVar[str] = "redis"

    def server_protocol(self) -> tuple[str, str | None]:
        return ("rediss" if self.tls else "redis"), None

    def describe(self) -> str:
        return (
            f"Redis streams, namespace `{self.namespace}`: the stream `{self.namespace}:stream:<channel>` per "
            "channel (a channel's address); each entry has the fields `message_id` (the CloudEvents `id`), "
            "`type`, `channel` and `body` (the CloudEvent). A receiving domain reads through a consumer group "
            "named after it. (AsyncAPI's Redis bindings 0.1.0 define no fields.)"
        )

    def security_schemes(self) -> dict[str, Any]:
        return {
            "userPassword": {
                "type": "userPassword",
                "description": "The user and password of the broker URL (Redis ACL), never written here.",
            }
        }

    def stream(self, channel: str) -> str:
        """The stream key of ``channel``."""
        return f"{self.namespace}:stream:{channel}"

    def address(self, channel: str, type: str) -> str:
        return self.stream(channel)

    def coordinates(self, channel: str, type: str) -> dict[str, str]:
        return {"stream": self.stream(channel), "type": type}

    def operation_bindings(self, action: str, domain: str, channel: str) -> dict[str, Any]:
        if action == "send":
            return {}
        return {"redis": {"bindingVersion": "0.1.0", "x-consumer-group": domain}}

    def headers(self) -> dict[str, Any] | None:
        return {
            "type": "object",
            "description": "The other fields of the stream entry; its `body` field is the payload.",
            "required": ["message_id", "type", "channel"],
            "properties": {
                "message_id": {**_STRING, "description": "The CloudEvents `id`."},
                "type": {**_STRING, "description": "The CloudEvents `type`."},
                "channel": {**_STRING, "description": "The channel the entry was published on."},
            },
        }
