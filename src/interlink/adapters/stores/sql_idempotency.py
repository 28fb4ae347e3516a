"""Idempotency keys on SQL: the part of :class:`~interlink.adapters.stores.sql.SqlStore` that serves the
API's ``Idempotency-Key``.

A key is a row of ``interlink_idempotency``: claimed ``pending`` with a lease that the running command renews,
then ``done`` with the stored response, written in the transaction of the command's effects.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from interlink.adapters.stores import schema
from interlink.ports.store import IdempotencyRecord

__all__ = ["SqlIdempotencyKeys"]


class SqlIdempotencyKeys:
    """Mixin of SqlStore (it must come before ``Store`` in the bases, to implement its abstract methods)."""

    if TYPE_CHECKING:
        _writer: AsyncEngine | None
        _write_lock: asyncio.Lock

        def _check(self) -> None: ...
        def _errors(self) -> AbstractAsyncContextManager[None]: ...

    async def claim_idempotency(self, key: str, fingerprint: str, lease: float) -> IdempotencyRecord | None:
        t = schema.idempotency
        now = time.time()
        assert self._writer is not None
        self._check()
        async with self._errors(), self._write_lock, self._writer.begin() as conn:
            row = (await conn.execute(select(t).where(t.c.key == key).with_for_update())).first()
            if row is not None and not (row.state == "pending" and row.created_at < now - lease):
                return _idempotency(row)
            if row is not None:
                await conn.execute(delete(t).where(t.c.key == key))
            values = {"key": key, "fingerprint": fingerprint, "state": "pending", "created_at": now}
            try:
                async with conn.begin_nested():
                    await conn.execute(insert(t).values(**values))
            except IntegrityError:
                # Another process claimed it between our read and our insert.
                row = (await conn.execute(select(t).where(t.c.key == key))).one()
                return _idempotency(row)
        return None

    async def renew_idempotency(self, key: str, fingerprint: str) -> bool:
        self._check()
        assert self._writer is not None
        t = schema.idempotency
        mine = (t.c.key == key, t.c.state == "pending", t.c.fingerprint == fingerprint)
        async with self._errors(), self._write_lock, self._writer.begin() as conn:
            renewed = await conn.execute(update(t).where(*mine).values(created_at=time.time()))
        return bool(renewed.rowcount)

    async def release_idempotency(self, key: str) -> None:
        self._check()
        assert self._writer is not None
        t = schema.idempotency
        async with self._errors(), self._write_lock, self._writer.begin() as conn:
            await conn.execute(delete(t).where(t.c.key == key, t.c.state == "pending"))

    async def _finish_idempotency(self, conn: AsyncConnection, record: IdempotencyRecord) -> None:
        t = schema.idempotency
        values = {"state": "done", "status": record.status, "response": record.response}
        await conn.execute(update(t).where(t.c.key == record.key).values(**values))


def _idempotency(r: Row[Any]) -> IdempotencyRecord:
    return IdempotencyRecord(r.key, r.fingerprint, r.state, r.created_at, r.status, r.response)
