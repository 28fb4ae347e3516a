"""How many messages a domain's commits put in its outbox, per message type and minute, kept in its store.

The console's landscape shows a rate on each arrow. A process hosting the producer can count its commits in
memory (``interlink.operations.FlowMeter``), but a console that only watches the stores, or one whose producer
runs in another process, sees no commits. So every runtime counts what its commits put in the outbox
(:meth:`FlowTally.committed`, a counter increment per message after each commit group) and writes its counts
to the store off the hot path: at most once per flush interval (a timer armed by the first commit after a
write) and when it stops, through the committer, one small write per flush.

Each process writes its own records, one per minute it sent something in, under
``~counters:flow:outbox`` with the id ``<minute>-<token>`` (the minute since the epoch, zero-padded, then a
per-process token): processes never collide, the records of a minute sit next to each other in id order, and a
reader finds the recent ones with a bounded range of the primary key (:func:`recent_flows`). The counts are
absolute, so a lost write is repaired by the next one. A process deletes its own records ``keep`` minutes
old as it goes; those a stopped process leaves are pruned with the counters (docs/retention.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from interlink.core.aggregate import Aggregate
from interlink.core.clock import Clock
from interlink.delivery.committer import Committer
from interlink.delivery.records import RecordKind
from interlink.exceptions import RecordSchemaError
from interlink.ports.ids import random_hex
from interlink.ports.store import COUNTERS_PREFIX, AggregateWrite, ChangeSet, Retained, Store

__all__ = ["FLOWS", "FLOW_KIND", "FlowCount", "FlowTally", "RecentFlows", "flow_id", "recent_flows"]

log = logging.getLogger("interlink.flows")

#: The kind of the flow records (a colon after ``flow`` keeps it apart from any subscription's counters).
FLOW_KIND = f"{COUNTERS_PREFIX}flow:outbox"
#: Records read at most by :func:`recent_flows`: one per process and minute, so 500 processes over two minutes.
READ_LIMIT = 1000


class FlowCount(Aggregate):
    """One process's messages put in the outbox during one minute, by CloudEvents type."""

    minute: int
    sent: dict[str, int] = {}


#: The flow records: those a stopped process leaves are pruned with the counters.
FLOWS = RecordKind(FLOW_KIND, FlowCount, retention=Retained.COUNTERS)


def minute_of(at: datetime) -> int:
    """The minute since the epoch ``at`` falls in."""
    return int(at.timestamp() // 60)


def flow_id(minute: int, token: str) -> str:
    """The id of a process's record of one minute: ordered by minute first (ten digits, zero-padded)."""
    return f"{minute:010d}-{token}"


class FlowTally:
    """Counts the messages this process's commits put in one domain's outbox, and writes them to its store."""

    def __init__(
        self, store: Store, committer: Committer, clock: Clock, *, flush_interval: float = 5.0, keep: int = 60
    ) -> None:
        self._store = store
        self._committer = committer
        self._clock = clock
        #: Seconds between two writes at most (the first commit after a write arms a timer this long).
        self.flush_interval = flush_interval
        self._keep = keep
        self._token = f"flow-{random_hex(8)}"
        self._counts: dict[int, Counter[str]] = {}
        self._dirty: set[int] = set()
        #: The stored version of each minute's record this process wrote (0: not written yet).
        self._versions: dict[int, int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._stale = False

    def committed(self, changes: Sequence[ChangeSet]) -> None:
        """The commit listener: count the group's outbox messages in the current minute, arm the flush timer."""
        counts: Counter[str] | None = None
        for change in changes:
            for message in change.outbox:
                if counts is None:
                    minute = minute_of(self._clock.now())
                    counts = self._counts.get(minute)
                    if counts is None:
                        counts = self._counts[minute] = Counter()
                    self._dirty.add(minute)
                counts[message.type] += 1
        if counts is not None and self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.flush_interval, self._flush_later)

    def _flush_later(self) -> None:
        self._timer = None
        self._flushing = asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        """Write the minutes counted since the last write (absolute counts), and delete this process's old ones."""
        async with self._lock:
            if not self._dirty:
                return
            dirty, self._dirty = self._dirty, set()
            try:
                if self._stale:  # a write failed: the versions it assumed may be wrong (a pruned record)
                    await self._reload(dirty | set(self._versions))
                change = ChangeSet(writes=self._writes(dirty))
                await self._committer.commit(change)
            except Exception as exc:  # advisory figures: the next flush writes the same totals again
                self._dirty |= dirty
                self._stale = True
                log.warning("could not write flow counts: %s", exc)
                return
            self._stale = False
            for write in change.writes:
                minute = int(write.id.partition("-")[0])
                if write.data is None:
                    self._versions.pop(minute, None)
                    self._counts.pop(minute, None)
                else:
                    self._versions[minute] = write.new_version

    def _writes(self, dirty: set[int]) -> list[AggregateWrite]:
        writes = []
        for minute in sorted(dirty):
            version = self._versions.get(minute, 0)
            sent = dict(self._counts[minute])
            count = FlowCount(id=flow_id(minute, self._token), version=version + 1, minute=minute, sent=sent)
            writes.append(AggregateWrite(FLOW_KIND, count.id, version, version + 1, FLOWS.encode(count)))
        newest = max(dirty)
        for minute in [m for m in self._versions if m <= newest - self._keep and m not in dirty]:
            version = self._versions[minute]
            writes.append(AggregateWrite(FLOW_KIND, flow_id(minute, self._token), version, version + 1, None))
        for minute in [m for m in self._counts if m <= newest - self._keep and m not in self._versions]:
            del self._counts[minute]  # never written (or already deleted): nothing to keep
        return writes

    async def _reload(self, minutes: set[int]) -> None:
        for minute in minutes:
            stored = await self._store.load(FLOW_KIND, flow_id(minute, self._token))
            if stored is None:
                self._versions.pop(minute, None)
            else:
                self._versions[minute] = stored.version

    async def close(self) -> None:
        """Write what is counted (the runtime's stop): the timer is disarmed and a write under way awaited."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
            self._flushing = None
        await self.flush()


@dataclass(frozen=True)
class RecentFlows:
    """The messages by type a domain's processes put in its outbox over ``window`` seconds up to now."""

    sent: dict[str, int]
    window: float
    #: Whether the read stopped at :data:`READ_LIMIT` records (then ``sent`` is a lower bound).
    complete: bool


async def recent_flows(store: Store, now: datetime, *, limit: int = READ_LIMIT) -> RecentFlows | None:
    """The last full minute and the current one, summed over every process that wrote flow records to
    ``store``; None when no process ever did (within the counters' retention): the rate is unknown, not zero.

    One bounded range of the primary key: the records from the last full minute on, ``limit`` at most.
    """
    minute = minute_of(now)
    rows = await store.list_aggregates(FLOW_KIND, where={}, after=f"{minute - 1:010d}", limit=limit)
    if not rows and not await store.list_aggregates(FLOW_KIND, where={}, after=None, limit=1):
        return None
    sent: Counter[str] = Counter()
    for id, stored in rows:
        try:
            sent.update(FLOWS.decode(id, stored.data, stored.version).sent)
        except (ValidationError, RecordSchemaError):  # advisory figures: one unreadable record is left out
            log.warning("flow record %s cannot be read; left out of the rate", id)
    # The last full minute plus what passed of the current one: the span the summed buckets cover.
    window = 60.0 + max(0.0, now.timestamp() - minute * 60)
    return RecentFlows(dict(sent), window, len(rows) < limit)
