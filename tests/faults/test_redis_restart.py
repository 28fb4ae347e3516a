"""A private Redis restarted under load: nothing acknowledged is lost, nothing is applied twice.

The server runs with ``appendonly yes`` and ``appendfsync always`` (see tests/support/private_redis.py),
so what it acknowledged survives the restart; the broker's connections break and come back by themselves.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from interlink.adapters.brokers.redis import RedisBroker
from interlink.delivery.retry import RetryPolicy
from interlink.exceptions import BrokerUnavailable
from interlink.ports.broker import OutgoingMessage, Subscription
from interlink.runtime import Runtime, Settings
from interlink.runtime.backends import open_store
from interlink.testing.waiting import wait_until
from tests.support.private_redis import PrivateRedis, private_redis

from .apps.fault_app import payment, receipt, record_payment

N = 10_000
NAMESPACE = "restart"


async def _receipts(store_url: str) -> dict[str, int]:
    """Payment id -> how many times its event was applied, for every receipt, read through the Store port."""
    applied: dict[str, int] = {}
    async with open_store(store_url, "receipt") as store:
        while page := await store.list_aggregates("Receipt", where={}, after=max(applied, default=None), limit=1000):
            applied |= {id: json.loads(doc.data)["applied"] for id, doc in page}
    return applied


async def _outbox_pending(store_url: str) -> int:
    async with open_store(store_url, "payment") as store:
        return (await store.outbox_status()).pending


async def _nothing_in_flight(server: PrivateRedis) -> bool:
    """True when the receipt subscription has no unacked delivery: no redelivery is still to come."""
    async with Redis.from_url(server.url) as raw:
        summary = await raw.xpending(f"{NAMESPACE}:stream:payment.events", "receipt")
    return int(summary["pending"]) == 0


@pytest.mark.faults
@pytest.mark.slow
async def test_publish_fails_fast_during_an_outage_and_works_after_it(tmp_path: Path) -> None:
    """While Redis is down publish raises BrokerUnavailable; once it is back the same broker works again."""
    with private_redis(tmp_path) as server:
        async with RedisBroker(f"{server.url}?namespace=outage") as broker:
            await broker.subscribe(Subscription("sub", ("c",), frozenset({"Thing"})))
            before = OutgoingMessage("m1", "c", "Thing", b"1")
            await broker.publish([before])
            await asyncio.to_thread(server.stop)
            started = time.monotonic()
            with pytest.raises(BrokerUnavailable):
                await broker.publish([OutgoingMessage("m2", "c", "Thing", b"2")])
            assert time.monotonic() - started < 5
            with pytest.raises(BrokerUnavailable):
                await broker.fetch("sub", 10, wait=0)
            await asyncio.to_thread(server.start)
            after = OutgoingMessage("m3", "c", "Thing", b"3")
            await broker.publish([after])
            got = await wait_until(lambda: broker.fetch("sub", 10, wait=0.5), timeout=10, what="deliveries")
            await broker.ack(got)
    assert [d.message_id for d in got] == [before.message_id, after.message_id]


@pytest.mark.faults
@pytest.mark.slow
async def test_10000_events_exactly_once_across_a_redis_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """10,000 events flow from payment to receipt while Redis restarts: each is applied exactly once."""
    caplog.set_level(logging.WARNING)
    store_url = f"sqlite:///{tmp_path}/{{domain}}.db"
    with private_redis(tmp_path / "redis") as server:
        settings = Settings(
            store_url=store_url,
            broker_url=f"{server.url}?namespace={NAMESPACE}&visibility_timeout=2",
            relay_batch=500,
            relay_poll_interval=0.1,
            consumer_batch=200,
            retry=RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05),
        )
        started = time.perf_counter()
        async with Runtime([payment, receipt], settings) as rt:
            consumer = rt["receipt"].consumers[0]

            relay = rt["payment"].relay

            async def restart_mid_run() -> tuple[int, int]:
                await wait_until(
                    lambda: relay.published >= N // 4 and consumer.stats.processed > 0,
                    timeout=60,
                    what="a quarter published and the first applied",
                )
                at_restart = relay.published, consumer.stats.processed
                await asyncio.to_thread(server.stop)
                await asyncio.sleep(1.0)  # relay and consumer meet the outage, not just a blip
                await asyncio.to_thread(server.start)
                return at_restart

            restart = asyncio.create_task(restart_mid_run())
            commands = [{"id": f"P{i:05d}", "amount": i} for i in range(N)]
            for first in range(0, N, 500):
                await asyncio.gather(*(rt["payment"].execute(record_payment, c) for c in commands[first : first + 500]))
            at_restart = await restart
            await wait_until(lambda: consumer.stats.processed >= N, timeout=60, what="every event applied")
            # Deliveries committed but not acked before the restart come back; the inbox must absorb them.
            await wait_until(lambda: _nothing_in_flight(server), timeout=30, what="no delivery in flight")
            stats = consumer.stats
            # Asked while the runtime runs: a stop flushes the outbox and would hide a relay that stalled.
            pending = await _outbox_pending(store_url)
        seconds = time.perf_counter() - started
    print(f"\n{N} events across a Redis restart in {seconds:.1f}s ({stats.duplicates} duplicates absorbed)")

    published, applied = at_restart
    assert published < N, f"the relay had published all {N} before the restart"
    assert applied < N, f"the consumer had applied all {N} before the restart"
    outage = [r for r in caplog.records if "Redis at" in r.getMessage()]
    assert outage, "nobody noticed the outage"
    receipts = await _receipts(store_url)
    assert len(receipts) == N
    assert set(receipts.values()) == {1}, {k: v for k, v in receipts.items() if v != 1}
    assert pending == 0
    assert stats.processed == N
    assert stats.dead_lettered == 0
