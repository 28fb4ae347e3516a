"""RedisBroker one message at a time: the round trips a trickled message costs, and what the blocking read keeps."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any, cast

from redis.asyncio import Redis

from interlink.adapters.brokers.redis import RedisBroker
from interlink.ports.broker import Delivery, OutgoingMessage, Subscription


def _message(message_id: str, type: str = "Thing") -> OutgoingMessage:
    return OutgoingMessage(message_id, "c", type, f"body of {message_id}".encode())


class _Monitor:
    """The commands the server receives that name the test's namespace, as MONITOR shows them."""

    def __init__(self, redis_url: str, namespace: str) -> None:
        self.url, self.namespace = redis_url, namespace
        self.commands: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    async def run(self) -> None:
        async with Redis.from_url(self.url) as client, client.monitor() as monitor:
            async for command in monitor.listen():
                if self.namespace in command["command"]:
                    self.commands.append(command)
                    self.arrived.set()

    async def until(self, predicate: Any, start: int) -> None:
        """Wait until a command satisfying ``predicate`` was seen, from the ``start``-th seen on."""
        while not any(predicate(c) for c in self.commands[start:]):
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 10)

    async def mark(self, raw: Redis, label: str) -> int:
        """Send a marker and wait for it: every command sent before it has then been seen."""
        start, text = len(self.commands), f"ECHO {self.namespace}:{label}"
        await raw.echo(f"{self.namespace}:{label}")
        await self.until(lambda c: c["command"] == text, start)
        return next(i for i in range(start, len(self.commands)) if self.commands[i]["command"] == text) + 1


def _looks(commands: list[dict[str, Any]], fetch_sha: str) -> list[str]:
    """What the broker sent to look for entries or to wait for them (commands run inside scripts left out)."""
    names = []
    for c in commands:
        if c["client_type"] == "lua":
            continue
        words = c["command"].split()
        if words[0] in ("XREAD", "XREADGROUP") or words[:2] == ["EVALSHA", fetch_sha]:
            names.append("FETCH" if words[0] == "EVALSHA" else words[0])
    return names


async def test_a_trickle_costs_one_read_per_message(redis_url: str, namespace: str) -> None:
    """Messages arriving one at a time while a fetch waits: the blocking XREADGROUP takes each itself (one round
    trip per message, where a take, a blocking XREAD and a take again made three). A burst is still fetched at
    once, and a fetch that cannot wait still runs the take that looks at retries and timed-out entries too."""
    monitor = _Monitor(redis_url, namespace)
    watching = asyncio.create_task(monitor.run())
    looks: list[list[str]] = []
    try:
        async with RedisBroker(f"{redis_url}?namespace={namespace}") as broker, Redis.from_url(redis_url) as raw:
            await broker.subscribe(Subscription("ledger", ("c",), frozenset({"Thing"})))
            await asyncio.sleep(0.1)  # MONITOR is on before the first marker: nothing to poll for yet
            fetch_sha = broker._scripts["FETCH"].sha
            seen = await monitor.mark(raw, "start")
            for n in range(6):
                fetching = asyncio.create_task(broker.fetch("ledger", 1, wait=5))
                # Publish only once the fetch waits in a blocking read.
                await monitor.until(lambda c: " BLOCK " in c["command"] and c["client_type"] != "lua", seen)
                await broker.publish([_message(f"m{n}")])
                (got,) = await asyncio.wait_for(fetching, 10)
                await broker.ack([got])
                assert got.message_id == f"m{n}"
                start, seen = seen, await monitor.mark(raw, f"m{n}")
                looks.append(_looks(monitor.commands[start:seen], fetch_sha))
            await broker.publish([_message(f"b{n}") for n in range(3)])
            burst = [d.message_id for _ in range(3) for d in await broker.fetch("ledger", 1, wait=5)]
            await broker.publish([_message("now")])
            start = await monitor.mark(raw, "before-poll")
            polled = await broker.fetch("ledger", 10, wait=0)
            poll_looks = _looks(monitor.commands[start : await monitor.mark(raw, "after-poll")], fetch_sha)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    # The first fetch knew nothing yet: it ran the take first. Every later one only read.
    assert looks[0][0] == "FETCH"
    assert looks[1:] == [["XREADGROUP"]] * 5
    assert burst == ["b0", "b1", "b2"]
    assert [d.message_id for d in polled] == ["now"]
    assert poll_looks == ["FETCH"]


async def test_a_retry_ends_the_blocking_read_when_due(redis_url: str, namespace: str) -> None:
    """A retry made while fetches wait in the blocking read is handed out again once due, with attempt 2:
    the read waits no longer than the retry's delay."""
    async with RedisBroker(f"{redis_url}?namespace={namespace}") as broker:
        await broker.subscribe(Subscription("ledger", ("c",), frozenset({"Thing"})))
        await broker.publish([_message("m")])
        (first,) = await broker.fetch("ledger", 1, wait=5)
        await broker.retry(first, 0.3)
        # Longer than the delay, shorter than the longest single block: only the retry's due time ends it.
        (again,) = await broker.fetch("ledger", 1, wait=4)
        await broker.ack([again])
    assert (again.message_id, again.attempt) == ("m", 2)


async def test_the_blocking_read_acks_foreign_types_and_hands_out_defects(redis_url: str, namespace: str) -> None:
    """Entries the blocking read takes are checked as the take checks them: a type the subscription does not
    take is acked and never handed out; an entry lacking fields is handed out marked defective."""
    async with RedisBroker(f"{redis_url}?namespace={namespace}") as broker, Redis.from_url(redis_url) as raw:
        await broker.subscribe(Subscription("ledger", ("c",), frozenset({"Wanted"})))
        assert await broker.fetch("ledger", 10, wait=0.1) == []  # the take ran: later fetches read
        stream = f"{namespace}:stream:c"
        got: list[Delivery] = []
        fetching = asyncio.create_task(broker.fetch("ledger", 10, wait=5))
        await broker.publish([_message(f"other{uuid.uuid4().hex}", "Other")])
        bad_id = await raw.xadd(stream, {"hello": "world"})
        await broker.publish([_message("wanted", "Wanted")])
        while len(got) < 2:
            got += await asyncio.wait_for(fetching, 10)
            fetching = asyncio.create_task(broker.fetch("ledger", 10, wait=5))
        fetching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await fetching
        pending = await raw.xpending(stream, "ledger")
        await broker.ack(got)
    assert [(d.message_id, d.defect is not None, d.attempt) for d in got] == [
        (f"{stream}:{cast(bytes, bad_id).decode()}", True, 1),
        ("wanted", False, 1),
    ]
    assert pending["pending"] == 2  # the two in hand; the foreign one was acked
