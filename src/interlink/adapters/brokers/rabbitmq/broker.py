"""RabbitMqBroker: the broker port on RabbitMQ 3.10+ (AMQP 0-9-1 through aio-pika).

Topology, every name prefixed with the URL's ``namespace``: a durable topic exchange per channel
(``customer.events`` holds what the customer domain produces) with the message type as routing key; a
durable quorum queue per subscription, bound once per (channel, type), with a dead-letter queue; and retry
queues shared by all subscriptions, one per delay bucket, whose message TTL dead-letters a retried copy
through the default exchange back to its subscription's queue.

A batch is published whole, in one write, then all its publisher confirms are awaited. Fetching is
pull-shaped over ``basic.consume``: each subscription's consumer pushes up to ``prefetch`` deliveries into a
local buffer that ``fetch`` drains. A batch is acked with one multiple ack as far as every earlier delivery
of the channel is settled (``_Session.ack``), the rest one by one. RabbitMQ redelivers unacked messages only
when their channel closes, so the visibility timeout is kept here: a delivery not acked in time is rejected
back to its queue, and a late ack of it is dropped (an unknown delivery tag would make the broker close the
channel). The attempt is 1 + the queue's ``x-delivery-count`` + the deliveries before a retried copy,
carried in the copy's header.

A lost connection is reopened by the next call; deliveries of the old channel are forgotten, never acked on
the new one: RabbitMQ delivers them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any, cast

import aio_pika
import aiormq
from aiormq.abc import DeliveredMessage
from aiormq.exceptions import ChannelNotFoundEntity
from pamqp.commands import Basic

from interlink.adapters.brokers.rabbitmq.teardown import list_names
from interlink.exceptions import BrokerError
from interlink.ports.broker import Broker, Delivery, OutgoingMessage, Subscription

from .config import parse_url, redact, retry_bucket
from .errors import refusal, translating
from .session import CONTENT_TYPE, PRIOR_ATTEMPTS, _attempt, _Feed, _Handle, _properties, _quietly, _Session

__all__ = ["CONTENT_TYPE", "PRIOR_ATTEMPTS", "RabbitMqBroker"]

log = logging.getLogger("interlink.broker.rabbitmq")


class RabbitMqBroker(Broker):
    """The broker port on RabbitMQ; see the module docstring for the topology.

    Args:
        url: ``amqp://user:password@host:5672/vhost?namespace=...`` or ``amqps://...``; the options are
            described in :mod:`interlink.adapters.brokers.rabbitmq.config`.
        visibility_timeout, prefetch, max_message_size: override the URL's values.
    """

    scheme = "amqp"

    def __init__(
        self,
        url: str,
        *,
        visibility_timeout: float | None = None,
        prefetch: int | None = None,
        max_message_size: int | None = None,
    ):
        super().__init__(url)
        self.settings = parse_url(
            url, visibility_timeout=visibility_timeout, prefetch=prefetch, max_message_size=max_message_size
        )
        self.visibility_timeout = self.settings.visibility_timeout
        self.max_message_size = self.settings.max_message_size
        self._session: _Session | None = None
        self._generation = 0
        self._reconnecting = asyncio.Lock()
        self._subscriptions: dict[str, Subscription] = {}  # declared here, widened; redeclared on reconnect
        self._known: set[str] = set()  # subscriptions known to exist on the broker
        self._feeds: dict[str, _Feed] = {}
        self._in_flight: dict[_Handle, None] = {}  # handed out, not yet acked: in deadline order
        self._armed = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.url)!r})"

    @contextlib.asynccontextmanager
    async def _request(self, seconds: float | None = None) -> AsyncIterator[None]:
        """One exchange with the broker: driver errors translated, and a bounded wait (a peer that vanished
        without closing the socket never answers, and one stuck call must not hold the others up)."""
        with translating(self.settings):
            async with asyncio.timeout(seconds or self.settings.request_timeout):
                yield

    # -- connection ----------------------------------------------------------------------------------

    async def _connect(self) -> None:
        self._session = await self._open()
        self._sweeper = asyncio.create_task(self._reject_expired(), name="rabbitmq-visibility-timeout")

    async def _open(self) -> _Session:
        s = self.settings
        async with self._request():
            connection = await aio_pika.connect(
                host=s.host, port=s.port, login=s.username, password=s.password, virtualhost=s.vhost,
                ssl=s.tls, ssl_context=s.ssl_context(), timeout=s.request_timeout,
                client_properties={"connection_name": f"interlink {s.namespace}"},
            )  # fmt: skip
            try:
                channel = await connection.channel(publisher_confirms=True)
                await channel.set_qos(prefetch_count=s.prefetch)
                self._generation += 1
                raw = cast(aiormq.Channel, await channel.get_underlay_channel())
                session = _Session(connection, raw, self._generation)
                # The broker may have lost them (a node reset); declaring again is idempotent.
                for subscription in self._subscriptions.values():
                    await self._declare(session, subscription)
            except BaseException:
                await _quietly(connection.close(), s.request_timeout)
                raise
        # A waiting fetch must notice a lost connection now, not when its wait is over.
        channel.close_callbacks.add(lambda *_: self._wake_all())
        return session

    async def _live(self) -> _Session:
        """The current session, or a new one if the broker dropped it (BrokerUnavailable while it is down)."""
        if self._session is not None and self._session.alive:
            return self._session
        async with self._reconnecting:
            if self._session is not None and self._session.alive:
                return self._session
            await self._drop()
            if not self._connected:
                raise BrokerError(f"{type(self).__name__} is closed")
            self._session = await self._open()
            log.info("reconnected to RabbitMQ at %s", self.settings.address)
            return self._session

    async def _teardown(self) -> list[str]:
        # Every name of the namespace starts with "<namespace>." (config.py); the default exchanges never do.
        prefix = f"{self.settings.namespace}."
        queues, exchanges = await list_names(self.settings)
        session, removed = await self._live(), []
        async with self._request():
            for name in sorted(q for q in queues if q.startswith(prefix)):
                await session.raw.queue_delete(name)
                removed.append(f"queue {name}")
            for name in sorted(e for e in exchanges if e.startswith(prefix)):
                await session.raw.exchange_delete(name)
                removed.append(f"exchange {name}")
        self._subscriptions.clear()  # not declared again on a reconnect
        return removed

    async def _drop(self) -> None:
        """Forget the session and all delivered on it; RabbitMQ requeues what was not acked."""
        session, self._session = self._session, None
        self._in_flight.clear()
        for feed in self._feeds.values():
            feed.buffer.clear()
            feed.generation = 0
        self._wake_all()
        if session is not None:
            for feed in self._feeds.values():
                if feed.consumer_tag in session.raw.consumers and session.alive:
                    await _quietly(session.raw.basic_cancel(feed.consumer_tag), self.settings.request_timeout)
            await _quietly(session.connection.close(), self.settings.request_timeout)

    def _wake_all(self) -> None:
        for feed in self._feeds.values():
            feed.arrived.set()

    async def _close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self._drop()

    async def _ping(self) -> None:
        session = await self._live()
        async with self._request():
            await session.raw.exchange_declare("amq.direct", exchange_type="direct", passive=True)

    # -- topology ------------------------------------------------------------------------------------

    async def _subscribe(self, subscription: Subscription) -> None:
        if old := self._subscriptions.get(subscription.name):  # durable subscriptions only widen
            channels = tuple(dict.fromkeys(old.channels + subscription.channels))
            subscription = Subscription(subscription.name, channels, old.types | subscription.types)
        await self._declare(await self._live(), subscription)
        self._subscriptions[subscription.name] = subscription
        self._known.add(subscription.name)

    async def _declare(self, session: _Session, subscription: Subscription) -> None:
        s, raw = self.settings, session.raw
        queue, dead = s.queue(subscription.name), s.dead_letter_queue(subscription.name)
        async with self._request():
            await raw.queue_declare(dead, durable=True, arguments=s.queue_arguments())
            await raw.queue_declare(queue, durable=True, arguments=s.queue_arguments(dead_letters_to=dead))
            for channel in subscription.channels:
                exchange = await self._exchange(session, channel)
                for type in sorted(subscription.types):
                    await raw.queue_bind(queue, exchange, routing_key=type)

    async def _exchange(self, session: _Session, channel: str) -> str:
        name = self.settings.exchange(channel)
        if name not in session.declared:
            # Publishing to a missing exchange is a channel error, so even a channel nobody reads gets one.
            await session.raw.exchange_declare(name, exchange_type="topic", durable=True)
            session.declared.add(name)
        return name

    async def _retry_exchange(self, session: _Session, bucket: float) -> str:
        name, raw = self.settings.retry_queue(bucket), session.raw
        if name not in session.declared:
            await raw.exchange_declare(name, exchange_type="fanout", durable=True)
            await raw.queue_declare(name, durable=True, arguments=self.settings.queue_arguments(ttl=bucket))
            await raw.queue_bind(name, name)
            session.declared.add(name)
        return name

    # -- publish ---------------------------------------------------------------------------------------

    @staticmethod
    def _send(raw: aiormq.Channel, exchange: str, key: str, body: bytes, props: Basic.Properties) -> Awaitable[Any]:
        # wait=False: aio-pika's publish holds the channel lock until each frame reached the socket; what
        # we wait for is the confirm.
        return raw.basic_publish(body, exchange=exchange, routing_key=key, properties=props, wait=False)

    async def _publish(self, messages: Sequence[OutgoingMessage]) -> None:
        session = await self._live()
        async with self._request():
            exchanges = {c: await self._exchange(session, c) for c in dict.fromkeys(m.channel for m in messages)}
        async with self._request(self.settings.publish_timeout):
            confirms = await session.publish([(exchanges[m.channel], m.type, m.body, m.message_id) for m in messages])
            results = await asyncio.gather(*confirms, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException) and (refused := refusal(result, messages)) is not None:
                    # The server closed the channel over one message: its limit is lower than configured.
                    self.max_message_size = refused.limit or self.max_message_size
                    raise refused from result
            for result in results:
                if isinstance(result, asyncio.CancelledError):  # its channel closed under it
                    raise ConnectionError("the channel closed before the broker confirmed the batch")
                if isinstance(result, BaseException):
                    raise result

    # -- consume ---------------------------------------------------------------------------------------

    async def _fetch(self, subscription: str, max_messages: int, wait: float) -> list[Delivery]:
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        feed = await self._feed(subscription)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            session = await self._live()
            async with feed.starting:
                # Not consuming on this channel yet, or the broker cancelled the consumer (queue deleted).
                if feed.generation != session.generation or feed.consumer_tag not in session.raw.consumers:
                    await self._consume(session, feed)
            deliveries = self._take(session, feed, max_messages)
            if deliveries or loop.time() >= deadline:
                return deliveries
            feed.arrived.clear()  # no await since the buffer was found empty: no arrival is missed
            await feed.wait(deadline - loop.time())
            if not self._connected:
                return []  # closed while waiting: a fetch does not hold up shutdown

    async def _backlog(self, subscription: str) -> int | None:
        session = await self._live()
        async with self._request():
            # A channel of its own, as in _feed: a passive declare of a missing queue closes its channel.
            channel = await session.connection.channel(publisher_confirms=False)
            try:
                queue = await channel.declare_queue(self.settings.queue(subscription), passive=True)
            except ChannelNotFoundEntity:
                return None
            finally:
                await _quietly(channel.close(), self.settings.request_timeout)
        count = queue.declaration_result.message_count
        return int(count) if count is not None else None  # ready messages; those in flight are not counted

    async def _feed(self, subscription: str) -> _Feed:
        if subscription not in self._known:
            session = await self._live()
            async with self._request():
                # On a channel of its own: a passive declare of a missing queue closes its channel.
                channel = await session.connection.channel(publisher_confirms=False)
                try:
                    await channel.declare_queue(self.settings.queue(subscription), passive=True)
                except ChannelNotFoundEntity:
                    raise BrokerError(
                        f"unknown subscription {subscription!r}: subscribe() before fetching from it"
                    ) from None
                finally:
                    await _quietly(channel.close(), self.settings.request_timeout)
            self._known.add(subscription)
        return self._feeds.setdefault(subscription, _Feed(subscription, self.settings.queue(subscription)))

    async def _consume(self, session: _Session, feed: _Feed) -> None:
        generation = session.generation

        async def deliver(message: DeliveredMessage) -> None:
            feed.buffer.append((generation, message))
            feed.arrived.set()

        async with self._request():
            ok = await session.raw.basic_consume(feed.queue, deliver, no_ack=False)
        feed.generation, feed.consumer_tag = generation, ok.consumer_tag or ""

    def _take(self, session: _Session, feed: _Feed, max_messages: int) -> list[Delivery]:
        deadline = time.monotonic() + self.visibility_timeout
        deliveries: list[Delivery] = []
        while feed.buffer and len(deliveries) < max_messages:
            generation, message = feed.buffer.popleft()
            if generation != session.generation or message.delivery_tag is None:
                continue
            props = message.header.properties
            handle = _Handle(feed, generation, message.delivery_tag, props, deadline)
            self._in_flight[handle] = None
            # A message published without an id (not by Interlink) is known by its content: the same id on
            # every redelivery, so parking it twice keeps one dead letter.
            message_id = props.message_id or f"amqp-sha256:{hashlib.sha256(message.body).hexdigest()[:32]}"
            deliveries.append(Delivery(feed.subscription, message_id, message.body, _attempt(message), handle))
        if deliveries:
            self._armed.set()
        return deliveries

    def _claim(self, delivery: Delivery) -> tuple[_Session, _Handle] | None:
        """Take a delivery out of the in-flight set; None when stale (acked, timed out, old channel)."""
        handle = delivery.handle
        if not isinstance(handle, _Handle) or self._in_flight.pop(handle, False) is False:
            return None
        session = self._session
        if session is None or session.generation != handle.generation or not session.alive:
            return None
        return session, handle

    async def _ack(self, deliveries: Sequence[Delivery]) -> None:
        claimed = [c for d in deliveries if (c := self._claim(d))]
        if claimed:  # all on the current session, claimed in this same step
            async with self._request():
                await claimed[0][0].ack([handle.tag for _, handle in claimed])

    async def _retry(self, delivery: Delivery, delay: float) -> None:
        claimed = self._claim(delivery)  # claimed first, so the visibility timeout cannot requeue it too
        if claimed is None:
            return
        session, handle = claimed
        props = handle.properties
        copy = _properties(props.message_id, props.message_type, {PRIOR_ATTEMPTS: delivery.attempt})
        try:
            async with self._request(self.settings.publish_timeout):
                exchange = "" if delay <= 0 else await self._retry_exchange(session, retry_bucket(delay))
                await self._send(session.raw, exchange, handle.feed.queue, delivery.body, copy)
                await session.raw.basic_ack(handle.tag, wait=False)  # only once the copy is confirmed
                session.settle(handle.tag)
        except BaseException:
            # The copy may be lost: the original must come back.
            await self._requeue(session, handle)
            raise

    async def _requeue(self, session: _Session, handle: _Handle) -> None:
        """Reject a delivery back to its queue. reject, not nack: RabbitMQ 4.3+ raises x-delivery-count for
        a reject only. If it fails, the channel is gone, which requeues the message anyway; until it is
        known to be sent, its tag is not settled, so no multiple ack can cover it."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await session.raw.basic_reject(handle.tag, requeue=True, wait=False)
                session.settle(handle.tag)

    async def _reject_expired(self) -> None:
        """Hand deliveries not acked within the visibility timeout back to their queue."""
        while True:
            if not self._in_flight:
                self._armed.clear()
                await self._armed.wait()
                continue
            handle = next(iter(self._in_flight))
            if (left := handle.deadline - time.monotonic()) > 0:
                await asyncio.sleep(left)
                continue
            del self._in_flight[handle]
            session = self._session
            if session is not None and session.generation == handle.generation and session.alive:
                log.info("visibility timeout: %s goes back to %s", handle.properties.message_id, handle.feed.queue)
                await self._requeue(session, handle)
