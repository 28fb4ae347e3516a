"""Duplicates: a message delivered several times, in one batch or across batches, has exactly one effect."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.delivery.consumer import Consumer
from interlink.ports.broker import Delivery
from interlink.ports.envelope import Envelope
from interlink.ports.store import Store
from interlink.runtime import DomainRuntime, Settings
from interlink.runtime.backends import open_store
from interlink.testing.waiting import wait_until
from tests.support.services import fresh_name, require

from .apps.fault_app import PaymentRecorded, payment, receipt, record_payment


def recorded(payment_id: str) -> Envelope:
    """The envelope of PaymentRecorded for one payment, as the payment domain would emit it."""
    return Envelope(
        id=uuid.uuid4().hex,
        source="payment",
        type=PaymentRecorded.message_type(),
        subject=payment_id,
        time=datetime.now(UTC),
        aggregateversion=1,
        data={"payment_id": payment_id, "amount": 10},
    )


def deliver(envelope: Envelope, attempt: int = 1) -> Delivery:
    """A delivery of the envelope to the receipt subscription, as a broker would hand it out."""
    return Delivery(receipt.name, envelope.id, envelope.encode(), attempt, handle=uuid.uuid4().hex)


async def applied(store: Store, payment_ids: list[str]) -> dict[str, int]:
    """Payment id -> how many times its receipt was applied (0 when there is no receipt)."""
    counts = {}
    for payment_id in payment_ids:
        stored = await store.load("Receipt", payment_id)
        counts[payment_id] = json.loads(stored.data)["applied"] if stored else 0
    return counts


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """The receipt domain's store, on each store adapter (PostgreSQL in a fresh schema, dropped after)."""
    if request.param == "memory":
        adapter: Store = MemoryStore(domain=receipt.name)
    elif request.param == "sqlite":
        adapter = SqliteStore(f"sqlite:///{tmp_path}/receipt.db", domain=receipt.name)
    else:
        base, schema = require("postgres").url, fresh_name("dup")
        adapter = open_store(f"{base}?schema={schema}", receipt.name)
    async with adapter:
        yield adapter
    if request.param == "postgres":
        engine = create_async_engine(base.replace("postgresql://", "postgresql+asyncpg://"))
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


@pytest.fixture
async def consumer(store: Store) -> AsyncIterator[Consumer]:
    """The receipt domain's consumer, not running: the test hands it batches through process()."""
    async with MemoryBroker() as broker:
        runtime = DomainRuntime(receipt, store, broker)
        await broker.subscribe(runtime.subscription)
        yield runtime.consumers[0]


async def test_same_message_twice_in_one_batch_has_one_effect(consumer: Consumer, store: Store) -> None:
    """Two deliveries of one message in one batch: one receipt, applied once; the copy counts as duplicate."""
    message = recorded("P1")
    await consumer.process([deliver(message), deliver(message, attempt=2)])
    assert await applied(store, ["P1"]) == {"P1": 1}
    assert (consumer.stats.processed, consumer.stats.duplicates) == (1, 1)


async def test_same_message_twice_in_successive_batches_has_one_effect(consumer: Consumer, store: Store) -> None:
    """A message delivered again in a later batch (after its commit) is recognised by the inbox."""
    message = recorded("P1")
    await consumer.process([deliver(message)])
    await consumer.process([deliver(message, attempt=2)])
    assert await applied(store, ["P1"]) == {"P1": 1}
    assert (consumer.stats.processed, consumer.stats.duplicates) == (1, 1)


def interleaved(copies: int, others: int) -> tuple[list[Delivery], list[str]]:
    """``copies`` deliveries of one message spread evenly among ``others`` distinct ones; every payment id."""
    repeated = recorded("P-repeated")
    step = others // copies
    deliveries = []
    for i in range(others):
        if i % step == 0 and i // step < copies:
            deliveries.append(deliver(repeated, attempt=1 + i // step))
        deliveries.append(deliver(recorded(f"P{i:03d}")))
    assert sum(d.message_id == repeated.id for d in deliveries) == copies
    return deliveries, ["P-repeated"] + [f"P{i:03d}" for i in range(others)]


async def test_ten_copies_interleaved_in_one_batch_have_one_effect(consumer: Consumer, store: Store) -> None:
    """Ten copies of a message among 30 others, all in one batch: every message applied exactly once."""
    deliveries, ids = interleaved(copies=10, others=30)
    await consumer.process(deliveries)
    assert await applied(store, ids) == dict.fromkeys(ids, 1)
    assert (consumer.stats.processed, consumer.stats.duplicates) == (31, 9)


@pytest.mark.parametrize("batch_size", [1, 4, 7])
async def test_ten_copies_interleaved_across_batches_have_one_effect(
    consumer: Consumer, store: Store, batch_size: int
) -> None:
    """The same 40 deliveries cut into successive batches: every message applied exactly once."""
    deliveries, ids = interleaved(copies=10, others=30)
    for first in range(0, len(deliveries), batch_size):
        await consumer.process(deliveries[first : first + batch_size])
    assert await applied(store, ids) == dict.fromkeys(ids, 1)
    assert (consumer.stats.processed, consumer.stats.duplicates) == (31, 9)


async def test_copies_in_concurrent_batches_have_one_effect(consumer: Consumer, store: Store) -> None:
    """Ten batches processed concurrently, each holding a copy of one message: it is applied exactly once."""
    # A redelivery racing the first delivery (a visibility timeout that ran out while the first consumer
    # was still working); the copies that lose are handed back and acked as duplicates later.
    message = recorded("P1")
    await asyncio.gather(*(consumer.process([deliver(message, attempt=1 + i)]) for i in range(10)))
    assert await applied(store, ["P1"]) == {"P1": 1}
    assert consumer.stats.processed == 1
    # Losers either saw the inbox mark or were handed back to the broker; none of them applied anything.
    assert consumer.stats.duplicates + consumer.stats.retried == 9
    for _ in range(9):
        await consumer.process([deliver(message, attempt=20)])
    assert await applied(store, ["P1"]) == {"P1": 1}
    assert consumer.stats.processed == 1


async def test_memory_broker_duplicate_knob_redelivers_every_message_without_a_second_effect(
    tmp_path: Path,
) -> None:
    """With MemoryBroker(duplicate_every=1) every event is delivered twice; each is still applied once."""
    n = 100
    settings = Settings(fetch_wait=0.05, relay_poll_interval=0.05, consumer_batch=16)
    async with MemoryBroker(duplicate_every=1) as broker:
        producer = DomainRuntime(
            payment, SqliteStore(f"sqlite:///{tmp_path}/payment.db", domain="payment"), broker, settings
        )
        consumer = DomainRuntime(
            receipt, SqliteStore(f"sqlite:///{tmp_path}/receipt.db", domain="receipt"), broker, settings
        )
        await consumer.start()
        await producer.start()
        try:
            await asyncio.gather(
                *(producer.execute(record_payment, {"id": f"P{i:03d}", "amount": i}) for i in range(n))
            )
            stats = consumer.consumers[0].stats
            await wait_until(
                lambda: stats.processed + stats.duplicates >= 2 * n,
                timeout=30,
                what=f"{n} events delivered twice each",
            )
            assert (stats.processed, stats.duplicates, stats.dead_lettered) == (n, n, 0)
            ids = [f"P{i:03d}" for i in range(n)]
            assert await applied(consumer.store, ids) == dict.fromkeys(ids, 1)
        finally:
            await consumer.stop()
            await producer.stop()
