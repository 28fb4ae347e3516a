"""Lists of aggregates on SQL: the part of :class:`~interlink.adapters.stores.sql.SqlStore` that keeps the
declared query fields indexed and pages through them (docs/queries.md).

One index per (kind, field): on the field's expression and the id, partial on the kind. The list statement
spells the field with the very expression of the index and the kind as a literal (a partial index serves
only a query whose condition implies the index's, which a bound parameter does not, e.g. in a generic plan
of a prepared statement), so a page of one field value in id order is an index range scan that stops after
``limit`` rows, however many aggregates there are.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Text, literal_column, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import TextClause

from interlink.ports.store import FieldValue, StoredAggregate

__all__ = ["SqlQueries", "query_index_name"]

log = logging.getLogger("interlink.store")

# Kinds written into statements as literals: aggregate names and the framework's ``~saga``, ``~replica:x``.
_SAFE_KIND = re.compile(r"^[A-Za-z0-9_~:.\- ]{1,200}$")


def query_index_name(kind: str, field: str) -> str:
    """The name of the index of one declared query field (unique per kind and field, at most 63 characters)."""
    digest = hashlib.sha256(f"{kind}\0{field}".encode()).hexdigest()[:12]
    return f"ix_interlink_q_{field[:30].lower()}_{digest}"


def _literal(kind: str) -> str:
    # Checked by _SAFE_KIND: no quote, no backslash. A colon is escaped so text() takes it for no parameter.
    return "'" + kind.replace(":", "\\:") + "'"


class SqlQueries:
    """Mixin of SqlStore (it must come before ``Store`` in the bases, to implement its abstract methods)."""

    if TYPE_CHECKING:
        _writer: AsyncEngine | None
        _write_lock: asyncio.Lock
        migrate_policy: str

        @property
        def redacted_url(self) -> str: ...

        def _check(self) -> None: ...
        def _errors(self) -> AbstractAsyncContextManager[None]: ...
        def _read(self) -> AbstractAsyncContextManager[AsyncConnection]: ...
        async def _before_schema(self, conn: AsyncConnection) -> None: ...

    #: The aggregates table as statements name it (PostgreSQL qualifies it with the domain's schema).
    @property
    def _aggregates_sql(self) -> str:
        return "interlink_aggregates"

    #: The stored document as text, in a select list.
    _data_sql = "data"

    def _field_sql(self, name: str) -> str:
        """The SQL expression of a top-level field of the stored document: the same text in the index and
        in every statement that should use it. ``name`` is a checked field name."""
        return f"json_extract(data, '$.{name}')"

    def _field(self, name: str) -> ColumnElement[Any]:
        """:meth:`_field_sql` as a SQLAlchemy expression (for statements built with SQLAlchemy Core)."""
        return literal_column(self._field_sql(name), Text)

    def _field_value(self, value: FieldValue) -> Any:
        """A filter value as the field expression yields it."""
        return int(value) if isinstance(value, bool) else value

    def _index_names_sql(self) -> str:
        """A statement listing the names of the aggregates table's indexes (parameter-free)."""
        return "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'interlink_aggregates'"

    def _denied(self, exc: Exception) -> bool:
        """True when ``exc`` says this connection may not create an index (a role without DDL rights)."""
        return False

    def list_statement(
        self, kind: str, where: Mapping[str, FieldValue], *, after: str | None, limit: int
    ) -> tuple[TextClause, dict[str, Any]]:
        """The statement of a page of :meth:`list_aggregates` and its parameters (also for EXPLAIN in tests)."""
        params: dict[str, Any] = {"limit": limit}
        if _SAFE_KIND.match(kind):
            conditions = [f"kind = {_literal(kind)}"]
        else:  # served by the primary key only: no partial index can match a bound kind
            conditions = ["kind = :kind"]
            params["kind"] = kind
        for n, (name, value) in enumerate(where.items()):
            if value is None:
                conditions.append(f"{self._field_sql(name)} IS NULL")
            else:
                conditions.append(f"{self._field_sql(name)} = :v{n}")
                params[f"v{n}"] = self._field_value(value)
        if after is not None:
            conditions.append("id > :after")
            params["after"] = after
        sql = (
            f"SELECT id, {self._data_sql}, version FROM {self._aggregates_sql} "
            f"WHERE {' AND '.join(conditions)} ORDER BY id LIMIT :limit"
        )
        return text(sql), params

    async def _list_aggregates(
        self, kind: str, *, where: Mapping[str, FieldValue], after: str | None, limit: int
    ) -> list[tuple[str, StoredAggregate]]:
        statement, params = self.list_statement(kind, where, after=after, limit=limit)
        async with self._errors(), self._read() as conn:
            rows = (await conn.execute(statement, params)).all()
        return [(r[0], StoredAggregate(r[1], r[2])) for r in rows]

    def query_index_statement(self, kind: str, field: str) -> str:
        """The DDL of the index of one declared query field."""
        name = query_index_name(kind, field)
        return (
            f'CREATE INDEX IF NOT EXISTS "{name}" ON {self._aggregates_sql} '
            f"({self._field_sql(field)}, id) WHERE kind = '{kind}'"
        )

    def query_indexes(self, fields: Mapping[str, Sequence[str]]) -> dict[str, str]:
        """The index name and DDL of each declared query field (``fields``: kind -> field names)."""
        wanted: dict[str, str] = {}
        for kind, names in fields.items():
            if not _SAFE_KIND.match(kind):
                log.warning("store: aggregates of kind %r cannot have query indexes (name too unusual)", kind)
                continue
            wanted |= {query_index_name(kind, f): self.query_index_statement(kind, f) for f in names}
        return wanted

    async def _ensure_query_indexes(self, fields: Mapping[str, Sequence[str]]) -> list[str]:
        wanted = self.query_indexes(fields)
        if not wanted:
            return []
        async with self._errors(), self._read() as conn:
            present = {r[0] for r in await conn.execute(text(self._index_names_sql()))}
        missing = [ddl for name, ddl in wanted.items() if name not in present]
        if not missing:
            return []
        if self.migrate_policy == "never":
            # No DDL at all under migrate=never (docs/migrations.md): lists by these fields still answer, by
            # reading every aggregate of the kind, until `interlink migrate MODULE` creates the indexes.
            log.warning(
                "store %s: %d query index(es) missing, not created (migrate=never): run `interlink migrate "
                "MODULE --store URL` to create them; until then lists by these fields read every aggregate of "
                "the kind: %s",
                self.redacted_url,
                len(missing),
                missing,
            )
            return []
        try:
            async with self._errors(), self._write_lock, self._creating() as conn:
                for ddl in missing:
                    await conn.execute(text(ddl.replace(":", "\\:")))  # a colon in a kind is no parameter
        except Exception as exc:
            cause = exc.__cause__
            if not self._denied(cause if isinstance(cause, Exception) else exc):
                raise
            # The runtime may run under a role without DDL rights: lists still work, by a scan, until the
            # indexes are created by a role that may (interlink migrate, or the statements of docs/queries.md).
            log.warning("store: %d query index(es) missing and not created here (%s): %s", len(missing), exc, missing)
            return []
        log.info("store: created %d query index(es)", len(missing))
        return missing

    @asynccontextmanager
    async def _creating(self) -> AsyncIterator[AsyncConnection]:
        assert self._writer is not None
        async with self._writer.begin() as conn:
            # Under the schema lock (PostgreSQL): processes starting together create each index once.
            await self._before_schema(conn)
            yield conn
