"""Explicit migrations on every SQL store: ``interlink migrate`` (and its dry run), no DDL when nothing is
pending, ``migrate=never``, and the previous release running on a schema migrated past it (a rollback)."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import pytest
from sqlalchemy import Column, MetaData, String, Table, text, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import DropIndex
from typer.testing import CliRunner, Result

from interlink import Aggregate, Domain, Indexed
from interlink.adapters.stores import schema
from interlink.adapters.stores.migrations import MIGRATIONS, Ddl, Migration, compatible_from
from interlink.adapters.stores.sql import SqlStore
from interlink.adapters.stores.sql_queries import query_index_name
from interlink.cli.main import app
from interlink.core.indexed import declared_indexes
from interlink.exceptions import StoreError
from interlink.patterns.command_events.declarations import REQUEST_KIND
from interlink.ports.store import SCHEMA_VERSION, AggregateWrite, ChangeSet, InboxMark
from interlink.runtime import Runtime, Settings
from interlink.runtime.backends import open_store
from interlink.testing.waiting import wait_until
from tests.integration.test_due_store import _as_version_6
from tests.integration.test_end_to_end import change_order, order, shipping, versions_seen
from tests.integration.test_query_indexes import _as_version_6 as _as_text_version_6
from tests.support.run_options import run
from tests.support.services import fresh_name, require

DOMAIN = "loans"
NEXT = SCHEMA_VERSION + 1
# A table only the simulated next release knows (its own metadata: the real schema stays as it is).
_next_metadata = MetaData()
_next_table = Table("interlink_next_audit", _next_metadata, Column("id", String(40), primary_key=True))

#: A domain with a declared query field, whose index `interlink migrate MODULE` creates.
accounts = Domain("accounts")


@accounts.aggregate
class Account(Aggregate):
    """An account, listed by its owner."""

    owner: Annotated[str, Indexed()]


ACCOUNT_INDEX = query_index_name("Account", "owner")


def _sqlite_tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    db.close()
    return names


def _with(url: str, **options: str) -> str:
    return url + ("&" if "?" in url else "?") + "&".join(f"{k}={v}" for k, v in options.items())


def _sql_store(url: str, cls: type[SqlStore] | None = None) -> SqlStore:
    store = open_store(url, DOMAIN)
    assert isinstance(store, SqlStore)
    return store if cls is None else cls(store.url, domain=DOMAIN)


def _next_release(store: SqlStore, *, compatible: bool) -> type[SqlStore]:
    """The store class of a release one schema version ahead, whose migration adds a table."""
    return type(
        "NextRelease",
        (type(store),),
        {
            "code_version": NEXT,
            "migrations": {**MIGRATIONS, NEXT: Migration(lambda ddl: ddl.create_table(_next_table), compatible)},
        },
    )


async def _cli(*args: str) -> Result:
    # The command runs its own event loop: in a thread, beside the test's.
    return await asyncio.to_thread(CliRunner().invoke, app, list(args))


async def _migrate(store_url: str, *args: str) -> str:
    result = await _cli("migrate", "--store", store_url, "--domain", DOMAIN, *args)
    assert result.exit_code == 0, result.output
    return result.output


async def _version(url: str) -> int:
    async with _sql_store(url) as store:
        return await store.schema_version()


async def _marks(url: str) -> dict[str, str]:
    """Every row of interlink_meta, read without connecting a store (nothing is checked or migrated)."""
    store = _sql_store(url)
    writer, reader = store._engines()
    try:
        async with reader.connect() as conn:
            return (await conn.run_sync(store._read_state))[1]
    finally:
        await reader.dispose()
        if writer is not reader:
            await writer.dispose()


async def _query_indexes(store: SqlStore) -> set[str]:
    async with store._read() as conn:
        return {str(r[0]) for r in await conn.execute(text(store._index_names_sql()))}


async def test_dry_run_prints_the_sql_and_changes_nothing_then_migrate_creates_the_tables(store_url: str) -> None:
    """`--dry-run` prints the CREATE statements and the versions but creates nothing; `migrate` then creates the
    tables, a runtime with migrate=never starts on them, and a second migrate has nothing to do."""
    shown = await _migrate(store_url, "--dry-run")
    assert f"schema version none (no tables) -> {SCHEMA_VERSION}" in shown
    assert "CREATE TABLE" in shown
    assert "interlink_outbox" in shown
    assert "dry run" in shown
    never = _with(store_url, migrate="never")
    with pytest.raises(StoreError, match=r"has no Interlink tables.*run `interlink migrate"):
        await _sql_store(never).connect()
    done = await _migrate(store_url)
    assert "statement(s) run" in done
    async with _sql_store(never) as store:
        assert await store.schema_version() == SCHEMA_VERSION
    again = await _migrate(store_url)
    assert f"schema version {SCHEMA_VERSION} -> {SCHEMA_VERSION}" in again
    assert "up to date" in again
    assert "CREATE" not in again


async def test_a_pending_migration_is_refused_with_migrate_never_and_applied_by_migrate(store_url: str) -> None:
    """A schema one version behind: migrate=never refuses it naming `interlink migrate`, the dry run shows only
    the missing indexes, and `interlink migrate` brings it to the current version."""
    async with _sql_store(store_url) as store:
        assert store._writer is not None
        async with store._writer.begin() as conn:
            for name in ("ix_interlink_idempotency_created_at", "ix_interlink_aggregates_kind_updated_at"):
                table = schema.idempotency if "idempotency" in name else schema.aggregates
                await conn.execute(DropIndex(next(i for i in table.indexes if i.name == name)))
            await conn.execute(update(schema.meta).where(schema.meta.c.key == "schema").values(value="5"))
    with pytest.raises(StoreError, match=r"schema version 5.*run `interlink migrate"):
        await _sql_store(_with(store_url, migrate="never")).connect()
    shown = await _migrate(store_url, "--dry-run")
    assert f"schema version 5 -> {SCHEMA_VERSION}" in shown
    assert shown.count("CREATE INDEX") == 2
    assert "CREATE TABLE" not in shown
    assert (await _sql_store(store_url).migrate(dry_run=True)).current == 5  # the dry run left it at 5
    await _migrate(store_url)
    assert await _version(_with(store_url, migrate="never")) == SCHEMA_VERSION


async def test_the_previous_release_starts_reads_and_writes_on_a_compatibly_migrated_schema(store_url: str) -> None:
    """After the next release migrated the schema with a compatible migration, this release (one version
    behind) connects with migrate=never, reads what was there and writes new aggregates, marks and rows."""
    async with _sql_store(store_url) as store:
        await store.commit([ChangeSet(writes=[AggregateWrite("Loan", "l-1", 0, 1, '{"amount": 1}')])])
    report = await _sql_store(store_url, _next_release(store, compatible=True)).migrate()
    oldest = compatible_from(SCHEMA_VERSION, MIGRATIONS)  # unchanged by a compatible migration
    assert (report.current, report.target, report.compatible_from) == (SCHEMA_VERSION, NEXT, oldest)
    assert await _version(store_url) == NEXT
    async with _sql_store(_with(store_url, migrate="never")) as previous:
        assert previous.code_version == SCHEMA_VERSION
        loaded = await previous.load("Loan", "l-1")
        assert loaded is not None
        assert loaded.version == 1
        await previous.commit(
            [
                ChangeSet(
                    writes=[AggregateWrite("Loan", "l-1", 1, 2, '{"amount": 2}')],
                    inbox=[InboxMark("loans", "m-1")],
                )
            ]
        )
        assert await previous.seen("loans", ["m-1"]) == {"m-1"}
        assert await previous.schema_version() == NEXT


@pytest.mark.parametrize("app_version", [11, 9, 8, 7, 6])
async def test_applications_from_version_8_run_on_the_current_database_and_older_ones_are_refused(
    store_url: str, app_version: int
) -> None:
    """A database at 12 records compatible_from 8 (version 8 retyped the aggregates; 9, 11 and 12 only added
    nullable columns, indexes and a table): an application at 11, 9 or 8 starts with migrate=never, reads and
    writes; one at 6 or 7 is refused, naming the version it needs."""
    assert SCHEMA_VERSION == 12, "a new version is here: say which releases this rollback test is about"
    await _migrate(store_url)
    assert await _marks(store_url) == {"schema": "12", "compatible_from": "8"}
    async with _sql_store(store_url) as current:
        await current.commit([ChangeSet(writes=[AggregateWrite("Loan", "l-1", 0, 1, '{"amount": 1}')])])
    release = type("Release", (type(current),), {"code_version": app_version})
    store = _sql_store(_with(store_url, migrate="never"), release)
    if app_version < 8:
        refused = (
            rf"has schema version 12, which Interlink from schema version 8 on can use, newer than this "
            rf"Interlink \({app_version}\): upgrade Interlink"
        )
        with pytest.raises(StoreError, match=refused):
            await store.connect()
        return
    async with store:
        loaded = await store.load("Loan", "l-1")
        assert loaded is not None
        assert loaded.data == '{"amount": 1}'
        change = ChangeSet(
            writes=[AggregateWrite("Loan", "l-1", 1, 2, '{"amount": 2}'), AggregateWrite("Loan", "l-2", 0, 1, "{}")],
            inbox=[InboxMark("loans", "m-1")],
        )
        await store.commit([change])
        assert await store.seen("loans", ["m-1"]) == {"m-1"}
        assert await store.schema_version() == 12
    assert await _marks(store_url) == {"schema": "12", "compatible_from": "8"}  # the older application wrote no DDL


async def test_the_dry_run_from_version_6_shows_the_due_time_backfill_as_a_comment(store_url: str) -> None:
    """From version 6, `--dry-run` prints the due_at column, its index and the backfill of the requests' due
    times as an SQL comment, changing nothing; `interlink migrate` then runs all three."""
    async with _sql_store(store_url) as store:
        pass
    request = '{"command_type": "t", "command": {}, "to": "x", "deadline": "2026-01-01T00:05:00Z", "saga": null}'
    await _as_version_6(store, request)
    shown = await _migrate(store_url, "--dry-run")
    assert "ADD COLUMN due_at" in shown
    assert "CREATE INDEX ix_interlink_aggregates_kind_due_at" in shown
    assert f"\n-- data, not run in a dry run: due_at of the 1 {REQUEST_KIND} record(s) without one" in shown
    assert (await _sql_store(store_url).migrate(dry_run=True)).current == 6  # the dry run left it at 6
    done = await _migrate(store_url)
    assert (
        f"\n-- data: due_at of the 1 {REQUEST_KIND} record(s) without one, from each one's deadline: 1 row(s)" in done
    )
    async with _sql_store(_with(store_url, migrate="never")) as store:
        deadline = 1767225900.0  # 2026-01-01T00:05:00Z
        assert [(d.id, d.due_at) for d in await store.due(REQUEST_KIND, deadline, 10)] == [("cmd-old", deadline)]


async def test_the_dry_run_of_version_8_on_postgres_prints_the_jsonb_rewrite_and_leaves_text() -> None:
    """On a PostgreSQL schema at 6 with TEXT aggregates, `--dry-run` prints the ALTER ... TYPE jsonb of version 8
    and leaves the column TEXT; `interlink migrate` converts it and records compatible_from 8."""
    base = require("postgres").url
    name = fresh_name("mig")
    url = f"{base}?schema={name}"
    engine = create_async_engine(base.replace("postgresql://", "postgresql+asyncpg://"))

    async def data_type() -> str:
        async with engine.connect() as conn:
            found = await conn.execute(
                text(
                    "SELECT data_type FROM information_schema.columns WHERE table_schema = :s "
                    "AND table_name = 'interlink_aggregates' AND column_name = 'data'"
                ),
                {"s": name},
            )
            return str(found.scalar_one())

    try:
        await _migrate(url)
        await _as_text_version_6(name, [("L1", '{"id": "L1"}')])
        shown = await _migrate(url, "--dry-run")
        assert f"ALTER TABLE {name}.interlink_aggregates ALTER COLUMN data TYPE jsonb USING replace(data" in shown
        assert await data_type() == "text"
        await _migrate(url)
        assert await data_type() == "jsonb"
        assert await _marks(url) == {"schema": str(SCHEMA_VERSION), "compatible_from": "8"}
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        await engine.dispose()


async def test_migrate_module_creates_the_declared_query_indexes_and_migrate_never_creates_none(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`interlink migrate MODULE` creates the query fields' indexes (its dry run prints them); a store with
    migrate=never creates none at start, and warns naming `interlink migrate`."""
    url = store_url.replace("{domain}", "accounts")
    await _migrate(url)  # the tables only: no MODULE, no query fields
    never = _sql_store(_with(url, migrate="never"))
    caplog.set_level(logging.WARNING, "interlink.store")
    async with never:
        assert await never.ensure_query_indexes(declared_indexes(accounts)) == []
        assert ACCOUNT_INDEX not in await _query_indexes(never)
    assert "not created (migrate=never): run `interlink migrate" in caplog.text
    target = f"{__name__}:accounts"
    shown = await _cli("migrate", target, "--store", url, "--dry-run")
    assert shown.exit_code == 0, shown.output
    assert f'CREATE INDEX IF NOT EXISTS "{ACCOUNT_INDEX}"' in shown.output
    assert "dry run: 1 statement(s) not run" in shown.output
    done = await _cli("migrate", target, "--store", url)
    assert done.exit_code == 0, done.output
    assert "1 statement(s) run" in done.output
    async with _sql_store(_with(url, migrate="never")) as store:
        assert ACCOUNT_INDEX in await _query_indexes(store)
        assert await store.ensure_query_indexes(declared_indexes(accounts)) == []
    again = await _cli("migrate", target, "--store", url)
    assert "up to date; nothing to do" in again.output


async def test_an_incompatible_migration_refuses_the_previous_release(store_url: str) -> None:
    """After a migration declared incompatible, this release refuses the schema, naming the version it needs."""
    async with _sql_store(store_url) as store:
        pass
    await _sql_store(store_url, _next_release(store, compatible=False)).migrate()
    with pytest.raises(StoreError, match=rf"schema version {NEXT}, which Interlink from schema version {NEXT} on"):
        await _sql_store(store_url).connect()


def test_every_migration_declares_whether_it_is_compatible() -> None:
    """Each migration up to the current version exists and says whether the previous release still runs."""
    assert max(MIGRATIONS) == SCHEMA_VERSION
    assert min(MIGRATIONS) == 2
    assert all(isinstance(m, Migration) and isinstance(m.compatible, bool) for m in MIGRATIONS.values())
    assert all(callable(m.apply) for m in MIGRATIONS.values())
    assert Ddl.__doc__


@pytest.fixture
async def no_ddl_role() -> AsyncIterator[tuple[str, str]]:
    """A fresh schema prefix and a PostgreSQL role with no DDL rights; both dropped afterwards."""
    base = require("postgres").url
    prefix, role = fresh_name("mig"), fresh_name("role")
    engine = create_async_engine(base.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    yield prefix, role
    async with engine.begin() as conn:
        names = await conn.execute(text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"), {"p": f"{prefix}%"})
        for (name,) in names.all():
            await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        await conn.execute(text(f'DROP OWNED BY "{role}"'))
        await conn.execute(text(f'DROP ROLE "{role}"'))
    await engine.dispose()


async def test_a_role_without_ddl_rights_runs_a_command_and_a_consumer(
    no_ddl_role: tuple[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After `interlink migrate` as an owner, a role with only USAGE and SELECT/INSERT/UPDATE/DELETE runs the
    domains: a command commits, its event is relayed and consumed by the other domain, and the query indexes
    the owner created are found (none missing, none attempted)."""
    prefix, role = no_ddl_role
    base = require("postgres").url
    owner_url = f"{base}?schema={prefix}_{{domain}}"
    result = await _cli(
        "migrate", f"{__name__}:accounts", "--store", owner_url, "--domain", "order", "--domain", "shipping"
    )
    assert result.exit_code == 0, result.output
    assert f'CREATE INDEX IF NOT EXISTS "{ACCOUNT_INDEX}"' in result.output  # as the owner, before the role
    engine = create_async_engine(base.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        for domain in ("order", "shipping", "accounts"):
            name = f'"{prefix}_{domain}"'
            await conn.execute(text(f'GRANT USAGE ON SCHEMA {name} TO "{role}"'))
            await conn.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {name} TO "{role}"'))
            await conn.execute(text(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA {name} TO "{role}"'))
    await engine.dispose()
    role_url = owner_url.replace("postgres@", f"{role}@", 1)
    assert role_url != owner_url
    async with _sql_store(role_url.replace("{domain}", "order")) as store:
        assert store._writer is not None
        with pytest.raises(StoreError, match="permission denied"):
            async with store._errors(), store._writer.begin() as conn:
                await conn.execute(text(f'CREATE TABLE "{prefix}_order".intruder (id int)'))
    settings = Settings(
        store_url=role_url, broker_url=f"sqlite:///{tmp_path}/broker.db", relay_poll_interval=0.1, fetch_wait=0.1
    )
    caplog.set_level(logging.WARNING, "interlink.store")
    async with Runtime([order, shipping, accounts], settings) as runtime:
        await runtime["order"].execute(change_order, {"id": "O-1", "amount": 5})

        async def consumed() -> bool:
            return await versions_seen(runtime, "O-1") == [1]

        await wait_until(consumed, timeout=20, what="the event consumed by shipping")
    assert "query index" not in caplog.text


def test_interlink_run_with_migrate_never_on_a_fresh_store_names_interlink_migrate(tmp_path: Path) -> None:
    """`interlink run` on a store URL with migrate=never and no tables stops, saying to run `interlink migrate`."""
    store = f"sqlite:///{tmp_path}/{{domain}}.db?migrate=never"
    result = run(
        "examples.bank.customer_communication",
        "--store",
        store,
        "--broker",
        f"sqlite:///{tmp_path}/broker.db",
        "--startup-timeout",
        "0",
    )
    assert result.returncode != 0
    said = re.sub(r"[\s│╭╮╰╯─]+", " ", result.stdout + result.stderr)
    assert "has no Interlink tables" in said
    assert "run `interlink migrate" in said
    assert not (tmp_path / "customer-communication.db").exists() or not _sqlite_tables(
        tmp_path / "customer-communication.db"
    )
