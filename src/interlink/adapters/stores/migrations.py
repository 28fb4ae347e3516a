"""Upgrades between schema versions, applied in order by ``interlink migrate`` (or, unless the store URL says
``migrate=never``, by a store connecting to a database that is behind).

A fresh database gets the latest tables from :mod:`interlink.adapters.stores.schema` and no migration;
a database at version n runs ``MIGRATIONS[n + 1]``, ``MIGRATIONS[n + 2]``, ... in the same transaction
that records the new version, so a crash half-way leaves it at version n.

Each migration declares whether it is ``compatible``: whether the release before it still reads and writes
the tables once it ran (a new table, index or nullable column is; a dropped or renamed column is not). The
database records the oldest application schema version that can still use it (:func:`compatible_from`), so
a rollback to the previous release starts. A migration changes the database only through :class:`Ddl`,
which runs each statement, or in a dry run only writes it down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Index, Table, inspect
from sqlalchemy.schema import DDL, CreateColumn, CreateIndex, CreateTable, ExecutableDDLElement
from sqlalchemy.sql.dml import UpdateBase

from interlink.adapters.stores import schema

__all__ = ["MIGRATIONS", "Ddl", "Migration", "compatible_from"]


class Ddl:
    """The DDL of a migration on one connection: every change checks the database first, then runs (or, in a
    dry run, only records) the statement, compiled for the connection's dialect and schema."""

    def __init__(self, conn: Connection, *, dry_run: bool = False) -> None:
        self.connection = conn
        self.dry_run = dry_run
        #: Every statement run (or, in a dry run, that would run), as SQL text.
        self.statements: list[str] = []
        # A PostgreSQL store maps the tables into its own schema (schema_translate_map).
        self.schema: str | None = (conn.get_execution_options().get("schema_translate_map") or {}).get(None)

    def has_table(self, table: Table) -> bool:
        """True when the table exists."""
        return inspect(self.connection).has_table(table.name, schema=self.schema)

    def has_index(self, index: Index) -> bool:
        """True when the index exists on its table."""
        assert isinstance(index.table, Table)
        if not self.has_table(index.table):
            return False
        names = {i["name"] for i in inspect(self.connection).get_indexes(index.table.name, schema=self.schema)}
        return index.name in names

    def has_column(self, column: Column[object]) -> bool:
        """True when the column exists on its table."""
        table = column.table
        assert isinstance(table, Table)
        found = inspect(self.connection).get_columns(table.name, schema=self.schema)
        return column.name in {c["name"] for c in found}

    def create_table(self, table: Table) -> None:
        """CREATE TABLE and its indexes, unless the table exists."""
        if not self.has_table(table):
            self.run(CreateTable(table))
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                self.run(CreateIndex(index))

    def create_index(self, index: Index) -> None:
        """CREATE INDEX, unless it exists."""
        if not self.has_index(index):
            self.run(CreateIndex(index))

    def add_column(self, column: Column[object]) -> None:
        """ALTER TABLE ... ADD COLUMN, unless it exists (the table may be newer than the version recorded)."""
        if self.has_column(column):
            return
        table = column.table
        assert isinstance(table, Table)
        definition = CreateColumn(column).compile(dialect=self.connection.dialect)
        self.run(DDL(f"ALTER TABLE {self.qualified_name(table)} ADD COLUMN {definition}"))  # type: ignore[no-untyped-call]

    def run(self, statement: ExecutableDDLElement | UpdateBase) -> None:
        """Record the statement and, unless this is a dry run, execute it."""
        options: dict[str, Any] = {"compile_kwargs": {"literal_binds": True}}
        if self.schema:
            options |= {"schema_translate_map": {None: self.schema}, "render_schema_translate": True}
        compiled = statement.compile(dialect=self.connection.dialect, **options)
        self.statements.append(str(compiled).strip())
        if not self.dry_run:
            self.connection.execute(statement)

    def qualified_name(self, table: Table) -> str:
        """The table's name as SQL, quoted, with the store's schema when it has one."""
        quote = self.connection.dialect.identifier_preparer.quote
        return f"{quote(self.schema)}.{quote(table.name)}" if self.schema else quote(table.name)


@dataclass(frozen=True)
class Migration:
    """One schema version's upgrade, and whether the previous release still works after it."""

    apply: Callable[[Ddl], None]
    #: True when the application of the version before keeps reading and writing the tables after it.
    compatible: bool


def compatible_from(version: int, migrations: Mapping[int, Migration]) -> int:
    """The oldest application schema version that can use a database at ``version``: the last
    incompatible migration up to it (1 when every one was compatible)."""
    return max([1, *(v for v, m in migrations.items() if v <= version and not m.compatible)])


def _index(table: Table, name: str) -> Index:
    return next(i for i in table.indexes if i.name == name)


def _v2_inbox_age_index(ddl: Ddl) -> None:
    """Version 2: an index on the inbox's processed_at, for pruning old marks."""
    ddl.create_index(_index(schema.inbox, "ix_interlink_inbox_processed_at"))


def _v3_idempotency(ddl: Ddl) -> None:
    """Version 3: the table of Idempotency-Key requests."""
    ddl.create_table(schema.idempotency)


def _v4_inbound_files(ddl: Ddl) -> None:
    """Version 4: the table of inbound files (claims and checkpoints)."""
    ddl.create_table(schema.files)


def _v5_dead_letter_class(ddl: Ddl) -> None:
    """Version 5: the error class of each dead letter (nullable, so rows parked before stay readable and
    the previous release, which does not name the column, still inserts)."""
    ddl.add_column(schema.dead_letters.c.error_class)


def _v6_retention_indexes(ddl: Ddl) -> None:
    """Version 6: indexes by age on the idempotency keys and on (kind, updated_at) of the aggregates, for
    pruning (docs/retention.md). Only indexes: the previous release reads and writes the tables unchanged."""
    ddl.create_index(_index(schema.idempotency, "ix_interlink_idempotency_created_at"))
    ddl.create_index(_index(schema.aggregates, "ix_interlink_aggregates_kind_updated_at"))


# One line per version; `compatible=False` makes every older release refuse the database (docs/migrations.md).
MIGRATIONS: dict[int, Migration] = {
    2: Migration(_v2_inbox_age_index, compatible=True),
    3: Migration(_v3_idempotency, compatible=True),
    4: Migration(_v4_inbound_files, compatible=True),
    5: Migration(_v5_dead_letter_class, compatible=True),
    6: Migration(_v6_retention_indexes, compatible=True),
}
