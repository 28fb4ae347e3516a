"""The embedded broker: one SQLite file, shared safely by the processes of one machine.

What the tables hold and how each operation writes them: :mod:`.sql`, each operation one call on the
thread of a :class:`~interlink.adapters.sqlite_link.SqliteLink`. Waiting fetches wake at once on a publish
from this process and poll the file every ``poll_interval`` seconds for the other processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl, urlsplit

from interlink.adapters.brokers.sqlite import sql
from interlink.adapters.brokers.sqlite.config import DEFAULTS, seconds, size
from interlink.adapters.brokers.sqlite.errors import translating
from interlink.adapters.brokers.wakeup import Wakeup
from interlink.adapters.sqlite_link import SqliteLink
from interlink.exceptions import BrokerError, ConfigurationError
from interlink.ports.broker import Broker, Delivery, OutgoingMessage, Subscription

__all__ = ["THREAD_NAME", "SqliteBroker"]

#: The prefix of the name of the broker connection's thread.
THREAD_NAME = "interlink-sqlite-broker"

T = TypeVar("T")

# Writers of other processes wait up to 10 s for the lock. Publishes are fsynced (synchronous FULL, see
# sql.py for what claims and acks do instead).
_PRAGMAS = ("PRAGMA busy_timeout = 10000", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL")


_SIGNALS: dict[str, Wakeup] = {}  # by file: the fetches of this process waiting on it


class SqliteBroker(Broker):
    """The embedded default broker: durable, multi-process safe, no server to run.

    Args:
        url: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``; the query may set
            ``visibility_timeout`` (s, default 30), ``poll_interval`` (s, default 0.05: how often a waiting
            fetch looks for other processes' messages), ``dedupe_window`` (s, default 120) and
            ``max_message_size`` (bytes, default SQLite's own limit of 1,000,000,000: a larger message is
            refused with MessageRefused).
        visibility_timeout, poll_interval, dedupe_window, max_message_size: override the URL's values.
    """

    scheme = "sqlite"

    def __init__(
        self,
        url: str,
        *,
        visibility_timeout: float | None = None,
        poll_interval: float | None = None,
        dedupe_window: float | None = None,
        max_message_size: int | None = None,
    ) -> None:
        super().__init__(url)
        parts = urlsplit(url)
        if parts.scheme != self.scheme or parts.netloc or len(parts.path) < 2:
            raise ConfigurationError(
                f"not a SQLite broker URL: {url!r} (use sqlite:///relative/path.db or sqlite:////abs/path.db)"
            )
        self.path = parts.path[1:]
        options = dict(parse_qsl(parts.query))
        if unknown := set(options) - {*DEFAULTS, "max_message_size"}:
            raise ConfigurationError(f"unknown option(s) {sorted(unknown)} in broker URL {url!r}")
        self.visibility_timeout = seconds("visibility_timeout", visibility_timeout, options, url)
        self.poll_interval = seconds("poll_interval", poll_interval, options, url)
        self.dedupe_window = seconds("dedupe_window", dedupe_window, options, url)
        self.redelivery_window = self.dedupe_window  # a message is kept that long after its last ack
        self.max_message_size = size(max_message_size, options, url)
        self._link: SqliteLink | None = None
        self._signal = Wakeup()
        self._known: set[str] = set()
        self._purged_at = 0.0

    async def _connect(self) -> None:
        with translating(self.path):
            key = await asyncio.to_thread(self._prepare_directory)
            self._signal = _SIGNALS.setdefault(key, Wakeup())
            link = SqliteLink(
                self.path, _PRAGMAS, thread_name=THREAD_NAME, closed=self._closed_error, factory=sql.Connection
            )
            await link.open()
            try:
                version = await link.run(sql.migrate)
            except BaseException:
                await link.close()
                raise
        if version > sql.SCHEMA_VERSION:
            await link.close()
            raise BrokerError(
                f"{self.path} holds broker schema version {version}, newer than this Interlink's "
                f"{sql.SCHEMA_VERSION}: upgrade Interlink"
            )
        self._link = link

    def _prepare_directory(self) -> str:
        path = Path(self.path).absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        return str(path)

    async def _close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            with translating(self.path):
                await link.close()
        self._signal.wake()

    async def _teardown(self) -> list[str]:
        # The file is the embedded broker's namespace: its tables go, the file stays (it may hold other tables).
        dropped = await self._run(sql.teardown)
        self._known.clear()
        return [f"table {t} in {self.path}" for t in dropped]

    async def _ping(self) -> None:
        await self._run(sql.read, "SELECT 1", ())

    async def _publish(self, messages: Sequence[OutgoingMessage]) -> None:
        now = time.time()
        rows = [(m.message_id, m.channel, m.type, m.ordering_key, m.body, now) for m in messages]
        purge_before = None
        if now - self._purged_at >= self.dedupe_window:
            self._purged_at = now
            purge_before = now - self.dedupe_window
        await self._run(sql.publish, rows, now, purge_before)
        self._signal.wake()

    async def _subscribe(self, subscription: Subscription) -> None:
        await self._run(sql.subscribe, subscription.name, set(subscription.channels), set(subscription.types))
        self._known.add(subscription.name)

    async def _fetch(self, subscription: str, max_messages: int, wait: float) -> list[Delivery]:
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        await self._require(subscription)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        woken = True
        while True:
            since = self._signal.generation
            # After a quiet poll interval a read-only look first, so idle consumers never take the write lock.
            if not woken:
                woken = bool(await self._run(sql.read, sql.VISIBLE, (subscription, time.time(), 1)))
            if woken:
                deliveries = await self._claim(subscription, max_messages)
                if deliveries:
                    return deliveries
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            await self._signal.sleep(min(remaining, self.poll_interval), since)
            if not self._connected:
                return []  # closed while waiting: close() wakes us so shutdown is not held up
            woken = self._signal.generation != since

    async def _claim(self, subscription: str, max_messages: int) -> list[Delivery]:
        now = time.time()
        rows = await self._run(sql.claim, subscription, now, max_messages, now + self.visibility_timeout)
        return [Delivery(subscription, mid, body, attempt, seq) for seq, attempt, mid, body in rows]

    async def _ack(self, deliveries: Sequence[Delivery]) -> None:
        await self._run(sql.ack, [(d.subscription, d.handle) for d in deliveries])

    async def _retry(self, delivery: Delivery, delay: float) -> None:
        visible_at = time.time() + max(0.0, delay)
        await self._run(sql.retry, visible_at, delivery.subscription, delivery.handle, delivery.attempt)
        self._signal.wake()

    async def _backlog(self, subscription: str) -> int | None:
        return await self._run(sql.backlog, subscription)

    async def _require(self, subscription: str) -> None:
        # Subscriptions are never removed, so a name seen once needs no second look.
        if subscription in self._known:
            return
        if not await self._run(sql.read, "SELECT 1 FROM broker_subscriptions WHERE name = ?", (subscription,)):
            raise BrokerError(f"unknown subscription {subscription!r}: subscribe() before fetching from it")
        self._known.add(subscription)

    def _closed_error(self) -> BrokerError:
        return BrokerError(f"SQLite broker at {self.path} is closed")

    async def _run(self, operation: Callable[..., T], *args: object) -> T:
        link = self._link
        if link is None:
            raise self._closed_error()
        with translating(self.path):
            return await link.run(operation, *args)
