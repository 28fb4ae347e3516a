"""The verb of pattern 4 on a context: ``ctx.fresh`` reads a kept copy through its pending flag."""

from __future__ import annotations

from typing import TypeVar

from interlink.core.aggregate import Aggregate
from interlink.core.context import Context
from interlink.exceptions import NotFoundError
from interlink.patterns.notification.declarations import SourceUnavailable

__all__ = ["FreshContext"]

A = TypeVar("A", bound=Aggregate)


class FreshContext(Context):
    """``ctx.fresh``, and what it says of the copies it served (``ctx.stale``)."""

    async def fresh(self, cls: type[A], id: str) -> A:
        """The aggregate, first brought up to date if a deferred notification left it pending.

        A pending update is retrieved from its source and applied by the declared command, committed as
        its own unit of work (so this works in a query too); concurrent calls for one resource make one
        fetch. When the source is down, the ``deferred(..., when_source_down=...)`` policy either serves
        the local copy and records it in :attr:`stale`, or raises SourceUnavailable. Raises NotFoundError
        when there is no copy (SourceUnavailable when there is none because the source is down). For an
        aggregate no deferred subscription keeps, or inside a consumer's batch, it is :meth:`get`.
        """
        stale = await self._session.refresh(cls, id, self)
        found = await self._session.load(cls, id)
        if found is None:
            if stale:
                raise SourceUnavailable(f"{cls.aggregate_name()} {id!r}: no local copy yet and its source is down")
            raise NotFoundError(cls.aggregate_name(), id)
        if stale:
            self._stale.append((cls.aggregate_name(), id))
        return found

    @property
    def stale(self) -> bool:
        """True when a :meth:`fresh` call of this run served a stale copy (its source was down)."""
        return bool(self._stale)

    @property
    def stale_reads(self) -> list[tuple[str, str]]:
        """(aggregate name, id) of every stale copy :meth:`fresh` served in this run."""
        return list(self._stale)
