"""Store outages: a message hit by one is retried and the outage is not held against it; a relay keeps going.

The outage hits where a real one can: the commit, the handler's reads, the inbox check of the batch, or
the relay's outbox watch (PostgreSQL's LISTEN connection) as it starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.delivery.retry import RetryPolicy
from interlink.exceptions import AdapterError, ConcurrencyError, StoreUnavailable
from interlink.ports.broker import OutgoingMessage
from interlink.ports.envelope import Envelope
from interlink.ports.store import ChangeSet, StoredAggregate
from interlink.runtime import DomainRuntime, Settings
from interlink.testing.waiting import wait_until

from .apps import fault_app
from .apps.fault_app import PaymentRecorded, payment, receipt, record_payment


class FakeFlakyStore(MemoryStore):
    """A memory store that fails with StoreUnavailable at ``down`` ("commit", "read" or "inbox") while set."""

    down: str | None = None

    def _fail_if_down(self, where: str) -> None:
        if self.down == where:
            raise StoreUnavailable(f"connection was closed in the middle of operation (injected outage at {where})")

    async def _commit(self, changes: Sequence[ChangeSet]) -> None:
        self._fail_if_down("commit")
        await super()._commit(changes)

    async def load(self, kind: str, id: str) -> StoredAggregate | None:
        self._fail_if_down("read")
        return await super().load(kind, id)

    async def seen(self, subscription: str, message_ids: Sequence[str]) -> set[str]:
        self._fail_if_down("inbox")
        return await super().seen(subscription, message_ids)


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
@pytest.mark.parametrize("outage", ["commit", "read", "inbox"])
async def test_store_outage_does_not_use_up_the_attempts_of_a_message(outage: str) -> None:
    """Two deliveries lost to a store outage, then one handler failure: retried, not parked, applied once."""
    store = FakeFlakyStore(domain=receipt.name)
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.01)
    async with MemoryBroker(visibility_timeout=0.5) as broker, store:
        runtime = DomainRuntime(receipt, store, broker, Settings(retry=policy))
        consumer = runtime.consumers[0]
        await broker.subscribe(runtime.subscription)
        await broker.publish([poison_payment("X1")])

        async def next_batch() -> None:
            deliveries = await wait_until(
                lambda: broker.fetch(runtime.subscription.name, 10, wait=0.1), timeout=5, what="a delivery"
            )
            # What Consumer.run does with an adapter error: unacked, the delivery comes back after the
            # visibility timeout.
            with contextlib.suppress(AdapterError):
                await consumer.process(deliveries)

        # The handler works (the fix is in), but the database is down for two deliveries.
        store.down = outage
        await next_batch()
        await next_batch()
        # The database is back; nothing was parked or applied while it was down.
        store.down = None
        assert await store.dead_letters() == []
        assert await store.load("Receipt", "X1") is None
        # The message itself now fails once, for the first time.
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


class FakeStoreWithoutWatch(MemoryStore):
    """A memory store whose outbox watch fails, as PostgreSQL's LISTEN connection does when it is lost."""

    async def watch_outbox(self, wake: Callable[[], None]) -> None:
        raise StoreUnavailable("LISTEN connection was closed in the middle of operation (injected outage)")


async def test_relay_publishes_by_polling_when_its_outbox_watch_fails(caplog: pytest.LogCaptureFixture) -> None:
    """An outbox watch that fails as the relay starts is optional: the relay polls, and the event goes out."""
    store = FakeStoreWithoutWatch(domain=payment.name)
    async with MemoryBroker() as broker, store:
        runtime = DomainRuntime(payment, store, broker, Settings(relay_poll_interval=0.05))
        await runtime.start()
        try:
            await runtime.execute(record_payment, {"id": "P1", "amount": 1})
            # Not waited for in vain: what the runtime logs about its tasks at stop says what happened.
            with contextlib.suppress(TimeoutError):
                await wait_until(lambda: runtime.relay.published >= 1, timeout=3, what="the event relayed")
            pending = (await store.outbox_status()).pending
        finally:
            await runtime.stop()
        assert [r.getMessage() for r in caplog.records if "ended with" in r.getMessage()] == []
        assert (runtime.relay.published, pending) == (1, 0)


class FakeConflictingStore(MemoryStore):
    """A memory store whose next commit fails with ConcurrencyError (another writer got there first)."""

    conflicts = 0

    async def _commit(self, changes: Sequence[ChangeSet]) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise ConcurrencyError("Receipt 'X2' changed meanwhile (injected)")
        await super()._commit(changes)


@pytest.mark.usefixtures("fixed_app")
async def test_a_second_delivery_in_one_batch_is_not_acked_before_the_first_commits() -> None:
    """Two deliveries of one message in a batch, the commit conflicts: neither copy is acked (an ack of the
    copy would settle the message on brokers that ack by message); both come back and it is applied once."""
    store = FakeConflictingStore(domain=receipt.name)
    async with MemoryBroker(visibility_timeout=5) as broker, store:
        runtime = DomainRuntime(receipt, store, broker, Settings(retry=RetryPolicy(base_delay=0.01, max_delay=0.01)))
        consumer = runtime.consumers[0]
        await broker.subscribe(runtime.subscription)
        await broker.publish([poison_payment("X2")])
        (first,) = await broker.fetch(runtime.subscription.name, 10, wait=1)
        copy = dataclasses.replace(first, attempt=first.attempt + 1)
        store.conflicts = 1
        acks, retries = await consumer._handle([first, copy])
        assert (acks, sorted(d.attempt for d, *_ in retries)) == ([], [1, 2])
        await consumer._acknowledge(acks, retries)
        (again,) = await wait_until(
            lambda: broker.fetch(runtime.subscription.name, 10, wait=0.1), timeout=5, what="the message again"
        )
        await consumer.process([again, dataclasses.replace(again, attempt=again.attempt + 1)])
        stored = await store.load("Receipt", "X2")
        assert stored is not None
        assert json.loads(stored.data)["applied"] == 1
        assert (consumer.stats.processed, consumer.stats.duplicates) == (1, 1)
