"""Retention on SQL: the part of :class:`~interlink.adapters.stores.sql.SqlStore` that prunes old inbox marks,
idempotency keys, stored replies, ended sagas, counters and audit entries, one bounded batch at a time through
their age indexes.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Delete, Table, and_, delete, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from interlink.adapters.stores import schema
from interlink.ports.kinds import ENDED_SAGA_STATES, REPLY_KIND, SAGA_KIND
from interlink.ports.store import COUNTERS_PREFIX, Retained

__all__ = ["SqlRetention"]


class SqlRetention:
    """Mixin of SqlStore (it must come before ``Store`` in the bases, to implement its abstract methods)."""

    if TYPE_CHECKING:
        _writer: AsyncEngine | None
        _write_lock: asyncio.Lock

        def _check(self) -> None: ...
        def _errors(self) -> AbstractAsyncContextManager[None]: ...

        def _field(self, name: str) -> Any: ...

    async def _prune(self, kind: Retained, older_than: float, limit: int) -> int:
        statement = self.prune_statement(kind, older_than, limit)
        assert self._writer is not None
        async with self._errors(), self._write_lock, self._writer.begin() as conn:
            return int((await conn.execute(statement)).rowcount)

    def prune_statement(self, kind: Retained, older_than: float, limit: int) -> Delete:
        """The one DELETE of a prune batch (for EXPLAIN in tests): the oldest rows' rowids through the age
        index, then those rows by rowid."""
        # The age condition is not repeated outside: SQLite would then walk the age index over every old
        # row and test each against the list, a cost that grows with the backlog.
        table, condition = self._retained(kind, older_than)
        rowid: ColumnElement[Any] = literal_column("rowid")
        picked = select(rowid).select_from(table).where(condition).limit(limit)
        return delete(table).where(rowid.in_(picked.scalar_subquery()))

    def _retained(self, kind: Retained, older_than: float) -> tuple[Table, ColumnElement[bool]]:
        """The table and age condition (served by an index) of one kind of record."""
        if kind is Retained.INBOX:
            return schema.inbox, schema.inbox.c.processed_at < older_than
        if kind is Retained.IDEMPOTENCY:
            return schema.idempotency, schema.idempotency.c.created_at < older_than
        if kind is Retained.AUDIT:
            return schema.audit, schema.audit.c.at < older_than
        t = schema.aggregates
        if kind is Retained.REPLY:
            return t, and_(t.c.kind == REPLY_KIND, t.c.updated_at < older_than)
        if kind is Retained.COUNTERS:
            # A range of kinds rather than LIKE, which SQLite (case-insensitive LIKE) cannot serve by the index.
            after = COUNTERS_PREFIX[:-1] + chr(ord(COUNTERS_PREFIX[-1]) + 1)
            kinds = and_(t.c.kind >= COUNTERS_PREFIX, t.c.kind < after)
            return t, and_(kinds, t.c.updated_at < older_than)
        ended = sorted(ENDED_SAGA_STATES)
        return t, and_(t.c.kind == SAGA_KIND, t.c.updated_at < older_than, self._field("status").in_(ended))
