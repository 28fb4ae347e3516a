"""The relay and a message the broker refuses for good: parked with its reason, the rest published in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.delivery.committer import Committer
from interlink.delivery.relay import Relay, requeue_parked
from interlink.exceptions import ConfigurationError, MessageRefused
from interlink.ports.broker import OutgoingMessage, Subscription
from interlink.ports.store import ChangeSet, DeadLetter
from interlink.testing.waiting import wait_until


class RecordingBroker(MemoryBroker):
    """A memory broker that records what it stored, in order, and can refuse ids it does not know."""

    def __init__(self, url: str = "memory://", **options: int) -> None:
        super().__init__(url, **options)
        self.published: list[str] = []
        self.refuse_unknown = False

    async def _publish(self, messages: Sequence[OutgoingMessage]) -> None:
        if self.refuse_unknown:
            raise MessageRefused("not-in-any-batch", "refused for a test")
        self.published += [m.message_id for m in messages]
        await super()._publish(messages)


def _message(n: int, size: int = 2) -> OutgoingMessage:
    return OutgoingMessage(f"m{n}", "d.events", "d.Happened", b"{" + b" " * (size - 2) + b"}")


async def test_refused_messages_are_parked_and_the_rest_go_in_commit_order() -> None:
    """Two oversized messages among ten, in batches of four: both parked with the reason, the eight others
    published once each, in commit order, and the outbox ends empty."""
    async with MemoryStore(domain="d") as store, RecordingBroker(max_message_size=100) as broker:
        committer = Committer(store)
        sizes = {3: 500, 6: 101}
        await committer.commit(ChangeSet(outbox=[_message(n, sizes.get(n, 2)) for n in range(10)]))
        relay = Relay(store, broker, batch_size=4, committer=committer)
        assert await relay.publish_pending() == 8
        letters = await store.dead_letters()
        status = await store.outbox_status()
    assert broker.published == [f"m{n}" for n in range(10) if n not in sizes]
    assert (relay.published, relay.parked, status.pending) == (8, 2, 0)
    assert [(d.message_id, d.subscription, d.attempts) for d in letters] == [
        ("m3", "outbox:d.events", 1),
        ("m6", "outbox:d.events", 1),
    ]
    assert (
        letters[0].error == "MessageRefused: d.Happened on d.events is 500 bytes, over the broker's limit of 100 bytes"
    )
    assert letters[0].body == _message(3, 500).body


async def test_a_refusal_naming_no_message_of_the_batch_backs_off_instead_of_spinning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refusal of an id the batch does not hold parks nothing: the relay treats it as an outage and backs
    off instead of publishing the batch again at once, and the row stays."""
    async with MemoryStore(domain="d") as store, RecordingBroker() as broker:
        broker.refuse_unknown = True
        await store.commit([ChangeSet(outbox=[_message(1)])])
        relay = Relay(store, broker, error_backoff=30, poll_interval=30)
        attempts = 0
        original = broker._publish

        async def counting(messages: Sequence[OutgoingMessage]) -> None:
            nonlocal attempts
            attempts += 1
            await original(messages)

        broker._publish = counting  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING, "interlink.relay"):
            task = asyncio.create_task(relay.run())
            await wait_until(lambda: "not in the batch" in caplog.text, timeout=10, what="the refusal logged")
            for _ in range(100):  # a relay that spun would publish again within these turns of the loop
                await asyncio.sleep(0)
            assert attempts == 1
            relay.stop()
            await asyncio.wait_for(task, timeout=10)
        assert (await store.outbox_status()).pending == 1
        assert await store.dead_letters() == []


async def test_replay_puts_the_parked_message_back_and_publishes_it_once() -> None:
    """replay_parked requeues the parked message under its id and publishes it; the dead letter is gone;
    under a limit still too low it is refused and parked again, saying so."""
    async with MemoryStore(domain="d") as store, RecordingBroker(max_message_size=100) as broker:
        await broker.subscribe(Subscription("reader", ("d.events",), frozenset({"d.Happened"})))
        await store.commit([ChangeSet(outbox=[_message(1, 500), _message(2)])])
        relay = Relay(store, broker)
        await relay.publish_pending()
        (letter,) = await store.dead_letters()
        assert letter.id is not None
        with pytest.raises(MessageRefused, match="refused again, parked as dead letter"):
            await relay.replay_parked(letter.id)
        (again,) = await store.dead_letters()
        assert again.id is not None
        assert again.id != letter.id
        broker.max_message_size = 1000
        await relay.replay_parked(again.id)
        got = await broker.fetch("reader", 10, wait=1)
        assert await store.dead_letters() == []
    assert broker.published == ["m2", "m1"]
    assert [d.message_id for d in got] == ["m2", "m1"]
    assert got[1].body == _message(1, 500).body


async def test_requeue_refuses_a_letter_a_consumer_parked() -> None:
    """Only parked outbox messages go back into the outbox: a consumer's dead letter is replayed by
    handling it again, never by publishing it."""
    async with MemoryStore(domain="d") as store:
        await store.commit([ChangeSet(outbox=[_message(1)])])
        (row,) = await store.outbox_batch(1)
        letter = (await _consumer_letter(store)).id
        assert letter is not None
        with pytest.raises(ConfigurationError, match="no parked outbox message"):
            await requeue_parked(store, letter)
        with pytest.raises(ConfigurationError, match="no parked outbox message"):
            await requeue_parked(store, 999)
        assert [r.seq for r in await store.outbox_batch(10)] == [row.seq]


async def _consumer_letter(store: MemoryStore) -> DeadLetter:
    letter = DeadLetter("reader", "x1", "d.Happened", b"{}", "RuntimeError: boom", 3, datetime.now(UTC))
    await store.commit([ChangeSet(dead_letters=[letter])])
    (stored,) = await store.dead_letters()
    return stored
