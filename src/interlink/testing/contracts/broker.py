"""The behaviour every broker adapter must have, written once and subclassed per adapter.

Subclass :class:`BrokerContract` in a test module (its name must start with ``Test``) and provide a
``broker`` fixture yielding a connected broker whose visibility timeout is ``self.visibility_timeout``::

    class TestMyBroker(BrokerContract):
        @pytest.fixture
        async def broker(self) -> AsyncIterator[Broker]:
            async with MyBroker("my://...", visibility_timeout=self.visibility_timeout) as broker:
                yield broker

Every test uses fresh channel and subscription names, so the broker may be shared between tests. Tests
wait on the broker with generous timeouts; the only upper bound on time asserted is a generous one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest

from interlink.exceptions import BrokerError, MessageRefused
from interlink.ports.broker import Broker, Delivery, OutgoingMessage, Subscription

__all__ = ["BrokerContract"]

_PATIENCE = 10.0  # seconds a test waits for something that should come much sooner


def _fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _messages(channel: str, count: int, type: str = "Thing") -> list[OutgoingMessage]:
    return [
        OutgoingMessage(uuid.uuid4().hex, channel, type, f"body {i}".encode(), ordering_key=f"k{i % 3}")
        for i in range(count)
    ]


async def _subscribe(broker: Broker, channel: str, types: tuple[str, ...] = ("Thing",)) -> str:
    name = _fresh("sub")
    await broker.subscribe(Subscription(name, (channel,), frozenset(types)))
    return name


async def _drain(broker: Broker, subscription: str, expected: int) -> list[Delivery]:
    """Fetch (without acking) until ``expected`` deliveries arrived or patience ran out."""
    got: list[Delivery] = []
    deadline = time.monotonic() + _PATIENCE
    while len(got) < expected and time.monotonic() < deadline:
        got += await broker.fetch(subscription, expected - len(got), wait=0.5)
    return got


class BrokerContract:
    """Abstract contract tests for :class:`~interlink.ports.broker.Broker` adapters."""

    visibility_timeout: ClassVar[float] = 0.3
    #: False for a broker with no publish-side dedupe (RabbitMQ): a re-sent id may then be delivered again,
    #: and the consumer's inbox is what keeps its effect single.
    dedupes_publishes: ClassVar[bool] = True

    @pytest.fixture
    async def broker(self) -> AsyncIterator[Broker]:
        """A connected broker with ``visibility_timeout`` set; subclasses must provide it."""
        raise NotImplementedError(f"{type(self).__name__} must provide the `broker` fixture")
        yield  # noqa: PT022 - an async generator, like the fixtures that override it

    async def test_teardown_removes_subscriptions_and_their_messages(self, broker: Broker) -> None:
        """After teardown (which names what it removed) the same subscription, declared again on a new broker
        of the same URL, holds none of the messages published before."""
        channel = _fresh("orders")
        sub = await _subscribe(broker, channel)
        await broker.publish(_messages(channel, 3))
        assert await broker.teardown()
        again = type(broker)(broker.url)
        async with again:
            await again.subscribe(Subscription(sub, (channel,), frozenset({"Thing"})))
            assert await again.fetch(sub, 10, wait=self.visibility_timeout * 3) == []
            await again.teardown()

    async def test_roundtrip_in_publish_order(self, broker: Broker) -> None:
        """Published messages are fetched in publish order, first attempt, and gone for good once acked."""
        channel = _fresh("orders")
        sub = await _subscribe(broker, channel)
        sent = _messages(channel, 5)
        await broker.publish(sent[:2])
        await broker.publish(sent[2:])
        first = await broker.fetch(sub, 2, wait=_PATIENCE)
        assert len(first) == 2
        rest = await _drain(broker, sub, 3)
        got = first + rest
        assert [d.message_id for d in got] == [m.message_id for m in sent]
        assert [d.body for d in got] == [m.body for m in sent]
        assert {d.attempt for d in got} == {1}
        assert {d.subscription for d in got} == {sub}
        await broker.ack(got)
        assert await broker.fetch(sub, 10, wait=self.visibility_timeout * 3) == []

    async def test_duplicate_message_id_delivered_once(self, broker: Broker) -> None:
        """A message id published twice (in one batch or two) is delivered once per subscription."""
        channel = _fresh("dedupe")
        sub = await _subscribe(broker, channel)
        message, other = _messages(channel, 2)
        await broker.publish([message, message])
        await broker.publish([message, other])
        if not self.dedupes_publishes:
            got = await _drain(broker, sub, 4)
            assert sorted(d.message_id for d in got) == sorted([message.message_id] * 3 + [other.message_id])
            await broker.ack(got)
            return
        got = await _drain(broker, sub, 2)
        assert [d.message_id for d in got] == [message.message_id, other.message_id]
        await broker.ack(got)
        assert await broker.fetch(sub, 10, wait=0.2) == []

    async def test_fan_out_with_independent_acks(self, broker: Broker) -> None:
        """Each matching subscription gets every message; acking in one leaves the other untouched."""
        channel = _fresh("fanout")
        first, second = await _subscribe(broker, channel), await _subscribe(broker, channel)
        sent = _messages(channel, 3)
        await broker.publish(sent)
        got_first = await _drain(broker, first, 3)
        await broker.ack(got_first)
        got_second = await _drain(broker, second, 3)
        assert [d.message_id for d in got_second] == [m.message_id for m in sent]
        assert {d.attempt for d in got_second} == {1}
        assert await broker.fetch(first, 10, wait=self.visibility_timeout * 2) == []

    async def test_filters_by_type_and_channel(self, broker: Broker) -> None:
        """A subscription only gets messages of its types on its channels."""
        channel, elsewhere = _fresh("wanted"), _fresh("elsewhere")
        sub = await _subscribe(broker, channel, ("Wanted",))
        wanted = _messages(channel, 1, "Wanted")
        await broker.publish(_messages(channel, 1, "Unwanted") + _messages(elsewhere, 1, "Wanted") + wanted)
        got = await broker.fetch(sub, 10, wait=_PATIENCE)
        assert [d.message_id for d in got] == [wanted[0].message_id]

    async def test_messages_before_subscription_not_delivered(self, broker: Broker) -> None:
        """A subscription gets only the messages published after it was declared."""
        channel = _fresh("late")
        name = _fresh("sub")
        await broker.publish(_messages(channel, 2))
        await broker.subscribe(Subscription(name, (channel,), frozenset({"Thing"})))
        after = _messages(channel, 1)
        await broker.publish(after)
        got = await broker.fetch(name, 10, wait=_PATIENCE)
        assert [d.message_id for d in got] == [after[0].message_id]

    async def test_resubscribe_is_idempotent_and_widens(self, broker: Broker) -> None:
        """Declaring a subscription again duplicates nothing, and adding types widens its filter."""
        channel = _fresh("widen")
        name = _fresh("sub")
        await broker.subscribe(Subscription(name, (channel,), frozenset({"Old"})))
        await broker.subscribe(Subscription(name, (channel,), frozenset({"Old"})))
        await broker.subscribe(Subscription(name, (channel,), frozenset({"Old", "New"})))
        sent = _messages(channel, 1, "Old") + _messages(channel, 1, "New")
        await broker.publish(sent)
        got = await _drain(broker, name, 2)
        assert [d.message_id for d in got] == [m.message_id for m in sent]
        await broker.ack(got)
        assert await broker.fetch(name, 10, wait=0.2) == []

    async def test_redelivered_after_visibility_timeout(self, broker: Broker) -> None:
        """An unacked message stays invisible for the visibility timeout, then comes back with attempt 2."""
        channel = _fresh("timeout")
        sub = await _subscribe(broker, channel)
        sent = _messages(channel, 1)
        await broker.publish(sent)
        started = time.monotonic()
        first = await broker.fetch(sub, 10, wait=_PATIENCE)
        again = await broker.fetch(sub, 10, wait=_PATIENCE)
        elapsed = time.monotonic() - started
        assert [(d.message_id, d.attempt) for d in first] == [(sent[0].message_id, 1)]
        assert [(d.message_id, d.attempt) for d in again] == [(sent[0].message_id, 2)]
        assert again[0].body == sent[0].body
        assert elapsed >= self.visibility_timeout * 0.8

    async def test_retry_after_delay_raises_attempt(self, broker: Broker) -> None:
        """retry() hands a message back after its delay (not before), with the attempt raised each time."""
        channel = _fresh("retry")
        sub = await _subscribe(broker, channel)
        await broker.publish(_messages(channel, 1))
        (first,) = await broker.fetch(sub, 1, wait=_PATIENCE)
        delay = self.visibility_timeout * 2
        started = time.monotonic()
        await broker.retry(first, delay)
        (second,) = await broker.fetch(sub, 1, wait=_PATIENCE)
        assert time.monotonic() - started >= delay * 0.8
        assert (second.message_id, second.attempt) == (first.message_id, 2)
        await broker.retry(second, 0)
        (third,) = await broker.fetch(sub, 1, wait=_PATIENCE)
        assert (third.message_id, third.attempt) == (first.message_id, 3)
        await broker.ack([third])
        assert await broker.fetch(sub, 1, wait=self.visibility_timeout * 2) == []

    async def test_competing_fetchers_never_share_an_invisible_message(self, broker: Broker) -> None:
        """Concurrent fetchers on one subscription get each delivery (message, attempt) exactly once."""
        channel = _fresh("compete")
        sub = await _subscribe(broker, channel)
        sent = _messages(channel, 60)
        await broker.publish(sent)
        seen: list[tuple[str, int]] = []
        acked: set[str] = set()

        async def consume() -> None:
            deadline = time.monotonic() + _PATIENCE
            while len(acked) < len(sent) and time.monotonic() < deadline:
                got = await broker.fetch(sub, 7, wait=0.2)
                seen.extend((d.message_id, d.attempt) for d in got)
                await broker.ack(got)
                acked.update(d.message_id for d in got)

        await asyncio.gather(*(consume() for _ in range(4)))
        assert acked == {m.message_id for m in sent}
        # Two fetchers sharing an invisible message would both see it with the same attempt number.
        assert len(seen) == len(set(seen))

    async def test_fetch_wakes_when_a_message_is_published(self, broker: Broker) -> None:
        """A waiting fetch returns soon after a publish, long before its wait is over."""
        channel = _fresh("wake")
        sub = await _subscribe(broker, channel)
        waiting = asyncio.create_task(broker.fetch(sub, 10, wait=10))
        await asyncio.sleep(0.1)  # let the fetch find nothing and start waiting
        assert not waiting.done()
        started = time.monotonic()
        sent = _messages(channel, 1)
        await broker.publish(sent)
        got = await asyncio.wait_for(waiting, _PATIENCE)
        assert time.monotonic() - started < 2
        assert [d.message_id for d in got] == [sent[0].message_id]

    async def test_fetch_with_nothing_waits_then_returns_empty(self, broker: Broker) -> None:
        """With nothing to deliver, fetch waits about ``wait`` seconds and returns an empty list."""
        sub = await _subscribe(broker, _fresh("empty"))
        started = time.monotonic()
        assert await broker.fetch(sub, 10, wait=0.2) == []
        assert time.monotonic() - started >= 0.15

    async def test_acking_twice_or_stale_is_harmless(self, broker: Broker) -> None:
        """Acking a delivery twice, or after it was redelivered, raises nothing and redelivers nothing."""
        channel = _fresh("stale")
        sub = await _subscribe(broker, channel)
        await broker.publish(_messages(channel, 1))
        (first,) = await broker.fetch(sub, 1, wait=_PATIENCE)
        (second,) = await broker.fetch(sub, 1, wait=_PATIENCE)
        assert second.attempt == 2
        await broker.ack([second])
        await broker.ack([first, second])
        await broker.retry(first, 0)
        assert await broker.fetch(sub, 1, wait=self.visibility_timeout * 2) == []

    async def test_unknown_subscription_raises_naming_it(self, broker: Broker) -> None:
        """Fetching from a subscription nobody declared raises BrokerError naming it."""
        name = _fresh("nobody")
        with pytest.raises(BrokerError, match=name):
            await broker.fetch(name, 1, wait=0)

    async def test_unconnected_broker_refuses(self, broker: Broker) -> None:
        """Publishing or fetching before connect() raises BrokerError."""
        unconnected = type(broker)(broker.url)
        with pytest.raises(BrokerError, match="connect"):
            await unconnected.publish(_messages(_fresh("early"), 1))
        with pytest.raises(BrokerError, match="connect"):
            await unconnected.fetch(_fresh("sub"), 1, wait=0)

    async def test_message_over_the_limit_is_refused_naming_it_and_the_rest_go(self, broker: Broker) -> None:
        """A message over ``max_message_size`` raises MessageRefused naming it (not an outage), nothing of its
        batch is delivered, and the batch without it goes out in order."""
        limit = broker.max_message_size
        assert limit is None or limit > 0
        # The broker's own limit may be hundreds of MB: a smaller one keeps the test light; the check is the
        # same, and each adapter's tests cover the server's own refusal.
        broker.max_message_size = min(limit or 64 * 1024, 64 * 1024)
        channel = _fresh("limit")
        sub = await _subscribe(broker, channel)
        first, last = _messages(channel, 2)
        big = OutgoingMessage(uuid.uuid4().hex, channel, "Thing", b"x" * (broker.max_message_size + 1))
        try:
            with pytest.raises(MessageRefused) as refused:
                await broker.publish([first, big, last])
            assert refused.value.message_id == big.message_id
            assert refused.value.limit == broker.max_message_size
            assert await broker.fetch(sub, 10, wait=0.2) == []
            await broker.publish([first, last])
            got = await _drain(broker, sub, 2)
            assert [d.message_id for d in got] == [first.message_id, last.message_id]
        finally:
            broker.max_message_size = limit

    async def test_any_bytes_are_delivered_as_they_were_published(self, broker: Broker) -> None:
        """The broker does not judge a body: bytes that are no JSON at all come out unchanged and not marked
        defective, so the consumer is the one place that parks an unreadable message."""
        channel = _fresh("bytes")
        sub = await _subscribe(broker, channel)
        garbage = OutgoingMessage(uuid.uuid4().hex, channel, "Thing", b"\xff\x00not json{")
        await broker.publish([garbage])
        (got,) = await _drain(broker, sub, 1)
        assert (got.message_id, got.body, got.defect) == (garbage.message_id, garbage.body, None)
        await broker.ack([got])

    async def test_ping_answers_when_connected(self, broker: Broker) -> None:
        """ping() succeeds on a connected broker."""
        await broker.ping()
