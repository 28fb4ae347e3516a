"""Schema version 6 on every SQL store: the indexes that let retention prune by age, added to a version 5 store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import dialect as postgresql_dialect
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.ext.asyncio import create_async_engine

from interlink.adapters.stores.postgres import PostgresStore
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.ports.store import SCHEMA_VERSION, AggregateWrite, ChangeSet, InboxMark, Retained, Store
from interlink.runtime.backends import open_store
from tests.support.services import fresh_name, require

INDEXES = {"ix_interlink_idempotency_created_at", "ix_interlink_aggregates_kind_updated_at"}


async def _indexes(store: Store) -> set[str]:
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as db:
            rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
        db.close()
        return {r[0] for r in rows}
    assert isinstance(store, PostgresStore)
    engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = :s"), {"s": store.schema})
        found = {r[0] for r in result}
    await engine.dispose()
    return found


async def _as_version_5(store: Store) -> None:
    """Drop the indexes version 6 added and record version 5, as the previous release left the database."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as db:
            for name in INDEXES:
                db.execute(f"DROP INDEX {name}")
            db.execute("UPDATE interlink_meta SET value = '5' WHERE key = 'schema'")
        db.close()
        return
    assert isinstance(store, PostgresStore)
    engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        for name in INDEXES:
            await conn.execute(text(f'DROP INDEX "{store.schema}".{name}'))
        await conn.execute(text(f"UPDATE \"{store.schema}\".interlink_meta SET value = '5' WHERE key = 'schema'"))
    await engine.dispose()


async def test_a_version_5_store_gets_the_retention_indexes(store_url: str) -> None:
    """Opening a version 5 store adds the age indexes, records the current version, and its old marks prune."""
    async with open_store(store_url, "loans") as store:
        await store.commit([ChangeSet(inbox=[InboxMark("loans", "m-1")])])
    await _as_version_5(store)
    assert not INDEXES & await _indexes(store)
    async with open_store(store_url, "loans") as store:
        assert SCHEMA_VERSION >= 6
        assert isinstance(store, SqliteStore | PostgresStore)
        assert await store.schema_version() == SCHEMA_VERSION
        assert await _indexes(store) >= INDEXES
        assert await store.prune(Retained.INBOX, older_than=4e9, limit=10) == 1
        assert await store.seen("loans", ["m-1"]) == set()


async def test_each_prune_batch_is_index_lookups_on_sqlite(tmp_path: Path) -> None:
    """SQLite plans each prune batch as a search of the age index and rowid lookups, never a table scan."""
    expected = {
        Retained.INBOX: "ix_interlink_inbox_processed_at",
        Retained.IDEMPOTENCY: "ix_interlink_idempotency_created_at",
        Retained.REPLY: "ix_interlink_aggregates_kind_updated_at",
        Retained.SAGA: "ix_interlink_aggregates_kind_updated_at",
        Retained.COUNTERS: "ix_interlink_aggregates_kind_updated_at",
    }
    async with SqliteStore(f"sqlite:///{tmp_path}/plans.db", domain="loans") as store:
        for kind, index in expected.items():
            statement = store.prune_statement(kind, 1.0, 1000)
            sql = str(statement.compile(dialect=sqlite_dialect(), compile_kwargs={"literal_binds": True}))
            with sqlite3.connect(store.path) as db:
                plan = " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}"))
            db.close()
            assert "USING INTEGER PRIMARY KEY (rowid=?)" in plan, (kind, plan)
            assert f"INDEX {index}" in plan, (kind, plan)
            assert "SCAN interlink" not in plan, (kind, plan)


async def test_each_prune_batch_is_a_tid_scan_on_postgres() -> None:
    """PostgreSQL deletes a prune batch by TID scan on a filled, analyzed table, whatever the backlog."""
    url = f"{require('postgres').url}?schema={fresh_name('ret')}"
    async with PostgresStore(url, domain="loans") as store:
        try:
            for base in range(0, 20_000, 5_000):
                marks = [InboxMark("loans", f"m-{i}") for i in range(base, base + 5_000)]
                writes = [AggregateWrite("~reply", f"r-{i}", 0, 1, "{}") for i in range(base, base + 5_000)]
                await store.commit([ChangeSet(inbox=marks, writes=writes)])
            engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
            async with engine.begin() as conn:
                await conn.execute(text(f'ANALYZE "{store.schema}".interlink_inbox'))
                await conn.execute(text(f'ANALYZE "{store.schema}".interlink_aggregates'))
                await conn.execute(text(f'SET LOCAL search_path = "{store.schema}"'))
                for kind in (Retained.INBOX, Retained.REPLY, Retained.SAGA):
                    statement = store.prune_statement(kind, 4e9, 1000)
                    dialect = postgresql_dialect()  # type: ignore[no-untyped-call]
                    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
                    plan = " | ".join(r[0] for r in await conn.execute(text(f"EXPLAIN {sql}")))
                    assert "Tid Scan on interlink_" in plan, (kind, plan)
                    assert "Limit" in plan, (kind, plan)
            await engine.dispose()
            assert await store.prune(Retained.INBOX, 4e9, 1000) == 1000
        finally:
            engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{store.schema}" CASCADE'))
            await engine.dispose()
