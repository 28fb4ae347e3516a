"""SIGKILL at each named crash point of the delivery protocol, restart, count: nothing lost, nothing twice.

Every test runs on every store x broker pair (the ``backends`` fixture).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.conftest import Backends

from .support import Landscape, payment_ids, run_runner

pytestmark = pytest.mark.faults

N = 100
IDS = payment_ids(N)
# Small batches, so the crash (at the third pass of its point) lands with earlier batches fully through,
# a batch in hand, and later commands not yet run; a short visibility timeout brings redeliveries fast.
OPTIONS = ("--chunk", "25", "--relay-batch", "20", "--consumer-batch", "20", "--visibility-timeout", "1")
CRASH_POINTS = ("relay.before_publish", "relay.after_publish", "consumer.before_commit", "consumer.after_commit")


async def crash_then_restart(landscape: Landscape, point: str) -> None:
    """SIGKILL at the third pass of ``point``, restart, and check that each of N events was applied once."""
    async with landscape.counts() as counts:
        crashed = await run_runner(landscape, "both", N, *OPTIONS, crash_at=f"{point}:3")
        assert crashed.returncode == -9, crashed.describe()
        # The kill left work for the restart: events not yet applied, and for the relay, rows not yet sent.
        assert len(await counts.receipts()) < N
        if point.startswith("relay."):
            assert await counts.outbox() > 0

        restarted = await run_runner(landscape, "both", N, *OPTIONS)
        assert restarted.returncode == 0, restarted.describe()

        receipts = await counts.receipts()
        assert await counts.payments() == N
        assert sorted(receipts) == IDS
        assert set(receipts.values()) == {1}, {k: v for k, v in receipts.items() if v != 1}
        assert await counts.outbox() == 0
        assert await counts.dead_letters() == 0
    if point == "consumer.after_commit":
        # The batch committed before the kill came back and the inbox recognised every message of it.
        assert restarted.report["duplicates"] >= 1, restarted.describe()


async def test_killed_at_each_crash_point_then_restarted_applies_every_event_exactly_once(
    backends: Backends, tmp_path: Path
) -> None:
    """SIGKILLed at each of the four crash points, then restarted: each of N events applied once."""
    # The four crash points are independent landscapes (names of their own), run side by side.
    landscapes = [Landscape.of(backends, tmp_path, point.replace(".", "_")) for point in CRASH_POINTS]
    outcomes = await asyncio.gather(
        *(crash_then_restart(landscape, point) for landscape, point in zip(landscapes, CRASH_POINTS, strict=True)),
        return_exceptions=True,
    )
    failed = {point: outcome for point, outcome in zip(CRASH_POINTS, outcomes, strict=True) if outcome is not None}
    assert not failed, "\n\n".join(f"at {point}: {type(e).__name__}: {e}" for point, e in failed.items())


async def test_killed_after_parking_a_dead_letter_then_restarted_parks_it_once(landscape: Landscape) -> None:
    """A dead letter committed but not acked before a SIGKILL keeps one row after the restart, not two."""
    # The only message fails its three attempts; the third pass of consumer.after_commit is the commit of
    # its dead letter. The restarted process gets the message again; a restart does not hold the earlier
    # deliveries against it (interlink.delivery.retry), so it fails three more times, and parking it
    # updates the one row it has instead of adding a second.
    options = ("--poison", "1", "--max-attempts", "3", "--visibility-timeout", "1")
    async with landscape.counts() as counts:
        crashed = await run_runner(landscape, "both", 0, *options, crash_at="consumer.after_commit:3")
        assert crashed.returncode == -9, crashed.describe()
        assert await counts.parked() == [("payment.PaymentRecorded", 3)]

        restarted = await run_runner(landscape, "both", 0, *options)
        assert restarted.returncode == 0, restarted.describe()
        assert restarted.report["dead_lettered"] == 1, restarted.describe()
        assert await counts.receipts() == {}
        assert await counts.parked() == [("payment.PaymentRecorded", 3)]
