"""The RabbitMQ broker's working parts: a connection with its channel, a subscription's consumer buffer,
and what a delivery's handle holds; plus the small AMQP helpers the broker uses."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import aiormq
from aio_pika.abc import AbstractConnection
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

__all__ = ["CONTENT_TYPE", "PRIOR_ATTEMPTS"]

CONTENT_TYPE = "application/cloudevents+json"
#: Header of a retried copy: how many deliveries the message had before the copy was made.
PRIOR_ATTEMPTS = "interlink-prior-attempts"


@dataclass(eq=False)
class _Session:
    """One connection and its channel; a delivery tag means something on its own channel only."""

    connection: AbstractConnection
    raw: aiormq.Channel  # aio-pika's underlay, to publish and ack without waiting for the socket
    generation: int
    declared: set[str] = field(default_factory=set)  # exchanges and retry queues declared on it

    @property
    def alive(self) -> bool:
        return not self.connection.is_closed and not self.raw.is_closed


@dataclass(eq=False)
class _Feed:
    """One subscription's consumer: RabbitMQ pushes deliveries in, ``fetch`` takes them out."""

    subscription: str
    queue: str
    generation: int = 0  # of the session the consumer runs on; 0 while not consuming
    consumer_tag: str = ""
    buffer: deque[tuple[int, DeliveredMessage]] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    starting: asyncio.Lock = field(default_factory=asyncio.Lock)  # concurrent fetches start one consumer

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.arrived.wait(), seconds)


@dataclass(eq=False)
class _Handle:
    """What :class:`Delivery.handle` holds: enough to ack, reject or copy this one delivery."""

    feed: _Feed
    generation: int
    tag: int
    properties: Basic.Properties
    deadline: float


def _attempt(message: DeliveredMessage) -> int:
    headers = message.header.properties.headers or {}
    count, prior = headers.get("x-delivery-count"), headers.get(PRIOR_ATTEMPTS)
    count = count if isinstance(count, int) else 0
    # RabbitMQ 4.3+ no longer counts a return by a closed channel; the redelivered flag still tells.
    if isinstance(message.delivery, Basic.Deliver) and message.delivery.redelivered:
        count = max(count, 1)
    return 1 + count + (prior if isinstance(prior, int) else 0)


def _properties(message_id: str | None, type: str | None, headers: dict[str, Any] | None = None) -> Basic.Properties:
    return Basic.Properties(
        content_type=CONTENT_TYPE, delivery_mode=2, message_id=message_id, message_type=type, headers=headers
    )  # delivery_mode 2: persistent


async def _quietly(call: Awaitable[Any], seconds: float) -> None:
    """Await a clean-up call whose failure changes nothing (the broker recovers on its side anyway)."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(seconds):
            await call
