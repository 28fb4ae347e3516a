"""Upgrades between schema versions, applied in order by ``interlink migrate`` (or, unless the store URL says
``migrate=never``, by a store connecting to a database that is behind).

A fresh database gets the latest tables from :mod:`interlink.adapters.stores.schema` and no migration;
a database at version n runs every migration above n, in order, in the same transaction that records the
new version, so a crash half-way leaves it at version n. The numbers need not be consecutive: a release runs
the migrations it has.

Each migration declares whether it is ``compatible``: whether the release before it still reads and writes
the tables once it ran (a new table, index or nullable column is; a dropped or retyped column is not). The
database records the oldest application schema version that can still use it (:func:`compatible_from`), so
a rollback to the previous release starts. A migration changes the database only through :class:`Ddl`,
which runs each statement, or in a dry run only writes it down; a change of rows (not of the schema) goes
through :meth:`Ddl.backfill`, which a dry run describes as an SQL comment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Index, Table, func, inspect, select, update
from sqlalchemy.schema import DDL, CreateColumn, CreateIndex, CreateTable, ExecutableDDLElement
from sqlalchemy.sql.dml import UpdateBase

from interlink.adapters.stores import schema
from interlink.ports.kinds import REQUEST_KIND

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

    def column_type(self, column: Column[Any]) -> str | None:
        """The column's type as the database's catalog names it (upper case), or None when it is missing."""
        table = column.table
        assert isinstance(table, Table)
        found = inspect(self.connection).get_columns(table.name, schema=self.schema)
        return next((str(c["type"]).upper() for c in found if c["name"] == column.name), None)

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

    def backfill(self, description: str, apply: Callable[[Connection], int]) -> None:
        """A change of rows, not of the schema (data a new column starts with): ``apply`` runs it and returns
        the number of rows it changed. Written down as an SQL comment; a dry run does not call ``apply``."""
        if self.dry_run:
            self.statements.append(f"-- data, not run in a dry run: {description}")
        else:
            self.statements.append(f"-- data: {description}: {apply(self.connection)} row(s) updated")

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


def _v8_aggregates_jsonb(ddl: Ddl) -> None:
    """Version 8: on PostgreSQL, aggregates as JSONB (SQLite keeps TEXT), so each declared query field has an
    expression index (docs/queries.md); a U+0000 escape (which JSONB cannot hold) becomes U+FFFD. The table is
    rewritten under an exclusive lock: minutes for millions of aggregates. On every SQL store, an index on the
    dead letters' message id (parking a message looked for an earlier row of it by scanning them all).

    Not compatible: the previous release's statements write text into ``data``, which a JSONB column refuses."""
    ddl.create_index(_index(schema.dead_letters, "ix_interlink_dead_letters_message_id"))
    if ddl.connection.dialect.name != "postgresql":
        return
    if "JSON" in (ddl.column_type(schema.aggregates.c.data) or ""):
        return  # created by this release's metadata
    retype = r"ALTER COLUMN data TYPE jsonb USING replace(data, '\u0000', '\ufffd')::jsonb"
    ddl.run(DDL(f"ALTER TABLE {ddl.qualified_name(schema.aggregates)} {retype}"))  # type: ignore[no-untyped-call]


def _v9_due_times(ddl: Ddl) -> None:
    """Version 9: the due time of framework records (nullable: the previous release, which does not name the
    column, still writes), its (kind, due_at) index, and the deadlines of the requests outstanding now (data:
    in a dry run, a comment with their number)."""
    t = schema.aggregates
    existed = ddl.has_column(t.c.due_at)
    ddl.add_column(t.c.due_at)
    ddl.create_index(_index(t, "ix_interlink_aggregates_kind_due_at"))
    # In a dry run the column may not exist yet: count the requests without naming it.
    pending = select(func.count()).select_from(t).where(t.c.kind == REQUEST_KIND)
    if existed:
        pending = pending.where(t.c.due_at.is_(None))
    count = ddl.connection.execute(pending).scalar_one()
    ddl.backfill(f"due_at of the {count} {REQUEST_KIND} record(s) without one, from each one's deadline", _due_times)


def _due_times(conn: Connection) -> int:
    t = schema.aggregates
    rows = conn.execute(select(t.c.id, t.c.data).where(t.c.kind == REQUEST_KIND, t.c.due_at.is_(None))).all()
    changed = 0
    for id, data in rows:
        deadline = (json.loads(data) if isinstance(data, str) else data).get("deadline")
        if deadline is not None:
            due = datetime.fromisoformat(deadline).timestamp()
            conn.execute(update(t).where(t.c.kind == REQUEST_KIND, t.c.id == id).values(due_at=due))
            changed += 1
    return changed


def _v11_ordered_dead_letters(ddl: Ddl) -> None:
    """Version 11: the ordering key of dead letters (nullable: letters parked before have none, and the previous
    release, which does not name the column, still parks letters, without a key) and the (subscription,
    ordering_key, id) index that finds the letters of one key in order, for order-preserving dead letters
    (docs/resilience.md)."""
    ddl.add_column(schema.dead_letters.c.ordering_key)
    ddl.create_index(_index(schema.dead_letters, "ix_interlink_dead_letters_ordering_key"))


def _v12_operations(ddl: Ddl) -> None:
    """Version 12: the traceback and top frame of each dead letter (nullable: the previous release, which does
    not name them, still parks), and the operators' audit log (a new table the previous release ignores)."""
    ddl.add_column(schema.dead_letters.c.traceback)
    ddl.add_column(schema.dead_letters.c.top_frame)
    ddl.create_table(schema.audit)


# One line per version; `compatible=False` makes every older release refuse the database (docs/migrations.md).
# Versions 7 and 10 are unused; a missing number is skipped.
MIGRATIONS: dict[int, Migration] = {
    2: Migration(_v2_inbox_age_index, compatible=True),
    3: Migration(_v3_idempotency, compatible=True),
    4: Migration(_v4_inbound_files, compatible=True),
    5: Migration(_v5_dead_letter_class, compatible=True),
    6: Migration(_v6_retention_indexes, compatible=True),
    8: Migration(_v8_aggregates_jsonb, compatible=False),
    9: Migration(_v9_due_times, compatible=True),
    11: Migration(_v11_ordered_dead_letters, compatible=True),
    12: Migration(_v12_operations, compatible=True),
}
