"""The runtime's background tasks (deadline watch, pruner) end on a stop made before they first ran."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from interlink.adapters.stores.memory import MemoryStore
from interlink.core.clock import SystemClock
from interlink.delivery.committer import Committer
from interlink.patterns.command_events import DeadlineWatch
from interlink.runtime.retention import Pruner
from interlink.runtime.settings import Retention
from tests.support.notifications import loans


async def test_a_deadline_watch_stopped_before_its_first_tick_ends() -> None:
    """stop() right after start() is not lost: the task ends instead of watching on."""
    async with MemoryStore(domain="loans") as store:
        watch = DeadlineWatch(loans.domain, store, Committer(store), SystemClock(), interval=3600)
        task = watch.start("deadlines")
        watch.stop()
        await asyncio.wait_for(task, 10)


async def test_a_pruner_stopped_before_its_first_round_ends() -> None:
    """stop() right after start() is not lost: the task ends instead of pruning every hour."""
    async with MemoryStore(domain="loans") as store:
        pruner = Pruner(store, Retention(interval=timedelta(hours=1).total_seconds()), "loans")
        task = pruner.start("retention")
        pruner.stop()
        await asyncio.wait_for(task, 10)
