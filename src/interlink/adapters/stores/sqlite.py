"""SQLite store, the embedded default: one file per domain, WAL mode, no server.

URL: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``; query options ``synchronous``
(``full`` by default: a committed command survives a power cut, not only a crash), ``busy_timeout``
in milliseconds (5000) and ``migrate`` (``auto``; ``never``: no DDL, see docs/migrations.md). Several
processes may share the file: every write transaction starts with ``BEGIN IMMEDIATE`` so two writers queue
on SQLite's lock instead of failing half-way.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiosqlite
from sqlalchemy import Table, event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from interlink.adapters.stores.sql import SqlStore
from interlink.adapters.stores.sql_schema import migrate_policy
from interlink.adapters.stores.sqlite_hot import SqliteWriter, hot
from interlink.exceptions import ConfigurationError, StoreError, StoreUnavailable
from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import ChangeSet, OutboxRow, StoredAggregate

__all__ = ["SqliteStore", "sqlite_path"]

_SYNCHRONOUS = {"off", "normal", "full", "extra"}


def sqlite_path(url: str) -> tuple[Path, dict[str, str]]:
    """The file path and query options of a ``sqlite:///...`` URL."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc or not parts.path or parts.path == "/":
        raise ConfigurationError(
            f"bad SQLite URL {url!r}: write sqlite:///relative/file.db or sqlite:////absolute/file.db"
        )
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return Path(parts.path[1:]), options


class SqliteStore(SqlStore):
    """Store on a SQLite file through aiosqlite."""

    scheme = "sqlite"

    def __init__(self, url: str, *, domain: str) -> None:
        super().__init__(url, domain=domain)
        self.path, options = sqlite_path(url)
        self.synchronous = options.pop("synchronous", "full").lower()
        if self.synchronous not in _SYNCHRONOUS:
            raise ConfigurationError(f"{url}: synchronous must be one of {sorted(_SYNCHRONOUS)}")
        try:
            self.busy_timeout = int(options.pop("busy_timeout", "5000"))
        except ValueError as exc:
            raise ConfigurationError(f"{url}: busy_timeout must be milliseconds") from exc
        self.migrate_policy = migrate_policy(options, url)
        if options:
            raise ConfigurationError(f"{url}: unknown option(s) {sorted(options)}")
        self._raw: aiosqlite.Connection | None = None
        self._hot: SqliteWriter | None = None

    def _engines(self) -> tuple[AsyncEngine, AsyncEngine]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the folder of {self.path}: {exc.strerror}") from exc
        target = f"sqlite+aiosqlite:///{self.path}"
        # The writer keeps one connection: this process writes one transaction at a time anyway.
        writer = create_async_engine(target, pool_size=1, max_overflow=0)
        reader = create_async_engine(target, poolclass=NullPool if self.path == Path(":memory:") else None)
        for engine, begin in ((writer, "BEGIN IMMEDIATE"), (reader, "BEGIN")):
            self._configure(engine, begin)
        return writer, reader

    @property
    def _pragmas(self) -> tuple[str, ...]:
        return (
            "PRAGMA journal_mode=WAL",
            f"PRAGMA synchronous={self.synchronous}",
            f"PRAGMA busy_timeout={self.busy_timeout}",
        )

    def _configure(self, engine: AsyncEngine, begin: str) -> None:
        pragmas = self._pragmas

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control away from the sqlite3 module so BEGIN is ours to choose.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(pragma)
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)

    # -- hot reads on a plain aiosqlite connection -----------------------------------------------------
    # Every command and every message reads before it writes. Through SQLAlchemy's pool a read costs eight
    # hops to the driver's thread (cursor, BEGIN, execute, fetch, close, rollback ...); one autocommit
    # connection does it in one (each statement then reads its own WAL snapshot, all a read needs).

    async def _connect(self) -> None:
        await super()._connect()
        try:
            self._raw = await aiosqlite.connect(self.path, isolation_level=None)
            await self._raw.execute(f"PRAGMA busy_timeout={self.busy_timeout}")
            if self.path != Path(":memory:"):  # a second connection to :memory: would be another database
                hot_path = SqliteWriter(self.path, self._pragmas)
                await hot_path.open()
                self._hot = hot_path
        except sqlite3.Error as exc:
            await self._close()
            raise self._translate(exc) from exc

    async def _close(self) -> None:
        raw, self._raw = self._raw, None
        hot_path, self._hot = self._hot, None
        if hot_path is not None:
            await hot_path.close()
        if raw is not None:
            await raw.close()
        await super()._close()

    async def _commit(self, changes: Sequence[ChangeSet]) -> None:
        # The group commit in one hop to the database's thread (sqlite_hot); what it does not write, as before.
        if self._hot is None or not hot(changes):
            await super()._commit(changes)
            return
        try:
            async with self._write_lock:
                await self._hot.commit(changes, time.time())
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    async def mark_sent(self, seqs: Sequence[int]) -> None:
        self._check()
        if seqs:
            await self._commit([ChangeSet(outbox_sent=list(seqs))])

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        self._check()
        assert self._raw is not None
        try:
            return list(await self._raw.execute_fetchall(sql, params))
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    async def load(self, kind: str, id: str) -> StoredAggregate | None:
        rows = await self._fetch("SELECT data, version FROM interlink_aggregates WHERE kind = ? AND id = ?", (kind, id))
        return StoredAggregate(rows[0][0], rows[0][1]) if rows else None

    async def seen(self, subscription: str, message_ids: Sequence[str]) -> set[str]:
        if not message_ids:
            return set()
        marks = ",".join("?" * len(message_ids))
        sql = f"SELECT message_id FROM interlink_inbox WHERE subscription = ? AND message_id IN ({marks})"
        return {r[0] for r in await self._fetch(sql, (subscription, *message_ids))}

    async def outbox_batch(self, limit: int) -> list[OutboxRow]:
        sql = "SELECT seq, message_id, channel, type, body, ordering_key FROM interlink_outbox ORDER BY seq LIMIT ?"
        return [
            OutboxRow(r[0], OutgoingMessage(r[1], r[2], r[3], bytes(r[4]), r[5]))
            for r in await self._fetch(sql, (limit,))
        ]

    async def _insert(self, conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
        # Straight to the driver with positional parameters: SQLAlchemy's per-row parameter processing
        # costs more than SQLite's insert itself here. Errors still come wrapped as SQLAlchemy's.
        columns = list(rows[0])
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        await conn.exec_driver_sql(sql, [tuple(row[c] for c in columns) for row in rows])

    def _translate(self, exc: Exception) -> Exception:
        cause = getattr(exc, "orig", None) or exc
        if isinstance(cause, sqlite3.OperationalError):
            text = str(cause)
            if "locked" in text or "busy" in text or "unable to open" in text or "disk I/O" in text:
                return StoreUnavailable(f"SQLite store {self.path}: {text}")
        return StoreError(f"SQLite store {self.path}: {type(cause).__name__}: {cause}")
