"""Each broker adapter tells the server's refusal of one message from an outage, in its translation place.

The base check (``Broker.max_message_size``) refuses a message before anything is sent; these tests take
the paths where only the server knows: a limit lowered after connect, a stream with a smaller maximum.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig
from redis.asyncio import Redis

from interlink.adapters.brokers.nats import NatsBroker
from interlink.adapters.brokers.redis import RedisBroker
from interlink.exceptions import MessageRefused
from interlink.ports.broker import OutgoingMessage, Subscription
from tests.support.cleanup import purge_namespace
from tests.support.private_redis import private_redis
from tests.support.services import fresh_name, require


def _message(size: int, channel: str = "maker.events") -> OutgoingMessage:
    return OutgoingMessage(uuid.uuid4().hex, channel, "maker.Made", b"x" * size)


@pytest.fixture
async def nats_namespace() -> AsyncIterator[str]:
    """A fresh namespace on the shared NATS server, its streams deleted afterwards."""
    namespace = fresh_name("refusal")
    yield namespace
    await purge_namespace("nats", require("nats").url, namespace)


async def test_nats_refusal_of_a_payload_over_max_payload_names_the_message(nats_namespace: str) -> None:
    """Past the base check (a server whose max_payload went down since connect), nats-py's own refusal
    becomes MessageRefused naming the message, and the connection still publishes the others."""
    url = f"{require('nats').url}?namespace={nats_namespace}"
    async with NatsBroker(url) as broker:
        assert broker.max_message_size is not None
        over = broker.max_message_size + 1024
        broker.max_message_size = None  # as if the server had lowered it since connect
        small, big = _message(10), _message(over)
        with pytest.raises(MessageRefused, match="max_payload") as refused:
            await broker.publish([small, big])
        assert refused.value.message_id == big.message_id
        await broker.publish([small, _message(10)])


async def test_nats_stream_with_a_smaller_maximum_refuses_the_message_not_the_batch(nats_namespace: str) -> None:
    """A stream whose max_msg_size is below the body refuses that message (JetStream error 10054): the
    adapter raises MessageRefused naming it, and the messages around it are stored."""
    url = f"{require('nats').url}?namespace={nats_namespace}"
    async with NatsBroker(url) as broker:
        name = broker.settings.stream("maker.events")
        nc = await nats.connect(require("nats").url)
        try:
            js = nc.jetstream()
            subjects = [broker.settings.stream_subjects("maker.events")]
            await js.add_stream(StreamConfig(name=name, subjects=subjects, max_msg_size=1000))
        finally:
            await nc.close()
        await broker.subscribe(Subscription("watcher", ("maker.events",), frozenset({"maker.Made"})))
        first, big, last = _message(10), _message(2000), _message(10)
        with pytest.raises(MessageRefused, match="JetStream") as refused:
            await broker.publish([first, big, last])
        assert refused.value.message_id == big.message_id
        got = await broker.fetch("watcher", 10, wait=5)
        assert [d.message_id for d in got] == [first.message_id, last.message_id]
        await broker.ack(got)


async def test_redis_limit_lowered_after_connect_is_learnt_from_the_refusal(tmp_path: Path) -> None:
    """A Redis whose proto-max-bulk-len went down since connect drops the connection over the argument:
    the adapter learns the new limit and raises MessageRefused naming the message, not an outage."""
    with private_redis(tmp_path / "redis") as server:
        async with RedisBroker(server.url) as broker, Redis.from_url(server.url) as raw:
            assert broker.max_message_size is not None
            assert broker.max_message_size > 100 * 1024 * 1024  # 512 MB, Redis's default
            await raw.config_set("proto-max-bulk-len", 1024 * 1024)
            small, big = _message(10), _message(2 * 1024 * 1024)
            with pytest.raises(MessageRefused, match="over the broker's limit") as refused:
                await broker.publish([small, big])
            assert refused.value.message_id == big.message_id
            assert broker.max_message_size < 1024 * 1024
            await broker.publish([small, _message(10)])
