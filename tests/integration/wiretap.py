"""Capturing what a landscape puts on a broker with the broker's own client, apart from Interlink's adapters.

A tap is started once the landscape declared its subscriptions and before anything is published; what it
captured is read as :class:`Captured` messages: the body, the broker's names for where the message went
(in the keys :meth:`interlink.specs.wire.Wire.coordinates` uses) and what the broker carried beside the
body. Taps take nothing away from the landscape: a RabbitMQ queue of their own bound to the exchanges, a
core NATS subscription (JetStream publishes reach it too), a Redis consumer group that never reads (so the
adapter's trimming keeps every entry), the embedded broker's table read as it is.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Captured", "Tap", "tap_for"]


@dataclass
class Captured:
    """One message as the broker carried it."""

    body: dict[str, Any]
    coordinates: dict[str, str]
    headers: dict[str, Any]
    properties: dict[str, Any] = field(default_factory=dict)  # AMQP basic properties


class Tap:
    """The base: ``start`` before publishing, ``captured`` any time after, ``stop`` at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.namespace = dict(parse_qsl(urlsplit(url).query)).get("namespace", "interlink")
        self.server = url.split("?", 1)[0]

    async def start(self, addresses: Iterable[str]) -> None:
        """Listen on these broker objects (exchanges, stream keys: the documents' static names)."""

    async def captured(self) -> list[Captured]:
        """Everything captured so far."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Let go of the broker."""


class SqliteTap(Tap):
    """The embedded broker: its ``broker_messages`` table (rows stay for the dedupe window)."""

    async def captured(self) -> list[Captured]:
        path = urlsplit(self.url).path
        with sqlite3.connect(path) as conn:
            rows = conn.execute(
                "SELECT message_id, channel, type, ordering_key, published_at, body FROM broker_messages ORDER BY seq"
            ).fetchall()
        return [
            Captured(
                json.loads(body),
                {"channel": channel, "type": type},
                {"message_id": mid, "channel": channel, "type": type, "ordering_key": key, "published_at": at},
            )
            for mid, channel, type, key, at, body in rows
        ]


class RabbitTap(Tap):
    """A queue of the tap's own, bound with ``#`` to every exchange."""

    async def start(self, addresses: Iterable[str]) -> None:
        import aio_pika

        self._seen: list[Captured] = []
        self._connection = await aio_pika.connect(self.server)
        channel = await self._connection.channel()
        queue = await channel.declare_queue(f"{self.namespace}.wiretap", exclusive=True, auto_delete=True)
        for exchange in addresses:
            # Declared as the adapter declares them, so whoever comes first makes the same exchange.
            await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
            await queue.bind(exchange, routing_key="#")

        async def take(message: Any) -> None:
            self._seen.append(
                Captured(
                    json.loads(message.body),
                    {"exchange": message.exchange, "routingKey": message.routing_key},
                    dict(message.headers or {}),
                    {
                        "content_type": message.content_type,
                        "delivery_mode": int(message.delivery_mode),
                        "message_id": message.message_id,
                        "type": message.type,
                    },
                )
            )
            await message.ack()

        await queue.consume(take)

    async def captured(self) -> list[Captured]:
        return list(self._seen)

    async def stop(self) -> None:
        await self._connection.close()


class NatsTap(Tap):
    """A core subscription to every subject of the namespace; each subject's stream asked of JetStream."""

    async def start(self, addresses: Iterable[str]) -> None:
        import nats

        self._seen: list[tuple[str, bytes, dict[str, str]]] = []
        self._nc = await nats.connect(self.server)

        async def take(msg: Any) -> None:
            self._seen.append((msg.subject, msg.data, dict(msg.headers or {})))

        await self._nc.subscribe(f"{self.namespace}.>", cb=take)
        await self._nc.flush()

    async def captured(self) -> list[Captured]:
        js = self._nc.jetstream()
        streams: dict[str, str] = {}
        found = []
        for subject, data, headers in list(self._seen):
            if subject not in streams:
                streams[subject] = await js.find_stream_name_by_subject(subject)
            found.append(Captured(json.loads(data), {"subject": subject, "stream": streams[subject]}, headers))
        return found

    async def stop(self) -> None:
        await self._nc.close()


class RedisTap(Tap):
    """A consumer group of the tap's own on every stream, created at the start and never read: the adapter
    trims only what every group is done with, so the entries stay to be read whole."""

    async def start(self, addresses: Iterable[str]) -> None:
        from redis.asyncio import Redis

        self._client = Redis.from_url(self.server)
        self._streams = sorted(set(addresses))
        for stream in self._streams:
            await self._client.xgroup_create(stream, "wiretap", id="0", mkstream=True)

    async def captured(self) -> list[Captured]:
        found = []
        for stream in self._streams:
            entries: Any = await self._client.xrange(stream)
            for _, raw in entries:
                fields = {k.decode(): v for k, v in raw.items()}
                body = fields.pop("body")
                headers = {k: v.decode() for k, v in fields.items()}
                found.append(Captured(json.loads(body), {"stream": stream, "type": headers["type"]}, headers))
        return found

    async def stop(self) -> None:
        await self._client.aclose()


def tap_for(broker: str, url: str) -> Tap:
    """The tap of the broker with this id (``embedded``, ``rabbitmq``, ``nats``, ``redis``)."""
    taps: dict[str, type[Tap]] = {"embedded": SqliteTap, "rabbitmq": RabbitTap, "nats": NatsTap, "redis": RedisTap}
    return taps[broker](url)
