"""Three consumer processes of one domain share one subscription; one is SIGKILLed mid-run; the others finish.

Runs on every store x broker pair (the ``backends`` fixture).
"""

from __future__ import annotations

import pytest

from interlink.testing.waiting import wait_until

from .apps.receipts import ReceiptCursor
from .support import Landscape, Runner, payment_ids

pytestmark = [pytest.mark.faults, pytest.mark.slow]

N = 3_000
IDS = payment_ids(N)
# Small batches and a paced producer (60 chunks of 50, 50 ms apart), so the kill lands with most of the
# run still to come; a short visibility timeout hands the victim's unacked deliveries to the others soon.
CONSUMER = ("--consumer-batch", "50", "--visibility-timeout", "1", "--timeout", "120")
PRODUCER = ("--chunk", "50", "--pause", "0.05", "--visibility-timeout", "1", "--timeout", "120")


async def test_one_of_three_consumer_processes_killed_mid_run_each_event_applied_once(landscape: Landscape) -> None:
    """3,000 events to three competing consumer processes, one SIGKILLed mid-run: each applied exactly once."""
    # This test counts the receipts once for all three (``--until``): they stop after it found all N.
    complete = landscape.folder / "receipts.complete"
    consumers = [Runner(landscape, "consume", N, *CONSUMER, "--until", str(complete)) for _ in range(3)]
    victim, survivors = consumers[0], consumers[1:]
    producer = None
    try:
        async with landscape.counts() as counts:
            # Every process declares the subscription; it must exist before the first publish.
            await wait_until(
                lambda: all(c.ready.exists() or not c.running for c in consumers),
                timeout=60,
                what="three consumer processes subscribed",
            )
            assert all(c.running for c in consumers), [(await c.finish(0)).describe() for c in consumers]
            producer = Runner(landscape, "produce", N, *PRODUCER)
            await wait_until(
                lambda: victim.progress().get("processed", 0) >= 50 or not victim.running,
                timeout=60,
                what="the first consumer process to handle 50 events",
            )
            handled = victim.progress()["processed"]
            victim.kill()
            assert victim.proc.returncode == -9
            cursor = ReceiptCursor(counts.receipt, IDS)
            # The kill came mid-run: receipts were missing after it, for the other two to apply.
            assert await cursor.look() < N
            await counts.wait_for_receipts(cursor, survivors, within=120)
            if not cursor.complete:
                for survivor in survivors:
                    survivor.stop()  # they say how their consumers ended
            complete.write_text("counted\n")
            produced = await producer.finish(150)
            finished = [await survivor.finish(150) for survivor in survivors]

            # A message parked on the way would never get its receipt: say why it was parked.
            letters = await counts.receipt.dead_letters()
            assert letters == [], [f"{d.message_id}: {d.error} (attempt {d.attempts})" for d in letters]
            receipts = await counts.receipts()
            assert sorted(receipts) == IDS, [run.describe() for run in finished]
            assert set(receipts.values()) == {1}, {k: v for k, v in receipts.items() if v != 1}
            assert await counts.payments() == N
            assert await counts.outbox() == 0
            assert await counts.dead_letters() == 0
    finally:
        for runner in filter(None, (*consumers, producer)):
            runner.kill()

    assert produced.returncode == 0, produced.describe()
    assert produced.report["published"] == N
    for run in finished:
        assert run.returncode == 0, run.describe()
        assert run.report["dead_lettered"] == 0, run.describe()
    # The survivors applied what the victim had not committed: something, and never more than the rest.
    survivors_processed = sum(run.report["processed"] for run in finished)
    assert 0 < survivors_processed <= N - handled
