"""The PostgreSQL store's hot path on plain asyncpg: reads before a command, and the group commit.

Every command and every message reads before it writes, and every group commit writes aggregates, inbox
marks and outbox rows. Through SQLAlchemy each transaction checked a connection out of the pool with a
pre-ping (three round trips), and ``executemany`` sent one Bind/Execute per row, its parameters processed
one by one in Python. Here long-lived connections (one for the committer, one for the relay, a few for
reads) run fixed
statements, prepared once per connection by asyncpg's statement cache, each taking whole columns as
arrays: one statement per table per group commit, whatever the number of rows.

A connection the server dropped is seen closed when it is taken (asyncpg notices the end of the socket as
it happens) or fails with a connection error; it is then replaced by a new one. A read, or a transaction
that failed before its COMMIT was sent, is tried once more on the new connection; one that failed later
raises StoreUnavailable, as a dropped pooled connection did.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]

from interlink.adapters.stores.postgres_connections import Connections, lost
from interlink.adapters.stores.sql_rows import duplicate_marks, existing, stale
from interlink.exceptions import ConcurrencyError, DuplicateMessage, InterlinkError, StoreUnavailable
from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import AggregateWrite, ChangeSet, StoredAggregate, merge_writes

__all__ = ["HotPath", "hot"]

T = TypeVar("T")


def hot(changes: Sequence[ChangeSet]) -> bool:
    """Whether a group commit holds only what the hot path writes (the rest goes through SQLAlchemy)."""
    return not any(
        c.dead_letters or c.resolved_dead_letters or c.audit or c.idempotency is not None or c.file_progress is not None
        for c in changes
    )


class HotPath:
    """The hot statements of one schema on long-lived asyncpg connections."""

    def __init__(
        self,
        *,
        schema: str,
        connect: Callable[[], Awaitable[Any]],
        readers: int,
        channel: str,
        document: Callable[[str], str],
        translate: Callable[[Exception], Exception],
        where: str,
    ) -> None:
        self._committer = Connections(connect, 1)  # the store's write lock lets one commit run at a time
        self._relayer = Connections(connect, 1)  # one relay per store
        self._readers = Connections(connect, max(1, readers))
        self._channel = channel
        self._document = document
        self._translate = translate
        self._where = where
        aggregates, inbox, outbox = self._tables = tuple(
            f'"{schema}".interlink_{t}' for t in ("aggregates", "inbox", "outbox")
        )
        self._statements: dict[tuple[bool, bool, bool], str] = {}
        self._load = f"SELECT data::text, version FROM {aggregates} WHERE kind = $1 AND id = $2"
        # One primary-key probe per id, whatever the plan cache says (see PostgresStore.seen).
        self._seen = (
            "SELECT i.message_id FROM unnest($1::text[]) AS m(id) CROSS JOIN LATERAL ("
            f"SELECT message_id FROM {inbox} WHERE subscription = $2 AND message_id = m.id LIMIT 1) AS i"
        )
        self._create = (
            f"INSERT INTO {aggregates} (kind, id, version, data, updated_at, due_at) "
            "SELECT k, i, v, d::jsonb, $6::float8, du "
            "FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::float8[]) AS r(k, i, v, d, du)"
        )
        self._update = (
            f"UPDATE {aggregates} AS a "
            "SET version = r.nv, data = r.d::jsonb, updated_at = $7::float8, due_at = r.du "
            "FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::float8[]) "
            "AS r(k, i, ev, nv, d, du) WHERE a.kind = r.k AND a.id = r.i AND a.version = r.ev"
        )
        self._delete = (
            f"DELETE FROM {aggregates} AS a USING unnest($1::text[], $2::text[], $3::int[]) AS r(k, i, ev) "
            "WHERE a.kind = r.k AND a.id = r.i AND a.version = r.ev"
        )
        self._mark = (
            f"INSERT INTO {inbox} (subscription, message_id, processed_at) "
            "SELECT s, m, $3::float8 FROM unnest($1::text[], $2::text[]) AS r(s, m)"
        )
        # Sequence numbers are drawn in the order of the rows: the relay publishes in that order.
        self._outbox = (
            f"INSERT INTO {outbox} (message_id, channel, type, ordering_key, body, created_at) "
            "SELECT m, c, t, o, b, $6::float8 "
            "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[]) "
            "WITH ORDINALITY AS r(m, c, t, o, b, n) ORDER BY n"
        )
        # One relay at a time per schema keeps the aggregate order: the others get no rows and wait their turn.
        # The lock is tried in the claim itself (one round trip less per relayed batch): an uncorrelated
        # subquery is an InitPlan run once, before the scan, which a false answer skips (a one-time filter).
        self._claim = (
            "SELECT seq, message_id, channel, type, body, ordering_key FROM "
            f"{outbox} WHERE (SELECT pg_try_advisory_xact_lock($2::bigint)) "
            "ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED"
        )
        self._remove = (
            f"DELETE FROM {outbox} WHERE ctid = ANY(ARRAY(SELECT o.ctid FROM unnest($1::int[]) AS v(seq) "
            f"CROSS JOIN LATERAL (SELECT ctid FROM {outbox} WHERE seq = v.seq LIMIT 1) AS o))"
        )

    async def close(self) -> None:
        await self._committer.close()
        await self._relayer.close()
        await self._readers.close()

    # -- the relay ---------------------------------------------------------------------------------

    async def relay(
        self, lock_key: int, limit: int, publish: Callable[[list[OutgoingMessage]], Awaitable[None]]
    ) -> int:
        """Claim up to ``limit`` outbox rows, publish them, delete them: one transaction, see relay_batch."""
        try:
            async with self._relayer.use() as conn, conn.transaction():
                rows = await conn.fetch(self._claim, limit, lock_key)
                if not rows:
                    return 0
                await publish([OutgoingMessage(r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows])
                await conn.execute(self._remove, [r[0] for r in rows])
            return len(rows)
        except InterlinkError:
            raise  # a broker's refusal, as is
        except Exception as exc:
            raise self._error(exc) from exc

    # -- reads -------------------------------------------------------------------------------------

    async def load(self, kind: str, id: str) -> StoredAggregate | None:
        row = await self._read(lambda conn: conn.fetchrow(self._load, kind, id))
        return StoredAggregate(row[0], row[1]) if row is not None else None

    async def seen(self, subscription: str, message_ids: Sequence[str]) -> set[str]:
        rows = await self._read(lambda conn: conn.fetch(self._seen, list(message_ids), subscription))
        return {r[0] for r in rows}

    async def _read(self, query: Callable[[Any], Awaitable[T]]) -> T:
        for attempt in (1, 2):
            try:
                async with self._readers.use() as conn:
                    return await query(conn)
            except Exception as exc:
                if attempt == 1 and lost(exc):
                    continue  # a read is safe to repeat, on a new connection
                raise self._error(exc) from exc
        raise AssertionError("unreachable")

    # -- the group commit --------------------------------------------------------------------------

    async def commit(self, changes: Sequence[ChangeSet], now: float) -> None:
        """Apply a group commit in one transaction; the caller holds the store's write lock."""
        combined = self._combined(changes, now)
        if combined is not None:
            await self._commit_once(*combined)
            return
        for attempt in (1, 2):
            committing = False
            try:
                async with self._committer.use() as conn:
                    transaction = conn.transaction()
                    await transaction.start()
                    try:
                        await self._apply(conn, changes, now)
                    except BaseException:
                        if not conn.is_closed():
                            with contextlib.suppress(Exception):
                                await transaction.rollback()
                        raise
                    committing = True
                    await transaction.commit()
                return
            except InterlinkError:
                raise
            except Exception as exc:
                if attempt == 1 and not committing and lost(exc):
                    continue  # nothing of it was committed: the same transaction on a new connection
                raise self._error(exc) from exc

    def _combined(self, changes: Sequence[ChangeSet], now: float) -> tuple[str, list[Any]] | None:
        """The group as one statement, when it only creates aggregates, marks the inbox and adds outbox rows
        (what a command and a consumed message do most): one round trip, where BEGIN, a statement per table
        and COMMIT take four. A statement outside a transaction is one: all of it commits, or none."""
        if any(c.outbox_sent for c in changes):
            return None
        writes = merge_writes(changes)
        if any(w.expected_version != 0 or w.data is None for w in writes):
            return None
        marks = [m for c in changes for m in c.inbox]
        out = [m for c in changes for m in c.outbox]
        if not (writes or marks or out):
            return None
        args: list[Any] = [now]
        if writes:
            args += [
                [w.kind for w in writes],
                [w.id for w in writes],
                [w.new_version for w in writes],
                [self._document(w.data or "") for w in writes],
                [w.due_at for w in writes],
            ]
        if marks:
            args += [[m.subscription for m in marks], [m.message_id for m in marks]]
        if out:
            args += [
                [m.message_id for m in out],
                [m.channel for m in out],
                [m.type for m in out],
                [m.ordering_key for m in out],
                [m.body for m in out],
                self._channel,
            ]
        shape = (bool(writes), bool(marks), bool(out))
        sql = self._statements.get(shape)
        if sql is None:
            sql = self._statements[shape] = self._statement(*shape)
        return sql, args

    def _statement(self, creates: bool, marks: bool, out: bool) -> str:
        """The one statement of a group of this shape: its inserts as data-modifying WITH queries, which
        PostgreSQL runs once each, to completion, whatever the main query reads."""
        n = 1  # $1: the commit's time
        ctes = []

        def params(*types: str) -> str:
            nonlocal n
            first, n = n + 1, n + len(types)
            return ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(types))

        if creates:
            ctes.append(
                f"c AS (INSERT INTO {self._tables[0]} (kind, id, version, data, updated_at, due_at) "
                "SELECT k, i, v, d::jsonb, $1::float8, du "
                f"FROM unnest({params('text', 'text', 'int', 'text', 'float8')}) AS r(k, i, v, d, du))"
            )
        if marks:
            ctes.append(
                f"m AS (INSERT INTO {self._tables[1]} (subscription, message_id, processed_at) "
                f"SELECT s, m, $1::float8 FROM unnest({params('text', 'text')}) AS r(s, m))"
            )
        tail = "SELECT 1"
        if out:
            # Sequence numbers are drawn in the order of the rows; the relays are woken once this commits.
            ctes.append(
                f"o AS (INSERT INTO {self._tables[2]} (message_id, channel, type, ordering_key, body, created_at) "
                f"SELECT m, c, t, o, b, $1::float8 FROM unnest({params('text', 'text', 'text', 'text', 'bytea')}) "
                "WITH ORDINALITY AS r(m, c, t, o, b, n) ORDER BY n)"
            )
            tail = f"SELECT pg_notify(${n + 1}, '')"
        return "WITH " + ", ".join(ctes) + " " + tail

    async def _commit_once(self, sql: str, args: list[Any]) -> None:
        for attempt in (1, 2):
            try:
                async with self._committer.use() as conn:
                    await conn.execute(sql, *args)
                return
            except asyncpg.IntegrityConstraintViolationError as exc:
                table = getattr(exc, "table_name", None) or ""
                if table == "interlink_inbox":
                    raise DuplicateMessage("the inbox already holds one of the group's message ids") from exc
                if table == "interlink_aggregates":
                    raise ConcurrencyError(f"cannot create what exists already ({exc})") from exc
                raise self._error(exc) from exc
            except Exception as exc:
                # Repeated only when asyncpg refused it before sending (a connection it knows is closed): sent,
                # it may have committed, and the caller's retry meets the inbox mark or the version instead.
                if attempt == 1 and isinstance(exc, asyncpg.InterfaceError):
                    continue
                raise self._error(exc) from exc

    async def _apply(self, conn: Any, changes: Sequence[ChangeSet], now: float) -> None:
        await self._apply_writes(conn, merge_writes(changes), now)
        marks = [m for c in changes for m in c.inbox]
        if marks:
            try:
                await conn.execute(self._mark, [m.subscription for m in marks], [m.message_id for m in marks], now)
            except asyncpg.IntegrityConstraintViolationError as exc:
                raise duplicate_marks(len(marks)) from exc
        out = [m for c in changes for m in c.outbox]
        if out:
            await conn.execute(
                self._outbox,
                [m.message_id for m in out],
                [m.channel for m in out],
                [m.type for m in out],
                [m.ordering_key for m in out],
                [m.body for m in out],
                now,
            )
            # Delivered to the listening relays when (and only if) this transaction commits.
            await conn.execute("SELECT pg_notify($1, '')", self._channel)
        sent = [seq for c in changes for seq in c.outbox_sent]
        if sent:
            await conn.execute(self._remove, sent)

    async def _apply_writes(self, conn: Any, writes: list[AggregateWrite], now: float) -> None:
        creates = [w for w in writes if w.expected_version == 0 and w.data is not None]
        updates = [w for w in writes if w.expected_version > 0 and w.data is not None]
        deletes = [w for w in writes if w.data is None]
        if creates:
            try:
                await conn.execute(
                    self._create,
                    [w.kind for w in creates],
                    [w.id for w in creates],
                    [w.new_version for w in creates],
                    [self._document(w.data or "") for w in creates],
                    [w.due_at for w in creates],
                    now,
                )
            except asyncpg.IntegrityConstraintViolationError as exc:
                raise existing(creates) from exc
        if updates:
            status = await conn.execute(
                self._update,
                [w.kind for w in updates],
                [w.id for w in updates],
                [w.expected_version for w in updates],
                [w.new_version for w in updates],
                [self._document(w.data or "") for w in updates],
                [w.due_at for w in updates],
                now,
            )
            if _count(status) != len(updates):
                raise stale(updates)
        if deletes:
            status = await conn.execute(
                self._delete,
                [w.kind for w in deletes],
                [w.id for w in deletes],
                [w.expected_version for w in deletes],
            )
            if _count(status) != len(deletes):
                raise stale(deletes)

    def _error(self, exc: Exception) -> Exception:
        if lost(exc):
            return StoreUnavailable(f"{self._where}: connection lost: {type(exc).__name__}: {exc}")
        return self._translate(exc)


def _count(status: str) -> int:
    """The row count of a command status such as ``UPDATE 3``."""
    return int(status.rsplit(" ", 1)[-1])
