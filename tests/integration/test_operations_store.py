"""Schema version 12 on every SQL store: a version 11 store gains the dead letters' traceback and top frame and
the audit table, keeps its letters readable and still takes rows as the previous release writes them; and a
consumer parks a failing message with its traceback and top frame."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.postgres import PostgresStore
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.delivery.retry import RetryPolicy
from interlink.operations import Operations
from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import SCHEMA_VERSION, Store
from interlink.runtime import DomainRuntime, Settings
from interlink.runtime.backends import open_store
from interlink.testing.waiting import wait_until
from tests.support.operations_app import ledger, posted_envelope
from tests.support.services import require

# A dead letter as the previous release inserts it: without the columns of version 12.
OLD_INSERT = (
    "INSERT INTO {}interlink_dead_letters (subscription, message_id, message_type, body, error, attempts, failed_at, "
    "error_class) VALUES ('ledger', 'm-old', 'ops-bank.Posted', {}, 'ValueError: x', 1, 0, 'poison')"
)


async def _as_version_11(store: Store) -> None:
    """Drop what version 12 added, record version 11, and park one letter as the previous release did."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as db:
            db.execute("DROP TABLE interlink_audit")
            db.execute("ALTER TABLE interlink_dead_letters DROP COLUMN traceback")
            db.execute("ALTER TABLE interlink_dead_letters DROP COLUMN top_frame")
            db.execute("UPDATE interlink_meta SET value = '11' WHERE key = 'schema'")
            db.execute(OLD_INSERT.format("", "X'7B7D'"))
        db.close()
        return
    assert isinstance(store, PostgresStore)
    engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
    prefix = f'"{store.schema}".'
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE {prefix}interlink_audit"))
        await conn.execute(text(f"ALTER TABLE {prefix}interlink_dead_letters DROP COLUMN traceback"))
        await conn.execute(text(f"ALTER TABLE {prefix}interlink_dead_letters DROP COLUMN top_frame"))
        await conn.execute(text(f"UPDATE {prefix}interlink_meta SET value = '11' WHERE key = 'schema'"))
        await conn.execute(text(OLD_INSERT.format(prefix, "decode('7b7d', 'hex')")))
    await engine.dispose()


async def test_a_version_11_store_is_upgraded_and_its_letters_stay_readable_and_discardable(store_url: str) -> None:
    """Version 11 -> 12: the old letter reads with no traceback, groups, and is discarded with an audit entry."""
    async with open_store(store_url, ledger.name) as store:
        pass
    await _as_version_11(store)
    async with open_store(store_url, ledger.name) as store:
        assert isinstance(store, SqliteStore | PostgresStore)
        assert await store.schema_version() == SCHEMA_VERSION >= 12
        (letter,) = await store.dead_letters()
        assert (letter.message_id, letter.traceback, letter.top_frame) == ("m-old", None, None)
        ops = Operations(ledger, store)
        (group,) = await ops.dead_letter_groups()
        assert group.top_frame is None
        assert group.error_name == "ValueError"
        assert await ops.discard([letter.id or 0], actor="ops", reason="upgrade check") == 1
        assert [e.action for e in await ops.audit()] == ["dead_letter.discard"]


async def test_the_previous_release_still_parks_on_a_version_12_store(store_url: str) -> None:
    """An insert naming only the version 11 columns works on version 12 (the new columns are nullable)."""
    async with open_store(store_url, ledger.name) as store:
        if isinstance(store, SqliteStore):
            with sqlite3.connect(store.path) as db:
                db.execute(OLD_INSERT.format("", "X'7B7D'"))
            db.close()
        else:
            assert isinstance(store, PostgresStore)
            engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
            async with engine.begin() as conn:
                sql = OLD_INSERT.format(f'"{store.schema}".', "decode('7b7d', 'hex')")
                await conn.execute(text(sql))
            await engine.dispose()
        (letter,) = await store.dead_letters()
        assert letter.top_frame is None


async def test_a_consumer_parks_a_failing_message_with_its_traceback_and_top_frame(tmp_path: Path) -> None:
    """A poison posting goes through the real consumer: its letter names the frame that raised."""
    settings = Settings(retry=RetryPolicy(max_attempts=1, base_delay=0.01), fetch_wait=0.05, redrive_interval=None)
    async with MemoryBroker() as broker:
        runtime = DomainRuntime(
            ledger, open_store(f"sqlite:///{tmp_path}/{{domain}}.db", ledger.name), broker, settings
        )
        await runtime.start()
        try:
            envelope = posted_envelope("p", -5)
            message = OutgoingMessage(envelope.id, "ops-bank.events", envelope.type, envelope.encode(), None)
            await broker.publish([message])
            store = runtime.store
            (letter,) = await wait_until(lambda: store.dead_letters(), 10, what="the letter")
        finally:
            await runtime.stop()
    assert letter.top_frame == "operations_app.py:check_amount"
    assert letter.traceback is not None
    assert "negative amount -5" in letter.traceback
