"""Following the receipts of known payment ids through the Store port, a page of them per query."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from interlink.ports.store import Store

__all__ = ["ReceiptCursor"]


class ReceiptCursor:
    """Counts the receipts of ``ids`` that exist, walking them in id order with ``Store.list_aggregates``.

    A receipt is never removed, so the ids up to the first one still missing stay found: each look lists
    from there, one page per query, and stops at the next id missing. Following a run costs about one
    query per page of receipts, plus one per look. The ids must sort the same in Python as in the
    database, as fixed-width ids such as ``P00042`` do everywhere.
    """

    def __init__(self, store: Store, ids: Iterable[str], page: int = 500) -> None:
        self._store = store
        self._missing = deque(sorted(ids))
        self._after: str | None = None  # every id up to this one has its receipt
        self._page = page
        self.found = 0

    @property
    def complete(self) -> bool:
        """Every id has its receipt."""
        return not self._missing

    async def look(self) -> int:
        """Look again; returns how many receipts were found so far."""
        while self._missing:
            rows = await self._store.list_aggregates("Receipt", where={}, after=self._after, limit=self._page)
            for id, _ in rows:
                if id < self._missing[0]:
                    continue  # a receipt of an id not followed here
                if id > self._missing[0]:
                    return self.found  # the next id is still missing
                self._missing.popleft()
                self._after = id
                self.found += 1
                if not self._missing:
                    break
            if len(rows) < self._page:
                break
        return self.found
