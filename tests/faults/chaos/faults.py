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
    """What was done to the bank: connections terminated per round (PostgreSQL pairs)."""

    terminated: list[int] = field(default_factory=list)


async def kill_in_turn(bank: Bank, until: float, rng: random.Random) -> None:
    """Rounds over the six domains in a random order, each SIGKILLed, left down 1-5 s, started again, then
    1-4 s before the next; rounds begin until ``until`` (loop time), so every domain is killed at least once."""
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        for name in rng.sample(list(MODULES), k=len(MODULES)):
            if name in bank.running:
                bank.kill(name)
                await asyncio.sleep(rng.uniform(1, 5))
                bank.start(name)
            await asyncio.sleep(rng.uniform(1, 4))


async def supervise(bank: Bank, stop: asyncio.Event, rng: random.Random) -> None:
    """Until ``stop``: a process that ended on its own (a crash, recorded by the bank) is started again after
    1-5 s, as a service manager would."""
    while not stop.is_set():
        for name in bank.ended_by_themselves():
            await asyncio.sleep(rng.uniform(1, 5))
            bank.start(name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.5)


async def terminate_connections(application_name: str, stop: asyncio.Event, rng: random.Random, faults: Faults) -> None:
    """Until ``stop``: every 2-6 s, ``pg_terminate_backend`` on every connection of the processes' stores."""
    url = require("postgres").url.replace("postgresql://", "postgresql+asyncpg://")
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=rng.uniform(2, 6))
                return
            async with engine.connect() as conn:
                rows = (await conn.execute(text(TERMINATE), {"a": application_name})).all()
            faults.terminated.append(sum(1 for (done,) in rows if done))
    finally:
        await engine.dispose()
