"""Samples the gauges read from the stores (outbox, consumer lag, and each pattern's: sagas, pending flags)
into the metric readings.

Counting rows is a query, so it runs every ``Settings.metrics_interval`` seconds in the background, never
per scrape: a scrape reads the last sample. A failed sample (the store is down) keeps the previous values.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from interlink.observability.metrics import Readings, readings
from interlink.observability.metrics.hooks import messaging_system
from interlink.runtime.domain_runtime import DomainRuntime

__all__ = ["StoreGauges"]

log = logging.getLogger("interlink.metrics")


class StoreGauges:
    """The background sampler of the domains' stores; does nothing while metrics are off."""

    def __init__(self, runtimes: Iterable[DomainRuntime], interval: float) -> None:
        self._runtimes = list(runtimes)
        self._interval = interval
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Sample now and then every interval, when metrics are on."""
        if readings() is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="metrics-gauges")

    async def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            await self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._interval)

    async def sample(self) -> None:
        """Read every gauge of every domain once."""
        found = readings()
        if found is None:
            return
        for runtime in self._runtimes:
            try:
                await _sample(runtime, found)
            except Exception as exc:  # a store outage: the last values stay, the next round tries again
                log.debug("metrics: could not sample %s (%s)", runtime.domain.name, exc)


async def _sample(runtime: DomainRuntime, found: Readings) -> None:
    domain, store = runtime.domain.name, runtime.store
    now = datetime.now(UTC)
    status = await store.outbox_status()
    found.set("interlink.outbox.depth", {"interlink.domain": domain}, status.pending)
    oldest = (now - status.oldest_pending).total_seconds() if status.oldest_pending else 0.0
    found.set("interlink.outbox.oldest_age", {"interlink.domain": domain}, max(0.0, oldest))
    if runtime.consumers:
        backlog = await runtime.broker.backlog(runtime.subscription.name)
        if backlog is not None:
            lag = {"interlink.domain": domain, "messaging.system": messaging_system(runtime.broker.scheme),
                   "messaging.consumer.group.name": runtime.subscription.name}  # fmt: skip
            found.set("interlink.consumer.lag", lag, backlog)
    for part in runtime.parts:
        await part.sample(found, now)
