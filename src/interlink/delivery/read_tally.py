"""How often a domain reads the copies it keeps of other domains' data (``interlink advise`` needs it).

A copy kept from notifications or from state transfer is worth its upkeep only if it is read: the advice
weighs changes against reads. Reads happen through ``ctx.get`` / ``find`` / ``list`` / ``replica`` /
``replicas`` (``ctx.fresh`` is counted by the deferred-update reads of the notification pattern), so the
unit of work reports each read of a counted kind here. Each process keeps absolute totals under its own
token in ``~counters:reads:<aggregate>`` records and writes them at most once per flush interval and when it stops,
so processes never collide and a lost write is repaired by the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from interlink.core.aggregate import Aggregate
from interlink.core.clock import Clock
from interlink.delivery.committer import Committer
from interlink.delivery.records import RecordKind
from interlink.ports.ids import random_hex
from interlink.ports.store import COUNTERS_PREFIX, AggregateWrite, ChangeSet, Retained, Store

__all__ = ["ReadCount", "ReadTally", "Reads", "read_count", "read_records", "reads_kind"]

log = logging.getLogger("interlink.reads")


class ReadCount(Aggregate):
    """One process's running total of reads of one kind of kept copy (id: the process's token)."""

    reads: int = 0
    since: datetime | None = None


def reads_kind(aggregate: str) -> str:
    """Where the read counts of ``aggregate`` are filed: ``~counters:reads:<aggregate>``."""
    return f"{COUNTERS_PREFIX}reads:{aggregate}"


@cache
def read_records(aggregate: str) -> RecordKind[ReadCount]:
    """The read counts of ``aggregate``, one per process; those of a stopped process are pruned with the
    counters."""
    return RecordKind(reads_kind(aggregate), ReadCount, retention=Retained.COUNTERS)


@dataclass(frozen=True)
class Reads:
    """The reads of one kind of copy summed over processes, and since when they are counted."""

    reads: int
    since: datetime | None


async def read_count(store: Store, aggregate: str, page: int = 500) -> Reads | None:
    """The reads of ``aggregate`` recorded in ``store``; None when no process ever counted them."""
    total, seen = 0, False
    starts: list[datetime] = []
    async for count in read_records(aggregate).all(store, page):
        seen = True
        total += count.reads
        if count.since is not None:
            starts.append(count.since)
    return Reads(total, min(starts, default=None)) if seen else None


class ReadTally:
    """Counts this process's reads of the given kinds of aggregate and writes the totals to the store."""

    def __init__(
        self,
        store: Store,
        committer: Committer,
        clock: Clock,
        kinds: Mapping[type[Aggregate], str],
        *,
        flush_interval: float = 1.0,
    ) -> None:
        self._store = store
        self._committer = committer
        self._flush_interval = flush_interval
        token = f"reads-{random_hex(8)}"
        now = clock.now()
        # Every kind starts at zero from now: a copy never read is measured as such, not "not measured".
        self._kinds = dict(kinds)
        self._counts = {kind: ReadCount(id=token, since=now) for kind in self._kinds.values()}
        self._dirty = bool(self._counts)
        self._flushed_at = 0.0
        self._lock = asyncio.Lock()

    def counts(self, cls: type[Aggregate]) -> bool:
        """Whether reads of ``cls`` are counted here."""
        return cls in self._kinds

    async def count(self, cls: type[Aggregate], n: int = 1) -> None:
        """Record ``n`` reads of ``cls`` (nothing for a kind not counted), writing at most once per interval."""
        kind = self._kinds.get(cls)
        count = self._counts.get(kind) if kind is not None else None
        if count is None or n <= 0:
            return
        count.reads += n
        self._dirty = True
        await self.flush(force=False)

    async def flush(self, *, force: bool = True) -> None:
        """Write the totals (absolute) if they changed; without ``force`` at most once per flush interval."""
        now = asyncio.get_running_loop().time()
        if not self._dirty or (not force and now - self._flushed_at < self._flush_interval):
            return
        async with self._lock:
            if not self._dirty:
                return
            self._dirty, self._flushed_at = False, now
            try:
                await self._committer.commit(ChangeSet(writes=await self._writes()))
            except Exception as exc:  # advisory figures: a failed write is repaired by the next one
                self._dirty = True
                log.warning("could not write read counts: %s", exc)

    async def _writes(self) -> list[AggregateWrite]:
        writes = []
        for aggregate, count in self._counts.items():
            records = read_records(aggregate)
            stored = await self._store.load(records.kind, count.id)
            version = stored.version if stored else 0
            data = records.encode(count.model_copy(update={"version": version + 1}))
            writes.append(AggregateWrite(records.kind, count.id, version, version + 1, data))
        return writes
