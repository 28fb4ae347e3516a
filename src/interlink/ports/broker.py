"""The broker port: durable publish with confirms, named subscriptions, pull with acks and delayed retry.

Every adapter (memory, embedded SQLite, RabbitMQ, NATS, Redis) gives the same guarantees:

- ``publish`` returns only when the broker has the messages durably (publisher confirms, JetStream acks);
  a message id published twice is stored once where the broker can tell (dedupe window), and the
  consumer's inbox covers the rest.
- ``subscribe`` declares a durable subscription: every message published afterwards on its channels and
  of its types is delivered to it, independently of other subscriptions.
- ``fetch`` hands out up to N messages; a message not acked within the visibility timeout (a consumer
  that died) is delivered again, with ``attempt`` raised by one.
- ``ack`` removes messages for good; ``retry`` hands one back to be delivered again after a delay. A stale
  ack or retry (for a delivery since handed to someone else) is harmless.
- Declaring a subscription again only widens its channels and types; it never drops a filter.
- An adapter is built from its URL alone (``cls(url)``), doing no I/O until ``connect``.
- A message the broker refuses for good (larger than ``max_message_size``, an address it cannot take)
  raises :class:`~interlink.exceptions.MessageRefused` naming it, never BrokerUnavailable: the relay parks
  it and the messages behind it go on. ``max_message_size`` is known once connected.
- A message at a subscription's address that the adapter cannot read as one of its own (a stream entry
  lacking fields) is still delivered, with ``defect`` saying what is wrong, so the consumer parks it in
  the store's dead letters like any other bad message: nothing is dropped without a trace.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from interlink.exceptions import BrokerError, MessageRefused
from interlink.ports.envelope import Envelope

__all__ = ["Broker", "Delivery", "OutgoingMessage", "Subscription", "too_large"]


def too_large(message: OutgoingMessage, limit: int) -> MessageRefused:
    """The refusal of ``message`` for its size: the same words on every broker."""
    return MessageRefused(
        message.message_id,
        f"{message.type} on {message.channel} is {len(message.body)} bytes, over the broker's limit of {limit} bytes",
        limit=limit,
    )


@dataclass(frozen=True)
class OutgoingMessage:
    """One encoded message ready to publish, with what the broker routes and dedupes on."""

    message_id: str
    channel: str
    type: str
    body: bytes
    ordering_key: str | None = None

    @classmethod
    def of(cls, envelope: Envelope) -> OutgoingMessage:
        """Encode an envelope for the wire."""
        return cls(envelope.id, envelope.channel, envelope.type, envelope.encode(), envelope.ordering_key)


@dataclass(frozen=True)
class Subscription:
    """A durable, named subscription to some message types on some channels.

    Competing consumers share one subscription by name: each message goes to one of them.
    """

    name: str
    channels: tuple[str, ...]
    types: frozenset[str]

    def matches(self, channel: str, type: str) -> bool:
        """True when a message on ``channel`` of ``type`` belongs to this subscription."""
        return channel in self.channels and type in self.types


@dataclass
class Delivery:
    """A message handed to a consumer. ``attempt`` is 1 on first delivery; ``handle`` is the adapter's.

    ``defect`` is set when the broker-level message itself is unusable (a stream entry lacking its fields):
    the consumer parks it at once with that reason, ``body`` holding what raw content there was.
    """

    subscription: str
    message_id: str
    body: bytes
    attempt: int
    handle: Any = field(default=None, repr=False)
    defect: str | None = None


class Broker(abc.ABC):
    """Base class of broker adapters: public methods check state, adapters implement the ``_`` methods.

    The constructor only stores configuration; I/O happens in :meth:`connect` and :meth:`close`.
    """

    scheme: str = ""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connected = False
        #: The largest body (bytes) the broker takes, or None when it sets no limit; adapters that learn it
        #: from the server set it in ``_connect``.
        self.max_message_size: int | None = None
        #: Seconds during which the broker may deliver a message id again after it was handled (its dedupe
        #: window or the history it keeps: a re-send later than that is delivered as a new message), or None
        #: when it cannot tell. The store's inbox marks must be kept longer (docs/retention.md).
        self.redelivery_window: float | None = None

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open connections; idempotent."""
        if not self._connected:
            await self._connect()
            self._connected = True

    async def close(self) -> None:
        """Release connections; unacked deliveries will be redelivered to someone else."""
        if self._connected:
            self._connected = False
            await self._close()

    async def ping(self) -> None:
        """Raise BrokerUnavailable unless the broker answers."""
        self._check()
        await self._ping()

    async def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        """Publish in order; return once the broker confirmed every one of them as durable.

        Raises MessageRefused, before anything of the batch is sent, for the first message larger than
        ``max_message_size``; and for a message the broker itself refuses for good.
        """
        self._check()
        limit = self.max_message_size
        if limit is not None:
            for message in messages:
                if len(message.body) > limit:
                    raise too_large(message, limit)
        if messages:
            await self._publish(messages)

    async def subscribe(self, subscription: Subscription) -> None:
        """Declare the durable subscription (idempotent; widening its types is allowed)."""
        self._check()
        await self._subscribe(subscription)

    async def fetch(self, subscription: str, max_messages: int, wait: float) -> list[Delivery]:
        """Up to ``max_messages`` deliveries, waiting at most ``wait`` seconds for the first one."""
        self._check()
        return await self._fetch(subscription, max_messages, wait)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Done with these for good."""
        self._check()
        if deliveries:
            await self._ack(deliveries)

    async def retry(self, delivery: Delivery, delay: float) -> None:
        """Deliver this one again after ``delay`` seconds, with its attempt count raised."""
        self._check()
        await self._retry(delivery, delay)

    async def teardown(self) -> list[str]:
        """Delete everything this broker's namespace created (exchanges, queues, streams, consumers, keys,
        tables), messages included; returns what it removed. For ``interlink teardown`` and tests."""
        self._check()
        return await self._teardown()

    async def _teardown(self) -> list[str]:
        raise BrokerError(f"{type(self).__name__} cannot tear down what it created")

    async def backlog(self, subscription: str) -> int | None:
        """Messages of ``subscription`` waiting at the broker, or None when it cannot tell (its consumer lag)."""
        self._check()
        return await self._backlog(subscription)

    async def _backlog(self, subscription: str) -> int | None:
        return None  # adapters that can count cheaply override this

    def _check(self) -> None:
        if not self._connected:
            raise BrokerError(f"{type(self).__name__} is not connected: call connect() first")

    @abc.abstractmethod
    async def _connect(self) -> None: ...
    @abc.abstractmethod
    async def _close(self) -> None: ...
    @abc.abstractmethod
    async def _ping(self) -> None: ...
    @abc.abstractmethod
    async def _publish(self, messages: Sequence[OutgoingMessage]) -> None: ...
    @abc.abstractmethod
    async def _subscribe(self, subscription: Subscription) -> None: ...
    @abc.abstractmethod
    async def _fetch(self, subscription: str, max_messages: int, wait: float) -> list[Delivery]: ...
    @abc.abstractmethod
    async def _ack(self, deliveries: Sequence[Delivery]) -> None: ...
    @abc.abstractmethod
    async def _retry(self, delivery: Delivery, delay: float) -> None: ...
