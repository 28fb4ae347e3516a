"""Schema version 9 on every SQL store: the due time of framework records, its (kind, due_at) index, a version 6
store upgraded with the deadlines of its outstanding requests, and Store.due planned as an index range."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from interlink.adapters.stores.postgres import PostgresStore
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.patterns.command_events.declarations import REQUEST_KIND
from interlink.ports.store import SCHEMA_VERSION, AggregateWrite, ChangeSet, Store
from interlink.runtime.backends import open_store
from tests.support.services import fresh_name, require

INDEX = "ix_interlink_aggregates_kind_due_at"
OUTSTANDING = 100_000
DUE = 50  # of the outstanding requests, this many are past their deadline at NOW
NOW = 1_000.0


def _engine() -> AsyncEngine:
    return create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))


async def _as_version_6(store: Store, request_json: str) -> None:
    """Drop the due time and its index, record version 6, and leave one request as the previous release wrote it."""
    row = (REQUEST_KIND, "cmd-old", 1, request_json, 0.0)
    insert = "INSERT INTO {}interlink_aggregates (kind, id, version, data, updated_at) VALUES ({})"
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as db:
            db.execute(f"DROP INDEX {INDEX}")
            db.execute("ALTER TABLE interlink_aggregates DROP COLUMN due_at")
            db.execute("UPDATE interlink_meta SET value = '6' WHERE key = 'schema'")
            db.execute(insert.format("", "?, ?, ?, ?, ?"), row)
        db.close()
        return
    assert isinstance(store, PostgresStore)
    engine = _engine()
    async with engine.begin() as conn:
        prefix = f'"{store.schema}".'
        await conn.execute(text(f"DROP INDEX {prefix}{INDEX}"))
        await conn.execute(text(f"ALTER TABLE {prefix}interlink_aggregates DROP COLUMN due_at"))
        await conn.execute(text(f"UPDATE {prefix}interlink_meta SET value = '6' WHERE key = 'schema'"))
        params = dict(zip(("k", "i", "v", "d", "u"), row, strict=True))
        await conn.execute(text(insert.format(prefix, ":k, :i, :v, :d, :u")), params)
    await engine.dispose()


async def test_a_version_6_store_gets_due_times_for_its_outstanding_requests(store_url: str) -> None:
    """Opening a version 6 store adds the column and index, records version 9, and dates the requests it holds."""
    async with open_store(store_url, "loans") as store:
        pass
    request = (
        '{"command_type": "sms.SendSms", "command": {}, "to": "sms", "correlation_id": "c", '
        '"sent_at": "2026-01-01T00:00:00Z", "deadline": "2026-01-01T00:05:00Z", "saga": null}'
    )
    await _as_version_6(store, request)
    async with open_store(store_url, "loans") as store:
        assert SCHEMA_VERSION >= 9
        assert isinstance(store, SqliteStore | PostgresStore)
        assert await store.schema_version() == SCHEMA_VERSION
        deadline = 1767225900.0  # 2026-01-01T00:05:00Z
        assert await store.due(REQUEST_KIND, deadline - 1, 10) == []
        found = await store.due(REQUEST_KIND, deadline, 10)
        assert [(due.id, due.due_at) for due in found] == [("cmd-old", deadline)]


async def _fill(store: Store) -> None:
    """OUTSTANDING requests, DUE of them due by NOW and the rest later, plus as many other records."""
    for base in range(0, OUTSTANDING, 10_000):
        writes = [
            AggregateWrite(REQUEST_KIND, f"r-{i:06}", 0, 1, "{}", (NOW - i) if i < DUE else NOW + i)
            for i in range(base, base + 10_000)
        ]
        writes += [AggregateWrite("~reply", f"p-{i:06}", 0, 1, "{}") for i in range(base, base + 10_000)]
        await store.commit([ChangeSet(writes=writes)])


async def test_due_is_an_index_range_on_sqlite_with_100k_outstanding(tmp_path: Path) -> None:
    """SQLite plans Store.due as a search of the (kind, due_at) index in its order, with no scan and no sort."""
    async with SqliteStore(f"sqlite:///{tmp_path}/due.db", domain="loans") as store:
        await _fill(store)
        with sqlite3.connect(store.path) as db:
            db.execute("ANALYZE")
            statement = store.due_statement(REQUEST_KIND, NOW, 200)
            sql = str(statement.compile(dialect=sqlite_dialect(), compile_kwargs={"literal_binds": True}))
            plan = " | ".join(row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}"))
        db.close()
        assert f"SEARCH interlink_aggregates USING INDEX {INDEX} (kind=? AND due_at<?)" in plan, plan
        assert "SCAN" not in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        found = await store.due(REQUEST_KIND, NOW, 200)
        assert [due.id for due in found] == [f"r-{i:06}" for i in reversed(range(DUE))]


@pytest.fixture
async def postgres_store() -> AsyncIterator[PostgresStore]:
    """A PostgreSQL store in a fresh schema, dropped afterwards."""
    url = f"{require('postgres').url}?schema={fresh_name('due')}"
    store = PostgresStore(url, domain="loans")
    try:
        async with store:
            yield store
    finally:
        engine = _engine()
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{store.schema}" CASCADE'))
        await engine.dispose()


async def test_due_is_an_index_scan_on_postgres_with_100k_outstanding(postgres_store: PostgresStore) -> None:
    """PostgreSQL runs Store.due, as a generic prepared plan too, as an index scan of (kind, due_at) under a Limit."""
    store = postgres_store
    await _fill(store)
    statement = store.due_statement(REQUEST_KIND, NOW, 200)
    compiled = statement.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
    engine = _engine()
    async with engine.begin() as conn:
        await conn.execute(text(f'ANALYZE "{store.schema}".interlink_aggregates'))
        await conn.execute(text(f'SET LOCAL search_path = "{store.schema}"'))
        # The statement as the driver sends it; forced to a generic plan, as a cached prepared statement ends up.
        await conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        await conn.exec_driver_sql(f"PREPARE due_probe AS {compiled}")
        for now in (NOW, NOW + OUTSTANDING):  # a few due, or every one of them due
            rows = await conn.exec_driver_sql(f"EXPLAIN EXECUTE due_probe('{REQUEST_KIND}', {now}, 200)")
            plan = " | ".join(r[0] for r in rows)
            assert f"Index Scan using {INDEX} on interlink_aggregates" in plan, plan
            assert "Limit" in plan, plan
            assert "Sort" not in plan, plan
            assert "Seq Scan" not in plan, plan
        await conn.exec_driver_sql("DEALLOCATE due_probe")
    await engine.dispose()
    found = await store.due(REQUEST_KIND, NOW, 200)
    assert [due.id for due in found] == [f"r-{i:06}" for i in reversed(range(DUE))]
