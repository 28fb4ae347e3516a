"""One ``sqlite3`` connection on a thread of its own, and statements that take a batch at once: what the
SQLite store's group commit and the embedded broker share.

Through aiosqlite (or SQLAlchemy on it) every step of a transaction is a hop from the event loop to the
driver's thread and back: a future, a queue, a wake of the loop, a turn for the GIL. Here a whole operation
is one function run on the link's thread, one hop whatever it holds; SQLite releases the GIL while it works.
For the same reason a batch of rows is one statement, not ``executemany``'s step per row: each step lets
go of the GIL and must take it back from the event loop's thread, which waits while that thread is busy.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["SqliteLink", "insert", "placeholders", "runs"]

T = TypeVar("T")
#: Rows (or keys) per statement at most, fewer where the library allows fewer parameters.
ROWS_PER_STATEMENT = 256


class SqliteLink:
    """A connection whose calls queue on its one thread, so each runs alone and in order.

    Args:
        path: the database file.
        pragmas: run once the connection is open.
        thread_name: the prefix of the thread's name.
        closed: the error raised by a call once the link is closed.
        factory: the connection class (``sqlite3.connect``'s ``factory``).
    """

    def __init__(
        self,
        path: str,
        pragmas: Sequence[str],
        *,
        thread_name: str,
        closed: Callable[[], Exception],
        factory: type[sqlite3.Connection] = sqlite3.Connection,
    ) -> None:
        self.path = path
        self._pragmas = tuple(pragmas)
        self._thread_name = thread_name
        self._closed = closed
        self._factory = factory
        self._thread: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Open the connection on the link's thread; on failure the thread is gone again."""
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._thread_name)
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._open)
        except BaseException:
            await self.close()
            raise

    def _open(self) -> None:
        # Transaction control stays the caller's (isolation_level=None): it sends BEGIN IMMEDIATE itself.
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, factory=self._factory)
        try:
            for pragma in self._pragmas:
                db.execute(pragma)
        except BaseException:
            db.close()
            raise
        self._db = db

    async def run(self, operation: Callable[..., T], *args: Any) -> T:
        """``operation(connection, *args)`` on the link's thread, after the calls queued before it."""
        thread = self._thread
        if thread is None:
            raise self._closed()
        return await asyncio.get_running_loop().run_in_executor(thread, self._call, operation, args)

    def _call(self, operation: Callable[..., T], args: tuple[Any, ...]) -> T:
        if self._db is None:  # closed by a call queued before this one
            raise self._closed()
        return operation(self._db, *args)

    async def close(self) -> None:
        """Close the connection once the calls queued before are done, and end the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(thread, self._close)
        finally:
            thread.shutdown(wait=True)

    def _close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()


def runs(db: sqlite3.Connection, items: Sequence[T], width: int) -> Iterator[Sequence[T]]:
    """``items`` in runs short enough for one statement of ``width`` parameters each."""
    size = max(1, min(ROWS_PER_STATEMENT, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
    for at in range(0, len(items), size):
        yield items[at : at + size]


def insert(db: sqlite3.Connection, head: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """``head`` (``INSERT ... INTO t (a, b)``) with ``rows``, many per statement, in their order."""
    width = len(rows[0])
    for run in runs(db, rows, width):
        db.execute(_values(head, len(run), width), list(itertools.chain.from_iterable(run)))


@functools.cache
def _values(head: str, rows: int, width: int) -> str:
    row = "(" + ", ".join("?" * width) + ")"
    return f"{head} VALUES {', '.join([row] * rows)}"


@functools.cache
def placeholders(count: int) -> str:
    """``(?, ?, ?)``: ``count`` parameters, for an ``IN`` list."""
    return "(" + ", ".join("?" * count) + ")"
