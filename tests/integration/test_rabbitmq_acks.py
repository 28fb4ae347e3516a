"""RabbitMqBroker's batched acks: one multiple ack covers a batch only as far as every earlier delivery of the
channel is settled, so a message left out of an ack (its handling failed) stays with the broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from interlink.adapters.brokers.rabbitmq import RabbitMqBroker
from interlink.ports.broker import Delivery, OutgoingMessage, Subscription
from interlink.testing.waiting import wait_until
from tests.support.services import require

CHANNEL = "shop.events"


@pytest.fixture
async def setup() -> AsyncIterator[tuple[str, str, aio_pika.abc.AbstractChannel]]:
    """(broker URL with a fresh namespace, subscription name, observer channel); the queues and exchange are
    deleted afterwards."""
    base = require("rabbitmq").url
    url = f"{base}{'&' if '?' in base else '?'}namespace=t-{uuid.uuid4().hex[:12]}"
    sub = f"sub-{uuid.uuid4().hex[:8]}"
    async with await aio_pika.connect(base) as connection:
        observer = await connection.channel()
        try:
            yield url, sub, observer
        finally:
            settings = RabbitMqBroker(url).settings
            await observer.queue_delete(settings.queue(sub))
            await observer.queue_delete(settings.dead_letter_queue(sub))
            await observer.exchange_delete(settings.exchange(CHANNEL))


async def _six(broker: RabbitMqBroker, sub: str) -> list[Delivery]:
    """Subscribe, publish six messages and fetch all six (delivery tags 1 to 6 of the channel)."""
    await broker.subscribe(Subscription(sub, (CHANNEL,), frozenset({"Thing"})))
    await broker.publish([OutgoingMessage(uuid.uuid4().hex, CHANNEL, "Thing", f"m{i}".encode()) for i in range(6)])
    got: list[Delivery] = []
    while len(got) < 6:
        got += await broker.fetch(sub, 6 - len(got), wait=5)
    return got


async def _ready(observer: aio_pika.abc.AbstractChannel, queue: str) -> int:
    declared = await observer.declare_queue(queue, passive=True)
    return int(declared.declaration_result.message_count or 0)


async def _requeued(observer: aio_pika.abc.AbstractChannel, queue: str) -> int:
    """The ready count once the broker requeued what a closed channel held (it does so in one go)."""
    return await wait_until(lambda: _ready(observer, queue), timeout=10, what=f"messages back in {queue}")


async def test_a_message_left_out_of_a_batch_ack_comes_back_alone(
    setup: tuple[str, str, aio_pika.abc.AbstractChannel],
) -> None:
    """Acking a batch but its third message: RabbitMQ gives back that one only, once the channel closes."""
    url, sub, observer = setup
    async with RabbitMqBroker(url) as broker:
        got = await _six(broker, sub)
        failed = got[2]
        await broker.ack(got[:2] + got[3:])
        session = broker._session
        assert session is not None
        assert session.floor == 2
        assert await _ready(observer, broker.settings.queue(sub)) == 0
    # Closed with the third unacked: the broker requeues it, and nothing else.
    assert await _requeued(observer, broker.settings.queue(sub)) == 1
    async with RabbitMqBroker(url) as again:
        (back,) = await again.fetch(sub, 6, wait=5)
        assert (back.message_id, back.attempt) == (failed.message_id, 2)
        await again.ack([back])
    assert await _ready(observer, again.settings.queue(sub)) == 0


async def test_a_batch_ack_passes_over_a_retried_message(
    setup: tuple[str, str, aio_pika.abc.AbstractChannel],
) -> None:
    """A message retried in the middle of a batch is settled first; the batch's one multiple ack then covers
    all six tags, and only the retried copy is left in the queue."""
    url, sub, observer = setup
    async with RabbitMqBroker(url) as broker:
        got = await _six(broker, sub)
        retried = got[2]
        await broker.retry(retried, 0)
        await broker.ack(got[:2] + got[3:])
        session = broker._session
        assert session is not None
        assert (session.floor, session.settled) == (6, set())
    assert await _requeued(observer, broker.settings.queue(sub)) == 1
    async with RabbitMqBroker(url) as again:
        (copy,) = await again.fetch(sub, 6, wait=5)
        # Attempt 3 when the copy had reached the first consumer's buffer before it closed.
        assert copy.message_id == retried.message_id
        assert copy.attempt >= 2
        await again.ack([copy])
