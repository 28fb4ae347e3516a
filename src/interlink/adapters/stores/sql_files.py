"""Inbound file claims and checkpoints on SQL: the part of :class:`~interlink.adapters.stores.sql.SqlStore`
that serves :mod:`interlink.patterns.inbound_file`.

A claim is a row of ``interlink_files``, unique per file id and (unless forced) per source and content.
Progress is an update fenced by owner and checkpoint, applied in the transaction of the records it covers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from interlink.adapters.stores import schema
from interlink.adapters.stores.sql_rows import file_lost
from interlink.ports.store import ChangeSet, InboundFile

__all__ = ["SqlFileClaims", "content_key"]


def content_key(file: InboundFile) -> str:
    """What makes two claims of one source the same content: the SHA-256, or for a forced claim, not."""
    return f"{file.sha256}:{file.file_id}" if file.forced else file.sha256


class SqlFileClaims:
    """Mixin of SqlStore (it must come before ``Store`` in the bases, to implement its abstract methods)."""

    if TYPE_CHECKING:
        _writer: AsyncEngine | None
        _write_lock: asyncio.Lock

        def _check(self) -> None: ...
        def _errors(self) -> AbstractAsyncContextManager[None]: ...
        def _read(self) -> AbstractAsyncContextManager[AsyncConnection]: ...

    async def claim_file(self, file: InboundFile, lease: float, *, replace_owner: str | None = None) -> InboundFile:
        t = schema.files
        now = time.time()
        self._check()
        assert self._writer is not None
        by_id = select(t).where(t.c.file_id == file.file_id)
        by_content = select(t).where(t.c.source == file.source, t.c.content_key == content_key(file))
        async with self._errors(), self._write_lock, self._writer.begin() as conn:
            row = (await conn.execute(by_id.with_for_update())).first() or (
                await conn.execute(by_content.with_for_update())
            ).first()
            if row is None:
                claimed = replace(file, state="processing", lease_until=now + lease, claimed_at=now)
                try:
                    async with conn.begin_nested():
                        await conn.execute(insert(t).values(**_values(claimed)))
                except IntegrityError:
                    # Another process claimed the same content between our read and our insert.
                    return _file((await conn.execute(by_content)).one())
                return claimed
            held = _file(row)
            if held.state == "processing" and (held.owner in (file.owner, replace_owner) or held.lease_until < now):
                taken = replace(held, owner=file.owner, lease_until=now + lease)
                await conn.execute(
                    update(t).where(t.c.file_id == held.file_id).values(owner=taken.owner, lease_until=now + lease)
                )
                return taken
            return held

    async def inbound_file(self, file_id: str) -> InboundFile | None:
        t = schema.files
        async with self._errors(), self._read() as conn:
            row = (await conn.execute(select(t).where(t.c.file_id == file_id))).first()
        return _file(row) if row else None

    async def unfinished_files(self, limit: int = 100) -> list[InboundFile]:
        # No index on state: one row per file ever ingested, read by an operator, not on a hot path.
        t = schema.files
        query = select(t).where(t.c.state != "archived").order_by(t.c.claimed_at).limit(limit)
        async with self._errors(), self._read() as conn:
            return [_file(row) for row in await conn.execute(query)]

    async def _apply_file_progress(self, conn: AsyncConnection, changes: Sequence[ChangeSet]) -> None:
        """Move each file's checkpoint on, in order; ConcurrencyError if one is not where it expects."""
        t = schema.files
        for p in (c.file_progress for c in changes if c.file_progress is not None):
            result = await conn.execute(
                update(t)
                .where(
                    t.c.file_id == p.file_id,
                    t.c.owner == p.owner,
                    t.c.checkpoint == p.after,
                    t.c.state == "processing",
                )
                .values(
                    checkpoint=p.checkpoint,
                    accepted=p.accepted,
                    rejected=p.rejected,
                    rejects_bytes=p.rejects_bytes,
                    lease_until=p.lease_until,
                    state=p.state,
                    report=p.report,
                )
            )
            if result.rowcount != 1:
                raise file_lost(p)


def _values(f: InboundFile) -> dict[str, Any]:
    return {
        "file_id": f.file_id,
        "source": f.source,
        "name": f.name,
        "sha256": f.sha256,
        "content_key": content_key(f),
        "size": f.size,
        "owner": f.owner,
        "state": f.state,
        "checkpoint": f.checkpoint,
        "accepted": f.accepted,
        "rejected": f.rejected,
        "rejects_bytes": f.rejects_bytes,
        "lease_until": f.lease_until,
        "claimed_at": f.claimed_at,
        "report": f.report,
    }


def _file(r: Row[Any]) -> InboundFile:
    return InboundFile(
        file_id=r.file_id,
        source=r.source,
        name=r.name,
        sha256=r.sha256,
        size=r.size,
        owner=r.owner,
        forced=r.content_key != r.sha256,
        state=r.state,
        checkpoint=r.checkpoint,
        accepted=r.accepted,
        rejected=r.rejected,
        rejects_bytes=r.rejects_bytes,
        lease_until=r.lease_until,
        claimed_at=r.claimed_at,
        report=r.report,
    )
