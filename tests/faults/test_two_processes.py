"""Two OS processes, one embedded SQLite broker file: 10,000 events, none lost, none applied twice."""

from __future__ import annotations

import time

import pytest

from interlink.testing.waiting import wait_until

from .support import Landscape, Runner, payment_ids

N = 10_000


@pytest.mark.faults
@pytest.mark.slow
@pytest.mark.parametrize("broker_url", ["embedded"], indirect=True)
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_producer_and_consumer_processes_exchange_10000_events_exactly_once(landscape: Landscape) -> None:
    """A producer process's 10,000 events reach a separate consumer process through bus.db, each once."""
    started = time.perf_counter()
    consumer = Runner(landscape, "consume", N, "--timeout", "120")
    producer = None
    try:
        # The subscription must exist before the first publish: the broker fans out at publish time.
        await wait_until(
            lambda: consumer.ready.exists() or not consumer.running, timeout=30, what="the consumer to subscribe"
        )
        if not consumer.running:
            pytest.fail(f"the consumer process ended early: {(await consumer.finish(0)).describe()}")
        producer = Runner(landscape, "produce", N, "--chunk", "500", "--timeout", "120")
        produced = await producer.finish(150)
        consumed = await consumer.finish(150)
    finally:
        for runner in filter(None, (consumer, producer)):
            runner.kill()
    seconds = time.perf_counter() - started
    # Reported, never asserted: tests do not assert on time (bench/ measures).
    print(f"\n{N} events across two processes in {seconds:.1f}s")

    assert produced.returncode == 0, produced.describe()
    assert consumed.returncode == 0, consumed.describe()
    assert produced.report["published"] == N
    assert consumed.report["processed"] == N
    assert consumed.report["dead_lettered"] == 0
    ids = payment_ids(N)
    async with landscape.counts() as counts:
        receipts = await counts.receipts()
        assert await counts.payments() == N
        assert sorted(receipts) == ids
        assert set(receipts.values()) == {1}, {k: v for k, v in receipts.items() if v != 1}
        assert await counts.outbox() == 0
        assert await counts.dead_letters() == 0
