"""Two OS processes, one embedded SQLite broker file: 10,000 events, none lost, none applied twice."""

from __future__ import annotations

import asyncio
import time

import pytest

from interlink.testing.waiting import wait_until

from .support import Workdir, finish_runner, start_runner

N = 10_000


@pytest.mark.faults
@pytest.mark.slow
async def test_producer_and_consumer_processes_exchange_10000_events_exactly_once(workdir: Workdir) -> None:
    """A producer process's 10,000 events reach a separate consumer process through bus.db, each once."""
    started = time.perf_counter()
    consumer = start_runner(workdir, "consume", N, "--timeout", "120")
    producer = None
    try:
        # The subscription must exist before the first publish: the broker fans out at publish time.
        await wait_until(
            lambda: (workdir.path / "consumer.ready").exists() or consumer[0].poll() is not None,
            timeout=30,
            what="the consumer process to subscribe",
        )
        if consumer[0].poll() is not None:
            pytest.fail(f"the consumer process ended early: {finish_runner(*consumer, 0).describe()}")
        producer = start_runner(workdir, "produce", N, "--chunk", "500", "--timeout", "120")
        produced = await asyncio.to_thread(finish_runner, *producer, 150)
        consumed = await asyncio.to_thread(finish_runner, *consumer, 150)
    finally:
        for proc, _, _ in filter(None, (consumer, producer)):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    seconds = time.perf_counter() - started
    # Reported, never asserted: tests do not assert on time (bench/ measures).
    print(f"\n{N} events across two processes in {seconds:.1f}s")

    assert produced.returncode == 0, produced.describe()
    assert consumed.returncode == 0, consumed.describe()
    assert produced.report["published"] == N
    assert consumed.report["processed"] == N
    assert consumed.report["dead_lettered"] == 0
    receipts = workdir.receipts()
    assert workdir.payments() == N
    assert len(receipts) == N
    assert set(receipts.values()) == {1}, {k: v for k, v in receipts.items() if v != 1}
    assert workdir.outbox() == 0
    assert workdir.dead_letters() == 0
