"""Explicit migrations on every SQL store: ``interlink migrate`` (and its dry run), no DDL when nothing is
pending, ``migrate=never``, and the previous release running on a schema migrated past it (a rollback)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, text, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import DropIndex
from typer.testing import CliRunner, Result

from interlink.adapters.stores import schema
from interlink.adapters.stores.migrations import MIGRATIONS, Ddl, Migration
from interlink.adapters.stores.sql import SqlStore
from interlink.cli.main import app
from interlink.exceptions import StoreError
from interlink.ports.store import SCHEMA_VERSION, AggregateWrite, ChangeSet, InboxMark
from interlink.runtime import Runtime, Settings
from interlink.runtime.backends import open_store
from interlink.testing.waiting import wait_until
from tests.integration.test_end_to_end import change_order, order, shipping, versions_seen
from tests.support.run_options import run
from tests.support.services import fresh_name, require

DOMAIN = "loans"
NEXT = SCHEMA_VERSION + 1
# A table only the simulated next release knows (its own metadata: the real schema stays as it is).
_next_metadata = MetaData()
_next_table = Table("interlink_next_audit", _next_metadata, Column("id", String(40), primary_key=True))


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
    assert (report.current, report.target, report.compatible_from) == (SCHEMA_VERSION, NEXT, 1)
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


async def test_the_release_before_starts_on_the_current_schema_when_its_migration_allows(store_url: str) -> None:
    """A store of the release before this one (code version patched one down) starts, reads and writes on a
    schema this release migrated when this version's migration is declared compatible, and is refused if not."""
    previous = type("PreviousRelease", (type(_sql_store(store_url)),), {"code_version": SCHEMA_VERSION - 1})
    await _migrate(store_url)
    store = _sql_store(_with(store_url, migrate="never"), previous)
    if SCHEMA_VERSION in MIGRATIONS and not MIGRATIONS[SCHEMA_VERSION].compatible:
        with pytest.raises(StoreError, match="upgrade Interlink"):
            await store.connect()
        return
    async with store:
        await store.commit([ChangeSet(writes=[AggregateWrite("Loan", "l-1", 0, 1, "{}")])])
        assert await store.load("Loan", "l-1") is not None


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
    no_ddl_role: tuple[str, str], tmp_path: Path
) -> None:
    """After `interlink migrate` as an owner, a role with only USAGE and SELECT/INSERT/UPDATE/DELETE runs the
    domains: a command commits, its event is relayed and consumed by the other domain."""
    prefix, role = no_ddl_role
    base = require("postgres").url
    owner_url = f"{base}?schema={prefix}_{{domain}}"
    result = await _cli("migrate", "--store", owner_url, "--domain", "order", "--domain", "shipping")
    assert result.exit_code == 0, result.output
    engine = create_async_engine(base.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        for domain in ("order", "shipping"):
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
    async with Runtime([order, shipping], settings) as runtime:
        await runtime["order"].execute(change_order, {"id": "O-1", "amount": 5})

        async def consumed() -> bool:
            return await versions_seen(runtime, "O-1") == [1]

        await wait_until(consumed, timeout=20, what="the event consumed by shipping")


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
