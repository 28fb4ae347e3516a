"""The faults of the chaos run: every domain SIGKILLed in turn and restarted after a short random pause, a
supervisor restarting whatever ended on its own, and (PostgreSQL) the processes' connections terminated."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.services import require

from .processes import MODULES, Bank

__all__ = ["Faults", "kill_in_turn", "supervise", "terminate_connections"]

TERMINATE = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :a"


@dataclass
class Faults:
    """What was done to the bank: connections terminated per round (PostgreSQL pairs), and how many of those
    rounds were aimed at a process starting up."""

    terminated: list[int] = field(default_factory=list)
    aimed: int = 0


async def kill_in_turn(bank: Bank, until: float, rng: random.Random) -> None:
    """Rounds over the six domains in a random order, each SIGKILLed, left down 0.5-2.5 s, started again, then
    0.5-2 s before the next, until ``until`` (loop time) once every domain was killed at least once."""
    loop = asyncio.get_running_loop()
    while True:
        for name in rng.sample(list(MODULES), k=len(MODULES)):
            # A domain that keeps crashing is never there to kill: two minutes over, the faults end anyway.
            if loop.time() >= until and (all(bank.kills[d] for d in MODULES) or loop.time() >= until + 120):
                return
            if name in bank.running:
                bank.kill(name)
                # Down long enough for the clients and the other domains to meet the outage; any longer is idle.
                await asyncio.sleep(rng.uniform(0.5, 2.5))
                bank.start(name)
            await asyncio.sleep(rng.uniform(0.5, 2))


async def supervise(bank: Bank, stop: asyncio.Event, rng: random.Random) -> None:
    """Until ``stop``: a process that ended on its own (a crash, recorded by the bank) is started again after
    1-5 s, as a service manager would."""
    while not stop.is_set():
        for name in bank.ended_by_themselves():
            await asyncio.sleep(rng.uniform(1, 5))
            if not stop.is_set():
                bank.start(name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.5)


async def _either(first: asyncio.Event, second: asyncio.Event, timeout: float) -> None:  # noqa: ASYNC109
    waits = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


async def terminate_connections(
    bank: Bank, application_name: str, stop: asyncio.Event, rng: random.Random, faults: Faults
) -> None:
    """Until ``stop``: ``pg_terminate_backend`` on every connection of the processes' stores, 1.2-3.5 s after
    the last round, or 0.2-2 s after a process was started again (so some rounds hit a process starting up)."""
    url = require("postgres").url.replace("postgresql://", "postgresql+asyncpg://")
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        while not stop.is_set():
            bank.restarted.clear()
            await _either(stop, bank.restarted, rng.uniform(1.2, 3.5))
            if stop.is_set():
                return
            if bank.restarted.is_set():
                faults.aimed += 1
                await asyncio.sleep(rng.uniform(0.2, 2.0))
            async with engine.connect() as conn:
                rows = (await conn.execute(text(TERMINATE), {"a": application_name})).all()
            faults.terminated.append(sum(1 for (done,) in rows if done))
    finally:
        await engine.dispose()
