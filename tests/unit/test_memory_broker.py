"""MemoryBroker: the broker contract, plus shared state by name and the duplicate test knob."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.exceptions import ConfigurationError
from interlink.ports.broker import Broker, OutgoingMessage, Subscription
from interlink.testing.contracts import BrokerContract


class TestMemoryBroker(BrokerContract):
    """The broker contract on a private memory broker."""

    @pytest.fixture
    async def broker(self) -> AsyncIterator[Broker]:
        """A private memory broker with the contract's short visibility timeout."""
        async with MemoryBroker("memory://", visibility_timeout=self.visibility_timeout) as broker:
            yield broker


def _message(channel: str) -> OutgoingMessage:
    return OutgoingMessage(uuid.uuid4().hex, channel, "Thing", b"{}")


async def _declare(broker: Broker, channel: str) -> str:
    name = f"sub-{uuid.uuid4().hex[:8]}"
    await broker.subscribe(Subscription(name, (channel,), frozenset({"Thing"})))
    return name


async def test_same_name_shares_one_broker() -> None:
    """Two MemoryBrokers of one name behave as two clients of one server, and a waiting fetch wakes."""
    url = f"memory://shared-{uuid.uuid4().hex[:8]}"
    async with MemoryBroker(url) as producer, MemoryBroker(url) as consumer:
        sub = await _declare(consumer, "c")
        waiting = asyncio.create_task(consumer.fetch(sub, 10, wait=10))
        await asyncio.sleep(0.05)  # let the fetch start waiting
        started = time.monotonic()
        sent = _message("c")
        await producer.publish([sent])
        got = await asyncio.wait_for(waiting, 5)
        assert time.monotonic() - started < 2
        assert [d.message_id for d in got] == [sent.message_id]


async def test_plain_memory_url_is_private() -> None:
    """Two plain memory:// brokers share nothing."""
    async with MemoryBroker() as first, MemoryBroker() as second:
        sub = await _declare(first, "c")
        await second.subscribe(Subscription(sub, ("c",), frozenset({"Thing"})))
        await second.publish([_message("c")])
        assert await first.fetch(sub, 10, wait=0) == []


async def test_private_state_survives_reconnect() -> None:
    """Closing and reconnecting a private broker keeps its subscriptions and messages."""
    broker = MemoryBroker()
    await broker.connect()
    sub = await _declare(broker, "c")
    await broker.publish([_message("c")])
    await broker.close()
    await broker.connect()
    assert len(await broker.fetch(sub, 10, wait=0)) == 1
    await broker.close()


async def test_duplicate_every_redelivers_acked_messages_once() -> None:
    """With duplicate_every=2 every second acked message comes back once more, attempt raised."""
    async with MemoryBroker(duplicate_every=2) as broker:
        sub = await _declare(broker, "c")
        sent = [_message("c") for _ in range(4)]
        await broker.publish(sent)
        first = await broker.fetch(sub, 10, wait=0)
        await broker.ack(first)
        again = await broker.fetch(sub, 10, wait=0)
        assert [(d.message_id, d.attempt) for d in again] == [
            (sent[1].message_id, 2),
            (sent[3].message_id, 2),
        ]
        await broker.ack(again)  # acks 5 and 6: the 6th would duplicate, but each message only once
        assert await broker.fetch(sub, 10, wait=0) == []


async def test_visibility_timeout_from_url() -> None:
    """The URL's visibility_timeout query parameter sets the timeout; the argument overrides it."""
    assert MemoryBroker("memory://?visibility_timeout=5").visibility_timeout == 5
    assert MemoryBroker("memory://x?visibility_timeout=5", visibility_timeout=1).visibility_timeout == 1
    assert MemoryBroker().visibility_timeout == 30


async def test_close_wakes_a_waiting_fetch() -> None:
    """Closing the broker ends a waiting fetch at once with nothing."""
    broker = MemoryBroker()
    await broker.connect()
    sub = await _declare(broker, "c")
    waiting = asyncio.create_task(broker.fetch(sub, 10, wait=10))
    await asyncio.sleep(0.05)
    await broker.close()
    assert await asyncio.wait_for(waiting, 2) == []


@pytest.mark.parametrize(
    ("url", "kwargs"),
    [
        ("sqlite:///x.db", {}),
        ("memory://name/path", {}),
        ("memory://?bogus=1", {}),
        ("memory://?visibility_timeout=soon", {}),
        ("memory://", {"visibility_timeout": 0}),
        ("memory://", {"duplicate_every": 0}),
    ],
    ids=["scheme", "path", "option", "not-a-number", "timeout", "duplicate"],
)
def test_bad_configuration_is_refused(url: str, kwargs: dict[str, int]) -> None:
    """A wrong URL or option raises ConfigurationError at construction."""
    with pytest.raises(ConfigurationError):
        MemoryBroker(url, **kwargs)
