"""A private NATS server restarted under load: nothing lost, nothing applied twice, no process restarted.

The server is stopped with SIGTERM and started again on the same port and store directory, as an operator
would; the runtime's broker connection reconnects by itself, the relay re-sends what was not confirmed and
the consumers take up their durable consumers where they were.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from interlink.adapters.brokers.nats import NatsBroker
from interlink.delivery.retry import RetryPolicy
from interlink.exceptions import BrokerUnavailable
from interlink.ports.broker import Delivery, OutgoingMessage, Subscription
from interlink.ports.store import Store
from interlink.runtime import Runtime, Settings
from interlink.testing.waiting import wait_until
from tests.support.private_nats import PrivateNats

from .apps.fault_app import payment, receipt, record_payment

pytestmark = pytest.mark.faults

EVENTS = 10_000


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    """A nats-server of this test's own, with JetStream storing under ``tmp_path``."""
    with PrivateNats(tmp_path / "nats") as server:
        yield server


async def _publishes(broker: NatsBroker, messages: list[OutgoingMessage]) -> bool:
    try:
        await broker.publish(messages)
    except BrokerUnavailable:
        return False
    return True


async def test_outage_raises_unavailable_and_recovers_without_reconnecting(private_nats: PrivateNats) -> None:
    """While the server is down publish and fetch raise BrokerUnavailable; once it is back, both work again."""
    url = f"{private_nats.url}?namespace=outage&request_timeout=1"
    channel = "payment.events"
    before, during = (OutgoingMessage(uuid.uuid4().hex, channel, "Paid", b"{}") for _ in range(2))
    async with NatsBroker(url, visibility_timeout=5) as broker:
        await broker.subscribe(Subscription("ledger", (channel,), frozenset({"Paid"})))
        await broker.publish([before])
        await asyncio.to_thread(private_nats.stop)
        with pytest.raises(BrokerUnavailable):
            await broker.publish([during])
        with pytest.raises(BrokerUnavailable):
            await broker.fetch("ledger", 10, wait=0.1)
        await asyncio.to_thread(private_nats.start)
        await wait_until(lambda: _publishes(broker, [during]), timeout=20, interval=0.2, what="a publish")
        got: list[Delivery] = []
        while len(got) < 2:
            got += await wait_until(lambda: broker.fetch("ledger", 10, wait=0.5), timeout=10, what="deliveries")
        await broker.ack(got)
    assert [d.message_id for d in got] == [before.message_id, during.message_id]


async def _settled(url: str, stream: str, consumer: str) -> bool:
    """True when the consumer has nothing left to deliver and nothing delivered but unacked."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info(stream, consumer)
    finally:
        await nc.close()
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


async def _applied(store: Store) -> dict[str, int]:
    """Payment id -> how many times its event was applied, for every receipt in the receipt domain's store."""
    applied: dict[str, int] = {}
    after: str | None = None
    while page := await store.list_aggregates("Receipt", where={}, after=after, limit=1000):
        applied.update((id, json.loads(doc.data)["applied"]) for id, doc in page)
        after = page[-1][0]
    return applied


@pytest.mark.slow
async def test_restart_mid_run_applies_every_event_exactly_once(
    private_nats: PrivateNats, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """10,000 payments through the runtime while NATS restarts: every receipt exists and was applied once."""
    namespace = "restart"
    settings = Settings(
        store_url=f"sqlite:///{tmp_path}/{{domain}}.db",
        # A short ack wait brings back, soon, the deliveries whose acks the restart swallowed.
        broker_url=f"{private_nats.url}?namespace={namespace}&visibility_timeout=3&request_timeout=2",
        relay_batch=500,
        relay_poll_interval=0.1,
        consumer_batch=200,
        fetch_wait=0.2,
        retry=RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05),
    )
    async with Runtime([payment, receipt], settings) as rt:
        producer = rt["payment"]
        restart: asyncio.Task[None] | None = None
        # Commands run 200 at a time: the committer groups concurrent commits into one transaction.
        for first in range(0, EVENTS, 200):
            ids = range(first, min(first + 200, EVENTS))
            await asyncio.gather(*(producer.execute(record_payment, {"id": f"P{i:05d}", "amount": i}) for i in ids))
            if first == 3000:
                # Mid-run: commands keep committing while the broker is away.
                restart = asyncio.create_task(asyncio.to_thread(private_nats.restart))
        assert restart is not None
        await restart
        consumers, outbox = rt["receipt"].consumers, rt["payment"].store

        async def done() -> bool:
            processed = sum(c.stats.processed for c in consumers)
            return processed >= EVENTS and (await outbox.outbox_status()).pending == 0

        await wait_until(done, timeout=60, interval=0.2, what=f"{EVENTS} events processed and an empty outbox")
        consumer = NatsBroker(settings.broker_url).settings.consumer("receipt", "payment.events")
        await wait_until(
            lambda: _settled(private_nats.url, f"{namespace}_payment", consumer),
            timeout=30,
            interval=0.2,
            what="no delivery left unacked",
        )
        receipts = await _applied(rt["receipt"].store)
    # The restart hit the run for real: the connection was lost and came back, in the same process.
    logged = [r.getMessage() for r in caplog.records if r.name == "interlink.broker.nats"]
    assert any("lost" in m for m in logged), logged
    assert any("restored" in m for m in logged), logged
    assert len(receipts) == EVENTS
    applied_twice = {payment_id: n for payment_id, n in receipts.items() if n != 1}
    assert applied_twice == {}
