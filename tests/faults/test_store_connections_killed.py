"""The PostgreSQL server kills the store's connections again and again during a run: nothing lost, nothing twice.

A helper task terminates every connection of the runner process's stores (found by their
``application_name``) every second, with ``pg_terminate_backend``, while 10,000 events go from
the payment domain to the receipt domain: commands, relay and consumer all lose connections mid-query
and mid-commit, and must get through on new ones. A smaller test aims the same fault at the moment the
relay's outbox watch (LISTEN) sets up its connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from interlink.runtime.backends import open_store
from interlink.testing.waiting import wait_until
from tests.integration.conftest import Backends
from tests.support.services import fresh_name, require

from .apps.receipts import ReceiptCursor
from .support import Landscape, Runner, payment_ids

pytestmark = [pytest.mark.faults, pytest.mark.slow]

N = 10_000
KILL = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :a"


@pytest.mark.parametrize("broker_url", ["embedded", "nats"], indirect=True)
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_store_connections_killed_during_10000_events_each_applied_exactly_once(
    backends: Backends, landscape: Landscape
) -> None:
    """10,000 events while the store's connections are terminated every second: each applied exactly once."""
    name = fresh_name("kill")  # the runner's connections only: this process counts on connections of its own
    victim = Landscape(f"{backends.store}&application_name={name}", landscape.broker, landscape.folder)
    # This test counts the receipts, on its own connections, while the run goes on (``--until``).
    complete = landscape.folder / "receipts.complete"
    options = ("--chunk", "200", "--visibility-timeout", "2", "--timeout", "240", "--until", str(complete))
    runner = Runner(victim, "both", N, *options)
    killed: list[int] = []  # connections terminated per round

    async def kill_connections_until_the_run_ends() -> None:
        engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
        try:
            while runner.running:
                async with engine.connect() as conn:
                    rows = (await conn.execute(text(KILL), {"a": name})).all()
                killed.append(sum(1 for (terminated,) in rows if terminated))
                await asyncio.sleep(1.0)
        finally:
            await engine.dispose()

    killer = None
    try:
        async with landscape.counts() as counts:
            # Killing starts once the runtime runs: a store that cannot open its schema is another subject.
            await wait_until(
                lambda: runner.ready.exists() or not runner.running, timeout=60, what="the runner to start"
            )
            killer = asyncio.create_task(kill_connections_until_the_run_ends())
            cursor = ReceiptCursor(counts.receipt, payment_ids(N))
            await counts.wait_for_receipts(cursor, [runner], within=240)
            if not cursor.complete:
                runner.stop()  # it says how its relay and consumer ended
            complete.write_text("counted\n")
            run = await runner.finish(300)
            await killer

            # A message parked on the way would never get its receipt: say why it was parked.
            letters = await counts.receipt.dead_letters()
            assert letters == [], [f"{d.message_id}: {d.error} (attempt {d.attempts})" for d in letters]
            assert cursor.complete, f"{cursor.found} of {N} receipts, then none for 30 s: {run.describe()}"
            assert run.returncode == 0, run.describe()
            # The fault was real: connections were terminated in many rounds while the run went on.
            assert sum(1 for count in killed if count) >= 5, killed
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
    print(f"\n{N} events, {sum(killed)} connections terminated in {len(killed)} rounds: {run.report}")


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
async def test_outbox_watch_killed_as_it_starts_falls_back_to_polling(store_url: str) -> None:
    """watch_outbox whose LISTEN connection is terminated as it starts, 60 times: it never raises."""
    # The relay awaits watch_outbox before its loop (interlink.delivery.relay), so what it raises ends the relay.
    name = fresh_name("listen")
    armed, in_flight = asyncio.Event(), asyncio.Lock()
    stopping = False

    async def kill_while_armed() -> None:
        engine = create_async_engine(
            require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"), isolation_level="AUTOCOMMIT"
        )
        try:
            async with engine.connect() as conn:
                while not stopping:
                    await armed.wait()
                    async with in_flight:
                        if armed.is_set():
                            await conn.execute(text(KILL), {"a": name})
        finally:
            await engine.dispose()

    raised: collections.Counter[str] = collections.Counter()
    killer = asyncio.create_task(kill_while_armed())
    try:
        for _ in range(60):
            store = open_store(f"{store_url}&application_name={name}", "payment")
            await store.connect()
            armed.set()
            try:
                await store.watch_outbox(lambda: None)
            except Exception as exc:
                raised[f"{type(exc).__module__}.{type(exc).__name__}: {exc}"] += 1
            finally:
                armed.clear()
                async with in_flight:  # no kill under way that could hit the next store's schema check
                    pass
                await store.close()
    finally:
        stopping = True
        armed.set()
        await killer
    assert raised == {}
