"""PostgreSQL out for half a minute: every connection of the runner process is terminated in a tight loop for
30 s while payments keep coming. Nothing is parked, nothing lost, nothing applied twice.

The runner retries its commands as a client would; its consumer retries every message that meets the
outage on the retry policy's time budget (the runner allows only three attempts to poison messages, 0.01-0.05 s
apart, so a store failure taken for the message's own would park it within a fraction of a second: a message
in hand meets the outage hundreds of times in 30 s, as in a longer outage).
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from interlink.testing.waiting import wait_until
from tests.integration.conftest import Backends
from tests.support.services import fresh_name, require

from .apps.receipts import ReceiptCursor
from .support import Landscape, Runner, payment_ids

pytestmark = [pytest.mark.faults, pytest.mark.slow]

N = 3000
OUTAGE = 30.0
KILL = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :a"


@pytest.mark.parametrize("broker_url", ["embedded", "redis"], indirect=True)
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_store_connections_killed_for_half_a_minute_park_nothing_and_apply_each_event_once(
    backends: Backends, landscape: Landscape
) -> None:
    """3,000 payments, the store's connections terminated non-stop for 30 s of the run:
    zero dead letters, every receipt applied exactly once, the outbox empty."""
    name = fresh_name("outage")
    victim = Landscape(f"{backends.store}&application_name={name}", landscape.broker, landscape.folder)
    complete = landscape.folder / "receipts.complete"
    options = (
        "--chunk",
        "50",
        "--pause",
        # 50 payments every half second: they keep coming through the 30 s of the outage and after it.
        "0.5",
        "--visibility-timeout",
        "5",
        "--timeout",
        "300",
        "--until",
        str(complete),
    )
    runner = Runner(victim, "both", N, *options)
    killed: list[int] = []
    loop = asyncio.get_running_loop()

    async def outage() -> None:
        """Terminate every connection of the runner, again and again, for OUTAGE seconds."""
        # Autocommit: inside one transaction pg_stat_activity would keep showing the first snapshot's backends.
        engine = create_async_engine(
            require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"), isolation_level="AUTOCOMMIT"
        )
        try:
            ends = loop.time() + OUTAGE
            async with engine.connect() as conn:
                while loop.time() < ends and runner.running:
                    rows = (await conn.execute(text(KILL), {"a": name})).all()
                    killed.append(sum(1 for (terminated,) in rows if terminated))
                    await asyncio.sleep(0.05)
        finally:
            await engine.dispose()

    killer = None
    try:
        async with landscape.counts() as counts:
            await wait_until(
                lambda: runner.ready.exists() or not runner.running, timeout=60, what="the runner to start"
            )
            cursor = ReceiptCursor(counts.receipt, payment_ids(N))

            async def flowing() -> bool:
                return await cursor.look() >= 100

            await wait_until(flowing, timeout=60, interval=0.2, what="the first receipts")
            killer = asyncio.create_task(outage())
            await killer
            # The fault was real: connections were terminated over and over during the outage.
            assert sum(1 for count in killed if count) >= 20, killed
            assert await counts.dead_letters() == 0
            await counts.wait_for_receipts(cursor, [runner], within=240, stalled=60)
            if not cursor.complete:
                runner.stop()
            complete.write_text("counted\n")
            run = await runner.finish(300)

            letters = await counts.receipt.dead_letters()
            assert letters == [], [f"{d.message_id}: {d.error} ({d.error_class}, {d.attempts})" for d in letters]
            assert cursor.complete, f"{cursor.found} of {N} receipts: {run.describe()}"
            assert run.returncode == 0, run.describe()
            ids = payment_ids(N)
            receipts = await counts.receipts()
            assert sorted(receipts) == ids
            assert await counts.payments() == N
            assert set(receipts.values()) == {1}, {k: v for k, v in receipts.items() if v != 1}
            assert await counts.outbox() == 0
            assert await counts.dead_letters() == 0
    finally:
        runner.kill()
        if killer is not None and not killer.done():
            killer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await killer
    assert run.report["dead_lettered"] == 0, run.describe()
    print(f"\n{N} events, {sum(killed)} connections terminated in {len(killed)} rounds over {OUTAGE:.0f} s")
