"""The consumer fetches its next batch while the one in hand commits, and a stop leaves none of it behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest
from pydantic import BaseModel

from interlink import Aggregate, Context, Domain, PublicEvent
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.ports.broker import Delivery
from interlink.ports.store import ChangeSet
from interlink.runtime import DomainRuntime, Settings
from interlink.testing.waiting import wait_until

orders = Domain("orders")
shipping = Domain("shipping")


@orders.aggregate
class Order(Aggregate):
    """An order."""


@orders.event
class OrderPlaced(PublicEvent):
    """An order was placed."""

    order_id: str


class PlaceOrder(BaseModel):
    """Input of place_order."""

    id: str


@orders.command
async def place_order(ctx: Context, data: PlaceOrder) -> None:
    """Save an order and tell the other domains."""
    order = Order(id=data.id)
    await ctx.save(order)
    ctx.emit(OrderPlaced(order_id=order.id), about=order)


@shipping.aggregate
class Shipment(Aggregate):
    """The consumer's record of an order."""


class OpenShipment(BaseModel):
    """Input of open_shipment."""

    order_id: str


@shipping.command
async def open_shipment(ctx: Context, data: OpenShipment) -> None:
    """Save a shipment for an order."""
    await ctx.save(Shipment(id=data.order_id))


@shipping.on(OrderPlaced)
async def order_placed(ctx: Context, event: OrderPlaced) -> None:
    """A shipment per order."""
    await ctx.execute(open_shipment, {"order_id": event.order_id})


class GatedStore(MemoryStore):
    """A memory store whose commits of consumed messages wait for ``gate`` (open at first)."""

    def __init__(self) -> None:
        super().__init__(domain=shipping.name)
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = asyncio.Event()

    async def commit(self, changes: Sequence[ChangeSet]) -> None:
        if any(c.inbox for c in changes):
            self.waiting.set()
            await self.gate.wait()
        await super().commit(changes)


class TakingBroker(MemoryBroker):
    """A memory broker that counts the deliveries its fetches handed out."""

    taken = 0

    async def _fetch(self, subscription: str, max_messages: int, wait: float) -> list[Delivery]:
        deliveries = await super()._fetch(subscription, max_messages, wait)
        self.taken += len(deliveries)
        return deliveries


@dataclass
class Pair:
    """Four events waiting for the shipping domain, in batches of two; its commits held until released."""

    broker: TakingBroker
    store: GatedStore
    consumer: DomainRuntime


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    """Four OrderPlaced events published, the consumer prepared with its commits held."""
    settings = Settings(consumer_batch=2, fetch_wait=0.05, relay_poll_interval=0.05, redrive_interval=None)
    async with TakingBroker() as broker:
        producer = DomainRuntime(orders, MemoryStore(domain=orders.name), broker, settings)
        store = GatedStore()
        consumer = DomainRuntime(shipping, store, broker, settings)
        await consumer.prepare()
        await producer.start()
        try:
            for n in range(4):
                await producer.execute(place_order, {"id": f"o{n}"})
            name = consumer.subscription.name

            async def all_published() -> bool:
                return await broker.backlog(name) == 4

            await wait_until(all_published, 5, what="the four events published")
        finally:
            await producer.stop()
        store.gate.clear()
        yield Pair(broker, store, consumer)


async def test_the_next_batch_is_fetched_while_the_one_in_hand_commits(pair: Pair) -> None:
    """While the first batch's commit is held, the second batch is already taken from the broker; it is
    handled once the first committed, and all four land once each."""
    await pair.consumer.start()
    try:
        await asyncio.wait_for(pair.store.waiting.wait(), 5)
        await wait_until(lambda: pair.broker.taken == 4, 5, what="the second batch fetched during the commit")
        stats = pair.consumer.consumers[0].stats
        assert stats.processed == 0  # nothing committed yet: the second batch waits behind the first
        pair.store.gate.set()
        await wait_until(lambda: stats.processed == 4, 5, what="both batches committed")
        assert stats.duplicates == 0
        for n in range(4):
            assert await pair.store.load(Shipment.aggregate_name(), f"o{n}") is not None
    finally:
        pair.store.gate.set()
        await pair.consumer.stop()


async def test_a_stop_handles_the_batch_fetched_ahead_before_it_returns(pair: Pair) -> None:
    """A stop that comes while a batch waits behind the one committing: both are committed and acked before
    the consumer ends, so nothing it took waits for a visibility timeout."""
    await pair.consumer.start()
    await asyncio.wait_for(pair.store.waiting.wait(), 5)
    await wait_until(lambda: pair.broker.taken == 4, 5, what="the second batch fetched during the commit")
    consumer = pair.consumer.consumers[0]
    consumer.stop()
    pair.store.gate.set()
    await wait_until(lambda: consumer.stats.processed == 4, 5, what="the batch fetched ahead handled too")
    assert await pair.broker.backlog(pair.consumer.subscription.name) == 0  # every one acked
    await pair.consumer.stop()
    assert pair.broker.taken == 4
