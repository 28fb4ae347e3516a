"""RabbitMQ restarted under load, for real: publish and fetch resume by themselves, nothing lost or doubled.

The broker is a private node (its own port and data directory, see tests/support/private_rabbitmq.py), so
stopping it disturbs no other test. Durable quorum queues survive the restart; deliveries in hand when the
connection drops come back from RabbitMQ, and the consumer's inbox turns those redeliveries into no-ops.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlink.adapters.brokers.rabbitmq import RabbitMqBroker
from interlink.exceptions import BrokerUnavailable
from interlink.ports.broker import Delivery, OutgoingMessage, Subscription
from interlink.ports.store import Store
from interlink.runtime import Runtime, Settings
from interlink.testing.waiting import wait_until
from tests.support.private_rabbitmq import PrivateRabbitMq, require_rabbitmq_server

from .apps.fault_app import payment, receipt, record_payment

pytestmark = [pytest.mark.faults, pytest.mark.slow]

N = 10_000
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRabbitMq]:
    """A private RabbitMQ node for this module; skipped (failed under CI=true) if RabbitMQ is not installed."""
    require_rabbitmq_server()
    private = PrivateRabbitMq(tmp_path_factory.mktemp("rabbitmq"))
    log.warning("private RabbitMQ %s started in %.1fs", private.node, private.start())
    try:
        yield private
    finally:
        private.stop()


def _url(node: PrivateRabbitMq, **options: object) -> str:
    query = {"namespace": f"f-{uuid.uuid4().hex[:10]}", **options}
    return node.url + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def _messages(count: int) -> list[OutgoingMessage]:
    return [OutgoingMessage(uuid.uuid4().hex, "shop.events", "Thing", b"{}") for _ in range(count)]


async def test_publish_fails_during_the_outage_and_everything_resumes_after_it(node: PrivateRabbitMq) -> None:
    """Down: publish and fetch raise BrokerUnavailable, stale acks are ignored. Up again: all comes back."""
    async with RabbitMqBroker(_url(node, visibility_timeout=30)) as broker:
        await broker.subscribe(Subscription("sub", ("shop.events",), frozenset({"Thing"})))
        sent = _messages(5)
        await broker.publish(sent)
        in_hand = await broker.fetch("sub", 2, wait=5)
        assert len(in_hand) == 2

        waiting = asyncio.create_task(broker.fetch("sub", 10, wait=30))
        await asyncio.sleep(0.2)  # let it wait: the two others are in hand, the three left are in its buffer
        assert waiting.done()  # it took the buffered ones at once
        buffered = waiting.result()
        assert len(buffered) == 3
        waiting = asyncio.create_task(broker.fetch("sub", 10, wait=30))
        await asyncio.sleep(0.2)
        stopped = time.monotonic()
        await asyncio.to_thread(node.stop_app)
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(waiting, 10)  # woken by the lost connection, not at the end of its wait
        assert time.monotonic() - stopped < 10
        with pytest.raises(BrokerUnavailable):
            await broker.publish(_messages(1))
        with pytest.raises(BrokerUnavailable):
            await broker.fetch("sub", 10, wait=0.1)
        await broker.ack(in_hand + buffered)  # from the lost channel: must not be sent on the next one
        started = time.monotonic()
        await asyncio.to_thread(node.start_app)
        log.warning("start_app took %.1fs", time.monotonic() - started)

        after = _messages(1)
        await wait_until(lambda: _published(broker, after), timeout=30, what="a publish after the restart")
        got: list[Delivery] = []
        while len(got) < 6:
            batch = await broker.fetch("sub", 10, wait=5)
            assert batch, f"only {len(got)} of 6 messages came back"
            got += batch
        assert sorted(d.message_id for d in got) == sorted(m.message_id for m in sent + after)
        # Everything delivered on the lost channel counts one delivery more, even if only prefetched.
        assert {d.attempt for d in got if d.message_id != after[0].message_id} == {2}
        await broker.ack(got)
        assert await broker.fetch("sub", 10, wait=0.3) == []


async def _published(broker: RabbitMqBroker, messages: list[OutgoingMessage]) -> bool:
    try:
        await broker.publish(messages)
    except BrokerUnavailable:
        return False
    return True


async def _applied(store: Store) -> dict[str, int]:
    """Receipt id -> how many times its payment was applied, read through the store port."""
    applied: dict[str, int] = {}
    after: str | None = None
    while page := await store.list_aggregates("Receipt", where={}, after=after, limit=1000):
        applied |= {id: json.loads(stored.data)["applied"] for id, stored in page}
        after = page[-1][0]
    return applied


async def test_a_run_through_a_broker_restart_applies_every_event_exactly_once(
    node: PrivateRabbitMq, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """10,000 payments through Runtime while the broker restarts mid-run: each receipt applied once."""
    settings = Settings(
        store_url=f"sqlite:///{tmp_path}/{{domain}}.db",
        broker_url=_url(node, visibility_timeout=10),
        relay_batch=500,
        relay_poll_interval=0.1,
        consumer_batch=200,
        fetch_wait=0.1,
    )
    started = time.monotonic()
    async with Runtime([payment, receipt], settings) as runtime:
        consumers = runtime["receipt"].consumers

        def processed() -> int:
            return sum(c.stats.processed for c in consumers)

        async def restart_mid_run() -> float:
            await wait_until(lambda: processed() >= N // 4, timeout=60, what="a quarter of the receipts")
            assert processed() < N, "the run ended before the restart"
            began = time.monotonic()
            await asyncio.to_thread(node.restart)  # the whole VM, on the same data directory
            return time.monotonic() - began

        restart = asyncio.create_task(restart_mid_run())
        commands = [{"id": f"P{i:05d}", "amount": i} for i in range(N)]
        for first in range(0, N, 100):
            chunk = commands[first : first + 100]
            await asyncio.gather(*(runtime["payment"].execute(record_payment, c) for c in chunk))
        outage = await restart
        await wait_until(lambda: processed() >= N, timeout=90, interval=0.1, what=f"{N} events processed")
        await wait_until(lambda: _outbox_empty(runtime["payment"].store), timeout=30, what="an empty payment outbox")
        applied = await _applied(runtime["receipt"].store)
        payments = await runtime["payment"].store.list_aggregates("Payment", where={}, after=None, limit=2 * N)
        parked = await runtime["receipt"].store.dead_letters()
        duplicates = sum(c.stats.duplicates for c in consumers)
    log.warning("%d events in %.1fs through a %.1fs restart; %d duplicates absorbed by the inbox",
                N, time.monotonic() - started, outage, duplicates)  # fmt: skip

    assert len(payments) == N
    assert sorted(applied) == [f"P{i:05d}" for i in range(N)]
    assert set(applied.values()) == {1}, {k: v for k, v in applied.items() if v != 1}
    assert parked == []
    # The outage was felt, not slept through: the relay or the consumer hit the stopped broker.
    felt = [r for r in caplog.records if r.name in ("interlink.relay", "interlink.consumer")]
    assert felt, "nobody noticed the broker restart"


async def _outbox_empty(store: Store) -> bool:
    return (await store.outbox_status()).pending == 0
