"""An unknown or malformed message ends the same way on every broker: one dead letter in the store.

Garbage is published with each broker's own client (aio-pika, nats-py, redis-py; the port itself for the
embedded and memory brokers, which have no other) to the address the ``listener`` subscription reads: a
body that is not JSON, JSON that is not a CloudEvent, a CloudEvent of a type nobody handles, and on Redis
an entry lacking the broker's fields. Each becomes exactly one dead letter, with its raw body and the
reason, listed by ``interlink dead-letters list``; good messages around them are applied once.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import aio_pika
import nats
import pytest
from redis.asyncio import Redis

from interlink.adapters.brokers.nats.config import parse_url as nats_settings
from interlink.adapters.brokers.rabbitmq.config import parse_url as rabbitmq_settings
from interlink.adapters.brokers.redis.scripts import Keys
from interlink.delivery.consumer import ConsumerStats
from interlink.ports.broker import Broker, OutgoingMessage
from interlink.runtime import Runtime, Settings
from interlink.runtime.backends import open_broker
from interlink.testing.waiting import wait_until
from tests.support.cleanup import purge_namespace
from tests.support.refusal_app import Noted, Seen, listener, noted_message
from tests.support.services import fresh_name, require

CHANNEL = "emitter.events"
TYPE = Noted.message_type()

Send = Callable[[bytes], Awaitable[None]]


@dataclass
class Garbage:
    """A broker URL for the listener, and how to put raw bytes at its subscription's address."""

    url: str
    send: Send
    #: Redis only: add a stream entry with these fields (none of the broker's), returning the entry id.
    send_fields: Callable[[dict[str, str]], Awaitable[str]] | None = None


def _through_port(broker: Broker) -> Send:
    async def send(body: bytes) -> None:
        await broker.publish([OutgoingMessage(uuid.uuid4().hex, CHANNEL, TYPE, body)])

    return send


@pytest.fixture(params=["embedded", "memory", "rabbitmq", "nats", "redis"])
async def garbage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Garbage]:
    """The listener's broker, fresh for this test, and a raw way to publish to its subscription's address."""
    kind = request.param
    if kind in ("embedded", "memory"):
        url = f"sqlite:///{tmp_path}/broker.db" if kind == "embedded" else f"memory://{fresh_name('garbage')}"
        # Another instance on the same file (or the same named state) as the runtime's: it sees what this sends.
        async with open_broker(url) as broker:
            yield Garbage(url, _through_port(broker))
        return
    service = require(kind)
    namespace = fresh_name("garbage")
    url = f"{service.url}{'&' if '?' in service.url else '?'}namespace={namespace}"
    try:
        if kind == "rabbitmq":
            exchange_name = rabbitmq_settings(url).exchange(CHANNEL)
            connection = await aio_pika.connect(service.url)
            async with connection:
                channel = await connection.channel()

                async def amqp(body: bytes) -> None:
                    # Through aio-pika's underlying channel: aio-pika's Message would add a message id, and
                    # what arrives from elsewhere may carry none.
                    raw = await channel.get_underlay_channel()
                    await raw.basic_publish(body, exchange=exchange_name, routing_key=TYPE)

                yield Garbage(url, amqp)
        elif kind == "nats":
            subject = nats_settings(url).subject(CHANNEL, TYPE)
            nc = await nats.connect(service.url)
            try:
                js = nc.jetstream()

                async def jetstream(body: bytes) -> None:
                    await js.publish(subject, body)

                yield Garbage(url, jetstream)
            finally:
                await nc.close()
        else:
            stream = Keys(namespace).stream(CHANNEL)
            async with Redis.from_url(service.url) as raw:

                async def xadd(body: bytes) -> None:
                    fields = {"message_id": uuid.uuid4().hex, "type": TYPE, "channel": CHANNEL, "body": body}
                    await raw.xadd(stream, fields)  # type: ignore[arg-type]

                async def xadd_fields(fields: dict[str, str]) -> str:
                    entry = await raw.xadd(stream, fields)  # type: ignore[arg-type]
                    return f"{stream}:{cast(bytes, entry).decode()}"

                yield Garbage(url, xadd, xadd_fields)
    finally:
        await purge_namespace(kind, service.url, namespace)


def _unknown_cloud_event() -> bytes:
    return json.dumps({
        "specversion": "1.0", "id": uuid.uuid4().hex, "source": "emitter", "type": "emitter.Unheard",
        "time": datetime.now(UTC).isoformat(), "data": {"n": 1},
    }).encode()  # fmt: skip


async def test_each_unreadable_message_is_one_dead_letter_and_good_ones_flow(garbage: Garbage, tmp_path: Path) -> None:
    """Non-JSON, non-CloudEvent JSON, an unknown type (and on Redis an entry lacking fields) each end as
    exactly one dead letter with the raw body and the reason; the good messages before and after are applied."""
    settings = Settings(store_url=f"sqlite:///{tmp_path}/{{domain}}.db", broker_url=garbage.url, fetch_wait=0.1)
    bad = {
        b"\xff this is not JSON": "MalformedMessage: not a CloudEvents 1.0 envelope",
        b'{"hello": "world"}': "MalformedMessage: not a CloudEvents 1.0 envelope",
        _unknown_cloud_event(): "UnknownMessageType: ",
    }
    async with Runtime([listener], settings) as rt:
        stats = rt["listener"].consumers[0].stats
        publisher = rt.broker
        await publisher.publish([noted_message(1)])
        for parked, body in enumerate(bad, start=1):
            # One at a time: each is parked in a batch of its own, so none can share another's dead letter.
            await garbage.send(body)
            await wait_until(functools.partial(_parked, stats, parked), timeout=30, what=f"bad message {parked} parked")
        entry = None
        if garbage.send_fields is not None:
            entry = await garbage.send_fields({"note": "none of the broker's fields"})
        await garbage.send(noted_message(2).body)  # a good one, published with the raw client too
        expected_letters = len(bad) + (entry is not None)
        await wait_until(
            lambda: stats.processed >= 2 and stats.dead_lettered >= expected_letters,
            timeout=30,
            what="two good messages applied and every bad one parked",
        )
        letters = await rt["listener"].store.dead_letters()
        applied = {
            n: json.loads(stored.data)["applied"]
            for n in ("1", "2")
            if (stored := await rt["listener"].store.load(Seen.aggregate_name(), n)) is not None
        }
    assert applied == {"1": 1, "2": 1}
    assert (stats.processed, stats.dead_lettered) == (2, expected_letters)
    assert len(letters) == expected_letters
    assert {letter.subscription for letter in letters} == {"listener"}
    by_body = {letter.body: letter for letter in letters}
    for body, reason in bad.items():
        assert by_body[body].error.startswith(reason), by_body[body].error
        assert by_body[body].attempts == 1
    if entry is not None:
        (defective,) = [letter for letter in letters if letter.message_id == entry]
        assert json.loads(defective.body) == {"note": "none of the broker's fields"}
        assert "lacks message_id, type or body" in defective.error
        assert defective.error.startswith("MalformedMessage: Redis entry")


def _parked(stats: ConsumerStats, at_least: int) -> bool:
    return stats.dead_lettered >= at_least
