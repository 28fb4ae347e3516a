"""Schema version 4 on every SQL store: a store left at version 3 gets the inbound files table on connect."""

from __future__ import annotations

import sqlite3

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from interlink.adapters.stores.postgres import PostgresStore
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.ports.store import SCHEMA_VERSION, InboundFile
from interlink.runtime.backends import open_store
from tests.support.services import require


async def _downgrade_to_3(store: object) -> None:
    """Remove what version 4 added and record version 3, as a store written by the previous release."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as db:
            db.execute("DROP TABLE interlink_files")
            db.execute("UPDATE interlink_meta SET value = '3' WHERE key = 'schema'")
        db.close()
        return
    assert isinstance(store, PostgresStore)
    engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP TABLE "{store.schema}".interlink_files'))
        await conn.execute(text(f"UPDATE \"{store.schema}\".interlink_meta SET value = '3' WHERE key = 'schema'"))
    await engine.dispose()


async def test_a_version_3_store_is_upgraded_and_claims_files(store_url: str) -> None:
    """Connecting to a version 3 store upgrades it to 4; claims and their uniqueness work afterwards."""
    assert SCHEMA_VERSION >= 4
    async with open_store(store_url, "ledger") as store:
        pass
    await _downgrade_to_3(store)
    async with open_store(store_url, "ledger") as store:
        assert isinstance(store, SqliteStore | PostgresStore)
        assert await store.schema_version() == SCHEMA_VERSION
        first = await store.claim_file(InboundFile("f1", "entries", "a.csv", "abc", 3, "w1"), lease=60)
        copy = await store.claim_file(InboundFile("f2", "entries", "b.csv", "abc", 3, "w2"), lease=60)
        assert (first.file_id, copy.file_id, copy.owner) == ("f1", "f1", "w1")
