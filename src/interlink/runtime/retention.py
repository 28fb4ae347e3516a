"""Retention at run time: the background task that prunes a domain's old framework records, and the start-up
check of the inbox window against the broker's redelivery window (docs/retention.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from interlink.exceptions import ConfigurationError
from interlink.ports.broker import Broker
from interlink.ports.store import Retained, Store
from interlink.runtime.settings import Retention

__all__ = ["Pruner", "check_inbox_window"]

log = logging.getLogger("interlink.retention")


def windows(retention: Retention) -> dict[Retained, float]:
    """The window of each kind of record that is pruned at all (a window of None keeps it for good)."""
    found = {
        Retained.INBOX: retention.inbox,
        Retained.IDEMPOTENCY: retention.idempotency,
        Retained.REPLY: retention.replies,
        Retained.SAGA: retention.sagas,
    }
    return {kind: window for kind, window in found.items() if window is not None}


def check_inbox_window(retention: Retention, broker: Broker, domain: str) -> None:
    """Refuse an inbox window no longer than the broker's redelivery window, where the broker declares one:
    a message redelivered after its mark was pruned would be handled twice."""
    horizon = broker.redelivery_window
    if retention.inbox is None or horizon is None or retention.inbox > horizon:
        return
    raise ConfigurationError(
        f"domain {domain!r}: the inbox retention ({retention.inbox:g} s) must be longer than the redelivery "
        f"window of the {broker.scheme or type(broker).__name__} broker ({horizon:g} s, its dedupe window): "
        "raise --retain-inbox or lower the broker URL's dedupe_window"
    )


class Pruner:
    """Prunes one store's records older than their windows, ``batch`` rows per transaction, every ``interval``."""

    def __init__(self, store: Store, retention: Retention, name: str) -> None:
        self.name = name
        self.retention = retention
        #: Records deleted since the task started, by kind.
        self.pruned: dict[Retained, int] = dict.fromkeys(Retained, 0)
        #: Completed rounds since the task started.
        self.rounds = 0
        self._store = store
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """End :meth:`run` (at once if it is waiting, else after the batch in hand)."""
        self._stopping.set()

    async def run(self) -> None:
        """A round at start and then every ``interval`` seconds until :meth:`stop`; a failing round is logged."""
        self._stopping.clear()
        interval = self.retention.interval
        assert interval is not None, "a pruner runs only with an interval"
        shown = ", ".join(f"{kind.value} {window:g} s" for kind, window in windows(self.retention).items())
        log.info("retention %s: keeping %s; pruning every %g s", self.name, shown or "everything", interval)
        while not self._stopping.is_set():
            try:
                await self.round()
            except Exception as exc:  # the store is down, say: the rows wait for the next round
                log.warning("retention %s: %s", self.name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)

    async def round(self) -> dict[Retained, int]:
        """Prune every kind until nothing older than its window is left; returns the count of each."""
        counts: dict[Retained, int] = {}
        now = time.time()  # the stores stamp their rows with the wall clock, not the domain's clock
        for kind, window in windows(self.retention).items():
            total = 0
            while not self._stopping.is_set():
                deleted = await self._store.prune(kind, now - window, self.retention.batch)
                total += deleted
                if deleted < self.retention.batch:
                    break
                await asyncio.sleep(0)  # one short transaction at a time: let the domain's own work in between
            counts[kind] = total
            self.pruned[kind] += total
        self.rounds += 1
        if any(counts.values()):
            log.info("retention %s: pruned %s", self.name, ", ".join(f"{n} {k.value}" for k, n in counts.items() if n))
        return counts
