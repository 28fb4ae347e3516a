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

__all__ = ["KEPT", "Pruner", "check_inbox_window", "declared", "log_retention", "shown_duration", "windows"]

log = logging.getLogger("interlink.retention")


def windows(retention: Retention) -> dict[Retained, float]:
    """The window of each kind of record that is pruned at all (a window of None keeps it for good)."""
    found = {
        Retained.INBOX: retention.inbox,
        Retained.IDEMPOTENCY: retention.idempotency,
        Retained.REPLY: retention.replies,
        Retained.SAGA: retention.sagas,
        Retained.COUNTERS: retention.counters,
        Retained.AUDIT: retention.audit,
    }
    return {kind: window for kind, window in found.items() if window is not None}


#: The framework records that are not pruned by age, and why each stays bounded (docs/retention.md).
KEPT: dict[str, str] = {
    "outstanding requests (~request)": "until replied or timed out (found by due time)",
    "running sagas (~saga)": "until they end",
    "pending flags (~pending:*)": "one per resource",
    "replicas (~replica:*)": "one per replicated aggregate",
    "outbox": "until the broker confirms",
    "dead letters": "until replayed or resolved",
    "inbound files": "for good (a file's content is refused twice)",
}


def declared(retention: Retention) -> list[tuple[str, str]]:
    """Every kind of framework record with how long it is kept, as ``interlink run`` logs it at start."""
    pruned = {
        Retained.INBOX: (retention.inbox, "inbox marks"),
        Retained.IDEMPOTENCY: (retention.idempotency, "idempotency keys"),
        Retained.REPLY: (retention.replies, "stored replies (~reply)"),
        Retained.SAGA: (retention.sagas, "ended sagas (~saga)"),
        Retained.COUNTERS: (retention.counters, "counters (~counters:*), since last written"),
        Retained.AUDIT: (retention.audit, "audit log entries"),
    }
    off = retention.interval is None
    shown = [(name, "for good" if w is None or off else shown_duration(w)) for w, name in pruned.values()]
    return shown + list(KEPT.items())


def shown_duration(seconds: float | None) -> str:
    """A duration as the retention options take it: ``7d``, ``24h``, ``30m``, ``90s``; ``forever`` for None."""
    if seconds is None:
        return "forever"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def log_retention(name: str, retention: Retention) -> None:
    """Log the declared retention of every framework record of domain ``name`` (once, at start)."""
    pacing = "not pruned" if retention.interval is None else f"pruned every {shown_duration(retention.interval)}"
    kinds = "; ".join(f"{kind}: {kept}" for kind, kept in declared(retention))
    log.info("retention %s (%s, %d rows per batch): %s", name, pacing, retention.batch, kinds)


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

    def start(self, name: str) -> asyncio.Task[None]:
        """Start :meth:`run` as a task; a :meth:`stop` from then on ends it, even one made before it first ran."""
        self._stopping.clear()
        return asyncio.create_task(self.run(), name=name)

    async def run(self) -> None:
        """A round at start and then every ``interval`` seconds until :meth:`stop`; a failing round is logged."""
        interval = self.retention.interval
        assert interval is not None, "a pruner runs only with an interval"
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
