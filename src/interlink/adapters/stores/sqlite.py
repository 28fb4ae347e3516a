"""SQLite store, the embedded default: one file per domain, WAL mode, no server.

URL: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``; query options ``synchronous``
(``full`` by default: a committed command survives a power cut, not only a crash) and ``busy_timeout``
in milliseconds (5000). Several processes may share the file: every write transaction starts with
``BEGIN IMMEDIATE`` so two writers queue on SQLite's lock instead of failing half-way.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from interlink.adapters.stores.sql import SqlStore
from interlink.exceptions import ConfigurationError, StoreError, StoreUnavailable

__all__ = ["SqliteStore", "sqlite_path"]

_SYNCHRONOUS = {"off", "normal", "full", "extra"}


def sqlite_path(url: str) -> tuple[Path, dict[str, str]]:
    """The file path and query options of a ``sqlite:///...`` URL."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc or not parts.path or parts.path == "/":
        raise ConfigurationError(
            f"bad SQLite URL {url!r}: write sqlite:///relative/file.db or sqlite:////absolute/file.db"
        )
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return Path(parts.path[1:]), options


class SqliteStore(SqlStore):
    """Store on a SQLite file through aiosqlite."""

    scheme = "sqlite"

    def __init__(self, url: str, *, domain: str) -> None:
        super().__init__(url, domain=domain)
        self.path, options = sqlite_path(url)
        self.synchronous = options.pop("synchronous", "full").lower()
        if self.synchronous not in _SYNCHRONOUS:
            raise ConfigurationError(f"{url}: synchronous must be one of {sorted(_SYNCHRONOUS)}")
        try:
            self.busy_timeout = int(options.pop("busy_timeout", "5000"))
        except ValueError as exc:
            raise ConfigurationError(f"{url}: busy_timeout must be milliseconds") from exc
        if options:
            raise ConfigurationError(f"{url}: unknown option(s) {sorted(options)}")

    def _engines(self) -> tuple[AsyncEngine, AsyncEngine]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the folder of {self.path}: {exc.strerror}") from exc
        target = f"sqlite+aiosqlite:///{self.path}"
        # The writer keeps one connection: this process writes one transaction at a time anyway.
        writer = create_async_engine(target, pool_size=1, max_overflow=0)
        reader = create_async_engine(target, poolclass=NullPool if self.path == Path(":memory:") else None)
        for engine, begin in ((writer, "BEGIN IMMEDIATE"), (reader, "BEGIN")):
            self._configure(engine, begin)
        return writer, reader

    def _configure(self, engine: AsyncEngine, begin: str) -> None:
        pragmas = (
            "PRAGMA journal_mode=WAL",
            f"PRAGMA synchronous={self.synchronous}",
            f"PRAGMA busy_timeout={self.busy_timeout}",
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control away from the sqlite3 module so BEGIN is ours to choose.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in pragmas:
                cursor.execute(pragma)
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)

    def _translate(self, exc: Exception) -> Exception:
        cause = getattr(exc, "orig", None) or exc
        if isinstance(cause, sqlite3.OperationalError):
            text = str(cause)
            if "locked" in text or "busy" in text or "unable to open" in text or "disk I/O" in text:
                return StoreUnavailable(f"SQLite store {self.path}: {text}")
        return StoreError(f"SQLite store {self.path}: {type(cause).__name__}: {cause}")
