"""One chaos run on one store x broker pair: start the bank, load it while killing its processes (and, on
PostgreSQL, its connections), let it settle, then count from the stores."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from interlink.ports.store import Store
from interlink.runtime.backends import open_store
from tests.faults.support import list_all
from tests.integration.conftest import Backends
from tests.support.services import fresh_name

from .checker import judge, read_scores
from .config import ChaosConfig
from .faults import Faults, kill_in_turn, supervise, terminate_connections
from .load import Load
from .processes import MODULES, Bank
from .snapshot import Snapshot, take
from .tally import Tally

__all__ = ["ChaosRun", "chaos_run"]

#: Seconds to wait, once everything looks settled, before the final count (a late duplicate shows then).
GRACE = 5.0
#: Seconds without any count moving after which settling gives up.
QUIET = 60.0


@dataclass
class ChaosRun:
    """What a run did and found."""

    tally: Tally
    bank: Bank
    load: Load
    faults: Faults
    settled_in: float

    def describe(self, label: str, config: ChaosConfig) -> str:
        """The faults, the load and the counts with their evidence."""
        kills = ", ".join(f"{name} {self.bank.kills[name]}" for name in MODULES)
        terminated = self.faults.terminated
        aimed = f" ({self.faults.aimed} aimed at a start-up)"
        pg = (
            f"; pg_terminate_backend: {sum(terminated)} connections in {len(terminated)} rounds{aimed}"
            if terminated
            else ""
        )
        loans = sum(1 for _, op in self.load.loans if op.acknowledged)
        moves = sum(1 for _, op in self.load.moves if op.acknowledged)
        rows = sum(len(f.ids) for f in self.load.files)
        return (
            f"chaos {label} (seed {config.seed}, {config.seconds:g} s of faults, settled in {self.settled_in:.0f} s)\n"
            f"SIGKILLs: {kills}{pg}\n"
            f"load: {loans} loan requests and {moves} address changes acknowledged, {rows} customers in "
            f"{len(self.load.files)} branch files\n{self.tally.report()}"
        )


@contextlib.asynccontextmanager
async def _stores(url: str) -> AsyncIterator[dict[str, Store]]:
    async with contextlib.AsyncExitStack() as stack:
        stores = {name: open_store(url, name) for name in MODULES}
        for store in stores.values():
            await stack.enter_async_context(store)
        yield stores


async def _settle(stores: dict[str, Store], load: Load, workdir: Path, config: ChaosConfig) -> float:
    """Wait until nothing is on its way any more, nothing moved for ``QUIET`` seconds, or ``config.settle``
    seconds passed; returns the seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    moved, last = started, None

    async def counts() -> Snapshot:
        return await take(stores, workdir, [f.name for f in load.files])

    while loop.time() - started < config.settle and loop.time() - moved < QUIET:
        tally = judge(await counts(), load, None, [])
        if tally.settling():
            await asyncio.sleep(GRACE)
            break
        if tally.signature() != last:
            moved, last = loop.time(), tally.signature()
        await asyncio.sleep(2.0)
    return loop.time() - started


async def chaos_run(backends: Backends, workdir: Path, config: ChaosConfig) -> ChaosRun:
    """Run the chaos on ``backends`` in ``workdir`` and count."""
    postgres = backends.store.startswith("postgresql")
    victims = fresh_name("chaos")
    store = f"{backends.store}&application_name={victims}" if postgres else backends.store
    bank, faults, stop = Bank(store, backends.broker, workdir), Faults(), asyncio.Event()
    loop = asyncio.get_running_loop()
    supervisor: asyncio.Task[None] | None = None
    try:
        async with _stores(backends.store) as stores:
            for name in MODULES:
                bank.start(name)
            await bank.healthy(120)
            supervisor = asyncio.create_task(supervise(bank, stop, random.Random(config.seed + 1)))
            load = Load(bank.urls, stores, workdir, config, random.Random(config.seed))
            over = asyncio.Event()

            async def kill_then_stop() -> None:
                try:
                    await kill_in_turn(bank, loop.time() + config.seconds, random.Random(config.seed + 2))
                finally:
                    over.set()

            chaos = [kill_then_stop(), load.run(over)]
            if postgres:
                chaos.append(terminate_connections(bank, victims, over, random.Random(config.seed + 3), faults))
            await asyncio.gather(*chaos)
            settled_in = await _settle(stores, load, workdir, config)
            # The scores are read, and SIGTERM sent, to processes that run (a crash loop shows as crashes).
            with contextlib.suppress(TimeoutError):
                await bank.healthy(60)
            scores = await read_scores(
                bank.urls["risk-assessment"], sorted(await list_all(stores["customer"], "Customer"))
            )
            snapshot = await take(stores, workdir, [f.name for f in load.files])
            stop.set()
            await supervisor
            bank.stop_all()
            return ChaosRun(judge(snapshot, load, scores, bank.crashes), bank, load, faults, settled_in)
    finally:
        stop.set()
        if supervisor is not None:
            await supervisor
        bank.kill_all()
