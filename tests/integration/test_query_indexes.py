"""Declared query fields on the SQL stores: a page of a list by an indexed field is an index range scan,
whatever the number of aggregates and however the statement's plan is cached; version 8 moves PostgreSQL's
aggregates to JSONB."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from interlink.adapters.stores.postgres import PostgresStore
from interlink.adapters.stores.sql_queries import query_index_name
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.ports.store import SCHEMA_VERSION, AggregateWrite, ChangeSet, Store
from tests.support.services import fresh_name, require

KIND = "LoanRequest"
ROWS = 5_000
CUSTOMERS = 100


def _url(schema: str) -> str:
    return f"{require('postgres').url}?schema={schema}"


def _engine() -> Any:
    return create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    """A fresh schema name, dropped afterwards."""
    name = fresh_name("qi")
    yield name
    engine = _engine()
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    await engine.dispose()


async def _fill(store: Store) -> None:
    """ROWS loan requests of CUSTOMERS customers, and as many aggregates of another kind with the same field."""
    for base in range(0, ROWS, 2_500):
        writes = []
        for n in range(base, base + 2_500):
            doc = {"id": f"L{n:06d}", "customer_id": f"C{n % CUSTOMERS:03d}", "status": "submitted"}
            writes.append(AggregateWrite(KIND, doc["id"], 0, 1, json.dumps(doc)))
            writes.append(AggregateWrite("Other", doc["id"], 0, 1, json.dumps(doc)))
        await store.commit([ChangeSet(writes=writes)])


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("after", [None, "L002000"])
async def test_a_page_by_an_indexed_field_is_an_index_scan_on_postgres(
    schema: str, plan_cache_mode: str, after: str | None
) -> None:
    """With 10,000 aggregates and the statement run past plan caching, a page is read through the field's index."""
    async with PostgresStore(_url(schema), domain="d") as store:
        await _fill(store)
        created = await store.ensure_query_indexes({KIND: ["customer_id", "status"]})
        assert len(created) == 2
        for _ in range(10):  # past the five runs after which a prepared statement may go generic
            page = await store.list_aggregates(KIND, where={"customer_id": "C007"}, after=after, limit=20)
            assert len(page) == 20
            assert [i for i, _ in page] == sorted(i for i, _ in page)
            assert all(i > (after or "") and json.loads(s.data)["customer_id"] == "C007" for i, s in page)
        statement, params = store.list_statement(KIND, {"customer_id": "C007"}, after=after, limit=21)
        async with store._read() as conn:
            await conn.execute(text(f"SET plan_cache_mode = {plan_cache_mode}"))
            explain = text(f"EXPLAIN (FORMAT JSON) {statement.text}")
            plan = (await conn.execute(explain, params)).scalar_one()[0]["Plan"]
            await conn.execute(text("RESET plan_cache_mode"))
    on_table = [n for n in _nodes(plan) if n.get("Relation Name") == "interlink_aggregates"]
    assert on_table, plan
    assert all(n["Node Type"] in ("Index Scan", "Bitmap Heap Scan") for n in on_table), plan
    indexes = {n.get("Index Name") for n in _nodes(plan) if "Index Name" in n}
    assert indexes == {query_index_name(KIND, "customer_id")}, plan
    assert not any(n["Node Type"] in ("Seq Scan", "Sort") for n in _nodes(plan)), plan


async def test_a_page_by_an_indexed_field_is_an_index_scan_on_sqlite(tmp_path: Path) -> None:
    """On SQLite the page is a search of the field's index (in id order, no sort), never a scan of the table."""
    url = f"sqlite:///{tmp_path}/q.db"
    async with SqliteStore(url, domain="d") as store:
        await _fill(store)
        assert len(await store.ensure_query_indexes({KIND: ["customer_id"]})) == 1
        await store._fetch("ANALYZE", ())
    # Opened again, as a process starts: a connection opened before the index was created plans EXPLAIN with
    # the schema it read first (a statement that runs sees the new schema and is prepared again).
    async with SqliteStore(url, domain="d") as store:
        for after in (None, "L002000"):
            statement, params = store.list_statement(KIND, {"customer_id": "C007"}, after=after, limit=21)
            async with store._read() as conn:
                rows = (await conn.execute(text(f"EXPLAIN QUERY PLAN {statement.text}"), params)).all()
            detail = " | ".join(r[-1] for r in rows)
            assert f"USING INDEX {query_index_name(KIND, 'customer_id')}" in detail, detail
            assert "SCAN interlink_aggregates" not in detail, detail
            assert "TEMP B-TREE" not in detail, detail  # no sort: the index gives id order
            page = await store.list_aggregates(KIND, where={"customer_id": "C007"}, after=after, limit=20)
            assert len(page) == 20


async def test_a_list_by_an_undeclared_field_still_answers_on_the_store(tmp_path: Path) -> None:
    """The store itself lists by any field (the framework's own lists); only ctx.list refuses undeclared ones."""
    async with SqliteStore(f"sqlite:///{tmp_path}/q.db", domain="d") as store:
        await _fill(store)
        page = await store.list_aggregates(KIND, where={"status": "submitted"}, after=None, limit=5)
        assert len(page) == 5


async def _as_version_6(schema: str, rows: list[tuple[str, str]]) -> None:
    """Turn a fresh schema back into what release 6 left: aggregates as TEXT, these rows in it, version 6."""
    engine = _engine()
    async with engine.begin() as conn:
        table = f'"{schema}".interlink_aggregates'
        await conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN data TYPE text USING data\\:\\:text"))
        for id, data in rows:
            await conn.execute(
                text(f"INSERT INTO {table} (kind, id, version, data, updated_at) VALUES ('{KIND}', :i, 1, :d, 0)"),
                {"i": id, "d": data},
            )
        await conn.execute(text(f"UPDATE \"{schema}\".interlink_meta SET value = '6' WHERE key = 'schema'"))
    await engine.dispose()


async def test_version_6_aggregates_become_jsonb(schema: str) -> None:
    """A version 6 schema moves to JSONB on connect (U+0000 becomes U+FFFD) and reads back the same data."""
    async with PostgresStore(_url(schema), domain="d"):
        pass
    nul = json.dumps({"id": "L2", "customer_id": "C1", "note": "a\x00b"})
    await _as_version_6(schema, [("L1", json.dumps({"id": "L1", "customer_id": "C1"})), ("L2", nul)])
    async with PostgresStore(_url(schema), domain="d") as store:
        assert await store.schema_version() == SCHEMA_VERSION
        await store.ensure_query_indexes({KIND: ["customer_id"]})
        page = await store.list_aggregates(KIND, where={"customer_id": "C1"}, after=None, limit=10)
        assert [json.loads(s.data) for _, s in page] == [
            {"id": "L1", "customer_id": "C1"},
            {"id": "L2", "customer_id": "C1", "note": "a\ufffdb"},
        ]
    engine = _engine()
    async with engine.connect() as conn:
        kind = await conn.execute(
            text(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = :s "
                "AND table_name = 'interlink_aggregates' AND column_name = 'data'"
            ),
            {"s": schema},
        )
        assert kind.scalar_one() == "jsonb"
    await engine.dispose()


async def test_a_document_with_u0000_is_stored_with_ufffd_on_postgres(schema: str) -> None:
    """JSONB cannot hold U+0000: a write carrying it stores U+FFFD instead of failing; an escaped backslash stays."""
    async with PostgresStore(_url(schema), domain="d") as store:
        docs = {"N": {"s": "a\x00b\x00"}, "B": {"s": "\\u0000 is text"}}
        await store.commit([ChangeSet(writes=[AggregateWrite(KIND, k, 0, 1, json.dumps(v)) for k, v in docs.items()])])
        stored = {k: await store.load(KIND, k) for k in docs}
    assert json.loads(stored["N"].data) == {"s": "a\ufffdb\ufffd"}  # type: ignore[union-attr]
    assert json.loads(stored["B"].data) == {"s": "\\u0000 is text"}  # type: ignore[union-attr]
