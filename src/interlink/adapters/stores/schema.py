"""The store's tables, as SQLAlchemy Core metadata shared by every SQL store adapter."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    cast,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

__all__ = [
    "JsonDocument",
    "aggregates",
    "audit",
    "dead_letters",
    "files",
    "idempotency",
    "inbox",
    "meta",
    "metadata",
    "outbox",
]

metadata = MetaData()


class _Jsonb(UserDefinedType[str]):
    """JSONB, handed to the driver as text and read back cast to text: no JSON parsing in Python."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "JSONB"

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any]:
        # Read as text: the driver's JSONB decoder would parse it into Python objects.
        return cast(colexpr, Text)


class JsonDocument(TypeDecorator[str]):
    """A JSON document, text in Python: TEXT on SQLite, JSONB on PostgreSQL (since schema version 8), where
    the declared query fields are indexed by expression (docs/queries.md)."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[str]:
        return dialect.type_descriptor(_Jsonb() if dialect.name == "postgresql" else Text())


meta = Table(
    "interlink_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

aggregates = Table(
    "interlink_aggregates",
    metadata,
    Column("kind", String(200), primary_key=True),
    Column("id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("data", JsonDocument(), nullable=False),
    Column("updated_at", Float, nullable=False),
    # Since schema version 6: framework records (stored replies, ended sagas) are pruned by age through it.
    Index("ix_interlink_aggregates_kind_updated_at", "kind", "updated_at"),
    # Since schema version 9: when a framework record falls due (an outstanding request's deadline), found
    # by Store.due through the index; NULL for everything that is never due.
    Column("due_at", Float),
    Index("ix_interlink_aggregates_kind_due_at", "kind", "due_at"),
)

outbox = Table(
    "interlink_outbox",
    metadata,
    # AUTOINCREMENT on SQLite: a deleted (sent) row's seq is never reused, so order stays total.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False),
    Column("channel", String(200), nullable=False),
    Column("type", String(200), nullable=False),
    Column("ordering_key", String(400)),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    sqlite_autoincrement=True,
)

inbox = Table(
    "interlink_inbox",
    metadata,
    Column("subscription", String(200), primary_key=True),
    Column("message_id", String(200), primary_key=True),
    Column("processed_at", Float, nullable=False),
    # Since schema version 2: lets old inbox marks be pruned by age without a table scan.
    Index("ix_interlink_inbox_processed_at", "processed_at"),
)

dead_letters = Table(
    "interlink_dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscription", String(200), nullable=False),
    Column("message_id", String(200), nullable=False),
    Column("message_type", String(200), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("failed_at", Float, nullable=False),
    # Since schema version 5: transient, permanent or poison (NULL in rows parked before).
    Column("error_class", String(16)),
    # Since schema version 11: the ordering key of a letter of an order-preserving subscription (else NULL).
    Column("ordering_key", String(400)),
    Index("ix_interlink_dead_letters_subscription", "subscription"),
    # Since schema version 8: parking a message looks up whether it is parked already, by its id.
    Index("ix_interlink_dead_letters_message_id", "message_id"),
    # Since schema version 11: the letters of one ordering key, in order (is a key held? which is first?).
    Index("ix_interlink_dead_letters_ordering_key", "subscription", "ordering_key", "id"),
    # Since schema version 10 (nullable: the previous release still parks): where the last failure was raised,
    # for grouping letters by fingerprint, and its traceback.
    Column("traceback", Text),
    Column("top_frame", String(400)),
    sqlite_autoincrement=True,
)

# Since schema version 10: the operators' audit log, append-only (nothing but retention deletes from it).
audit = Table(
    "interlink_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(400), nullable=False),
    Column("reason", Text, nullable=False),
    Column("before", Text),
    Column("after", Text),
    Index("ix_interlink_audit_at", "at"),
    sqlite_autoincrement=True,
)

# Since schema version 3: HTTP command requests made under an Idempotency-Key, and their responses.
idempotency = Table(
    "interlink_idempotency",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(8), nullable=False),
    Column("status", Integer),
    Column("response", Text),
    Column("created_at", Float, nullable=False),
    # Since schema version 6: old keys are pruned by age through it.
    Index("ix_interlink_idempotency_created_at", "created_at"),
)

# Since schema version 4: inbound files, their claim and their checkpoint. ``content_key`` is the SHA-256
# (or, for a forced claim, SHA-256 and file id): unique per source, so the same content is claimed once.
files = Table(
    "interlink_files",
    metadata,
    Column("file_id", String(64), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content_key", String(140), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("owner", String(200), nullable=False),
    Column("state", String(16), nullable=False),
    Column("checkpoint", BigInteger, nullable=False),
    Column("accepted", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("rejects_bytes", BigInteger, nullable=False),
    Column("lease_until", Float, nullable=False),
    Column("claimed_at", Float, nullable=False),
    Column("report", Text),
    Index("ix_interlink_files_content", "source", "content_key", unique=True),
)
