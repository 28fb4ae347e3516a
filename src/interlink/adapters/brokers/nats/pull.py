"""Fetching from JetStream consumers by the pull protocol, for :class:`.NatsBroker`.

Fetching speaks the pull protocol itself: once one message came, nats-py's ``fetch`` waits out the request
for a full batch, which would hold every consumer for its whole wait. Here a no-wait request takes what is
there; when nothing is, a one-message request per stream lingers until something arrives or the wait ends,
and a no-wait request tops the batch up. A consumer whose last message said nothing was behind it (its
``num_pending`` was 0) gets no no-wait request before a lingering one: when messages trickle in one at a time,
that request would only come back empty, a round trip per message. Each request has an inbox of its own; a
message arriving after its request was given up on (a race at expiry, the other streams of a lingering fetch)
goes to the next fetch of its consumer rather than waiting out its ack wait.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DEFAULT_PREFIX

from interlink.adapters.brokers.nats.config import NatsSettings
from interlink.adapters.brokers.nats.errors import translating
from interlink.exceptions import BrokerUnavailable
from interlink.ports.broker import Delivery

__all__ = ["Puller", "Route"]

_LINGER_MIN = 0.01  # s; a shorter lingering request is not worth its round trip
_LATE_MAX = 10_000  # late messages kept per consumer; beyond that they come back after their ack wait


@dataclass(eq=False)
class _Inbox:
    """A reply subscription that pull requests borrow one at a time."""

    subject: str
    queue: asyncio.Queue[Msg | None] = field(default_factory=asyncio.Queue)


@dataclass
class Route:
    """Where one subscription's messages come from, and the subjects it wants of them."""

    consumers: list[tuple[str, str]]  # (stream, durable consumer)
    subjects: set[str]
    read_at: float
    turn: int = 0
    #: The consumers seen empty last time (an answer short of its batch, or a message with nothing behind it).
    drained: set[tuple[str, str]] = field(default_factory=set)

    def rotation(self) -> list[tuple[str, str]]:
        """The consumers, starting one further each time, so one busy stream cannot starve the others."""
        self.turn = (self.turn + 1) % len(self.consumers)
        return self.consumers[self.turn :] + self.consumers[: self.turn]


class Puller:
    """Pull requests on one broker's connection, with the reply inboxes they borrow and the messages that
    came too late for theirs.

    Args:
        settings: the broker's settings (server, request timeout, visibility timeout).
        client: the broker's connection; raises BrokerError once closed, BrokerUnavailable while reconnecting.
        routes: the broker's subscriptions by name, only read: a late message is kept while one wants it.
    """

    def __init__(self, settings: NatsSettings, client: Callable[[], Client], routes: Mapping[str, Route]) -> None:
        self._settings = settings
        self._client = client
        self._routes = routes
        self._open = False
        self._idle: list[_Inbox] = []
        self._busy: set[_Inbox] = set()
        self._late: dict[tuple[str, str], deque[tuple[float, Msg]]] = {}

    def open(self) -> None:
        """Keep inboxes for reuse again: the broker is connected."""
        self._open = True

    def close(self) -> None:
        """End waiting requests and drop the inboxes and late messages: their connection is going away."""
        self._open = False
        self.wake()
        self._idle.clear()
        self._late.clear()

    def wake(self) -> None:
        """End waiting requests now, with BrokerUnavailable, rather than at the end of their wait."""
        for inbox in self._busy:
            inbox.queue.put_nowait(None)

    async def fetch(
        self,
        route: Route,
        max_messages: int,
        wait: float,
        deliveries: Callable[[list[Msg]], Awaitable[list[Delivery]]],
    ) -> list[Delivery]:
        """Up to ``max_messages`` of ``route``'s messages, waiting at most ``wait`` seconds for the first.

        ``deliveries`` turns messages into deliveries (acking away the types not subscribed); while it makes
        none of them and time is left, one request per consumer lingers for the next message.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        msgs: list[Msg] = []
        while True:
            msgs += self._take_late(route, max_messages - len(msgs))
            # Only when a lingering request may follow: a fetch that cannot wait must look at every consumer.
            lingering = deadline - loop.time() >= _LINGER_MIN
            for target in route.rotation():
                if len(msgs) >= max_messages:
                    break
                if lingering and target in route.drained:
                    continue
                wanted = max_messages - len(msgs)
                got = await self.pull([target], {"batch": wanted, "no_wait": True}, self._settings.request_timeout)
                if len(got) < wanted:
                    route.drained.add(target)
                else:
                    _note_pending(route, got)
                msgs += got
            fetched = await deliveries(msgs)
            remaining = deadline - loop.time()
            if fetched or remaining < _LINGER_MIN:
                return fetched
            # 100 us less than our own wait, as nats-py does, so the server ends the request first.
            linger = {"batch": 1, "expires": max(1, int(remaining * 1e9) - 100_000)}
            msgs = await self.pull(route.consumers, linger, remaining + self._settings.request_timeout)
            _note_pending(route, msgs)

    async def pull(self, targets: list[tuple[str, str]], request: dict[str, int | bool], patience: float) -> list[Msg]:
        """Send ``request`` to each (stream, consumer); collect messages until every request ended or enough.

        Enough is the request's batch, or the first message when several requests linger at once.
        """
        nc = self._client()
        inbox = await self._borrow(nc)
        enough = int(request["batch"]) if len(targets) == 1 else 1
        msgs: list[Msg] = []
        open_requests = len(targets)
        wanted = set(targets)
        body = json.dumps(request).encode()
        try:
            with translating(f"fetch from {self._settings.server}"):
                for stream, consumer in targets:
                    subject = f"{DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{consumer}"
                    await nc.publish(subject, body, reply=inbox.subject)
            async with asyncio.timeout(patience):
                while open_requests and len(msgs) < enough:
                    msg = await inbox.queue.get()
                    if msg is None:
                        raise BrokerUnavailable(f"NATS connection to {self._settings.server} lost during a fetch")
                    if msg.reply:
                        if (msg.metadata.stream, msg.metadata.consumer) in wanted:
                            msgs.append(msg)
                        else:
                            # A late answer to an earlier request on this reused inbox, for another consumer:
                            # taking it here would hand it to the wrong subscription, whose ack would settle it.
                            self._keep_late(msg)
                    elif (msg.headers or {}).get("Status") != "100":
                        open_requests -= 1  # 404 nothing there, 408 expired, 409 over a limit: request over
        except TimeoutError:
            # What did come is redelivered after its ack wait; half a batch must not pass for all of it.
            raise BrokerUnavailable(f"NATS at {self._settings.server} did not answer a pull request") from None
        finally:
            self._give_back(inbox)
        return msgs

    async def _borrow(self, nc: Client) -> _Inbox:
        """An inbox of our own for one pull request: JetStream's messages carry their own subject, not the
        inbox's, so only the subscription they arrive on tells which request they answer."""
        if self._idle:
            inbox = self._idle.pop()
        else:
            inbox = _Inbox(nc.new_inbox())

            async def deliver(msg: Msg) -> None:
                if inbox in self._busy:
                    inbox.queue.put_nowait(msg)
                else:
                    self._keep_late(msg)

            with translating(f"subscribe to {self._settings.server}"):
                await nc.subscribe(inbox.subject, cb=deliver)
        self._busy.add(inbox)
        return inbox

    def _give_back(self, inbox: _Inbox) -> None:
        self._busy.discard(inbox)
        while not inbox.queue.empty():
            self._keep_late(inbox.queue.get_nowait())
        if self._open:
            self._idle.append(inbox)

    def _keep_late(self, msg: Msg | None) -> None:
        if msg is None or not msg.reply.startswith("$JS.ACK."):
            return
        key = (msg.metadata.stream, msg.metadata.consumer)
        if any(key in route.consumers for route in self._routes.values()):
            self._late.setdefault(key, deque(maxlen=_LATE_MAX)).append((time.monotonic(), msg))

    def _take_late(self, route: Route, limit: int) -> list[Msg]:
        # Older than the ack wait means the server has handed it out again: a stale copy helps nobody.
        fresh_since = time.monotonic() - self._settings.visibility_timeout
        taken: list[Msg] = []
        for key in route.consumers:
            late = self._late.get(key)
            while late and len(taken) < limit:
                at, msg = late.popleft()
                if at > fresh_since:
                    taken.append(msg)
        return taken


def _note_pending(route: Route, msgs: list[Msg]) -> None:
    """Mark each message's consumer drained when nothing was behind that message, else not drained."""
    for msg in msgs:
        key = (msg.metadata.stream, msg.metadata.consumer)
        if msg.metadata.num_pending:
            route.drained.discard(key)
        else:
            route.drained.add(key)
