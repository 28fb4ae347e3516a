"""The schema of a SQL store: checked on connect, created and upgraded by :meth:`SqlSchema.migrate`, removed by
:meth:`SqlSchema._teardown` (docs/migrations.md).

Connecting reads ``interlink_meta`` and issues no DDL when the schema is current, so the runtime can run as a
role without DDL rights. A fresh or older database is migrated on connect unless the URL says
``migrate=never``; then the store refuses it, naming ``interlink migrate``. A database newer than the code is
used when its recorded ``compatible_from`` is at most the code's version (a rollback to the previous release),
and refused otherwise. ``migrate`` also creates the indexes of the declared query fields it is given (those of
a MODULE's domains), which a store with ``migrate=never`` does not create at start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import Connection, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import DDL, DropTable

from interlink.adapters.stores import schema
from interlink.adapters.stores.migrations import MIGRATIONS, Ddl, Migration, compatible_from
from interlink.exceptions import ConfigurationError, StoreError
from interlink.ports.store import SCHEMA_VERSION

__all__ = ["MIGRATE_POLICIES", "MigrationReport", "SqlSchema", "migrate_policy"]

log = logging.getLogger("interlink.store")

#: Values of the ``migrate`` URL option: ``auto`` creates a fresh schema and applies pending migrations on
#: connect; ``never`` issues no DDL at all and refuses a schema that is missing or behind.
MIGRATE_POLICIES = ("auto", "never")
_SCHEMA_KEY = "schema"
_COMPATIBLE_KEY = "compatible_from"


def migrate_policy(options: dict[str, str], url: str) -> str:
    """Pop and check the ``migrate`` option of a store URL's query options."""
    policy = options.pop("migrate", "auto").lower()
    if policy not in MIGRATE_POLICIES:
        raise ConfigurationError(f"{url}: migrate must be one of {list(MIGRATE_POLICIES)}, got {policy!r}")
    return policy


@dataclass(frozen=True)
class MigrationReport:
    """What ``migrate`` found and did (or, in a dry run, would do)."""

    #: The schema version before, or None for a database without Interlink's tables.
    current: int | None
    #: The version this code migrates to.
    target: int
    #: The oldest application schema version that can use the database afterwards.
    compatible_from: int
    #: The SQL run (or that would run), in order; empty when nothing was pending.
    statements: list[str] = field(default_factory=list)
    dry_run: bool = False


class SqlSchema:
    """Mixin of SqlStore: schema checks on connect, ``migrate`` and ``teardown``."""

    #: The schema version this code reads and writes (a test may set an older one to act as the previous release).
    code_version: ClassVar[int] = SCHEMA_VERSION
    #: The upgrades this code knows, by the version they lead to.
    migrations: ClassVar[Mapping[int, Migration]] = MIGRATIONS
    #: ``auto`` or ``never`` (the URL's ``migrate`` option).
    migrate_policy: str = "auto"

    if TYPE_CHECKING:
        _writer: AsyncEngine | None
        _reader: AsyncEngine | None

        @property
        def redacted_url(self) -> str: ...
        def _errors(self) -> AbstractAsyncContextManager[None]: ...
        def _engines(self) -> tuple[AsyncEngine, AsyncEngine]: ...
        def _index_names_sql(self) -> str: ...
        def query_indexes(self, fields: Mapping[str, Sequence[str]]) -> dict[str, str]: ...

    # -- on connect --------------------------------------------------------------------------------

    async def _prepare_schema(self) -> None:
        """Check the schema; create or upgrade it only when something is pending and the policy allows."""
        assert self._reader is not None
        assert self._writer is not None
        async with self._errors(), self._reader.connect() as conn:
            found, marks = await conn.run_sync(self._read_state)
        if found == self.code_version:
            return
        if found is not None and found > self.code_version:
            self._accept_newer(found, marks)
            return
        if self.migrate_policy == "never":
            behind = "has no Interlink tables" if found is None else f"is at schema version {found}"
            raise StoreError(
                f"the store at {self.redacted_url} {behind}, and this Interlink needs version {self.code_version}: "
                f"run `interlink migrate --store URL` (migrate=never issues no DDL)"
            )
        async with self._errors(), self._writer.begin() as conn:
            report = await conn.run_sync(self._upgrade, False)
        if report.statements:
            log.info(
                "store %s: schema %s -> version %d (%d statements)",
                self.redacted_url,
                "created" if report.current is None else f"upgraded from version {report.current}",
                report.target,
                len([s for s in report.statements if not s.startswith("--")]),  # a comment: a data change
            )

    def _accept_newer(self, found: int, marks: Mapping[str, str]) -> None:
        oldest = marks.get(_COMPATIBLE_KEY)
        if oldest is None or self.code_version < int(oldest):
            usable = "" if oldest is None else f", which Interlink from schema version {oldest} on can use"
            raise StoreError(
                f"the store at {self.redacted_url} has schema version {found}{usable}, newer than this "
                f"Interlink ({self.code_version}): upgrade Interlink"
            )
        log.info(
            "store %s: schema version %d is newer than this Interlink's %d and compatible with it (from %s on)",
            self.redacted_url,
            found,
            self.code_version,
            oldest,
        )

    def _read_state(self, conn: Connection) -> tuple[int | None, dict[str, str]]:
        """The recorded schema version (None without tables) and every interlink_meta row; reads only."""
        if not Ddl(conn).has_table(schema.meta):
            return None, {}
        marks = {str(r[0]): str(r[1]) for r in conn.execute(select(schema.meta.c.key, schema.meta.c.value))}
        version = marks.get(_SCHEMA_KEY)
        return (int(version) if version is not None else None), marks

    # -- migrate -----------------------------------------------------------------------------------

    async def migrate(
        self, *, dry_run: bool = False, query_fields: Mapping[str, Sequence[str]] | None = None
    ) -> MigrationReport:
        """Create the tables of a fresh database or apply the pending migrations, then create the missing
        indexes of the declared query fields (``query_fields``: kind -> field names, as
        :func:`interlink.core.indexed.declared_indexes` gives them), in one transaction; with ``dry_run`` only
        compile the SQL it would run. Works on a store that is not connected."""
        writer = self._writer
        own = writer is None
        if own:
            writer, reader = self._engines()
            if reader is not writer:
                await reader.dispose()
        assert writer is not None
        try:
            async with self._errors(), writer.begin() as conn:
                report = await conn.run_sync(self._upgrade, dry_run)
                if query_fields:
                    await conn.run_sync(self._create_query_indexes, query_fields, report)
                return report
        finally:
            if own:
                await writer.dispose()

    def _upgrade(self, conn: Connection, dry_run: bool) -> MigrationReport:
        ddl = Ddl(conn, dry_run=dry_run)
        self._lock(ddl)
        self._create_container(ddl)
        found, marks = self._read_state(conn) if ddl.has_table(schema.meta) else (None, {})
        code = self.code_version
        if found is not None and found > code:
            self._accept_newer(found, marks)
            return MigrationReport(found, code, int(marks[_COMPATIBLE_KEY]), dry_run=dry_run)
        if found is None:
            for table in schema.metadata.sorted_tables:
                ddl.create_table(table)
        else:
            for version in range(found + 1, code + 1):
                migration = self.migrations.get(version)
                if migration is not None:  # a version number no change of this release uses is skipped
                    migration.apply(ddl)
        oldest = compatible_from(code, self.migrations)
        for key, value in ((_SCHEMA_KEY, code), (_COMPATIBLE_KEY, oldest)):
            if key not in marks:
                ddl.run(insert(schema.meta).values(key=key, value=str(value)))
            elif marks[key] != str(value):
                ddl.run(update(schema.meta).where(schema.meta.c.key == key).values(value=str(value)))
        return MigrationReport(found, code, oldest, ddl.statements, dry_run=dry_run)

    def _create_query_indexes(
        self, conn: Connection, fields: Mapping[str, Sequence[str]], report: MigrationReport
    ) -> None:
        """The missing indexes of the declared query fields, after the tables (docs/queries.md)."""
        ddl = Ddl(conn, dry_run=report.dry_run)
        present = {str(r[0]) for r in conn.execute(text(self._index_names_sql()))}
        for name, statement in self.query_indexes(fields).items():
            if name not in present:
                ddl.run(DDL(statement))  # type: ignore[no-untyped-call]
        report.statements.extend(ddl.statements)

    def _lock(self, ddl: Ddl) -> None:
        """First in a migration's or teardown's transaction: a server database locks out the others here."""

    async def _before_schema(self, conn: AsyncConnection) -> None:
        """First in any other transaction that changes the schema (an index created at start): the same lock."""
        await conn.run_sync(lambda sync: self._lock(Ddl(sync)))

    def _create_container(self, ddl: Ddl) -> None:
        """Before the tables: what holds them (PostgreSQL creates its schema when it is missing)."""

    # -- teardown ----------------------------------------------------------------------------------

    async def _teardown(self) -> list[str]:
        writer = self._writer
        own = writer is None
        if own:
            writer, reader = self._engines()
            if reader is not writer:
                await reader.dispose()
        assert writer is not None
        try:
            async with self._errors(), writer.begin() as conn:
                return await conn.run_sync(self._drop)
        finally:
            if own:
                await writer.dispose()

    def _drop(self, conn: Connection) -> list[str]:
        """Drop every framework table that exists; returns their names."""
        ddl = Ddl(conn)
        self._lock(ddl)
        dropped = []
        for table in reversed(schema.metadata.sorted_tables):
            if ddl.has_table(table):
                ddl.run(DropTable(table))
                dropped.append(f"table {ddl.schema + '.' if ddl.schema else ''}{table.name}")
        return dropped + self._drop_container(ddl)

    def _drop_container(self, ddl: Ddl) -> list[str]:
        """After the tables: what held them (PostgreSQL drops its schema when nothing else is left in it)."""
        return []
