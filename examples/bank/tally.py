"""What the day left in the domains' stores, counted there (never from counters the script kept)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from interlink import Domain
from interlink.core.context import FieldValue
from interlink.patterns.notification.records import Figures, subscription_figures
from interlink.ports.store import Store

__all__ = ["Count", "count_aggregates", "figures", "matches"]


@dataclass(frozen=True)
class Count:
    """One line of the day's summary: what the script put in (``expected``) and what a store holds (``found``);
    with ``at_most``, anything up to ``expected`` matches (fetches that coalescing may save)."""

    pattern: str
    domain: str
    what: str
    expected: int
    found: int
    at_most: bool = False

    @property
    def ok(self) -> bool:
        """The store holds exactly what the script put in (or no more, for an ``at_most`` count)."""
        return 0 <= self.found <= self.expected if self.at_most else self.expected == self.found


async def count_aggregates(store: Store, kind: str, **where: FieldValue) -> int:
    """How many aggregates (or framework records: ``~saga``, ``~replica:<name>``...) of ``kind`` with these
    field values the store holds, read page by page."""
    total, after = 0, None
    filters: Mapping[str, FieldValue] = where
    while True:
        page = await store.list_aggregates(kind, where=filters, after=after, limit=1000)
        total += len(page)
        if len(page) < 1000:
            return total
        after = page[-1][0]


async def figures(store: Store, domain: Domain, subscription: str) -> Figures:
    """A notification subscription's counters (notifications received, fetches) as its store holds them."""
    return await subscription_figures(store, domain.notifications[subscription])


def matches(counts: list[Count]) -> bool:
    """Every count matches."""
    return all(c.ok for c in counts)
