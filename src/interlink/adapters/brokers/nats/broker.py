"""NatsBroker: the broker port on NATS JetStream.

On the server (names and configurations in :mod:`.config`): a stream per producing domain, on disk, keeping
its history for replica rebuilds, with the dedupe window as duplicate window; every publish carries
``Nats-Msg-Id`` = the message id. A subscription is a durable pull consumer, named after it, on each stream it
reads: explicit acks, ack wait = visibility timeout, unlimited deliveries, deliver-new. Streams and consumers
are declared by whoever publishes or subscribes first.

Fetching speaks the pull protocol itself, over inboxes of its own: see :mod:`.pull`.

Before 2.10, nats-server filters a consumer on one subject and loses messages when that subject changes:
there a consumer takes every type of its channel for good, and the types not subscribed are acked away here
(the subscription's types live in the consumer's description, so every process agrees on them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncGenerator, Collection, Sequence
from functools import partial

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import errors as js_errors
from nats.js.api import DEFAULT_PREFIX, ConsumerInfo, PubAck

from interlink.adapters.brokers.nats.config import (
    consumer_config,
    parse_url,
    redact,
    stream_config,
    token,
)
from interlink.adapters.brokers.nats.connection import connect, discard
from interlink.adapters.brokers.nats.errors import translate, translating
from interlink.adapters.brokers.nats.history import read_history
from interlink.adapters.brokers.nats.pull import Puller, Route
from interlink.exceptions import BrokerError, BrokerUnavailable, MessageRefused
from interlink.ports.broker import Broker, Delivery, OutgoingMessage, Subscription

__all__ = ["NatsBroker"]

log = logging.getLogger("interlink.broker.nats")

_MSG_ID = "Nats-Msg-Id"
# Bytes of max_payload kept for the message's headers (``NATS/1.0``, its Nats-Msg-Id): the server counts
# them, and closes the connection on a message over max_payload, which would look like an outage.
_HEADER_ROOM = 256
_STREAM_EXISTS = 10058  # JetStream's error code for "stream name already in use" (with another config)
_REFRESH = 1.0  # s between re-reads of a subscription's subjects when a message matches none of them


class NatsBroker(Broker):
    """The broker port on NATS JetStream; see :mod:`interlink.adapters.brokers.nats.config` for the URL.

    Args:
        url: ``nats://[user:password@]host:4222?namespace=...`` or ``tls://...``.
        namespace, visibility_timeout, dedupe_window, request_timeout: override the URL's values.
    """

    scheme = "nats"

    def __init__(
        self,
        url: str,
        *,
        namespace: str | None = None,
        visibility_timeout: float | None = None,
        dedupe_window: float | None = None,
        request_timeout: float | None = None,
    ) -> None:
        super().__init__(url)
        self.settings = parse_url(
            url,
            namespace=namespace,
            visibility_timeout=visibility_timeout,
            dedupe_window=dedupe_window,
            request_timeout=request_timeout,
        )
        self.visibility_timeout = self.settings.visibility_timeout
        # The streams' duplicate window; they set no max_age, and a durable consumer never redelivers an
        # acked message, so a re-send later than the window is the only way a handled id comes back.
        self.redelivery_window = self.settings.dedupe_window
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._streams: set[str] = set()
        self._routes: dict[str, Route] = {}
        self._puller = Puller(self.settings, lambda: self._client()[0], self._routes)
        self._subjects: dict[tuple[str, str], str] = {}
        self._multi_filter = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.url)!r})"

    # -- connection ------------------------------------------------------------------------------

    async def _connect(self) -> None:
        nc, js = await connect(self.settings, lost=self._puller.wake, restored=self._learn_limit)
        version = nc.connected_server_version
        self._multi_filter = (version.major, version.minor) >= (2, 10)
        self._learn_limit(nc)
        self._nc, self._js = nc, js
        self._puller.open()

    def _learn_limit(self, nc: Client) -> None:
        """The server's max_payload (from its INFO) less the room the headers take."""
        self.max_message_size = max(1, nc.max_payload - _HEADER_ROOM)

    async def _close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        self._puller.close()
        if nc is not None:
            await discard(nc)

    async def _ping(self) -> None:
        _, js = self._client()
        with translating(f"ping {self.settings.server}"):
            await js.account_info()

    async def _teardown(self) -> list[str]:
        # A stream is this namespace's when every subject it holds is under "<namespace>." (no dot in a namespace,
        # so another namespace sharing the prefix never matches); its consumers go with it.
        nc, js = self._client()
        namespace, removed = self.settings.namespace, []
        with translating(f"tear down namespace {namespace!r}"):
            query = json.dumps({"subject": f"{namespace}.>"}).encode()
            reply = await nc.request(f"{DEFAULT_PREFIX}.STREAM.NAMES", query, self.settings.request_timeout)
            for stream in sorted(json.loads(reply.data).get("streams") or []):
                subjects = (await js.stream_info(stream)).config.subjects or []
                if not subjects or any(s.split(".", 1)[0] != namespace for s in subjects):
                    continue
                offset = 0
                while page := await js.consumers_info(stream, offset):
                    removed += [f"consumer {info.name} on {stream}" for info in page]
                    offset += len(page)
                await js.delete_stream(stream)
                removed.append(f"stream {stream}")
        self._routes.clear()
        return removed

    def _client(self) -> tuple[Client, JetStreamContext]:
        if self._nc is None or self._js is None:
            raise BrokerError(f"NATS broker for {self.settings.server} is closed")
        if not self._nc.is_connected:
            raise BrokerUnavailable(f"NATS at {self.settings.server} is not connected; reconnecting")
        return self._nc, self._js

    # -- publishing ------------------------------------------------------------------------------

    async def _publish(self, messages: Sequence[OutgoingMessage]) -> None:
        _, js = self._client()
        for channel in dict.fromkeys(m.channel for m in messages):
            await self._ensure_stream(channel)
        doing = f"publish to {self.settings.server}"
        futures: list[asyncio.Future[PubAck]] = []
        try:
            # One connection keeps the order of these on the wire, and so in the stream.
            for m in messages:
                with translating(doing, m.message_id):
                    subject = self._subject(m.channel, m.type)
                    futures.append(await js.publish_async(subject, m.body, headers={_MSG_ID: m.message_id}))
            with translating(doing):
                done, unconfirmed = await asyncio.wait(futures, timeout=self.settings.request_timeout)
        finally:
            for future in futures:
                future.cancel()  # no-op once done; the relay sends the unconfirmed again
        failures = [(i, exc) for i, future in enumerate(futures) if future in done and (exc := future.exception())]
        if failures:
            index, first = failures[0]
            error = translate(first, doing, messages[index].message_id)
            if not isinstance(error, MessageRefused):
                self._streams.clear()  # a stream deleted behind our back is declared again next time
            raise error from first
        if unconfirmed:
            raise BrokerUnavailable(
                f"NATS {doing}: {len(unconfirmed)} of {len(futures)} messages not confirmed within "
                f"{self.settings.request_timeout:g}s"
            )

    def _subject(self, channel: str, type: str) -> str:
        subject = self._subjects.get((channel, type))
        if subject is None:
            subject = self._subjects[channel, type] = self.settings.subject(channel, type)
        return subject

    async def _ensure_stream(self, channel: str) -> str:
        name = self.settings.stream(channel)
        if name in self._streams:
            return name
        _, js = self._client()
        with translating(f"declare stream {name}"):
            try:
                info = await js.stream_info(name)
            except js_errors.NotFoundError:
                try:
                    info = await js.add_stream(stream_config(self.settings, channel))
                except js_errors.BadRequestError as exc:
                    if exc.err_code != _STREAM_EXISTS:
                        raise
                    info = await js.stream_info(name)  # declared meanwhile, maybe with another dedupe window
        if self.settings.stream_subjects(channel) not in (info.config.subjects or []):
            raise BrokerError(
                f"stream {name} exists with subjects {info.config.subjects}, not "
                f"{self.settings.stream_subjects(channel)}: it is not this Interlink namespace's"
            )
        self._streams.add(name)
        return name

    # -- subscriptions ---------------------------------------------------------------------------

    async def _subscribe(self, subscription: Subscription) -> None:
        _, js = self._client()
        for channel in subscription.channels:
            stream = await self._ensure_stream(channel)
            consumer = self.settings.consumer(subscription.name, channel)
            subjects = {self._subject(channel, t) for t in subscription.types}
            with translating(f"declare consumer {consumer} on {stream}"):
                try:
                    info: ConsumerInfo | None = await js.consumer_info(stream, consumer)
                except js_errors.NotFoundError:
                    info = None
                have = self._subjects_of(info) if info else set()
                # Durable subscriptions only widen: a narrower declaration must not drop a filter.
                config = consumer_config(self.settings, subscription.name, channel, have | subjects, self._multi_filter)
                if info is None or not subjects <= have or info.config.ack_wait != config.ack_wait:
                    await js.add_consumer(stream, config)
        # Declarations here or in other processes may have covered other channels: ask the server.
        if route := await self._discover(subscription.name):
            self._adopt(subscription.name, route)

    def _subjects_of(self, info: ConsumerInfo) -> set[str]:
        # The description first: it is exact on every server version, even for a consumer made before 2.10.
        config = info.config
        try:
            subjects = json.loads(config.description) if config.description else config.filter_subjects
        except ValueError:
            subjects = None
        if not subjects:
            raise BrokerError(f"consumer {info.name} on {info.stream_name} is not Interlink's (no subjects)")
        return set(subjects)

    async def _discover(self, name: str) -> Route | None:
        """The subscription as the server knows it: its consumers on every stream of the namespace."""
        nc, js = self._client()
        prefix, consumers, subjects = f"{token(name)}__", [], set()
        with translating(f"look up subscription {name!r}"):
            query = json.dumps({"subject": f"{self.settings.namespace}.>"}).encode()
            reply = await nc.request(f"{DEFAULT_PREFIX}.STREAM.NAMES", query, self.settings.request_timeout)
            for stream in sorted(json.loads(reply.data).get("streams") or []):
                offset = 0
                while page := await js.consumers_info(stream, offset):
                    for info in page:
                        if info.name.startswith(prefix):
                            consumers.append((stream, info.name))
                            subjects |= self._subjects_of(info)
                    offset += len(page)
        return Route(consumers, subjects, time.monotonic()) if consumers else None

    def _adopt(self, name: str, fresh: Route) -> None:
        # In place: a fetch waiting meanwhile must see the wider subscription, not ack its new types away.
        route = self._routes.setdefault(name, fresh)
        route.consumers, route.subjects, route.read_at = fresh.consumers, fresh.subjects, fresh.read_at

    async def _route(self, name: str) -> Route:
        route = self._routes.get(name)
        if route is None:
            fresh = await self._discover(name)
            if fresh is None:
                raise BrokerError(f"unknown subscription {name!r}: subscribe() before fetching from it")
            self._adopt(name, fresh)
        return self._routes[name]

    async def _backlog(self, subscription: str) -> int | None:
        _, js = self._client()
        route = await self._route(subscription)
        total = 0
        with translating(f"count the backlog of {subscription!r}"):
            for stream, consumer in route.consumers:
                info = await js.consumer_info(stream, consumer)
                # Not yet delivered (of the subjects it filters on) plus delivered but not acked yet.
                total += (info.num_pending or 0) + (info.num_ack_pending or 0)
        return total

    # -- fetching --------------------------------------------------------------------------------

    async def _fetch(self, subscription: str, max_messages: int, wait: float) -> list[Delivery]:
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        route = await self._route(subscription)
        try:
            return await self._puller.fetch(route, max_messages, wait, partial(self._deliveries, subscription, route))
        except BrokerError:
            if self._nc is None:
                return []  # closed while we waited
            self._routes.pop(subscription, None)  # a consumer deleted behind our back: look again next time
            raise

    async def _deliveries(self, name: str, route: Route, msgs: list[Msg]) -> list[Delivery]:
        stale = time.monotonic() - route.read_at > _REFRESH
        # Before 2.10 the consumer's filter is wider than the subscription: another process may have
        # widened the subscription since we read it, so look again before acking anything away.
        if stale and any(m.subject not in route.subjects for m in msgs) and (fresh := await self._discover(name)):
            self._adopt(name, fresh)
            route = self._routes[name]
        unwanted = [(m.reply, b"+ACK") for m in msgs if m.subject not in route.subjects]
        if unwanted:
            await self._send(unwanted, "skip messages of other types")
        return [
            Delivery(
                name,
                (m.headers or {}).get(_MSG_ID) or f"{m.metadata.stream}:{m.metadata.sequence.stream}",
                m.data,
                m.metadata.num_delivered,
                m.reply,
            )
            for m in msgs
            if m.subject in route.subjects
        ]

    # -- acknowledging ---------------------------------------------------------------------------

    async def _ack(self, deliveries: Sequence[Delivery]) -> None:
        # An ack of a stale delivery acks a message that is gone or acked already: the server ignores it.
        # Not flushed (a PING/PONG round trip per batch, as much CPU as the commit when messages come one at a
        # time): nats-py's flusher writes it at once, close() writes out what is still buffered, and an ack
        # lost with the connection only brings the message back, which the inbox then acks as a duplicate.
        await self._send([(d.handle, b"+ACK") for d in deliveries], "ack", flush=False)

    async def _retry(self, delivery: Delivery, delay: float) -> None:
        body = b'-NAK {"delay": %d}' % int(delay * 1e9) if delay > 0 else b"-NAK"
        await self._send([(delivery.handle, body)], "retry")

    async def _send(self, replies: list[tuple[str, bytes]], doing: str, *, flush: bool = True) -> None:
        nc, _ = self._client()
        with translating(f"{doing} on {self.settings.server}"):
            for subject, body in replies:
                await nc.publish(subject, body)
            if flush:
                # The server answers a flush's PING after reading everything sent before it.
                await nc.flush(timeout=math.ceil(self.settings.request_timeout))

    # -- history ---------------------------------------------------------------------------------

    async def history(self, channel: str, types: Collection[str] | None = None) -> AsyncGenerator[bytes, None]:
        """Every message still kept on ``channel`` (of ``types``, if given), oldest first, once each.

        For rebuilding a replica (see :func:`~interlink.adapters.brokers.nats.history.read_history`). Wrap it
        in ``contextlib.aclosing()`` when you may stop early, so the reader is deleted at once. Raises
        BrokerUnavailable when the connection drops half-way: read it again from the start.
        """
        self._check()
        _, js = self._client()
        stream = await self._ensure_stream(channel)
        wanted = {self._subject(channel, t) for t in types} if types is not None else None
        reading = read_history(
            js, self._puller, self.settings, (stream, channel), wanted, self._multi_filter, lambda: self._js
        )
        async with contextlib.aclosing(reading) as messages:
            async for data in messages:
                yield data
