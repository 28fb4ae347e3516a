"""Order-preserving dead letters on SQL: the part of :class:`~interlink.adapters.stores.sql.SqlStore` that finds
the letters of an ordering key through the (subscription, ordering_key, id) index and releases the first."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from interlink.adapters.stores import schema
from interlink.ports.store import HELD, RELEASED

__all__ = ["SqlOrderedLetters"]


class SqlOrderedLetters:
    """Mixin of SqlStore (it must come before ``Store`` in the bases, to implement its abstract method)."""

    if TYPE_CHECKING:

        def _errors(self) -> AbstractAsyncContextManager[None]: ...
        def _read(self) -> AbstractAsyncContextManager[AsyncConnection]: ...

    async def parked_keys(self, subscription: str, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        t = schema.dead_letters
        query = (
            select(t.c.ordering_key)
            .where(t.c.subscription == subscription, t.c.ordering_key.in_(sorted(set(keys))))
            .distinct()
        )
        async with self._errors(), self._read() as conn:
            return {r[0] for r in await conn.execute(query)}

    @staticmethod
    def _letters_of_key(subscription: str, key: str, limit: int) -> Select[Any]:
        t = schema.dead_letters
        return select(t).where(t.c.subscription == subscription, t.c.ordering_key == key).order_by(t.c.id).limit(limit)

    async def _release_first(self, conn: AsyncConnection, subscription: str, key: str) -> None:
        """The first letter of an ordering key, if held, is released (its turn has come)."""
        await self._serialise_key(conn, subscription, key)
        t = schema.dead_letters
        first = (
            await conn.execute(
                select(t.c.id, t.c.error_class)
                .where(t.c.subscription == subscription, t.c.ordering_key == key)
                .order_by(t.c.id)
                .limit(1)
            )
        ).first()
        if first is not None and first.error_class == HELD:
            await conn.execute(update(t).where(t.c.id == first.id).values(error_class=RELEASED))

    async def _serialise_key(self, conn: AsyncConnection, subscription: str, key: str) -> None:
        """Serialise the commits that park or remove letters of one ordering key until this one ends.

        SQLite has one writer at a time already; PostgreSQL overrides it, so a letter held by one commit and
        the last letter before it removed by another can never both miss the release."""
