"""The embedded broker: one SQLite file, shared safely by the processes of one machine.

``broker_messages`` holds each message once; its unique ``message_id`` is the dedupe window, kept for
``dedupe_window`` seconds after every subscription acked it. ``broker_subscriptions`` holds the durable
filters and ``broker_deliveries`` one row per (subscription, message) until acked, with its attempt count
and the time it becomes visible again. The tables carry a ``broker_`` prefix so pointing the broker at
the store's file by mistake cannot clash.

Every write runs in ``BEGIN IMMEDIATE``: concurrent processes queue on SQLite's write lock (busy timeout)
instead of failing when a reader tries to become a writer. A fetch selects visible rows and pushes their
``visible_at`` past the visibility timeout in one such transaction, so competing consumers never get the
same message while it is invisible. Waiting fetches wake at once on a publish from this process and poll
the file every ``poll_interval`` seconds for the other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiosqlite

from interlink.exceptions import BrokerError, BrokerUnavailable, ConfigurationError
from interlink.ports.broker import Broker, Delivery, OutgoingMessage, Subscription

__all__ = ["SqliteBroker"]

SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS broker_schema (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS broker_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, channel TEXT NOT NULL,
        type TEXT NOT NULL, ordering_key TEXT, body BLOB NOT NULL, published_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS broker_subscriptions (
        name TEXT PRIMARY KEY, channels TEXT NOT NULL, types TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS broker_deliveries (
        subscription TEXT NOT NULL, seq INTEGER NOT NULL, attempt INTEGER NOT NULL, visible_at REAL NOT NULL,
        PRIMARY KEY (subscription, seq)) WITHOUT ROWID""",
)
# Fan-out happens in SQL so a batch costs one statement whatever the number of subscriptions.
_FAN_OUT = """
    INSERT INTO broker_deliveries (subscription, seq, attempt, visible_at)
    SELECT s.name, m.seq, 0, ?1 FROM broker_messages AS m JOIN broker_subscriptions AS s
    WHERE m.seq > ?2 AND m.channel IN (SELECT value FROM json_each(s.channels))
      AND m.type IN (SELECT value FROM json_each(s.types))"""
_VISIBLE = """
    SELECT d.seq, d.attempt + 1, m.message_id, m.body
    FROM broker_deliveries AS d JOIN broker_messages AS m ON m.seq = d.seq
    WHERE d.subscription = ? AND d.visible_at <= ? ORDER BY d.seq LIMIT ?"""
_CLAIM = "UPDATE broker_deliveries SET attempt = ?, visible_at = ? WHERE subscription = ? AND seq = ?"
# Scans from the oldest message and stops at the first young one, so it costs what it deletes.
_PURGE = """
    DELETE FROM broker_messages WHERE seq < coalesce(
        (SELECT seq FROM broker_messages WHERE published_at >= ? ORDER BY seq LIMIT 1),
        (SELECT max(seq) + 1 FROM broker_messages))
    AND seq NOT IN (SELECT seq FROM broker_deliveries)"""

DEFAULTS = {"visibility_timeout": 30.0, "poll_interval": 0.05, "dedupe_window": 120.0}
#: SQLite's own limit on a value's length (SQLITE_MAX_LENGTH): the default largest message.
SQLITE_MAX_LENGTH = 1_000_000_000
# Writers of other processes wait up to 10 s for the lock. synchronous FULL fsyncs every commit, so a
# confirmed publish survives a power cut too (the port's promise); NORMAL was only ~30% faster here.
_PRAGMAS = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL"
# Primary result codes after which trying again later may succeed; anything else is a BrokerError.
_UNAVAILABLE = frozenset({
    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL,
})  # fmt: skip


def _seconds(name: str, argument: float | None, options: dict[str, str], url: str) -> float:
    """An option's value: the constructor's argument, else the URL's, else the default."""
    try:
        value = argument if argument is not None else float(options.get(name, DEFAULTS[name]))
    except ValueError:
        raise ConfigurationError(f"{name} in {url!r} must be a number of seconds") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def _size(argument: int | None, options: dict[str, str], url: str) -> int:
    """The largest message in bytes: the constructor's argument, else the URL's, else SQLite's own limit."""
    text = options.get("max_message_size")
    if argument is None and text is not None:
        if not text.isdigit():
            raise ConfigurationError(f"max_message_size in {url!r} must be a whole number of bytes")
        argument = int(text)
    value = SQLITE_MAX_LENGTH if argument is None else argument
    if not 0 < value <= SQLITE_MAX_LENGTH:
        raise ConfigurationError(f"max_message_size must be from 1 to {SQLITE_MAX_LENGTH} bytes, got {value}")
    return value


def _translate(exc: sqlite3.Error | OSError, path: str) -> BrokerError:
    """The one place where driver errors become Interlink's."""
    if isinstance(exc, OSError):
        return BrokerUnavailable(f"SQLite broker cannot prepare {path}: {exc}")
    code = getattr(exc, "sqlite_errorcode", None)
    kind = BrokerUnavailable if code is not None and code & 0xFF in _UNAVAILABLE else BrokerError
    return kind(f"SQLite broker at {path}: {exc}")


@contextlib.contextmanager
def _translating(path: str) -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise _translate(exc, path) from exc


class _Signal:
    """Wakes this process's waiting fetches when a publish or retry may have made messages visible."""

    def __init__(self) -> None:
        self.generation = 0
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        self.generation += 1
        for fut in self._waiters:
            if not fut.done() and not fut.get_loop().is_closed():
                fut.set_result(None)

    async def wait(self, seconds: float, since: int) -> None:
        # A notify between the caller's look at the table and this wait must not be slept through.
        if self.generation != since:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        try:
            await asyncio.wait((fut,), timeout=seconds)
        finally:
            self._waiters.discard(fut)
            fut.cancel()


_SIGNALS: dict[str, _Signal] = {}


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
        self.visibility_timeout = _seconds("visibility_timeout", visibility_timeout, options, url)
        self.poll_interval = _seconds("poll_interval", poll_interval, options, url)
        self.dedupe_window = _seconds("dedupe_window", dedupe_window, options, url)
        self.redelivery_window = self.dedupe_window  # a message is kept that long after its last ack
        self.max_message_size = _size(max_message_size, options, url)
        self._conn: aiosqlite.Connection | None = None
        # One connection carries one transaction at a time: coroutines of this instance take turns.
        self._lock = asyncio.Lock()
        self._signal = _Signal()
        self._known: set[str] = set()
        self._purged_at = 0.0

    async def _connect(self) -> None:
        with _translating(self.path):
            key = await asyncio.to_thread(self._prepare_directory)
            self._signal = _SIGNALS.setdefault(key, _Signal())
            conn = await aiosqlite.connect(self.path, isolation_level=None)
            try:
                await conn.executescript(_PRAGMAS)
                self._conn = conn
                async with self._transaction() as tx:
                    await self._migrate(tx)
            except BaseException:
                self._conn = None
                await conn.close()
                raise

    def _prepare_directory(self) -> str:
        path = Path(self.path).absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        return str(path)

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        for statement in _SCHEMA:
            await conn.execute(statement)
        rows = list(await conn.execute_fetchall("SELECT version FROM broker_schema"))
        if not rows:
            await conn.execute("INSERT INTO broker_schema (version) VALUES (?)", (SCHEMA_VERSION,))
        elif rows[0][0] > SCHEMA_VERSION:
            raise BrokerError(
                f"{self.path} holds broker schema version {rows[0][0]}, newer than this Interlink's "
                f"{SCHEMA_VERSION}: upgrade Interlink"
            )

    async def _close(self) -> None:
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with _translating(self.path):
                    await conn.close()
        self._signal.notify()

    async def _teardown(self) -> list[str]:
        # The file is the embedded broker's namespace: its tables go, the file stays (it may hold other tables).
        tables = ("broker_deliveries", "broker_subscriptions", "broker_messages", "broker_schema")
        async with self._transaction() as conn:
            found = {r[0] for r in await conn.execute_fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table in (t for t in tables if t in found):
                await conn.execute(f"DROP TABLE {table}")
        self._known.clear()
        return [f"table {t} in {self.path}" for t in tables if t in found]

    async def _ping(self) -> None:
        await self._read("SELECT 1", ())

    async def _publish(self, messages: Sequence[OutgoingMessage]) -> None:
        now = time.time()
        rows = [(m.message_id, m.channel, m.type, m.ordering_key, m.body, now) for m in messages]
        async with self._transaction() as conn:
            # Purge first: an id whose window is over must be stored anew, not ignored and then deleted.
            if now - self._purged_at >= self.dedupe_window:
                self._purged_at = now
                await conn.execute(_PURGE, (now - self.dedupe_window,))
            ((before,),) = await conn.execute_fetchall("SELECT coalesce(max(seq), 0) FROM broker_messages")
            await conn.executemany(
                "INSERT OR IGNORE INTO broker_messages "
                "(message_id, channel, type, ordering_key, body, published_at) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            await conn.execute(_FAN_OUT, (now, before))
        self._signal.notify()

    async def _subscribe(self, subscription: Subscription) -> None:
        async with self._transaction() as conn:
            channels, types = set(subscription.channels), set(subscription.types)
            sql = "SELECT channels, types FROM broker_subscriptions WHERE name = ?"
            for old_channels, old_types in await conn.execute_fetchall(sql, (subscription.name,)):
                # Durable subscriptions only widen: a narrower redeclaration must not drop messages.
                channels.update(json.loads(old_channels))
                types.update(json.loads(old_types))
            await conn.execute(
                "INSERT OR REPLACE INTO broker_subscriptions (name, channels, types) VALUES (?, ?, ?)",
                (subscription.name, json.dumps(sorted(channels)), json.dumps(sorted(types))),
            )
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
            if woken or await self._read(_VISIBLE, (subscription, time.time(), 1)):
                deliveries = await self._claim(subscription, max_messages)
                if deliveries:
                    return deliveries
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            await self._signal.wait(min(remaining, self.poll_interval), since)
            if not self._connected:
                return []  # closed while waiting: close() wakes us so shutdown is not held up
            woken = self._signal.generation != since

    async def _claim(self, subscription: str, max_messages: int) -> list[Delivery]:
        now = time.time()
        async with self._transaction() as conn:
            rows = list(await conn.execute_fetchall(_VISIBLE, (subscription, now, max_messages)))
            if rows:
                until = now + self.visibility_timeout
                await conn.executemany(_CLAIM, [(attempt, until, subscription, seq) for seq, attempt, _, _ in rows])
        return [Delivery(subscription, mid, body, attempt, seq) for seq, attempt, mid, body in rows]

    async def _ack(self, deliveries: Sequence[Delivery]) -> None:
        async with self._transaction() as conn:
            await conn.executemany(
                "DELETE FROM broker_deliveries WHERE subscription = ? AND seq = ?",
                [(d.subscription, d.handle) for d in deliveries],
            )

    async def _retry(self, delivery: Delivery, delay: float) -> None:
        async with self._transaction() as conn:
            # The attempt guard makes a stale delivery (redelivered to someone else since) a no-op.
            await conn.execute(
                "UPDATE broker_deliveries SET visible_at = ? WHERE subscription = ? AND seq = ? AND attempt = ?",
                (time.time() + max(0.0, delay), delivery.subscription, delivery.handle, delivery.attempt),
            )
        self._signal.notify()

    async def _backlog(self, subscription: str) -> int | None:
        # The primary key's prefix: a range count, in flight included (a delivery row lives until its ack).
        rows = await self._read("SELECT count(*) FROM broker_deliveries WHERE subscription = ?", (subscription,))
        return int(rows[0][0])

    async def _require(self, subscription: str) -> None:
        # Subscriptions are never removed, so a name seen once needs no second look.
        if subscription in self._known:
            return
        if not await self._read("SELECT 1 FROM broker_subscriptions WHERE name = ?", (subscription,)):
            raise BrokerError(f"unknown subscription {subscription!r}: subscribe() before fetching from it")
        self._known.add(subscription)

    def _live(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise BrokerError(f"SQLite broker at {self.path} is closed")
        return self._conn

    async def _read(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        async with self._lock:
            conn = self._live()
            with _translating(self.path):
                return list(await conn.execute_fetchall(sql, params))

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            conn = self._live()
            with _translating(self.path):
                try:
                    await conn.execute("BEGIN IMMEDIATE")
                    yield conn
                    await conn.commit()
                except BaseException:
                    # Queued behind whatever statement is still running, so it always ends our transaction.
                    with contextlib.suppress(sqlite3.Error, ValueError):
                        await conn.rollback()
                    raise
