"""A store outage while a consumer commits: the message is retried, and the outage is not held against it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.delivery.envelope import Envelope
from interlink.delivery.retry import RetryPolicy
from interlink.exceptions import StoreUnavailable
from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import ChangeSet
from interlink.runtime import DomainRuntime, Settings
from interlink.testing.waiting import wait_until

from .apps import fault_app
from .apps.fault_app import PaymentRecorded, receipt


class FakeFlakyStore(MemoryStore):
    """A memory store whose commits fail with StoreUnavailable while ``down`` is set, as a lost database."""

    down = False

    async def _commit(self, changes: Sequence[ChangeSet]) -> None:
        if self.down:
            raise StoreUnavailable("database is locked (injected outage)")
        await super()._commit(changes)


def poison_payment(payment_id: str) -> OutgoingMessage:
    """A PaymentRecorded for a poison payment, ready to publish."""
    envelope = Envelope(
        id=uuid.uuid4().hex,
        source="payment",
        type=PaymentRecorded.message_type(),
        subject=payment_id,
        time=datetime.now(UTC),
        data={"payment_id": payment_id, "amount": 1, "poison": True},
    )
    return OutgoingMessage.of(envelope)


@pytest.mark.usefixtures("fixed_app")
async def test_store_outage_does_not_use_up_the_attempts_of_a_message() -> None:
    """Two deliveries lost to a store outage, then one handler failure: retried, not parked, applied once."""
    store = FakeFlakyStore(domain=receipt.name)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.01)
    async with MemoryBroker(visibility_timeout=5) as broker, store:
        runtime = DomainRuntime(receipt, store, broker, Settings(retry=policy))
        consumer = runtime.consumers[0]
        await broker.subscribe(runtime.subscription)
        await broker.publish([poison_payment("X1")])

        async def next_batch() -> None:
            deliveries = await wait_until(
                lambda: broker.fetch(runtime.subscription.name, 10, wait=0.1), timeout=5, what="a delivery"
            )
            await consumer.process(deliveries)

        # The handler works (the fix is in), but the database is down for two deliveries.
        store.down = True
        await next_batch()
        await next_batch()
        assert consumer.stats.retried == 2
        assert await store.dead_letters() == []
        # The database is back; the message itself now fails once, for the first time.
        store.down = False
        fault_app.FIXED = False
        await next_batch()
        parked = await store.dead_letters()
        assert parked == [], f"parked after its first own failure: {parked[0].error} ({parked[0].attempts})"
        fault_app.FIXED = True
        await next_batch()
        stored = await store.load("Receipt", "X1")
        assert stored is not None
        assert json.loads(stored.data)["applied"] == 1
        assert consumer.stats.processed == 1
