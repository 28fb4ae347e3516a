"""What every SQLAlchemy-based store shares: the statements of the unit of work, outbox, inbox, dead letters.

Subclasses build the engines (:meth:`SqlStore._engines`) and translate their driver's errors
(:meth:`SqlStore._translate`).
"""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from interlink.adapters.stores import schema
from interlink.adapters.stores.sql_due import SqlDueTimes
from interlink.adapters.stores.sql_files import SqlFileClaims
from interlink.adapters.stores.sql_idempotency import SqlIdempotencyKeys
from interlink.adapters.stores.sql_ordered import SqlOrderedLetters
from interlink.adapters.stores.sql_queries import SqlQueries
from interlink.adapters.stores.sql_retention import SqlRetention
from interlink.adapters.stores.sql_rows import (
    audit_row,
    dead_letter_of,
    dead_letter_row,
    duplicate_marks,
    existing,
    stale,
)
from interlink.adapters.stores.sql_schema import SqlSchema
from interlink.exceptions import InterlinkError
from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import (
    HELD,
    AggregateWrite,
    AuditRecord,
    ChangeSet,
    DeadLetter,
    OutboxRow,
    OutboxStatus,
    Store,
    StoredAggregate,
    merge_writes,
)

__all__ = ["SqlStore"]

log = logging.getLogger("interlink.store")


class SqlStore(
    SqlFileClaims,
    SqlIdempotencyKeys,
    SqlQueries,
    SqlRetention,
    SqlDueTimes,
    SqlOrderedLetters,
    SqlSchema,
    Store,
    abc.ABC,
):
    """A store on SQLAlchemy 2 async: one writer at a time per process, reads in parallel."""

    def __init__(self, url: str, *, domain: str) -> None:
        super().__init__(url, domain=domain)
        self._writer: AsyncEngine | None = None
        self._reader: AsyncEngine | None = None
        # One writer at a time in this process; other processes are kept out by the database's own lock.
        self._write_lock = asyncio.Lock()

    @abc.abstractmethod
    def _engines(self) -> tuple[AsyncEngine, AsyncEngine]:
        """(writer, reader) engines; the writer's transactions must take the write lock at BEGIN."""

    @abc.abstractmethod
    def _translate(self, exc: Exception) -> Exception:
        """The Interlink exception for a driver exception (StoreUnavailable, StoreError)."""

    @asynccontextmanager
    async def _errors(self) -> AsyncIterator[None]:
        try:
            yield
        except InterlinkError:
            # Raised on purpose, ours or a callback's (a broker's MessageRefused during relay_batch): as is.
            raise
        except Exception as exc:
            raise self._translate(exc) from exc

    # -- lifecycle ---------------------------------------------------------------------------------

    async def _connect(self) -> None:
        self._writer, self._reader = self._engines()
        try:
            await self._prepare_schema()
        except BaseException:
            await self._close()  # a refused store must not leave pooled connections behind
            raise

    @property
    def redacted_url(self) -> str:
        """The URL without its password, for messages and logs."""
        return self.url

    async def _close(self) -> None:
        for engine in (self._writer, self._reader):
            if engine is not None:
                await engine.dispose()
        self._writer = self._reader = None

    async def ping(self) -> None:
        async with self._errors(), self._read() as conn:
            await conn.execute(select(1))

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        self._check()
        assert self._reader is not None
        async with self._reader.connect() as conn:
            yield conn

    async def schema_version(self) -> int:
        """The schema version recorded in the database."""
        async with self._errors(), self._read() as conn:
            value = (await conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema"))).scalar()
        return int(value or 0)

    # -- unit of work ------------------------------------------------------------------------------

    async def load(self, kind: str, id: str) -> StoredAggregate | None:
        t = schema.aggregates
        async with self._errors(), self._read() as conn:
            row = (await conn.execute(select(t.c.data, t.c.version).where(t.c.kind == kind, t.c.id == id))).first()
        return StoredAggregate(row[0], row[1]) if row else None

    async def seen(self, subscription: str, message_ids: Sequence[str]) -> set[str]:
        if not message_ids:
            return set()
        t = schema.inbox
        query = select(t.c.message_id).where(t.c.subscription == subscription, t.c.message_id.in_(list(message_ids)))
        async with self._errors(), self._read() as conn:
            return {r[0] for r in await conn.execute(query)}

    async def _commit(self, changes: Sequence[ChangeSet]) -> None:
        writes = merge_writes(changes)
        now = time.time()
        assert self._writer is not None
        async with self._errors(), self._write_lock, self._writer.begin() as conn:
            await self._apply_writes(conn, writes, now)
            await self._apply_file_progress(conn, changes)
            await self._insert_inbox(conn, changes, now)
            outbox_rows = [
                {
                    "message_id": m.message_id,
                    "channel": m.channel,
                    "type": m.type,
                    "ordering_key": m.ordering_key,
                    "body": m.body,
                    "created_at": now,
                }
                for c in changes
                for m in c.outbox
            ]
            if outbox_rows:
                await self._insert(conn, schema.outbox, outbox_rows)
                await self._after_outbox(conn)
            letters = [d for c in changes for d in c.dead_letters]
            if letters:
                await self._park(conn, letters)
            for record in (c.idempotency for c in changes if c.idempotency is not None):
                await self._finish_idempotency(conn, record)
            sent = [seq for c in changes for seq in c.outbox_sent]
            if sent:
                await self._remove_outbox(conn, sent)
            resolved = [i for c in changes for i in c.resolved_dead_letters]
            touched = {(d.subscription, d.ordering_key) for d in letters if d.ordering_key is not None}
            if resolved:
                t = schema.dead_letters
                keyed = select(t.c.subscription, t.c.ordering_key).where(
                    t.c.id.in_(resolved), t.c.ordering_key.is_not(None)
                )
                touched.update((r.subscription, r.ordering_key) for r in await conn.execute(keyed))
                await conn.execute(delete(t).where(t.c.id.in_(resolved)))
            for subscription, key in sorted(touched):
                await self._release_first(conn, subscription, key)
            entries = [audit_row(a) for c in changes for a in c.audit]
            if entries:
                await conn.execute(insert(schema.audit), entries)

    async def _apply_writes(self, conn: AsyncConnection, writes: list[AggregateWrite], now: float) -> None:
        t = schema.aggregates
        creates = [w for w in writes if w.expected_version == 0 and w.data is not None]
        updates = [w for w in writes if w.expected_version > 0 and w.data is not None]
        deletes = [w for w in writes if w.data is None]
        if creates:
            try:
                await self._insert(
                    conn,
                    t,
                    [
                        {
                            "kind": w.kind,
                            "id": w.id,
                            "version": w.new_version,
                            "data": self._document(w.data or ""),  # creates carry data
                            "updated_at": now,
                            "due_at": w.due_at,
                        }
                        for w in creates
                    ],
                )
            except IntegrityError as exc:
                raise existing(creates) from exc
        if updates and await self._update_many(conn, updates, now) != len(updates):
            raise stale(updates)
        if deletes and await self._delete_many(conn, deletes) != len(deletes):
            raise stale(deletes)

    def _document(self, data: str) -> str:
        """An aggregate's JSON text as the database stores it (PostgreSQL's JSONB cannot hold U+0000)."""
        return data

    async def _update_many(self, conn: AsyncConnection, writes: list[AggregateWrite], now: float) -> int:
        """Apply version-checked updates; returns how many rows matched their expected version."""
        t = schema.aggregates
        stmt = (
            update(t)
            .where(t.c.kind == bindparam("k"), t.c.id == bindparam("i"), t.c.version == bindparam("ev"))
            .values(version=bindparam("nv"), data=bindparam("d"), updated_at=now, due_at=bindparam("du"))
        )
        params = [
            {"k": w.kind, "i": w.id, "ev": w.expected_version, "nv": w.new_version, "d": w.data, "du": w.due_at}
            for w in writes
        ]
        # The sqlite3 driver sums rowcount over executemany, which is what is needed here.
        return int((await conn.execute(stmt, params)).rowcount)

    async def _delete_many(self, conn: AsyncConnection, writes: list[AggregateWrite]) -> int:
        """Apply version-checked deletes; returns how many rows matched their expected version."""
        t = schema.aggregates
        stmt = delete(t).where(t.c.kind == bindparam("k"), t.c.id == bindparam("i"), t.c.version == bindparam("ev"))
        params = [{"k": w.kind, "i": w.id, "ev": w.expected_version} for w in writes]
        return int((await conn.execute(stmt, params)).rowcount)

    async def _park(self, conn: AsyncConnection, letters: list[DeadLetter]) -> None:
        """Insert dead letters; a message parked already (a crash before its ack) keeps one row, updated."""
        t = schema.dead_letters
        query = select(t.c.id, t.c.subscription, t.c.message_id).where(
            t.c.message_id.in_([d.message_id for d in letters])
        )
        parked = {(r.subscription, r.message_id): r.id for r in await conn.execute(query)}
        fresh = []
        for letter in letters:
            row_id = parked.get((letter.subscription, letter.message_id))
            if row_id is not None and letter.error_class == HELD:
                continue  # held again after a redelivery: it keeps its place and its state
            if row_id is None:
                fresh.append(dead_letter_row(letter))
            else:
                row = dead_letter_row(letter)
                values = {
                    k: row[k] for k in ("error", "attempts", "failed_at", "error_class", "traceback", "top_frame")
                }
                await conn.execute(update(t).where(t.c.id == row_id).values(**values))
        if fresh:
            await conn.execute(insert(t), fresh)

    async def _insert(self, conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert many rows of one shape (the hot path of every commit; SQLite overrides it)."""
        await conn.execute(insert(table), rows)

    async def _after_outbox(self, conn: AsyncConnection) -> None:
        """Runs in a commit's transaction after it added outbox rows (PostgreSQL notifies relays)."""

    async def _insert_inbox(self, conn: AsyncConnection, changes: Sequence[ChangeSet], now: float) -> None:
        marks = [
            {"subscription": m.subscription, "message_id": m.message_id, "processed_at": now}
            for c in changes
            for m in c.inbox
        ]
        if not marks:
            return
        try:
            await self._insert(conn, schema.inbox, marks)
        except IntegrityError as exc:
            raise duplicate_marks(len(marks)) from exc

    # -- outbox ------------------------------------------------------------------------------------

    async def outbox_batch(self, limit: int) -> list[OutboxRow]:
        t = schema.outbox
        query = select(t.c.seq, t.c.message_id, t.c.channel, t.c.type, t.c.body, t.c.ordering_key)
        async with self._errors(), self._read() as conn:
            rows = (await conn.execute(query.order_by(t.c.seq).limit(limit))).all()
        return [OutboxRow(r[0], OutgoingMessage(r[1], r[2], r[3], bytes(r[4]), r[5])) for r in rows]

    async def mark_sent(self, seqs: Sequence[int]) -> None:
        self._check()
        if not seqs:
            return
        assert self._writer is not None
        async with self._errors(), self._write_lock, self._writer.begin() as conn:
            await self._remove_outbox(conn, list(seqs))

    async def _remove_outbox(self, conn: AsyncConnection, seqs: list[int]) -> None:
        """Delete the outbox rows of these sequence numbers (sent, or parked)."""
        await conn.execute(delete(schema.outbox).where(schema.outbox.c.seq.in_(seqs)))

    async def _park_outbox(self, letter: DeadLetter) -> bool:
        assert self._writer is not None
        t = schema.outbox
        async with self._errors(), self._write_lock, self._writer.begin() as conn:
            # No index on message_id: the outbox holds only what is pending, and parking is rare.
            moved = (await conn.execute(delete(t).where(t.c.message_id == letter.message_id))).rowcount
            if moved:
                await self._park(conn, [letter])
        return bool(moved)

    async def outbox_status(self) -> OutboxStatus:
        t = schema.outbox
        async with self._errors(), self._read() as conn:
            count, oldest = (await conn.execute(select(func.count(), func.min(t.c.created_at)))).one()
        return OutboxStatus(int(count), datetime.fromtimestamp(oldest, UTC) if oldest is not None else None)

    # -- dead letters ------------------------------------------------------------------------------

    async def dead_letters(
        self, subscription: str | None = None, limit: int = 100, *, error_class: str | None = None
    ) -> list[DeadLetter]:
        t = schema.dead_letters
        query = select(t).order_by(t.c.id).limit(limit)
        if subscription is not None:
            query = query.where(t.c.subscription == subscription)
        if error_class is not None:
            query = query.where(t.c.error_class == error_class)
        async with self._errors(), self._read() as conn:
            return [dead_letter_of(r) for r in await conn.execute(query)]

    async def dead_letter(self, id: int) -> DeadLetter | None:
        t = schema.dead_letters
        async with self._errors(), self._read() as conn:
            row = (await conn.execute(select(t).where(t.c.id == id))).first()
        return dead_letter_of(row) if row else None

    async def letters_of_key(self, subscription: str, key: str, limit: int = 100) -> list[DeadLetter]:
        async with self._errors(), self._read() as conn:
            return [dead_letter_of(r) for r in await conn.execute(self._letters_of_key(subscription, key, limit))]

    async def audit_entries(self, limit: int = 100, *, before: int | None = None) -> list[AuditRecord]:
        t = schema.audit
        query = select(t).order_by(t.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(t.c.id < before)
        async with self._errors(), self._read() as conn:
            return [
                AuditRecord(
                    actor=r.actor,
                    action=r.action,
                    target=r.target,
                    reason=r.reason,
                    at=datetime.fromtimestamp(r.at, UTC),
                    before=r.before,
                    after=r.after,
                    id=r.id,
                )
                for r in await conn.execute(query)
            ]
