"""Due times on SQL: the part of :class:`~interlink.adapters.stores.sql.SqlStore` that finds framework records
whose due time has passed (outstanding requests past their deadline) through the (kind, due_at) index."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from interlink.adapters.stores import schema
from interlink.ports.store import DueRecord, StoredAggregate

__all__ = ["SqlDueTimes"]


class SqlDueTimes:
    """Mixin of SqlStore (it must come before ``Store`` in the bases, to implement its abstract method)."""

    if TYPE_CHECKING:

        def _errors(self) -> AbstractAsyncContextManager[None]: ...
        def _read(self) -> AbstractAsyncContextManager[AsyncConnection]: ...

    async def _due(self, kind: str, now: float, limit: int) -> list[DueRecord]:
        async with self._errors(), self._read() as conn:
            rows = (await conn.execute(self.due_statement(kind, now, limit))).all()
        return [DueRecord(r[0], r[1], StoredAggregate(r[2], r[3])) for r in rows]

    def due_statement(self, kind: str, now: float, limit: int) -> Select[Any]:
        """The query of :meth:`due` (for EXPLAIN in tests): a range of the (kind, due_at) index, in its order,
        so neither the rows not yet due nor the other kinds are read, and nothing is sorted."""
        t = schema.aggregates
        query = select(t.c.id, t.c.due_at, t.c.data, t.c.version).where(t.c.kind == kind, t.c.due_at <= now)
        return query.order_by(t.c.due_at).limit(limit)
