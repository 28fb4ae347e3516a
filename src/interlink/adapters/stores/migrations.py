"""Upgrades between schema versions, applied in order by every SQL store when it connects.

A fresh database gets the latest tables from :mod:`interlink.adapters.stores.schema` and no migration;
a database at version n runs every migration above n, in order, in the same transaction that records the
new version, so a crash half-way leaves it at version n. The numbers need not be consecutive: a release runs
the migrations it has.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Index, inspect, select, text, update

from interlink.adapters.stores import schema
from interlink.core.command_events import REQUEST_KIND

__all__ = ["MIGRATIONS"]


def _v2_inbox_age_index(conn: Connection) -> None:
    """Version 2: an index on the inbox's processed_at, for pruning old marks."""
    index = next(i for i in schema.inbox.indexes if i.name == "ix_interlink_inbox_processed_at")
    assert isinstance(index, Index)
    index.create(conn, checkfirst=True)


def _v3_idempotency(conn: Connection) -> None:
    """Version 3: the table of Idempotency-Key requests."""
    schema.idempotency.create(conn, checkfirst=True)


def _v4_inbound_files(conn: Connection) -> None:
    """Version 4: the table of inbound files (claims and checkpoints)."""
    schema.files.create(conn, checkfirst=True)


def _add_column(conn: Connection, table_name: str, column: str, sql_type: str) -> None:
    """ALTER TABLE ... ADD COLUMN, unless this release's metadata created the table with it already."""
    # A PostgreSQL store maps the tables into its own schema (schema_translate_map); text DDL must name it.
    where = (conn.get_execution_options().get("schema_translate_map") or {}).get(None)
    if column in {c["name"] for c in inspect(conn).get_columns(table_name, schema=where)}:
        return  # created by this release's metadata (the table is newer than the version recorded)
    quote = conn.dialect.identifier_preparer.quote
    name = f"{quote(where)}.{quote(table_name)}" if where else quote(table_name)
    conn.execute(text(f"ALTER TABLE {name} ADD COLUMN {column} {sql_type}"))


def _v5_dead_letter_class(conn: Connection) -> None:
    """Version 5: the error class of each dead letter (nullable, so rows parked before stay readable and
    the previous release, which does not name the column, still inserts)."""
    _add_column(conn, schema.dead_letters.name, "error_class", "VARCHAR(16)")


def _v6_retention_indexes(conn: Connection) -> None:
    """Version 6: indexes by age on the idempotency keys and on (kind, updated_at) of the aggregates, for
    pruning (docs/retention.md). Only indexes: the previous release reads and writes the tables unchanged."""
    for table, name in (
        (schema.idempotency, "ix_interlink_idempotency_created_at"),
        (schema.aggregates, "ix_interlink_aggregates_kind_updated_at"),
    ):
        index = next(i for i in table.indexes if i.name == name)
        assert isinstance(index, Index)
        index.create(conn, checkfirst=True)


def _v8_aggregates_jsonb(conn: Connection) -> None:
    """Version 8: on PostgreSQL, aggregates as JSONB (SQLite keeps TEXT), so each declared query field has an
    expression index (docs/queries.md); a U+0000 escape (which JSONB cannot hold) becomes U+FFFD. The table is
    rewritten under an exclusive lock: minutes for millions of aggregates. On every SQL store, an index on the
    dead letters' message id (parking a message looked for an earlier row of it by scanning them all)."""
    index = next(i for i in schema.dead_letters.indexes if i.name == "ix_interlink_dead_letters_message_id")
    assert isinstance(index, Index)
    index.create(conn, checkfirst=True)
    if conn.dialect.name != "postgresql":
        return
    table = schema.aggregates
    where = (conn.get_execution_options().get("schema_translate_map") or {}).get(None)
    column = next(c for c in inspect(conn).get_columns(table.name, schema=where) if c["name"] == "data")
    if "JSON" in str(column["type"]).upper():
        return  # created by this release's metadata
    quote = conn.dialect.identifier_preparer.quote
    name = f"{quote(where)}.{quote(table.name)}" if where else quote(table.name)
    conn.execute(
        text(rf"ALTER TABLE {name} ALTER COLUMN data TYPE jsonb USING replace(data, '\u0000', '\ufffd')::jsonb")
    )


def _v9_due_times(conn: Connection) -> None:
    """Version 9: the due time of framework records (nullable: the previous release, which does not name the
    column, still writes), its (kind, due_at) index, and the deadlines of the requests outstanding now."""
    t = schema.aggregates
    _add_column(conn, t.name, "due_at", "DOUBLE PRECISION" if conn.dialect.name == "postgresql" else "REAL")
    index = next(i for i in t.indexes if i.name == "ix_interlink_aggregates_kind_due_at")
    assert isinstance(index, Index)
    index.create(conn, checkfirst=True)
    rows = conn.execute(select(t.c.id, t.c.data).where(t.c.kind == REQUEST_KIND, t.c.due_at.is_(None))).all()
    for id, data in rows:
        deadline = (json.loads(data) if isinstance(data, str) else data).get("deadline")
        if deadline is not None:
            due = datetime.fromisoformat(deadline).timestamp()
            conn.execute(update(t).where(t.c.kind == REQUEST_KIND, t.c.id == id).values(due_at=due))


def _v10_operations(conn: Connection) -> None:
    """Version 10: the traceback and top frame of each dead letter (nullable: the previous release, which does
    not name them, still parks), and the operators' audit log (a new table the previous release ignores)."""
    _add_column(conn, schema.dead_letters.name, "traceback", "TEXT")
    _add_column(conn, schema.dead_letters.name, "top_frame", "VARCHAR(400)")
    schema.audit.create(conn, checkfirst=True)


def _v11_ordered_dead_letters(conn: Connection) -> None:
    """Version 11: the ordering key of dead letters (nullable: letters parked before have none) and the
    (subscription, ordering_key, id) index that finds the letters of one key in order, for order-preserving
    dead letters (docs/resilience.md)."""
    _add_column(conn, schema.dead_letters.name, "ordering_key", "VARCHAR(400)")
    index = next(i for i in schema.dead_letters.indexes if i.name == "ix_interlink_dead_letters_ordering_key")
    assert isinstance(index, Index)
    index.create(conn, checkfirst=True)


#: Version 7 is unused; a missing number is skipped.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _v2_inbox_age_index,
    3: _v3_idempotency,
    4: _v4_inbound_files,
    5: _v5_dead_letter_class,
    6: _v6_retention_indexes,
    8: _v8_aggregates_jsonb,
    9: _v9_due_times,
    10: _v10_operations,
    11: _v11_ordered_dead_letters,
}
