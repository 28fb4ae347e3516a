"""Every statement the SQL stores run on the hot path (aggregate get and put, outbox claim and removal, inbox
lookup, idempotency keys, parking, held aggregates) reads its table through an index, with 20,000 rows in each table; on
PostgreSQL whether planned for its parameters or as the generic plan a prepared statement falls back to."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import event

from interlink.adapters.stores.postgres import PostgresStore
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import AggregateWrite, ChangeSet, DeadLetter, IdempotencyRecord, InboxMark
from tests.support.services import fresh_name, require

ROWS = 20_000


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    """A fresh schema name, dropped afterwards."""
    name = fresh_name("hp")
    yield name
    conn = await asyncpg.connect(require("postgres").url)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    await conn.close()


def _literal(value: Any) -> str:
    """A parameter value as a SQL literal, for EXECUTE of a prepared statement."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, bytes):
        return f"'\\x{value.hex()}'::bytea"
    if isinstance(value, list):
        inner = ",".join(
            "NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in value
        )
        return "'{" + inner.replace("'", "''") + "}'"
    return "'" + str(value).replace("'", "''") + "'"


async def _fill_records(store: PostgresStore | SqliteStore) -> None:
    """ROWS aggregates, inbox marks and pending outbox rows, committed as the store commits them."""
    for base in range(0, ROWS, 5_000):
        span = range(base, base + 5_000)
        await store.commit(
            [
                ChangeSet(
                    writes=[AggregateWrite("A", f"a{n}", 0, 1, json.dumps({"n": n})) for n in span],
                    inbox=[InboxMark("sub", f"m{n}") for n in span],
                    outbox=[OutgoingMessage(f"o{n}", "c.events", "c.Happened", b"{}", f"k{n}") for n in span],
                )
            ]
        )


async def _fill(store: PostgresStore) -> None:
    await _fill_records(store)
    conn = await asyncpg.connect(require("postgres").url)
    try:
        s = store.schema
        await conn.execute(
            f'INSERT INTO "{s}".interlink_idempotency (key, fingerprint, state, created_at) '
            "SELECT 'key-' || n, 'f', 'done', 0 FROM generate_series(1, $1) AS n",
            ROWS,
        )
        await conn.execute(
            f'INSERT INTO "{s}".interlink_dead_letters (subscription, message_id, message_type, body, error, attempts, '
            "failed_at) SELECT 'sub', 'dead-' || n, 't', '\\x00', 'e', 1, 0 FROM generate_series(1, $1) AS n",
            ROWS,
        )
    finally:
        await conn.close()


async def _hot_path(store: PostgresStore | SqliteStore) -> None:
    """One of each hot-path operation."""
    await store.load("A", "a5")
    await store.seen("sub", ["m1", "m2", "x"])
    await store.commit(
        [ChangeSet(writes=[AggregateWrite("A", "a5", 1, 2, '{"n": 5}'), AggregateWrite("A", "a6", 1, 0, None)])]
    )

    async def publish(messages: list[OutgoingMessage]) -> None:
        assert messages

    await store.relay_batch(100, publish)
    await store.mark_sent([ROWS * 2])
    assert await store.claim_idempotency("key-new", "f", lease=30) is None
    await store.renew_idempotency("key-new", "f")
    record = IdempotencyRecord("key-new", "f", "done", time.time(), 200, "{}")
    letter = DeadLetter("sub", "dead-7", "t", b"{}", "e", 2, datetime.now(UTC))
    await store.commit([ChangeSet(idempotency=record, dead_letters=[letter])])
    await store.release_idempotency("key-other")
    # Order-preserving dead letters: is an aggregate held (once per batch), park behind it, its queue.
    held = DeadLetter("sub", "held-1", "t", b"{}", "e", 0, datetime.now(UTC), error_class="held", ordering_key="k1")
    await store.commit([ChangeSet(dead_letters=[held])])
    assert await store.parked_keys("sub", ["k1", "k2"]) == {"k1"}
    assert len(await store.letters_of_key("sub", "k1", 1)) == 1


def _logging(open_: Any, log: Any) -> Any:
    """A connection opener whose connections report their statements to ``log``."""

    async def opened() -> Any:
        conn = await open_()
        conn.add_query_logger(log)
        return conn

    return opened


@pytest.mark.parametrize("statistics", ["analyzed", "taken-when-empty"])
async def test_hot_path_statements_are_index_lookups(schema: str, statistics: str) -> None:
    """No hot-path statement scans a table of 20,000 rows, planned custom (fresh statistics) or generic (statistics
    taken while the tables were empty, the state a young store's cached plans were made in)."""
    url = f"{require('postgres').url}?schema={schema}"
    async with PostgresStore(url, domain="d") as store:
        raw = await asyncpg.connect(require("postgres").url)
        try:
            if statistics == "taken-when-empty":
                await raw.execute(f'SET search_path = "{schema}"; ANALYZE')
            await _fill(store)
            if statistics == "analyzed":
                await raw.execute(f'SET search_path = "{schema}"; ANALYZE')
            seen: list[tuple[str, Any]] = []

            def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
                # pg_* calls alone (a notify, a lock) read no table; the outbox claim tries its lock inline.
                alone = "pg_" in statement and "interlink_" not in statement
                if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")) and not alone:
                    seen.append((statement, parameters[0] if many and parameters else parameters))

            def log(query: Any) -> None:  # the statements of the asyncpg hot path (postgres_hot)
                capture(None, None, query.query, query.args, None, False)

            assert store._writer is not None
            assert store._hot is not None
            event.listen(store._writer.sync_engine, "before_cursor_execute", capture)
            for pool in (store._hot._committer, store._hot._relayer, store._hot._readers):
                for conn in pool._idle:
                    conn.add_query_logger(log)
                pool._open = _logging(pool._open, log)
            await _hot_path(store)
            event.remove(store._writer.sync_engine, "before_cursor_execute", capture)
            mode = "force_custom_plan" if statistics == "analyzed" else "force_generic_plan"
            await raw.execute(f"SET plan_cache_mode = {mode}")
            scans = []
            for n, (statement, parameters) in enumerate(seen):
                await raw.execute(f"PREPARE hot{n} AS {statement}")
                args = ", ".join(_literal(v) for v in parameters or ())
                plan = "\n".join(
                    r[0] for r in await raw.fetch(f"EXPLAIN EXECUTE hot{n}" + (f"({args})" if args else ""))
                )
                if "Seq Scan" in plan:
                    scans.append(f"{statement}\n{plan}")
        finally:
            await raw.close()
    assert len(seen) >= 9, seen
    assert any("unnest($1::text[])" in statement for statement, _ in seen), "the asyncpg hot path is checked too"
    assert any("FOR UPDATE SKIP LOCKED" in statement for statement, _ in seen), "the outbox claim is checked"
    assert not scans, "\n\n".join(scans)


async def test_hot_path_statements_are_index_lookups_on_sqlite(tmp_path: Path) -> None:
    """On SQLite (analyzed, 20,000 rows in each table) no hot-path statement scans a table."""
    path = tmp_path / "hot.db"
    async with SqliteStore(f"sqlite:///{path}", domain="d") as store:
        await _fill_records(store)
        with sqlite3.connect(path) as db:
            db.executemany(
                "INSERT INTO interlink_idempotency (key, fingerprint, state, created_at) VALUES (?, 'f', 'done', 0)",
                [(f"key-{n}",) for n in range(ROWS)],
            )
            db.executemany(
                "INSERT INTO interlink_dead_letters (subscription, message_id, message_type, body, error, attempts, "
                "failed_at) VALUES ('sub', ?, 't', x'00', 'e', 1, 0)",
                [(f"dead-{n}",) for n in range(ROWS)],
            )
            db.execute("ANALYZE")
        seen: list[tuple[str, Sequence[Any]]] = []

        def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
            if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
                seen.append((statement, parameters[0] if many and parameters else parameters))

        fetch = store._fetch

        async def fetch_and_capture(sql: str, params: Sequence[Any]) -> list[Any]:
            seen.append((sql, params))
            return await fetch(sql, params)

        store._fetch = fetch_and_capture  # type: ignore[method-assign]
        engines = [e.sync_engine for e in (store._writer, store._reader) if e is not None]
        for engine in engines:
            event.listen(engine, "before_cursor_execute", capture)
        await _hot_path(store)
        for engine in engines:
            event.remove(engine, "before_cursor_execute", capture)
    scans = []
    with sqlite3.connect(path) as db:
        for statement, parameters in seen:
            plan = " | ".join(r[-1] for r in db.execute(f"EXPLAIN QUERY PLAN {statement}", tuple(parameters or ())))
            # The outbox in rowid (seq) order, stopping at LIMIT, is no scan of the table; a sort would be.
            walk = statement.endswith("ORDER BY seq LIMIT ?") and plan == "SCAN interlink_outbox"
            if "SCAN interlink_" in plan and not walk:
                scans.append(f"{statement}\n{plan}")
    assert len(seen) >= 9, seen
    assert not scans, "\n\n".join(scans)
