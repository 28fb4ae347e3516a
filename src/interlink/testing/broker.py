"""A broker wrapper for the test kit: knows when every subscription is idle, holds retries for the test's
clock, and delivers duplicates or out-of-order messages on demand.

It wraps any broker (memory by default, a real one by URL) without changing its guarantees: a duplicate is
made the way a real broker makes one, by losing an ack (the message is handed back and delivered again,
attempt raised); a reordering by publishing a run of messages in reverse order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from interlink.core.clock import Clock
from interlink.ports.broker import Broker, Delivery, OutgoingMessage, Subscription

__all__ = ["ControlledBroker"]


@dataclass
class _Duplicates:
    remaining: int | None  # None: every message from now on
    matches: Callable[[str], bool]


class ControlledBroker(Broker):
    """Wraps ``inner``; :meth:`busy` says what is still moving, :meth:`release_due` fires retries whose
    backoff ``clock`` has passed.

    A retry handed back with a delay is held here until the clock passes it (the inner broker keeps the
    message unacked meanwhile, so on a real broker it may also come back after the broker's own redelivery
    timeout: at-least-once, which the inbox absorbs).
    """

    scheme = "controlled"

    def __init__(self, inner: Broker, clock: Clock) -> None:
        super().__init__(inner.url)
        self.inner = inner
        # The wrapped broker's name, so what names the messaging system (spans, metrics) names the real one.
        self.scheme = inner.scheme
        self._clock = clock
        self._subscriptions: dict[str, Subscription] = {}
        self._unacked: dict[str, set[str]] = {}
        self._in_flight: dict[str, int] = {}
        self._held: dict[tuple[str, str], tuple[datetime, Delivery]] = {}
        self._types: dict[str, str] = {}
        self._duplicates: list[_Duplicates] = []
        self._duplicated: set[tuple[str, str]] = set()
        self._reorder_left = 0
        self._reordering: list[OutgoingMessage] = []
        self._paused: set[str] = set()
        #: Set on every change of what is moving, so a waiter looks again.
        self.changed = asyncio.Event()

    # -- test controls -------------------------------------------------------------------------------

    def duplicate_next(self, count: int | None = 1, message_type: str | None = None) -> None:
        """Deliver each of the next ``count`` messages (None: every message from now on; 0: stop) twice: its
        first ack is lost, as a broker loses one, so it is delivered again. ``message_type`` (a CloudEvents
        type, ``customer.CustomerChanged``) limits it to that type."""
        if count == 0:
            self._duplicates.clear()
            return
        if count is not None and count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        self._duplicates.append(_Duplicates(count, lambda t: message_type is None or t == message_type))

    def reorder_next(self, count: int) -> None:
        """Hold back the next ``count`` messages published, then publish them in reverse order (once ``count``
        have come, or at :meth:`flush_reordered`)."""
        if count < 2:
            raise ValueError(f"reordering needs at least 2 messages, got {count}")
        self._reorder_left = count

    def pause(self, subscription: str) -> None:
        """Leave ``subscription`` out of :meth:`busy` (its domain is stopped: its messages wait)."""
        self._paused.add(subscription)

    def resume(self, subscription: str) -> None:
        """Count ``subscription`` in :meth:`busy` again."""
        self._paused.discard(subscription)

    def busy(self) -> list[str]:
        """What is still moving: deliveries in hand, messages not yet handled (retries held for the clock
        do not count: they wait for time to pass; nor do messages held back for reordering, which wait for
        the rest of their run or for :meth:`flush_reordered`)."""
        found = []
        for name in sorted(self._subscriptions):
            if name in self._paused:
                continue
            waiting = [m for m in self._unacked.get(name, ()) if (name, m) not in self._held]
            if self._in_flight.get(name, 0) or waiting:
                found.append(f"subscription {name}: {self._in_flight.get(name, 0)} in hand, {len(waiting)} waiting")
        return found

    def next_due(self) -> datetime | None:
        """When the earliest held retry is due, if any."""
        return min((due for due, _ in self._held.values()), default=None)

    async def release_due(self) -> int:
        """Hand back every held retry whose time has come; returns how many."""
        now = self._clock.now()
        due = [key for key, (at, _) in self._held.items() if at <= now]
        for key in due:
            _, delivery = self._held.pop(key)
            await self.inner.retry(delivery, 0)
        if due:
            self._changed()
        return len(due)

    async def flush_reordered(self) -> bool:
        """Publish the messages held back for reordering now (in reverse order); False when there were none."""
        held, self._reordering, self._reorder_left = self._reordering, [], 0
        for message in reversed(held):
            await self._send([message])
        return bool(held)

    # -- the broker port -----------------------------------------------------------------------------

    async def _connect(self) -> None:
        await self.inner.connect()
        self.max_message_size = self.inner.max_message_size
        self.redelivery_window = self.inner.redelivery_window

    async def _close(self) -> None:
        await self.inner.close()

    async def _ping(self) -> None:
        await self.inner.ping()

    async def _publish(self, messages: Sequence[OutgoingMessage]) -> None:
        if self._reorder_left:
            taken = list(messages[: self._reorder_left])
            self._reordering += taken
            self._reorder_left -= len(taken)
            messages = messages[len(taken) :]
            if not self._reorder_left:
                await self.flush_reordered()
            self._changed()
        if messages:
            await self._send(messages)

    async def _send(self, messages: Sequence[OutgoingMessage]) -> None:
        # Recorded before the publish: a consumer may fetch and ack a message before the publish returns.
        for message in messages:
            self._types[message.message_id] = message.type
            for name, subscription in self._subscriptions.items():
                if subscription.matches(message.channel, message.type):
                    self._unacked.setdefault(name, set()).add(message.message_id)
        self._changed()
        await self.inner.publish(messages)

    async def _subscribe(self, subscription: Subscription) -> None:
        await self.inner.subscribe(subscription)
        known = self._subscriptions.get(subscription.name)
        if known is not None:  # a redeclaration only widens, as on every broker
            subscription = Subscription(
                subscription.name,
                tuple(sorted({*known.channels, *subscription.channels})),
                known.types | subscription.types,
            )
        self._subscriptions[subscription.name] = subscription

    async def _backlog(self, subscription: str) -> int | None:
        return await self.inner.backlog(subscription)

    async def _fetch(self, subscription: str, max_messages: int, wait: float) -> list[Delivery]:
        deliveries = await self.inner.fetch(subscription, max_messages, wait)
        if deliveries:
            self._in_flight[subscription] = self._in_flight.get(subscription, 0) + len(deliveries)
            for delivery in deliveries:  # a message that came back on its own is no longer held
                self._held.pop((subscription, delivery.message_id), None)
        return deliveries

    async def _ack(self, deliveries: Sequence[Delivery]) -> None:
        acked: list[Delivery] = []
        lost: list[Delivery] = []
        for delivery in deliveries:
            (lost if self._loses_ack(delivery) else acked).append(delivery)
        try:
            await self.inner.ack(acked)
            for delivery in lost:
                await self.inner.retry(delivery, 0)
            for delivery in acked:
                self._unacked.get(delivery.subscription, set()).discard(delivery.message_id)
        finally:
            self._settled(deliveries)

    async def _retry(self, delivery: Delivery, delay: float) -> None:
        try:
            if delay > 0:
                due = self._clock.now() + timedelta(seconds=delay)
                self._held[(delivery.subscription, delivery.message_id)] = (due, delivery)
            else:
                await self.inner.retry(delivery, 0)
        finally:
            self._settled([delivery])

    def _loses_ack(self, delivery: Delivery) -> bool:
        key = (delivery.subscription, delivery.message_id)
        if key in self._duplicated:
            return False
        message_type = self._types.get(delivery.message_id, "")
        for rule in self._duplicates:
            if rule.matches(message_type):
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._duplicates.remove(rule)
                self._duplicated.add(key)
                return True
        return False

    def _settled(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            name = delivery.subscription
            self._in_flight[name] = max(0, self._in_flight.get(name, 0) - 1)
        self._changed()

    def _changed(self) -> None:
        self.changed.set()
