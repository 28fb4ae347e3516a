"""The PostgreSQL store: the store contract, plus what only a server database has to get right."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from interlink.adapters.stores.postgres import PostgresStore
from interlink.exceptions import ConcurrencyError, ConfigurationError, DuplicateMessage, StoreUnavailable
from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import SCHEMA_VERSION, AggregateWrite, ChangeSet, InboxMark
from interlink.testing.contracts.store import StoreContract
from interlink.testing.waiting import wait_until
from tests.support.services import fresh_name, require


def _url(schema: str) -> str:
    return f"{require('postgres').url}?schema={schema}"


async def _drop(schema: str) -> None:
    engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    """A fresh schema name, dropped afterwards."""
    name = fresh_name("it")
    yield name
    await _drop(name)


class TestPostgresStoreContract(StoreContract):
    """Every store guarantee, on PostgreSQL."""

    @pytest.fixture
    async def store(self, schema: str) -> AsyncIterator[PostgresStore]:
        async with PostgresStore(_url(schema), domain="test-domain") as store:
            yield store


def _message(n: int) -> OutgoingMessage:
    return OutgoingMessage(f"m{n}", "c.events", "c.Happened", f"{n}".encode(), f"k{n % 7}")


async def test_schema_per_domain_and_version(schema: str) -> None:
    """Each domain gets its own schema; the schema version is recorded."""
    async with PostgresStore(_url(schema + "_{domain}"), domain="loan-request") as store:
        assert store.schema == f"{schema}_loan_request"
        assert await store.schema_version() == SCHEMA_VERSION
    await _drop(f"{schema}_loan_request")


async def test_upgrade_from_version_1(schema: str) -> None:
    """A schema left at version 1 is upgraded on connect: the inbox age index appears, the version moves."""
    async with PostgresStore(_url(schema), domain="d"):
        pass
    engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP INDEX "{schema}".ix_interlink_inbox_processed_at'))
        await conn.execute(text(f"UPDATE \"{schema}\".interlink_meta SET value = '1' WHERE key = 'schema'"))
    async with PostgresStore(_url(schema), domain="d") as store:
        assert await store.schema_version() == SCHEMA_VERSION
    async with engine.begin() as conn:
        found = await conn.execute(
            text("SELECT 1 FROM pg_indexes WHERE schemaname = :s AND indexname = 'ix_interlink_inbox_processed_at'"),
            {"s": schema},
        )
        assert found.first() is not None
    await engine.dispose()


async def test_processes_starting_together_create_the_schema_once(schema: str) -> None:
    """Five stores connecting at once to a fresh schema all succeed (the advisory lock serialises them)."""
    stores = [PostgresStore(_url(schema), domain="d") for _ in range(5)]
    await asyncio.gather(*(s.connect() for s in stores))
    assert {await s.schema_version() for s in stores} == {SCHEMA_VERSION}
    await asyncio.gather(*(s.close() for s in stores))


async def test_concurrent_writers_conflict_instead_of_losing_an_update(schema: str) -> None:
    """Two processes updating one aggregate from the same version: one wins, the other gets ConcurrencyError."""
    async with PostgresStore(_url(schema), domain="d") as a, PostgresStore(_url(schema), domain="d") as b:
        await a.commit([ChangeSet(writes=[AggregateWrite("Account", "1", 0, 1, '{"balance": 0}')])])
        results = await asyncio.gather(
            a.commit([ChangeSet(writes=[AggregateWrite("Account", "1", 1, 2, '{"balance": 10}')])]),
            b.commit([ChangeSet(writes=[AggregateWrite("Account", "1", 1, 2, '{"balance": 20}')])]),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["ConcurrencyError", "NoneType"]
        stored = await a.load("Account", "1")
        assert stored is not None
        assert stored.version == 2


async def test_two_relays_never_publish_a_row_twice_nor_skip_one(schema: str) -> None:
    """Two relays draining one outbox concurrently publish each of 2,000 rows exactly once, in seq order each."""
    async with PostgresStore(_url(schema), domain="d") as a, PostgresStore(_url(schema), domain="d") as b:
        for start in range(0, 2000, 250):
            await a.commit([ChangeSet(outbox=[_message(n) for n in range(start, start + 250)])])
        published: list[str] = []

        async def publish(messages: list[OutgoingMessage]) -> None:
            await asyncio.sleep(0.01)  # a broker round trip, so the two relays overlap
            published.extend(m.message_id for m in messages)

        async def drain(store: PostgresStore) -> None:
            while (await store.outbox_status()).pending:
                await store.relay_batch(100, publish)

        await asyncio.gather(drain(a), drain(b))
        assert sorted(published) == sorted(f"m{n}" for n in range(2000))
        assert published == [f"m{n}" for n in range(2000)], "one relay at a time keeps commit order"


async def test_relay_wakes_on_notify(schema: str) -> None:
    """A commit with outbox rows in one process wakes the relay watching in another (LISTEN/NOTIFY)."""
    async with PostgresStore(_url(schema), domain="d") as a, PostgresStore(_url(schema), domain="d") as b:
        woken = asyncio.Event()
        await b.watch_outbox(woken.set)
        await a.commit([ChangeSet(outbox=[_message(1)])])
        await asyncio.wait_for(woken.wait(), timeout=10)


async def test_killed_listen_connection_is_opened_again(schema: str) -> None:
    """pg_terminate_backend on the LISTEN connection: the watch comes back and commits wake the relay again."""
    async with PostgresStore(_url(schema), domain="d") as a, PostgresStore(_url(schema), domain="d") as b:
        woken = asyncio.Event()
        await b.watch_outbox(woken.set)
        first = b._listener
        engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first.get_server_pid()})
        await engine.dispose()
        await wait_until(lambda: b._listener not in (None, first), timeout=10, what="a new LISTEN connection")
        woken.clear()
        await a.commit([ChangeSet(outbox=[_message(2)])])
        await asyncio.wait_for(woken.wait(), timeout=10)


async def test_terminated_backend_is_a_transient_error_then_recovers(schema: str) -> None:
    """pg_terminate_backend on the store's connections: StoreUnavailable at most, then the store works again."""
    async with PostgresStore(_url(schema), domain="d") as store:
        await store.commit([ChangeSet(writes=[AggregateWrite("A", "1", 0, 1, "{}")])])
        engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
        async with engine.begin() as conn:
            killed = await conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :a"),
                {"a": store.application_name},
            )
            assert killed.all(), "the store had no connection to kill"
        await engine.dispose()
        for _ in range(3):  # pre-ping replaces dead pooled connections; at worst one call fails transiently
            try:
                stored = await store.load("A", "1")
                break
            except StoreUnavailable:
                continue
        assert stored is not None
        assert stored.version == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://h/db?schema=Bad-Name!", "lowercase SQL identifier"),
        ("postgresql://h/db?sslmode=sometimes", "sslmode must be one of"),
        ("postgresql://h/db?pool_size=many", "pool_size"),
        ("postgresql://u:hunter2@h/db?colour=blue", "unknown option"),
    ],
)
def test_bad_urls_are_named(url: str, expected: str) -> None:
    """A bad option is a ConfigurationError naming it, and never shows the password."""
    with pytest.raises(ConfigurationError, match=expected) as caught:
        PostgresStore(url, domain="d")
    assert "hunter2" not in str(caught.value)


def test_password_is_never_shown() -> None:
    """repr and the redacted URL hide the password."""
    store = PostgresStore("postgresql://u:hunter2@h/db", domain="d")
    assert "hunter2" not in repr(store)
    assert "hunter2" not in store.redacted_url


async def test_unreachable_server_is_store_unavailable() -> None:
    """Nothing listening: connect raises StoreUnavailable naming the server, without the password."""
    store = PostgresStore("postgresql://u:hunter2@127.0.0.1:1/db", domain="d")
    with pytest.raises(StoreUnavailable) as caught:
        await store.connect()
    assert "hunter2" not in str(caught.value)


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _plan_nodes(child))]


@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
async def test_inbox_lookup_stays_an_index_probe_as_the_inbox_grows(schema: str, plan_cache_mode: str) -> None:
    """With 20,000 marks and no statistics yet, the inbox lookup probes the primary key per id, never scans marks."""
    async with PostgresStore(_url(schema), domain="d") as store:
        for start in range(0, 20_000, 5_000):
            marks = [InboxMark("sub", f"m{n}") for n in range(start, start + 5_000)]
            await store.commit([ChangeSet(inbox=marks)])
        ids = [f"m{n}" for n in range(0, 400, 2)]
        for _ in range(10):  # past the five runs after which a prepared statement may go generic
            assert await store.seen("sub", ids) == set(ids)
        probe = store.inbox_probe()
        explain = text(f"EXPLAIN (FORMAT JSON) {probe.text}").bindparams(*probe._bindparams.values())
        async with store._read() as conn:
            await conn.execute(text(f"SET plan_cache_mode = {plan_cache_mode}"))
            plan = (await conn.execute(explain, {"ids": ids, "subscription": "sub"})).scalar_one()[0]["Plan"]
            await conn.execute(text("RESET plan_cache_mode"))
    on_inbox = [n for n in _plan_nodes(plan) if n.get("Relation Name") == "interlink_inbox"]
    assert [n["Node Type"] for n in on_inbox] == ["Index Only Scan"], plan
    assert "message_id = m.id" in on_inbox[0]["Index Cond"], on_inbox[0]


def test_a_connection_closed_mid_operation_is_store_unavailable() -> None:
    """An error whose driver error underneath (as cause or context) says the connection went away, with no
    SQLSTATE of its own, is a transient StoreUnavailable: start-up and consumers wait instead of exiting."""
    import asyncpg  # type: ignore[import-untyped]

    driver = asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    adapted = RuntimeError("connection was closed in the middle of operation")
    adapted.__context__ = driver
    store = PostgresStore("postgresql://postgres@127.0.0.1:5432/test", domain="loans")
    translated = store._translate(adapted)
    assert isinstance(translated, StoreUnavailable), translated
    assert "connection lost" in str(translated)


async def test_a_group_in_one_statement_commits_all_of_it_or_nothing(schema: str) -> None:
    """A group of creates, inbox marks and outbox rows goes as one statement: a duplicate mark or an existing
    aggregate fails it whole (DuplicateMessage, ConcurrencyError), nothing of it stays; else all commits."""
    async with PostgresStore(_url(schema), domain="d") as store:
        await store.commit([ChangeSet(writes=[AggregateWrite("Order", "1", 0, 1, "{}")], inbox=[InboxMark("s", "m1")])])
        group = ChangeSet(
            writes=[AggregateWrite("Order", "2", 0, 1, "{}")], inbox=[InboxMark("s", "m1")], outbox=[_message(1)]
        )
        with pytest.raises(DuplicateMessage):
            await store.commit([group])
        existing = ChangeSet(writes=[AggregateWrite("Order", "1", 0, 1, "{}")], inbox=[InboxMark("s", "m2")])
        with pytest.raises(ConcurrencyError):
            await store.commit([existing])
        assert await store.load("Order", "2") is None
        assert await store.seen("s", ["m1", "m2"]) == {"m1"}
        assert (await store.outbox_status()).pending == 0
        await store.commit(
            [
                ChangeSet(
                    writes=[AggregateWrite("Order", "2", 0, 1, "{}")],
                    inbox=[InboxMark("s", "m2")],
                    outbox=[_message(2)],
                )
            ]
        )
        assert await store.load("Order", "2") is not None
        assert await store.seen("s", ["m1", "m2"]) == {"m1", "m2"}
        assert (await store.outbox_status()).pending == 1
