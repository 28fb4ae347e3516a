"""The SQLite store's group commit in one hop to the database's thread.

Through SQLAlchemy on aiosqlite, every step of a transaction is a hop from the event loop to the driver's
thread and back: the pool checkout, ``BEGIN IMMEDIATE``, a cursor per statement, each statement, closing the
cursor, ``COMMIT``, the reset on checkin; a dozen or more per group commit, each a future, a queue put, a wake
of the loop and a turn for the GIL. Here one thread owns one ``sqlite3`` connection, and the whole
transaction (every statement, the version checks, the ``COMMIT`` and its fsync) runs there as one function:
one hop per group, whatever it holds. The rows are built on the loop's thread; SQLite releases the GIL while
it works, so the loop serves requests meanwhile.

What it writes is what :meth:`SqlStore._commit` writes for the same change sets (aggregates, inbox marks,
outbox rows, sent outbox rows, inbound file checkpoints), in one ``BEGIN IMMEDIATE`` transaction on the same
file with the same pragmas: all of it commits, or none. Dead letters, idempotency records and audit entries
are rare and not all one shape; they still go through SQLAlchemy (see :func:`hot`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlink.adapters.sqlite_link import SqliteLink, insert, placeholders, runs
from interlink.adapters.stores import schema
from interlink.adapters.stores.sql_rows import duplicate_marks, existing, file_lost, stale
from interlink.exceptions import StoreUnavailable
from interlink.ports.store import AggregateWrite, ChangeSet, FileProgress, merge_writes

__all__ = ["SqliteWriter", "hot"]


def hot(changes: Sequence[ChangeSet]) -> bool:
    """Whether a group commit holds only what :class:`SqliteWriter` writes (the rest goes through SQLAlchemy)."""
    return not any(c.dead_letters or c.resolved_dead_letters or c.audit or c.idempotency is not None for c in changes)


_CREATE = f"INSERT INTO {schema.aggregates.name} (kind, id, version, data, updated_at, due_at)"
_UPDATE = (
    f"UPDATE {schema.aggregates.name} SET version = ?, data = ?, updated_at = ?, due_at = ? "
    "WHERE kind = ? AND id = ? AND version = ?"
)
_DELETE = f"DELETE FROM {schema.aggregates.name} WHERE kind = ? AND id = ? AND version = ?"
_MARK = f"INSERT INTO {schema.inbox.name} (subscription, message_id, processed_at)"
_OUTBOX = f"INSERT INTO {schema.outbox.name} (message_id, channel, type, ordering_key, body, created_at)"
_PROGRESS = (
    f"UPDATE {schema.files.name} SET checkpoint = ?, accepted = ?, rejected = ?, rejects_bytes = ?, "
    "lease_until = ?, state = ?, report = ? WHERE file_id = ? AND owner = ? AND checkpoint = ? AND state = 'processing'"
)


class _Refused(Exception):
    """Raised in the database's thread when the group cannot commit as written; the loop's side names why."""

    def __init__(self, what: str, index: int = 0) -> None:
        super().__init__(what)
        self.what = what
        self.index = index


class SqliteWriter:
    """One ``sqlite3`` connection on a thread of its own, committing whole groups in one call each."""

    def __init__(self, path: Path, pragmas: Sequence[str]) -> None:
        self._link = SqliteLink(str(path), pragmas, thread_name="interlink-sqlite-writer", closed=self._closed)
        self._path = path

    def _closed(self) -> StoreUnavailable:
        return StoreUnavailable(f"the SQLite store's writer for {self._path} is closed")

    async def open(self) -> None:
        """Open the connection on the writer's thread (every later call runs on that same thread)."""
        await self._link.open()

    async def close(self) -> None:
        """Close the connection and stop the thread."""
        await self._link.close()

    async def commit(self, changes: Sequence[ChangeSet], now: float) -> None:
        """Apply a group in one transaction; the caller holds the store's write lock.

        Raises ConcurrencyError (a create of what exists, a stale version, a file checkpoint moved on),
        DuplicateMessage (an inbox mark that exists), or the driver's ``sqlite3.Error`` for the store to
        translate.
        """
        writes = merge_writes(changes)
        creates = [w for w in writes if w.expected_version == 0 and w.data is not None]
        updates = [w for w in writes if w.expected_version > 0 and w.data is not None]
        deletes = [w for w in writes if w.data is None]
        rows = _Rows(
            creates=[(w.kind, w.id, w.new_version, w.data, now, w.due_at) for w in creates],
            updates=[(w.new_version, w.data, now, w.due_at, w.kind, w.id, w.expected_version) for w in updates],
            deletes=[(w.kind, w.id, w.expected_version) for w in deletes],
            marks=[(m.subscription, m.message_id, now) for c in changes for m in c.inbox],
            outbox=[(m.message_id, m.channel, m.type, m.ordering_key, m.body, now) for c in changes for m in c.outbox],
            sent=[(seq,) for c in changes for seq in c.outbox_sent],
            progress=[_progress_row(c.file_progress) for c in changes if c.file_progress is not None],
        )
        try:
            await self._link.run(_apply, rows)
        except _Refused as exc:
            raise _refusal(exc, creates, updates, deletes, changes, len(rows.marks)) from None


def _apply(db: sqlite3.Connection, rows: _Rows) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        if rows.creates:
            try:
                insert(db, _CREATE, rows.creates)
            except sqlite3.IntegrityError:
                raise _Refused("create") from None
        # The sqlite3 module sums rowcount over executemany: each row must have matched its version.
        if rows.updates and db.executemany(_UPDATE, rows.updates).rowcount != len(rows.updates):
            raise _Refused("update")
        if rows.deletes and db.executemany(_DELETE, rows.deletes).rowcount != len(rows.deletes):
            raise _Refused("delete")
        for index, progress in enumerate(rows.progress):
            if db.execute(_PROGRESS, progress).rowcount != 1:
                raise _Refused("progress", index)
        if rows.marks:
            try:
                insert(db, _MARK, rows.marks)
            except sqlite3.IntegrityError:
                raise _Refused("mark") from None
        if rows.outbox:
            insert(db, _OUTBOX, rows.outbox)  # seq drawn in row order (VALUES' order): the relay's order
        for run in runs(db, rows.sent, 1):
            db.execute(f"DELETE FROM {schema.outbox.name} WHERE seq IN {placeholders(len(run))}", [r[0] for r in run])
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


@dataclass(slots=True)
class _Rows:
    """A group's rows, as the statements take them."""

    creates: list[tuple[Any, ...]]
    updates: list[tuple[Any, ...]]
    deletes: list[tuple[Any, ...]]
    marks: list[tuple[Any, ...]]
    outbox: list[tuple[Any, ...]]
    sent: list[tuple[Any, ...]]
    progress: list[tuple[Any, ...]]


def _progress_row(p: FileProgress) -> tuple[Any, ...]:
    """The parameters of ``_PROGRESS``: the new checkpoint and counts, then where the file must stand."""
    moved = (p.checkpoint, p.accepted, p.rejected, p.rejects_bytes, p.lease_until, p.state, p.report)
    return (*moved, p.file_id, p.owner, p.after)


def _refusal(
    exc: _Refused,
    creates: list[AggregateWrite],
    updates: list[AggregateWrite],
    deletes: list[AggregateWrite],
    changes: Sequence[ChangeSet],
    marks: int,
) -> Exception:
    """The error :meth:`SqlStore._commit` raises for the same refusal (same types, same words)."""
    if exc.what == "create":
        return existing(creates)
    if exc.what == "update":
        return stale(updates)
    if exc.what == "delete":
        return stale(deletes)
    if exc.what == "mark":
        return duplicate_marks(marks)
    return file_lost([c.file_progress for c in changes if c.file_progress is not None][exc.index])
