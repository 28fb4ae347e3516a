"""Schema version 5 on every SQL store: the error class of a dead letter, and a version 4 store upgraded with
its old letters still readable."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from interlink.adapters.stores.postgres import PostgresStore
from interlink.adapters.stores.sqlite import SqliteStore
from interlink.ports.store import SCHEMA_VERSION, ChangeSet, DeadLetter, Store
from interlink.runtime.backends import open_store
from tests.support.services import require

OLD_ROW = (
    "INSERT INTO {table} (subscription, message_id, message_type, body, error, attempts, failed_at) "
    "VALUES ('loans', 'old-1', 'customer.CustomerChanged', {body}, 'RuntimeError: parked long ago', 5, 0)"
)


def letter(message_id: str, error_class: str) -> DeadLetter:
    return DeadLetter(
        "loans", message_id, "customer.CustomerChanged", b"{}", "SourceUnavailable: source unavailable", 7,
        datetime(2026, 1, 1, tzinfo=UTC), error_class=error_class,
    )  # fmt: skip


async def _as_version_4_with_an_old_letter(store: Store) -> None:
    """Drop the column version 5 added, record version 4 and park a letter as the previous release did."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as db:
            db.execute("ALTER TABLE interlink_dead_letters DROP COLUMN error_class")
            db.execute(OLD_ROW.format(table="interlink_dead_letters", body="X'7b7d'"))
            db.execute("UPDATE interlink_meta SET value = '4' WHERE key = 'schema'")
        db.close()
        return
    assert isinstance(store, PostgresStore)
    engine = create_async_engine(require("postgres").url.replace("postgresql://", "postgresql+asyncpg://"))
    table = f'"{store.schema}".interlink_dead_letters'
    async with engine.begin() as conn:
        await conn.execute(text(f"ALTER TABLE {table} DROP COLUMN error_class"))
        await conn.execute(text(OLD_ROW.format(table=table, body="'\\x7b7d'::bytea")))
        await conn.execute(text(f"UPDATE \"{store.schema}\".interlink_meta SET value = '4' WHERE key = 'schema'"))
    await engine.dispose()


async def test_a_version_4_store_is_upgraded_and_keeps_its_old_letters_readable(store_url: str) -> None:
    """After the upgrade an old letter reads with no class; new letters keep theirs and can be listed by it."""
    assert SCHEMA_VERSION >= 5
    async with open_store(store_url, "loans") as store:
        pass
    await _as_version_4_with_an_old_letter(store)
    async with open_store(store_url, "loans") as store:
        assert isinstance(store, SqliteStore | PostgresStore)
        assert await store.schema_version() == SCHEMA_VERSION
        (old,) = await store.dead_letters()
        assert (old.message_id, old.error_class, old.attempts) == ("old-1", None, 5)
        await store.commit([ChangeSet(dead_letters=[letter("new-1", "transient"), letter("new-2", "poison")])])
        assert [d.message_id for d in await store.dead_letters(error_class="transient")] == ["new-1"]
        assert [d.message_id for d in await store.dead_letters("loans", error_class="poison")] == ["new-2"]
        assert [d.error_class for d in await store.dead_letters()] == [None, "transient", "poison"]
        # Parked again (a crash before the ack, or a redrive that failed otherwise): one row, its new class.
        await store.commit([ChangeSet(dead_letters=[letter("new-1", "permanent")])])
        assert [d.error_class for d in await store.dead_letters()] == [None, "permanent", "poison"]
