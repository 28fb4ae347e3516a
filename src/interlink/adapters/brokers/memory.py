"""The in-memory broker: a real broker's behaviour (visibility timeout, attempts, dedupe) without I/O.

``memory://`` gets a private broker; ``memory://name`` shares one broker state with every MemoryBroker of
that name in the process, like several clients of one server. The shared state lives as long as the
process, so tests should pick fresh names.

For tests of at-least-once handling, ``duplicate_every=N`` makes every N-th ack (counted per MemoryBroker
instance) come back once more, as if the broker had lost it: the message is delivered again, with its
attempt raised, even though it was acked.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from interlink.adapters.brokers.wakeup import Wakeup
from interlink.exceptions import BrokerError, ConfigurationError
from interlink.ports.broker import Broker, Delivery, OutgoingMessage, Subscription

__all__ = ["MemoryBroker"]

DEFAULT_VISIBILITY_TIMEOUT = 30.0


@dataclass
class _Pending:
    """One message waiting in one subscription, with its delivery state."""

    message: OutgoingMessage
    attempt: int = 0
    visible_at: float = 0.0
    duplicated: bool = False


@dataclass
class _Queue:
    """A subscription's filter and its messages, keyed by publish sequence (insertion order = order)."""

    channels: set[str]
    types: set[str]
    pending: dict[int, _Pending] = field(default_factory=dict)

    def matches(self, message: OutgoingMessage) -> bool:
        return message.channel in self.channels and message.type in self.types


class _State:
    """What a broker server holds; shared by every MemoryBroker of one name."""

    def __init__(self) -> None:
        self.seq = 0
        # Every id ever published: the memory broker's dedupe window is its whole life.
        self.seen: set[str] = set()
        self.queues: dict[str, _Queue] = {}
        self.wakeup = Wakeup()


_SHARED: dict[str, _State] = {}


def _bytes(text: str, url: str) -> int:
    if not text.isdigit():
        raise ConfigurationError(f"max_message_size in {url!r} must be a whole number of bytes")
    return int(text)


class MemoryBroker(Broker):
    """An in-process broker with the guarantees of the broker port, for tests and demos.

    Args:
        url: ``memory://`` (private) or ``memory://name`` (shared by name); the query may carry
            ``visibility_timeout`` in seconds and ``max_message_size`` in bytes.
        visibility_timeout: seconds a fetched message stays invisible before it is delivered again;
            overrides the URL's value; 30 by default.
        max_message_size: the largest body it takes, in bytes (a publish of a larger one raises
            MessageRefused); overrides the URL's value; no limit by default.
        duplicate_every: test knob; every N-th ack through this instance leaves the message to be
            delivered once more (attempt raised), simulating the duplicates of at-least-once delivery.
    """

    scheme = "memory"

    def __init__(
        self,
        url: str = "memory://",
        *,
        visibility_timeout: float | None = None,
        duplicate_every: int | None = None,
        max_message_size: int | None = None,
    ) -> None:
        super().__init__(url)
        parts = urlsplit(url)
        if parts.scheme != self.scheme or parts.path not in ("", "/"):
            raise ConfigurationError(f"not a memory broker URL: {url!r} (use memory:// or memory://name)")
        options = dict(parse_qsl(parts.query))
        unknown = set(options) - {"visibility_timeout", "max_message_size"}
        if unknown:
            raise ConfigurationError(f"unknown option(s) {sorted(unknown)} in broker URL {url!r}")
        if visibility_timeout is None:
            try:
                visibility_timeout = float(options.get("visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT))
            except ValueError:
                raise ConfigurationError(f"visibility_timeout in {url!r} must be in seconds") from None
        if visibility_timeout <= 0:
            raise ConfigurationError(f"visibility_timeout must be positive, got {visibility_timeout}")
        if duplicate_every is not None and duplicate_every < 1:
            raise ConfigurationError(f"duplicate_every must be at least 1, got {duplicate_every}")
        if max_message_size is None and "max_message_size" in options:
            max_message_size = _bytes(options["max_message_size"], url)
        if max_message_size is not None and max_message_size < 1:
            raise ConfigurationError(f"max_message_size must be at least 1 byte, got {max_message_size}")
        self.visibility_timeout = visibility_timeout
        self.duplicate_every = duplicate_every
        self.max_message_size = max_message_size
        self._acks = 0
        # Resolved here, not in connect(), so a private broker keeps its messages across reconnects.
        self._state = _SHARED.setdefault(parts.netloc, _State()) if parts.netloc else _State()

    async def _connect(self) -> None:
        pass

    async def _close(self) -> None:
        # Waiting fetches return at once instead of sleeping out their wait on a closed broker.
        self._state.wakeup.wake()

    async def _teardown(self) -> list[str]:
        state = self._state
        removed = [f"subscription {name}" for name in sorted(state.queues)]
        state.queues.clear()
        state.seen.clear()
        state.wakeup.wake()
        return removed

    async def _ping(self) -> None:
        pass

    async def _publish(self, messages: Sequence[OutgoingMessage]) -> None:
        state = self._state
        now = time.monotonic()
        for message in messages:
            if message.message_id in state.seen:
                continue
            state.seen.add(message.message_id)
            state.seq += 1
            for queue in state.queues.values():
                if queue.matches(message):
                    queue.pending[state.seq] = _Pending(message, visible_at=now)
        state.wakeup.wake()

    async def _subscribe(self, subscription: Subscription) -> None:
        queue = self._state.queues.get(subscription.name)
        if queue is None:
            self._state.queues[subscription.name] = _Queue(set(subscription.channels), set(subscription.types))
        else:
            # Durable subscriptions only widen: a narrower redeclaration must not drop pending messages.
            queue.channels.update(subscription.channels)
            queue.types.update(subscription.types)

    async def _backlog(self, subscription: str) -> int | None:
        queue = self._state.queues.get(subscription)
        return len(queue.pending) if queue is not None else None  # in flight included: not acked yet

    async def _fetch(self, subscription: str, max_messages: int, wait: float) -> list[Delivery]:
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        queue = self._queue(subscription)
        deadline = time.monotonic() + wait
        while True:
            now = time.monotonic()
            deliveries = self._claim(subscription, queue, max_messages, now)
            if deliveries or now >= deadline or not self._connected:
                return deliveries
            # Sleep until the earliest in-flight message times out, unless a publish or retry wakes us.
            next_visible = min((p.visible_at for p in queue.pending.values()), default=deadline)
            await self._state.wakeup.sleep(max(0.0, min(deadline, next_visible) - now))

    def _claim(self, name: str, queue: _Queue, max_messages: int, now: float) -> list[Delivery]:
        deliveries: list[Delivery] = []
        for seq, pending in queue.pending.items():
            if pending.visible_at <= now:
                pending.attempt += 1
                pending.visible_at = now + self.visibility_timeout
                message = pending.message
                deliveries.append(Delivery(name, message.message_id, message.body, pending.attempt, seq))
                if len(deliveries) == max_messages:
                    break
        return deliveries

    async def _ack(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            queue = self._state.queues.get(delivery.subscription)
            pending = queue.pending.get(delivery.handle) if queue else None
            if queue is None or pending is None:
                continue  # acked already: acks are idempotent
            self._acks += 1
            if self.duplicate_every and self._acks % self.duplicate_every == 0 and not pending.duplicated:
                pending.duplicated = True
                pending.visible_at = time.monotonic()
                self._state.wakeup.wake()
            else:
                del queue.pending[delivery.handle]

    async def _retry(self, delivery: Delivery, delay: float) -> None:
        queue = self._queue(delivery.subscription)
        pending = queue.pending.get(delivery.handle)
        # A stale delivery (acked, or redelivered to someone else since) must not move the current one.
        if pending is not None and pending.attempt == delivery.attempt:
            pending.visible_at = time.monotonic() + max(0.0, delay)
            self._state.wakeup.wake()

    def _queue(self, name: str) -> _Queue:
        queue = self._state.queues.get(name)
        if queue is None:
            raise BrokerError(f"unknown subscription {name!r}: subscribe() before fetching from it")
        return queue
