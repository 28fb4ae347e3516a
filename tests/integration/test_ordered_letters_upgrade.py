"""Schema version 11 on every SQL store: a version 9 store is upgraded with the ordering key of dead letters
and its index, its old letters still readable (no key), and new letters queue by key."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from interlink.adapters.stores.postgres import PostgresStore
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.ports.store import HELD, RELEASED, SCHEMA_VERSION, ChangeSet, DeadLetter, Store
from interlink.runtime.backends import open_store
from tests.support.services import require

OLD_ROW = (
    "INSERT INTO {table} (subscription, message_id, message_type, body, error, attempts, failed_at, error_class) "
    "VALUES ('ledger', 'old-1', 'accounts.Posted', {body}, 'RuntimeError: parked long ago', 5, 0, 'poison')"
)
DOWNGRADE = (
    "DROP INDEX {index}",
    "ALTER TABLE {table} DROP COLUMN ordering_key",
)


async def _as_version_9_with_an_old_letter(store: Store) -> None:
    """Drop what version 11 added, record version 9 and park a letter as the previous release did."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as db:
            for statement in DOWNGRADE:
                db.execute(
                    statement.format(index="ix_interlink_dead_letters_ordering_key", table="interlink_dead_letters")
                )
            db.execute(OLD_ROW.format(table="interlink_dead_letters", body="X'7b7d'"))
            db.execute("UPDATE interlink_meta SET value = '9' WHERE key = 'schema'")
        db.close()
        return
    assert isinstance(store, PostgresStore)
    engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
    table = f'"{store.schema}".interlink_dead_letters'
    async with engine.begin() as conn:
        for statement in DOWNGRADE:
            index = f'"{store.schema}".ix_interlink_dead_letters_ordering_key'
            await conn.execute(text(statement.format(index=index, table=table)))
        await conn.execute(text(OLD_ROW.format(table=table, body="'\\x7b7d'::bytea")))
        await conn.execute(text(f"UPDATE \"{store.schema}\".interlink_meta SET value = '9' WHERE key = 'schema'"))
    await engine.dispose()


async def test_a_version_9_store_is_upgraded_and_queues_new_letters_by_key(store_url: str) -> None:
    """After the upgrade the old letter reads with no key; new keyed letters queue and release in order."""
    assert SCHEMA_VERSION >= 11
    async with open_store(store_url, "ledger") as store:
        pass
    await _as_version_9_with_an_old_letter(store)
    async with open_store(store_url, "ledger") as store:
        assert isinstance(store, SqliteStore | PostgresStore)
        assert await store.schema_version() == SCHEMA_VERSION
        (old,) = await store.dead_letters()
        assert (old.message_id, old.ordering_key) == ("old-1", None)
        base = DeadLetter("ledger", "new-1", "accounts.Posted", b"{}", "e", 1, datetime.now(UTC), error_class="poison")
        queue = [replace(base, ordering_key="accounts/A"), replace(base, message_id="new-2", ordering_key="accounts/A")]
        queue[1] = replace(queue[1], error_class=HELD, attempts=0)
        await store.commit([ChangeSet(dead_letters=queue)])
        assert await store.parked_keys("ledger", ["accounts/A", "accounts/B"]) == {"accounts/A"}
        first, second = await store.letters_of_key("ledger", "accounts/A")
        assert first.id is not None
        await store.commit([ChangeSet(resolved_dead_letters=[first.id])])
        assert [(d.message_id, d.error_class) for d in await store.dead_letters()] == [
            ("old-1", "poison"),
            ("new-2", RELEASED),
        ]
        assert second.message_id == "new-2"
