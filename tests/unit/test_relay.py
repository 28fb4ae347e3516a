"""The relay: batches in commit order, nothing removed before the broker confirmed, calm during outages."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.delivery.committer import Committer
from interlink.delivery.relay import Relay
from interlink.exceptions import BrokerUnavailable
from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import ChangeSet


class FlakyBroker(MemoryBroker):
    """Refuses every publish while ``down``; counts the attempts."""

    def __init__(self) -> None:
        super().__init__("memory://")
        self.down = True
        self.attempts = 0
        self.published: list[str] = []

    async def _publish(self, messages: Sequence[OutgoingMessage]) -> None:
        self.attempts += 1
        if self.down:
            raise BrokerUnavailable("broker down (test)")
        self.published += [m.message_id for m in messages]
        await super()._publish(messages)


def _message(n: int) -> OutgoingMessage:
    return OutgoingMessage(f"m{n}", "d.events", "d.Happened", b"{}")


async def test_outage_keeps_rows_and_backs_off_despite_wake_ups() -> None:
    """While the broker is down, rows stay in the outbox and commits waking the relay do not make it spin."""
    async with MemoryStore(domain="d") as store, FlakyBroker() as broker:
        committer = Committer(store)
        relay = Relay(store, broker, error_backoff=0.3, poll_interval=10, committer=committer)
        await committer.commit(ChangeSet(outbox=[_message(n) for n in range(5)]))
        task = asyncio.create_task(relay.run())
        for _ in range(60):  # a busy domain: a commit (and a wake-up) every 10 ms for 0.6 s
            relay.wake()
            await asyncio.sleep(0.01)
        assert (await store.outbox_status()).pending == 5
        assert broker.attempts <= 6, f"{broker.attempts} publish attempts in 0.6 s with a 0.3 s backoff"
        broker.down = False
        relay.wake()
        relay.stop()
        await asyncio.wait_for(task, timeout=10)
        assert broker.published == [f"m{n}" for n in range(5)]
        assert (await store.outbox_status()).pending == 0


async def test_batches_follow_commit_order() -> None:
    """Rows committed in several groups reach the broker in commit order, in batches of the set size."""
    async with MemoryStore(domain="d") as store, FlakyBroker() as broker:
        broker.down = False
        committer = Committer(store)
        for start in range(0, 25, 5):
            await committer.commit(ChangeSet(outbox=[_message(n) for n in range(start, start + 5)]))
        relay = Relay(store, broker, batch_size=7, committer=committer)
        assert await relay.publish_pending() == 25
        assert broker.published == [f"m{n}" for n in range(25)]
        assert broker.attempts == 4  # 7 + 7 + 7 + 4
