"""The Redis Streams broker: a stream per channel, a consumer group per subscription, Lua for atomicity.

Publishing runs one script per batch that adds each message to its channel's stream unless its id was
seen within the dedupe window. Subscribing creates the subscription's group on each of its streams at
``$``, so it gets what is published afterwards. A fetch is one script that hands out, up to the count asked
for, (1) retried entries whose delay is over, (2) entries pending past the visibility timeout, taken over
with ``XAUTOCLAIM``, and (3) new entries, with ``XREADGROUP``; entries of types the subscription does not
take are acked inside the script and never seen here; an entry lacking a field is handed out marked as
defective (``Delivery.defect``), for the consumer to park in the store's dead letters. With nothing to
hand out, the fetch waits in ``XREADGROUP ... BLOCK`` on the subscription's streams, which takes what is
added itself (one round trip per message that trickles in, as a hand-written loop makes), checked as the
script checks it; until the next delayed entry is due or the next look for timed-out ones, when the
script runs again (at the latest after 5 s, for retries made by other instances). A subscription on more
streams than its fetch may take waits in ``XREAD`` and takes with the script. The group's delivery count of
an entry is its attempt. See :mod:`.scripts` for the key layout.

Redis keeps what it acknowledged only as well as its persistence is configured: run it with
``appendonly yes`` and ``appendfsync always`` for the port's "durable once confirmed".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from typing import Any

from redis import exceptions as rx
from redis.asyncio import Redis

from interlink.adapters.brokers.redis import scripts
from interlink.adapters.brokers.redis.config import parse_url, redact
from interlink.adapters.brokers.redis.errors import is_nogroup, is_too_long, translate, translating
from interlink.adapters.brokers.redis.reader import Reader
from interlink.exceptions import BrokerError
from interlink.ports.broker import Broker, Delivery, OutgoingMessage, Subscription, too_large

__all__ = ["RedisBroker"]

log = logging.getLogger("interlink.broker.redis")

_REFRESH = 1.0  # seconds a subscription's channel list is trusted before it is read again
_BLOCK_MAX = 5.0  # longest single blocking read, well under the client's socket timeout
_FORGET_CONSUMER_MS = 3_600_000  # a consumer holding nothing, idle this long, is removed from its group
_warned: set[str] = set()  # servers already reported as not persisting to disk


class RedisBroker(Broker):
    """Broker on Redis Streams (Redis 7 or later).

    Args:
        url: ``redis://user:password@host:6379/0?namespace=...`` or ``rediss://`` with TLS options; see
            :mod:`interlink.adapters.brokers.redis.config` for the query options.
        visibility_timeout, dedupe_window, namespace: override the URL's values.
    """

    scheme = "redis"
    #: How often (s) a stream is trimmed of the entries every group is done with, per instance.
    housekeeping_interval: float = 10.0

    def __init__(
        self,
        url: str,
        *,
        visibility_timeout: float | None = None,
        dedupe_window: float | None = None,
        namespace: str | None = None,
    ) -> None:
        super().__init__(url)
        self.settings = parse_url(
            url, visibility_timeout=visibility_timeout, dedupe_window=dedupe_window, namespace=namespace
        )
        self.visibility_timeout = self.settings.visibility_timeout
        self.dedupe_window = self.settings.dedupe_window
        self.redelivery_window = self.dedupe_window  # acked entries are trimmed after the dedupe window
        self.keys = scripts.Keys(self.settings.namespace)
        # Unique per instance: competing consumers are distinct members of the group.
        self.consumer = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        # How late (s) an entry left pending past its visibility timeout may be found.
        self._scan_interval = min(max(self.visibility_timeout / 4, 0.02), 5.0)
        self._client: Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._readers: dict[str, Reader] = {}
        self._declared: dict[str, Subscription] = {}
        self._groups: dict[str, set[str]] = defaultdict(set)  # streams by group read here: cleaned at close
        self._trimmed_at: dict[str, float] = {}
        self._waiting: set[asyncio.Future[Any]] = set()

    def __repr__(self) -> str:
        return f"RedisBroker({redact(self.url)!r}, namespace={self.settings.namespace!r})"

    async def _connect(self) -> None:
        client = Redis(**self.settings.client_options(), client_name=f"interlink-{self.consumer}")
        try:
            with translating(self.settings):
                await client.ping()
                await self._warn_if_volatile(client)
                self.max_message_size = await self._read_limit(client)
        except BaseException:
            await client.aclose()
            raise
        self._client = client
        self._scripts = {name: client.register_script(source) for name, source in scripts.SCRIPTS.items()}

    async def _read_limit(self, client: Redis) -> int | None:
        """The largest body the server takes: its ``proto-max-bulk-len`` (one command argument), capped by
        the URL's ``max_message_size``; the URL's alone when CONFIG is forbidden (an ACL, a managed Redis)."""
        configured = self.settings.max_message_size
        try:
            reply = await client.config_get("proto-max-bulk-len")
        except rx.ResponseError:
            return configured
        # Keys come back as bytes or str, depending on the client's decode_responses.
        found: dict[Any, Any] = dict(reply)
        value = found.get("proto-max-bulk-len") or found.get(b"proto-max-bulk-len")
        if value is None:
            return configured
        # Room for the protocol's own framing around the argument.
        server = int(value) - 64
        return server if configured is None else min(configured, server)

    async def _warn_if_volatile(self, client: Redis) -> None:
        # The port promises durable publishes; say so (once per server) when Redis cannot keep them.
        address = self.settings.address
        with contextlib.suppress(rx.ResponseError):  # INFO may be forbidden by an ACL: not our business
            if address not in _warned and not (await client.info("persistence")).get("aof_enabled"):
                _warned.add(address)
                log.warning("Redis at %s runs without appendonly: a restart loses published messages", address)

    async def _close(self) -> None:
        for waiting in list(self._waiting):
            waiting.cancel()  # a fetch blocked in XREAD returns at once instead of after its wait
        client, self._client = self._client, None
        if client is None:
            return
        try:
            for group, streams in self._groups.items():
                await self._scripts["CLEANUP"](keys=sorted(streams), args=[group, self.consumer], client=client)
        except Exception as exc:  # the server may be gone: forgetting idle consumers is a courtesy
            log.debug("redis broker %s: skipped consumer cleanup: %s", self.settings.address, exc)
        finally:
            await client.aclose()

    async def _ping(self) -> None:
        with translating(self.settings):
            await self._live().ping()

    async def _teardown(self) -> list[str]:
        client = self._live()
        # Glob characters in a namespace are taken literally.
        pattern = "".join(f"\\{c}" if c in "*?[]\\" else c for c in self.settings.namespace) + ":*"
        with translating(self.settings):
            keys = sorted([key async for key in client.scan_iter(match=pattern, count=1000)])
            for start in range(0, len(keys), 500):
                await client.delete(*keys[start : start + 500])
        self._declared.clear()
        self._groups.clear()
        names = [k.decode() if isinstance(k, bytes) else str(k) for k in keys]
        seen = [n for n in names if n.startswith(f"{self.settings.namespace}:seen:")]
        shown = [f"key {n}" for n in names if n not in set(seen)]
        return shown + ([f"{len(seen)} dedupe key(s) {self.settings.namespace}:seen:*"] if seen else [])

    def _live(self) -> Redis:
        if self._client is None:
            raise BrokerError(f"Redis broker at {self.settings.address} is closed")
        return self._client

    async def _run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        client = self._live()
        with translating(self.settings):
            return await self._scripts[script](keys=keys, args=args, client=client)

    async def _publish(self, messages: Sequence[OutgoingMessage]) -> None:
        window = max(1, int(self.dedupe_window * 1000))
        for chunk in scripts.publish_chunks(messages):
            try:
                await self._run("PUBLISH", *self.keys.publish(chunk, window))
            except BrokerError as exc:
                # The server's limit went down since connect (CONFIG SET): it dropped the connection
                # rather than take the argument. Learn the new limit; the base check then refuses the message.
                if is_too_long(exc.__cause__):
                    self.max_message_size = await self._read_limit(self._live())
                    if (limit := self.max_message_size) is not None:
                        for message in chunk:
                            if len(message.body) > limit:
                                raise too_large(message, limit) from exc
                raise
        await self._housekeep({self.keys.stream(m.channel) for m in messages})

    async def _subscribe(self, subscription: Subscription) -> None:
        await self._run("SUBSCRIBE", *self.keys.subscribe(subscription, start="$"))
        # Kept to restore the subscription should the server lose it: the union, as on the server.
        old = self._declared.get(subscription.name, subscription)
        channels = tuple(sorted({*old.channels, *subscription.channels}))
        self._declared[subscription.name] = Subscription(subscription.name, channels, old.types | subscription.types)
        self._readers.pop(subscription.name, None)  # read the widened channel list on next fetch

    async def _fetch(self, subscription: str, max_messages: int, wait: float) -> list[Delivery]:
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        try:
            while True:
                reader = await self._reader(subscription)
                now = loop.time()
                # Entries a read may take from each stream without handing out more than asked for in all.
                each = max_messages // len(reader.streams) if reader.streams else 0
                # Of one stream, the read takes what the take would; of several, only up to `each` from every
                # one: after a look that left some behind, the take fills the batch from them in turn.
                if each and now < min(deadline, reader.quiet_until) and (reader.short or len(reader.streams) == 1):
                    # Nothing is due but new entries: the blocking read takes them itself, in one round trip
                    # (at once if some wait), instead of a take, a blocking XREAD and the take again.
                    new = await self._read_new(subscription, reader, each, min(deadline, reader.quiet_until) - now)
                    if new or loop.time() >= deadline:
                        return new
                    continue  # a retry or a scan came due: the take looks at everything
                fetched = await self._take(subscription, reader, max_messages)
                if fetched.entries:
                    return reader.deliveries(subscription, fetched.entries)
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                if fetched.status != "ok" or each:
                    continue  # restored on the server: look again at once; or wait in a read that takes
                pause = min(remaining, max(reader.next_scan - loop.time(), 0.0), _BLOCK_MAX)
                if fetched.due_in >= 0:
                    pause = min(pause, max(fetched.due_in, 0.01))
                await self._block(reader.streams, fetched.last, pause)
        except BrokerError:
            if not self._connected:
                return []  # closed while waiting: shutdown is not held up by a fetch
            raise

    async def _reader(self, subscription: str) -> Reader:
        now = asyncio.get_running_loop().time()
        reader = self._readers.get(subscription)
        if reader is not None and now - reader.read_at < _REFRESH:
            return reader
        with translating(self.settings):
            async with self._live().pipeline(transaction=False) as pipe:
                pipe.sismember(self.keys.subscriptions, subscription)
                pipe.smembers(self.keys.sub(subscription, "channels"))
                pipe.smembers(self.keys.sub(subscription, "types"))
                exists, members, types = await pipe.execute()
        if not exists:
            await self._restore(subscription, "registration")
            return await self._reader(subscription)
        channels = tuple(sorted(m.decode() for m in members))
        fresh = Reader(channels, tuple(self.keys.stream(c) for c in channels), now, frozenset(types)).carry(reader)
        self._readers[subscription] = fresh
        self._groups[subscription].update(fresh.streams)
        return fresh

    async def _take(self, subscription: str, reader: Reader, room: int) -> scripts.Fetched:
        """Run the fetch script once; if the server lost the subscription, restore it (and hand out nothing)."""
        now = asyncio.get_running_loop().time()
        scan = now >= reader.next_scan
        keys = [self.keys.sub(subscription, part) for part in ("types", "delayed")]
        args: list[Any] = [subscription, self.consumer, room, int(self.visibility_timeout * 1000)]
        args += ["1" if scan else "0", reader.turn, *(reader.cursors.get(s, b"0-0") for s in reader.streams)]
        reader.turn += 1
        fetched = scripts.Fetched.parse(await self._run("FETCH", keys + list(reader.streams), args))
        if fetched.status != "ok":
            await self._restore(subscription, fetched.status)
            return fetched
        if scan:
            reader.cursors = dict(zip(reader.streams, fetched.cursors, strict=True))
            # A cursor not back at 0-0 means more timed-out entries may wait: look again next time.
            more = any(c != b"0-0" for c in fetched.cursors)
            reader.next_scan = now if more else now + self._scan_interval
        # Retries of other instances are seen by the next take: at most _BLOCK_MAX from now, as when
        # this instance waited in one long XREAD.
        due = now + max(fetched.due_in, 0.01) if fetched.due_in >= 0 else now + _BLOCK_MAX
        reader.quiet_until = min(reader.next_scan, due, now + _BLOCK_MAX)
        reader.short = len(fetched.entries) < room
        return fetched

    async def _read_new(self, subscription: str, reader: Reader, each: int, seconds: float) -> list[Delivery]:
        """Up to ``each`` new entries of every stream of the subscription, waiting up to ``seconds`` for one:
        ``XREADGROUP ... BLOCK`` hands them to this consumer (attempt 1), as the take would when nothing else
        is due; those of types the subscription does not take are acked (:data:`.scripts.FILTER`)."""
        streams: dict[Any, Any] = dict.fromkeys(reader.streams, ">")
        request = self._live().xreadgroup(
            subscription, self.consumer, streams, count=each, block=max(1, int(seconds * 1000))
        )
        try:
            reply = await self._blocking(request)
        except BrokerError as exc:
            if not is_nogroup(exc.__cause__ or exc):
                raise
            reader.quiet_until = 0.0  # the server lost the group, or the stream: the take restores them
            return []
        reader.short = all(len(items) < each for _, items in reply or ())
        new = scripts.New.parse(reply, reader.index, reader.types)
        entries = list(new.entries)
        if new.unsure:
            keys = [self.keys.sub(subscription, "types")] + [reader.streams[entries[u][0]] for u in new.unsure]
            args: list[Any] = [subscription]
            for u, kind in zip(new.unsure, new.types, strict=True):
                args += (kind, entries[u][1])
            flags = await self._run("FILTER", keys, args)
            reader.types |= {kind for kind, keep in zip(new.types, flags, strict=True) if keep}
            dropped = {u for u, keep in zip(new.unsure, flags, strict=True) if not keep}
            entries = [e for n, e in enumerate(entries) if n not in dropped]
        return reader.deliveries(subscription, entries)

    async def _restore(self, subscription: str, problem: str) -> None:
        """Recreate a subscription this process declared whose ``problem`` state the server lost (a restart
        without persistence, a flush); at ``0``, so what was published meanwhile is not lost."""
        self._readers.pop(subscription, None)
        declared = self._declared.get(subscription)
        if declared is None:
            raise BrokerError(
                f"unknown subscription {subscription!r} on Redis at {self.settings.address}: "
                "subscribe() before fetching from it"
            )
        log.warning("redis broker at %s: restoring subscription %s (%s lost)", self.settings.address,
                    subscription, problem)  # fmt: skip
        await self._run("SUBSCRIBE", *self.keys.subscribe(declared, start="0"))

    async def _block(self, streams: Sequence[str], last: Sequence[bytes], seconds: float) -> None:
        """Wait until an entry is added to one of ``streams`` after ``last``, or ``seconds`` pass."""
        if not streams or not last:
            await asyncio.sleep(seconds)
            return
        request = self._live().xread(dict(zip(streams, last, strict=True)), count=1, block=max(1, int(seconds * 1000)))
        await self._blocking(request)

    async def _blocking(self, request: Awaitable[Any]) -> Any:
        """The reply of a blocking command, or None when close() ended the wait."""
        waiting = asyncio.ensure_future(request)
        self._waiting.add(waiting)  # close() cancels it, which makes redis-py drop that connection
        try:
            with translating(self.settings):
                return await waiting
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._connected or (current is not None and current.cancelling()):
                raise  # our caller was cancelled, not the wait by close()
            return None
        finally:
            self._waiting.discard(waiting)

    async def _ack(self, deliveries: Sequence[Delivery]) -> None:
        by_stream: dict[tuple[str, str], list[bytes]] = defaultdict(list)
        for d in deliveries:
            stream, entry = d.handle
            by_stream[d.subscription, stream].append(entry)
        client = self._live()
        with translating(self.settings):
            async with client.pipeline(transaction=False) as pipe:
                for (group, stream), entries in by_stream.items():
                    pipe.xack(stream, group, *entries)
                results = await pipe.execute(raise_on_error=False)
        for result in results:
            # A group that is gone holds nothing to ack; any other error is a real one.
            if isinstance(result, Exception) and not is_nogroup(result):
                raise translate(result, self.settings) from result
        await self._housekeep({stream for _, stream in by_stream})

    async def _retry(self, delivery: Delivery, delay: float) -> None:
        stream, entry = delivery.handle
        delayed = self.keys.sub(delivery.subscription, "delayed")
        args = [delivery.subscription, entry, delivery.attempt, int(max(0.0, delay) * 1000)]
        try:
            await self._run("RETRY", [stream, delayed], args)
        except BrokerError as exc:
            if not is_nogroup(exc.__cause__ or exc):
                raise
        if (reader := self._readers.get(delivery.subscription)) is not None:
            # Due then: later fetches wait in a blocking read no longer, and the take hands it out.
            due = asyncio.get_running_loop().time() + max(delay, 0.01)
            reader.quiet_until = min(reader.quiet_until, due)

    async def _housekeep(self, streams: set[str]) -> None:
        """Trim streams of what every group is done with, each at most once per interval."""
        now = asyncio.get_running_loop().time()
        for stream in streams:
            if now - self._trimmed_at.get(stream, float("-inf")) >= self.housekeeping_interval:
                self._trimmed_at[stream] = now
                await self._run("TRIM", [stream], [int(self.dedupe_window * 1000), _FORGET_CONSUMER_MS])
