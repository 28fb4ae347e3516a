"""Long-lived asyncpg connections for PostgreSQL's hot path, and how an error says a connection was lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]

__all__ = ["Connections", "connection_lost", "lost", "sqlstate"]

# Class 08 (connection exception) and the administrator's or the server's shutdown of a backend.
_LOST_STATES = ("08", "57P01", "57P02", "57P03")


def lost(exc: BaseException) -> bool:
    """Whether an error says the connection is gone or unusable (so a new one may succeed). asyncpg's
    InternalClientError ("cannot switch to state ...; another operation is in progress") is raised before
    anything is sent, by a connection whose backend was terminated while it read an error: the FATAL came,
    the socket's end not yet."""
    if isinstance(exc, OSError | ConnectionError | asyncpg.InterfaceError | asyncpg.InternalClientError):
        return True
    state = getattr(exc, "sqlstate", None)
    return isinstance(state, str) and state.startswith(_LOST_STATES)


def sqlstate(exc: Exception) -> str | None:
    """The SQLSTATE of a driver error, under SQLAlchemy's wrapper or not."""
    cause = getattr(exc, "orig", None) or exc
    code = getattr(cause, "sqlstate", None) or getattr(getattr(cause, "__cause__", None), "sqlstate", None)
    return code if isinstance(code, str) else None


def connection_lost(exc: BaseException) -> bool:
    """Whether the driver's error under SQLAlchemy's says the connection went away (asyncpg's "connection was
    closed in the middle of operation" is an InterfaceError with no SQLSTATE, so the codes above miss it)."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if lost(seen):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False


class Connections:
    """Up to ``size`` long-lived connections, each used by one caller at a time; dropped ones replaced."""

    def __init__(self, open_: Callable[[], Awaitable[Any]], size: int) -> None:
        self._open = open_
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    @asynccontextmanager
    async def use(self) -> AsyncIterator[Any]:
        async with self._slots:
            conn = None
            while self._idle and conn is None:
                conn = self._idle.pop()
                if conn.is_closed():
                    conn = None
            if conn is None:
                conn = await self._open()
            try:
                yield conn
            except Exception as exc:
                if lost(exc):
                    conn.terminate()  # not back to the pool, where the next caller would meet the same error
                else:
                    self._release(conn)
                raise
            except BaseException:
                conn.terminate()  # cancelled mid-statement: the protocol state is unknown
                raise
            self._release(conn)

    def _release(self, conn: Any) -> None:
        if self._closed or conn.is_closed() or conn.is_in_transaction():
            conn.terminate()
        else:
            self._idle.append(conn)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(Exception):  # a connection the server dropped already
                await conn.close(timeout=2)
