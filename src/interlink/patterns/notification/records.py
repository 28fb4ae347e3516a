"""The framework's own records for a notification subscription, kept in the aggregates table.

``~pending:<subscription>`` (one per resource): the highest version notified, the version applied to the
local copy, and the pending flag of a deferred update with the time it was raised. Its version gives
optimistic concurrency across consumers and processes.

``~counters:<subscription>``: ``delivery-<token>`` is written by a process's consumers in each
notification's transaction; ``reads-<token>`` by each process that serves ``ctx.fresh`` (absolute totals).
Each process has its own tokens, so processes never collide on a counter.
:func:`subscription_figures` adds them up for ``interlink advise``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TypeVar

from interlink.core.aggregate import Aggregate
from interlink.delivery.read_tally import read_count
from interlink.delivery.records import RecordKind
from interlink.patterns.notification.declarations import NotificationSpec
from interlink.ports.store import COUNTERS_PREFIX, Retained, Store

R = TypeVar("R", bound=Aggregate)

__all__ = ["Counters", "Figures", "ResourceSync", "counter_records", "subscription_figures", "sync_records"]


class ResourceSync(Aggregate):
    """Where one resource of a subscription stands: notified, applied, and whether an update is pending."""

    notified: int = 0
    applied: int = 0
    pending: bool = False
    pending_since: datetime | None = None
    gone: bool = False


class Counters(Aggregate):
    """Running totals of one writer (the consumer, or one process's reads) for one subscription."""

    received: int = 0
    fetches: int = 0
    served: int = 0
    stale: int = 0
    fetch_seconds: float = 0.0
    payload_bytes: int = 0
    since: datetime | None = None


@cache
def sync_records(subscription: str) -> RecordKind[ResourceSync]:
    """A subscription's pending flags: one :class:`ResourceSync` per resource, under ``~pending:<subscription>``;
    bounded by the resources, so no retention prunes them."""
    return RecordKind(f"~pending:{subscription}", ResourceSync)


@cache
def counter_records(subscription: str) -> RecordKind[Counters]:
    """A subscription's counters: one :class:`Counters` per writer, under ``~counters:<subscription>``; those
    of a stopped process are pruned by the ``counters`` retention."""
    return RecordKind(f"{COUNTERS_PREFIX}{subscription}", Counters, retention=Retained.COUNTERS)


@dataclass(frozen=True)
class Figures:
    """A subscription's traffic as observed, summed over its writers; what ``interlink advise`` reads."""

    subscription: str
    pattern: str
    received: int
    fetches: int
    served: int
    stale: int
    fetch_seconds: float
    payload_bytes: int
    pending: int
    oldest_pending: datetime | None
    since: datetime | None
    #: Reads of the kept copy through ctx.get / find / list (None: not measured); ``served`` counts ctx.fresh.
    copy_reads: int | None = None
    #: The subscription reacts to every change (``on_notification(..., side_effects=True)``).
    side_effects: bool = False

    @property
    def reads(self) -> int | None:
        """Every read of the kept copy (ctx.fresh and plain reads); None when neither was measured."""
        if self.copy_reads is None and self.served == 0:
            return None
        return self.served + (self.copy_reads or 0)

    @property
    def mean_fetch_ms(self) -> float | None:
        """Mean duration of a fetch, in milliseconds (None before the first)."""
        return 1000 * self.fetch_seconds / self.fetches if self.fetches else None

    @property
    def mean_payload_bytes(self) -> float | None:
        """Mean size of a fetched payload, in bytes (None before the first fetch)."""
        return self.payload_bytes / self.fetches if self.fetches else None


async def subscription_figures(store: Store, spec: NotificationSpec, page: int = 500) -> Figures:
    """Read a subscription's counters and pending flags from the store (a connected one)."""
    totals = Counters(id="total")
    starts: list[datetime] = []
    async for counters in counter_records(spec.name).all(store, page):
        for field in ("received", "fetches", "served", "stale", "fetch_seconds", "payload_bytes"):
            setattr(totals, field, getattr(totals, field) + getattr(counters, field))
        if counters.since is not None:
            starts.append(counters.since)
    pending = [s.pending_since async for s in sync_records(spec.name).all(store, page) if s.pending]
    since = [p for p in pending if p is not None]
    copy = await read_count(store, spec.aggregate.aggregate_name()) if spec.aggregate is not None else None
    if copy is not None and copy.since is not None:
        starts.append(copy.since)
    return Figures(
        spec.name, spec.pattern, totals.received, totals.fetches, totals.served, totals.stale,
        totals.fetch_seconds, totals.payload_bytes, len(pending), min(since, default=None), min(starts, default=None),
        copy.reads if copy is not None else None, spec.side_effects,
    )  # fmt: skip
