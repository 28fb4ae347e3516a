"""One ``sqlite3`` connection on a thread of its own: each broker operation is one call there.

Through aiosqlite every step of a transaction (``BEGIN``, each statement, ``COMMIT``) was a hop from the
event loop to the driver's thread and back: a future, a queue, a wake of the loop, a turn for the GIL,
five or more per publish, claim or ack. Here an operation is one function of :mod:`.sql` run on the
link's thread, one hop whatever it holds; SQLite releases the GIL while it works.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from interlink.adapters.brokers.sqlite.sql import Connection
from interlink.exceptions import BrokerError

__all__ = ["THREAD_NAME", "Link"]

T = TypeVar("T")
#: The prefix of the link's thread's name.
THREAD_NAME = "interlink-sqlite-broker"


class Link:
    """The broker's connection; operations queue on its one thread, so each runs alone and in order."""

    def __init__(self, path: str, pragmas: Sequence[str]) -> None:
        self.path = path
        self._pragmas = tuple(pragmas)
        self._thread: ThreadPoolExecutor | None = None
        self._db: Connection | None = None

    async def open(self) -> None:
        """Open the connection on the link's thread; on failure the thread is gone again."""
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD_NAME)
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._open)
        except BaseException:
            await self.close()
            raise

    def _open(self) -> None:
        # Transaction control stays ours (isolation_level=None): BEGIN IMMEDIATE is sent explicitly.
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, factory=Connection)
        try:
            for pragma in self._pragmas:
                db.execute(pragma)
        except BaseException:
            db.close()
            raise
        self._db = db

    async def run(self, operation: Callable[..., T], *args: object) -> T:
        """Run ``operation(connection, *args)`` on the link's thread, after those queued before it."""
        thread = self._thread
        if thread is None:
            raise BrokerError(f"SQLite broker at {self.path} is closed")
        return await asyncio.get_running_loop().run_in_executor(thread, self._call, operation, args)

    def _call(self, operation: Callable[..., T], args: tuple[object, ...]) -> T:
        if self._db is None:  # closed by an operation queued before this one
            raise BrokerError(f"SQLite broker at {self.path} is closed")
        return operation(self._db, *args)

    async def close(self) -> None:
        """Close the connection once the operations queued before are done, and end the thread."""
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
