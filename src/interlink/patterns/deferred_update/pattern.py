"""Pattern 4 as the rest of the framework sees it: the part that serves ``ctx.fresh`` in a running domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from interlink.observability.metrics import Readings
from interlink.patterns.deferred_update.reads import DeferredReads
from interlink.patterns.notification.declarations import notifications_of
from interlink.patterns.notification.records import subscription_figures
from interlink.patterns.pattern import Host, Part, Pattern
from interlink.specs.model import DEFERRED_UPDATE

__all__ = ["PATTERN", "FreshReads"]


class FreshReads(Part):
    """In one domain: ``ctx.fresh`` reads through the pending flags of its notification subscriptions, and
    counts the reads of every copy they keep (``interlink advise`` weighs them against the changes)."""

    def __init__(self, host: Host) -> None:
        self.reads = DeferredReads(host.domain, host.store, host.committer, host.clock, host.external)
        self.refresher = self.reads
        self._domain, self._store = host.domain, host.store

    async def sample(self, readings: Readings, now: datetime) -> None:
        for spec in notifications_of(self._domain).values():
            if spec.deferred:
                figures = await subscription_figures(self._store, spec)
                attributes: dict[str, str | int] = {
                    "interlink.domain": self._domain.name,
                    "messaging.consumer.group.name": spec.name,
                }
                readings.set("interlink.deferred.pending", attributes, figures.pending)
                age = (now - figures.oldest_pending).total_seconds() if figures.oldest_pending else 0.0
                readings.set("interlink.deferred.oldest_age", attributes, max(0.0, age))

    async def flush(self) -> None:
        await self.reads.flush()


def _parts(host: Host) -> Sequence[Part]:
    return [FreshReads(host)] if notifications_of(host.domain) else []


# The deferred subscriptions' operations are collected with pattern 3's (one collector for both variants).
PATTERN = Pattern(DEFERRED_UPDATE, "State Change Notification with deferred update", parts=_parts)
