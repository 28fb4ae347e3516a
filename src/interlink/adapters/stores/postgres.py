"""PostgreSQL store on SQLAlchemy 2 async with asyncpg: a schema per domain, many processes at once.

URL: ``postgresql://user:password@host:5432/database`` with query options

- ``schema``: the domain's schema (default ``interlink_<domain>``); ``{domain}`` in it is the domain name;
- ``sslmode`` (``disable``, ``require``, ``verify-ca``, ``verify-full``), ``sslrootcert``, ``sslcert``,
  ``sslkey``: TLS, with libpq's names and meanings;
- ``pool_size`` (5): connections of the pool (and as many again in a peak), and of the hot path's reads;
- ``application_name`` (``interlink:<schema>``): how its connections show in ``pg_stat_activity``;
- ``migrate`` (``auto``): ``never`` issues no DDL and refuses a schema that is missing or behind
  (docs/migrations.md).

Several processes of one domain may share its schema: aggregate writes are checked against their version
(a row lock makes the second writer wait, then see the new version and fail with ConcurrencyError), inbox
marks are unique, and the outbox is relayed by one process at a time (an advisory lock) which claims its
rows with ``FOR UPDATE SKIP LOCKED``, so relays never publish the same row twice nor skip one; rows are
read fresh each time rather than after a "highest id seen", because ids commit out of order. Commits
that add outbox rows ``NOTIFY`` the relays, which also poll as a fallback.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from sqlalchemy import ColumnElement, Delete, Float, Integer, Text, delete, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateSchema, DropSchema
from sqlalchemy.sql import bindparam
from sqlalchemy.sql.elements import TextClause

from interlink.adapters.stores.migrations import Ddl
from interlink.adapters.stores.postgres_connections import connection_lost, sqlstate
from interlink.adapters.stores.postgres_hot import HotPath, hot
from interlink.adapters.stores.sql import SqlStore
from interlink.adapters.stores.sql_schema import migrate_policy
from interlink.exceptions import ConfigurationError, StoreError, StoreUnavailable
from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import AggregateWrite, ChangeSet, FieldValue, Retained, StoredAggregate
from interlink.urls import redact

__all__ = ["PostgresStore"]

log = logging.getLogger("interlink.store")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
# A JSON escape of U+0000: `\u0000` after an even number of backslashes (none, or escaped ones).
_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
# SQLSTATE classes and codes after which trying again later may succeed.
_TRANSIENT = ("08", "53", "57P01", "57P02", "57P03", "40001", "40P01", "55P03")


class PostgresStore(SqlStore):
    """Store in one PostgreSQL schema per domain."""

    scheme = "postgresql"
    domain_scoped = True

    def __init__(self, url: str, *, domain: str) -> None:
        super().__init__(url, domain=domain)
        parts = urlsplit(url)
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        name = options.pop("schema", "interlink_{domain}").replace("{domain}", domain).replace("-", "_").lower()
        if not _IDENTIFIER.match(name):
            raise ConfigurationError(f"schema {name!r} must be a lowercase SQL identifier (a-z, 0-9, _)")
        self.schema = name
        self._sslmode = options.pop("sslmode", "prefer")
        if self._sslmode not in _SSLMODES:
            raise ConfigurationError(f"sslmode must be one of {sorted(_SSLMODES)}, got {self._sslmode!r}")
        self._ssl_files = {k: options.pop(k) for k in ("sslrootcert", "sslcert", "sslkey") if k in options}
        # Shown in pg_stat_activity, so an operator (or a fault test) can find this store's connections.
        self.application_name = options.pop("application_name", f"interlink:{self.schema}")[:63]
        try:
            self._pool_size = int(options.pop("pool_size", "5"))
        except ValueError as exc:
            raise ConfigurationError("pool_size must be a whole number") from exc
        self.migrate_policy = migrate_policy(options, self.redacted_url)
        if options:
            raise ConfigurationError(f"{self.redacted_url}: unknown option(s) {sorted(options)}")
        self._dsn = urlunsplit(("postgresql+asyncpg", parts.netloc, parts.path, "", ""))
        self._channel = f"interlink_outbox_{self.schema}"[:63]
        self._lock_key = zlib.crc32(self.schema.encode())  # one advisory lock id per schema
        self._listener: Any = None
        self._rewatching: asyncio.Task[None] | None = None
        self._closed = False
        self._hot: HotPath | None = None

    @property
    def redacted_url(self) -> str:
        return redact(self.url)

    def __repr__(self) -> str:
        return f"PostgresStore({self.redacted_url!r}, schema={self.schema!r})"

    # -- connections -------------------------------------------------------------------------------

    def _ssl(self) -> ssl.SSLContext | bool | None:
        mode = self._sslmode
        if mode == "disable":
            return False
        if mode in ("allow", "prefer"):
            return None  # asyncpg's own default: try TLS, fall back to plain
        context = ssl.create_default_context(cafile=self._ssl_files.get("sslrootcert"))
        if "sslcert" in self._ssl_files:
            context.load_cert_chain(self._ssl_files["sslcert"], self._ssl_files.get("sslkey"))
        if mode != "verify-full":
            context.check_hostname = False
        if mode == "require":
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect_args(self) -> dict[str, Any]:
        tls = self._ssl()
        args: dict[str, Any] = {"server_settings": {"application_name": self.application_name}}
        return args if tls is None else args | {"ssl": tls}

    def _engines(self) -> tuple[AsyncEngine, AsyncEngine]:
        engine = create_async_engine(
            self._dsn,
            # The hot path (postgres_hot) holds its own long-lived connections; this pool serves the rest (lists,
            # dead letters, files, retention), so it keeps few idle ones and opens more only in a peak.
            pool_size=min(2, self._pool_size),
            max_overflow=self._pool_size,
            pool_pre_ping=True,  # a connection killed by the server is replaced, not handed out
            connect_args=self._connect_args(),
        ).execution_options(schema_translate_map={None: self.schema})
        return engine, engine

    async def _connect(self) -> None:
        await super()._connect()
        # The hot path's own connections, opened when first used: see postgres_hot.
        self._hot = HotPath(
            schema=self.schema,
            connect=self._connect_raw,
            readers=self._pool_size,
            channel=self._channel,
            document=self._document,
            translate=self._translate,
            where=f"PostgreSQL store {self.redacted_url} ({self.schema})",
        )

    async def _connect_raw(self) -> Any:
        """A plain asyncpg connection with this store's settings (TLS, application_name)."""
        import asyncpg  # type: ignore[import-untyped]  # the extra is installed, or this could not be built

        dsn = self._dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        return await asyncpg.connect(dsn, **self._connect_args())

    async def _close(self) -> None:
        self._closed = True
        if self._hot is not None:
            hot_path, self._hot = self._hot, None
            await hot_path.close()
        if self._rewatching is not None:
            self._rewatching.cancel()
            self._rewatching = None
        if self._listener is not None:
            listener, self._listener = self._listener, None
            try:
                await listener.close(timeout=2)
            except Exception as exc:  # closing a connection the server already dropped
                log.debug("closing the LISTEN connection: %s", exc)
        await super()._close()

    def _lock(self, ddl: Ddl) -> None:
        # Processes starting together must not race to create the same tables.
        ddl.connection.execute(select(func.pg_advisory_xact_lock(self._lock_key)))

    def _create_container(self, ddl: Ddl) -> None:
        # Only when missing: even CREATE SCHEMA IF NOT EXISTS needs the CREATE right on the database.
        if not ddl.connection.execute(select(1).where(_namespace(self.schema))).first():
            ddl.run(CreateSchema(self.schema))

    def _drop_container(self, ddl: Ddl) -> list[str]:
        # Only when empty (no CASCADE): a schema may hold what is not Interlink's (schema=public, a user's table).
        if not ddl.connection.execute(select(1).where(_namespace(self.schema))).first():
            return []
        held = ddl.connection.execute(
            text("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s"),
            {"s": self.schema},
        ).scalar()
        if held or self.schema == "public":
            log.info("store %s: schema %s kept, it holds other objects", self.redacted_url, self.schema)
            return []
        ddl.run(DropSchema(self.schema))
        return [f"schema {self.schema}"]

    def _translate(self, exc: Exception) -> Exception:
        cause = getattr(exc, "orig", None) or exc
        code = sqlstate(exc)
        where = f"PostgreSQL store {self.redacted_url} ({self.schema})"
        if isinstance(exc, OSError | ConnectionError | TimeoutError) or (
            isinstance(code, str) and code.startswith(_TRANSIENT)
        ):
            return StoreUnavailable(f"{where}: {type(cause).__name__}: {cause}")
        if (isinstance(exc, DBAPIError) and exc.connection_invalidated) or connection_lost(exc):
            return StoreUnavailable(f"{where}: connection lost: {cause}")
        return StoreError(f"{where}: {type(cause).__name__}: {cause}")

    # -- the hot path on plain asyncpg (postgres_hot); the rest through SQLAlchemy ---------------------

    async def load(self, kind: str, id: str) -> StoredAggregate | None:
        self._check()
        assert self._hot is not None
        return await self._hot.load(kind, id)

    async def _commit(self, changes: Sequence[ChangeSet]) -> None:
        if not hot(changes):  # dead letters, idempotency records, file progress: rare, and not all one shape
            await super()._commit(changes)
            return
        assert self._hot is not None
        async with self._write_lock:
            await self._hot.commit(changes, time.time())

    # -- writes: one statement per kind of write, whatever the number of rows ----------------------

    async def _serialise_key(self, conn: AsyncConnection, subscription: str, key: str) -> None:
        # Held until the transaction ends: the commit that comes second sees the first one's letters.
        lock = zlib.crc32(f"{self.schema}\0{subscription}\0{key}".encode()) << 31 | 1 << 30
        await conn.execute(select(func.pg_advisory_xact_lock(lock)))

    async def _after_outbox(self, conn: AsyncConnection) -> None:
        # Delivered to the listening relays when (and only if) this transaction commits.
        await conn.execute(select(func.pg_notify(self._channel, "")))

    async def _update_many(self, conn: AsyncConnection, writes: list[AggregateWrite], now: float) -> int:
        statement = text(
            f'UPDATE "{self.schema}".interlink_aggregates AS a '
            "SET version = v.nv, data = v.d::jsonb, updated_at = :now, due_at = v.du "
            "FROM unnest(:k, :i, :ev, :nv, :d, :du) AS v(k, i, ev, nv, d, du) "
            "WHERE a.kind = v.k AND a.id = v.i AND a.version = v.ev"
        ).bindparams(*_arrays("k", "i", "ev", "nv", "d"), bindparam("du", type_=ARRAY(Float)))
        result = await conn.execute(
            statement,
            {
                "k": [w.kind for w in writes],
                "i": [w.id for w in writes],
                "ev": [w.expected_version for w in writes],
                "nv": [w.new_version for w in writes],
                "d": [None if w.data is None else self._document(w.data) for w in writes],
                "du": [w.due_at for w in writes],
                "now": now,
            },
        )
        return int(result.rowcount)

    async def _delete_many(self, conn: AsyncConnection, writes: list[AggregateWrite]) -> int:
        statement = text(
            f'DELETE FROM "{self.schema}".interlink_aggregates AS a '
            "USING unnest(:k, :i, :ev) AS v(k, i, ev) "
            "WHERE a.kind = v.k AND a.id = v.i AND a.version = v.ev"
        ).bindparams(*_arrays("k", "i", "ev"))
        params = {
            "k": [w.kind for w in writes],
            "i": [w.id for w in writes],
            "ev": [w.expected_version for w in writes],
        }
        return int((await conn.execute(statement, params)).rowcount)

    async def _remove_outbox(self, conn: AsyncConnection, seqs: list[int]) -> None:
        # One primary-key probe per row, then a TID scan, whatever the plan cache or the statistics say. As
        # `seq IN ($1, ... $n)`, a generic plan made with a young outbox's statistics scanned every pending row
        # (each batch of a backlog reading all of it); joined with unnest(), fresh statistics chose a hash join
        # over a scan of the outbox as soon as a batch was a few percent of it.
        table = f'"{self.schema}".interlink_outbox'
        statement = text(
            f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT o.ctid FROM unnest(:seqs) AS v(seq) "
            f"CROSS JOIN LATERAL (SELECT ctid FROM {table} WHERE seq = v.seq LIMIT 1) AS o))"
        ).bindparams(bindparam("seqs", type_=ARRAY(Integer)))
        await conn.execute(statement, {"seqs": seqs})

    async def seen(self, subscription: str, message_ids: Sequence[str]) -> set[str]:
        if not message_ids:
            return set()
        self._check()
        assert self._hot is not None
        # One primary-key probe per id, whatever the statistics or plan cache say. `message_id IN (...)`
        # was planned (on a young inbox with no statistics, and then for good as a cached generic plan) as
        # a scan of every mark of the subscription filtered by the ids: its cost grew with the inbox, 240 ms
        # per batch at 20,000 marks. A LATERAL subquery with LIMIT is never flattened into a join, so each
        # id stays an index lookup on (subscription, message_id). The same statement as inbox_probe.
        return await self._hot.seen(subscription, message_ids)

    def inbox_probe(self) -> TextClause:
        """The inbox lookup of :meth:`seen` (parameters ``ids`` and ``subscription``), for EXPLAIN in tests."""
        return text(
            "SELECT i.message_id FROM unnest(:ids) AS m(id) CROSS JOIN LATERAL ("
            f'SELECT message_id FROM "{self.schema}".interlink_inbox '
            "WHERE subscription = :subscription AND message_id = m.id LIMIT 1) AS i"
        ).bindparams(bindparam("ids", type_=ARRAY(Text)))

    # -- retention ---------------------------------------------------------------------------------

    def prune_statement(self, kind: Retained, older_than: float, limit: int) -> Delete:
        """The one DELETE of a prune batch: the oldest rows' ctids through the age index, then a TID scan."""
        # Deleting by a list of primary keys instead costs more to plan than to run (an OR of 1,000 index
        # conditions); and the age condition is not repeated outside, where it would turn the TID scan into a
        # scan of every old row. A row changed meanwhile has a new ctid, so it is left alone.
        table, condition = self._retained(kind, older_than)
        ctid: ColumnElement[Any] = literal_column("ctid")
        picked = select(ctid).select_from(table).where(condition).limit(limit)
        return delete(table).where(ctid == func.any(func.array(picked.scalar_subquery())))

    # -- queries (declared query fields, docs/queries.md) -----------------------------------------

    @property
    def _aggregates_sql(self) -> str:
        return f'"{self.schema}".interlink_aggregates'

    _data_sql = "data::text"  # read as text, not parsed by the driver's JSONB decoder

    def _field_sql(self, name: str) -> str:
        return f"(data ->> '{name}')"

    def _field_value(self, value: FieldValue) -> Any:
        # ->> gives text: JSON true is 'true', numbers their decimal text.
        return ("true" if value else "false") if isinstance(value, bool) else (None if value is None else str(value))

    def _index_names_sql(self) -> str:
        return (
            f"SELECT indexname FROM pg_indexes WHERE schemaname = '{self.schema}' "
            "AND tablename = 'interlink_aggregates'"
        )

    def _denied(self, exc: Exception) -> bool:
        return sqlstate(exc) == "42501"  # insufficient_privilege

    def _document(self, data: str) -> str:
        # JSONB cannot hold U+0000: such a character (the API refuses it; a message or a file may carry it) is
        # stored as U+FFFD. Only an escape preceded by an even number of backslashes is one.
        return _NUL.sub(r"\1\\ufffd", data) if "\\u0000" in data else data

    # -- outbox ------------------------------------------------------------------------------------

    async def relay_batch(
        self,
        limit: int,
        publish: Callable[[list[OutgoingMessage]], Awaitable[None]],
        confirm: Callable[[list[int]], Awaitable[None]] | None = None,
    ) -> int:
        self._check()
        assert self._hot is not None
        return await self._hot.relay(self._lock_key, limit, publish)

    async def watch_outbox(self, wake: Callable[[], None]) -> None:
        self._closed = False
        if not await self._listen(wake):
            # Not fatal: the relay still polls, and the watch is tried again in the background.
            self._rewatch(wake)

    async def _listen(self, wake: Callable[[], None]) -> bool:
        import asyncpg  # the extra is installed, or this could not be built

        dsn = self._dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        try:
            listener = await asyncpg.connect(dsn, **self._connect_args())
            await listener.add_listener(self._channel, lambda *_: wake())
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError) as exc:
            log.warning("store %s: LISTEN unavailable (%s); relying on polling", self.redacted_url, exc)
            return False
        self._listener = listener
        # A LISTEN connection killed by the server (failover, pg_terminate_backend) is opened again, so
        # commits keep waking the relay instead of leaving it on its poll interval for good.
        listener.add_termination_listener(lambda conn: self._rewatch(wake) if self._listener is conn else None)
        return True

    def _rewatch(self, wake: Callable[[], None]) -> None:
        if self._rewatching is not None and not self._rewatching.done():
            return
        self._listener = None

        async def again() -> None:
            delay = 0.5
            while not self._closed:
                await asyncio.sleep(delay)
                wake()  # notifications sent while nobody listened are lost: look once anyway
                if self._closed or await self._listen(wake):
                    return
                delay = min(delay * 2, 10.0)

        self._rewatching = asyncio.get_running_loop().create_task(again(), name="interlink-listen")


def _namespace(name: str) -> Any:
    return text("EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = :schema)").bindparams(schema=name)


def _arrays(*names: str) -> list[Any]:
    return [bindparam(n, type_=ARRAY(Integer if n in ("ev", "nv") else Text)) for n in names]
