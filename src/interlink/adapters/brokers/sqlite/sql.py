"""The SQLite broker's tables, and each operation as one function run on the link's thread.

``broker_messages`` holds each message once; its unique ``message_id`` is the dedupe window, kept for
``dedupe_window`` seconds after every subscription acked it. ``broker_subscriptions`` holds the durable
filters and ``broker_deliveries`` one row per (subscription, message) until acked, with its attempt count
and the time it becomes visible again. The tables carry a ``broker_`` prefix so pointing the broker at the
store's file by mistake cannot clash.

Every write runs in ``BEGIN IMMEDIATE``: concurrent processes queue on SQLite's write lock (busy timeout)
instead of failing when a reader tries to become a writer. A claim selects visible rows and pushes their
``visible_at`` past the visibility timeout in one such transaction, so competing consumers never get the
same message while it is invisible.

Durability: a publish, a subscription and the schema commit with ``synchronous = FULL`` (fsynced: a
confirmed publish survives a power cut, the port's promise). Claims, acks and retries commit with
``NORMAL``: in WAL mode that is atomic and survives a crash of the process, and only a power cut can undo
the last of them (the next fsynced commit carries them to disk). Undoing one of those only brings a message
back early, which the consumer's inbox acks as a duplicate: what redelivery already allows.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from interlink.adapters.sqlite_link import insert, placeholders, runs

__all__ = [
    "SCHEMA_VERSION",
    "Connection",
    "ack",
    "backlog",
    "claim",
    "migrate",
    "publish",
    "read",
    "retry",
    "subscribe",
    "teardown",
]

SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS broker_schema (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS broker_messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, channel TEXT NOT NULL,
        type TEXT NOT NULL, ordering_key TEXT, body BLOB NOT NULL, published_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS broker_subscriptions (
        name TEXT PRIMARY KEY, channels TEXT NOT NULL, types TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS broker_deliveries (
        subscription TEXT NOT NULL, seq INTEGER NOT NULL, attempt INTEGER NOT NULL, visible_at REAL NOT NULL,
        PRIMARY KEY (subscription, seq)) WITHOUT ROWID""",
)
_TABLES = ("broker_deliveries", "broker_subscriptions", "broker_messages", "broker_schema")
_INSERT = "INSERT OR IGNORE INTO broker_messages (message_id, channel, type, ordering_key, body, published_at)"
# Fan-out happens in SQL so a batch costs one statement whatever the number of subscriptions.
_FAN_OUT = """
    INSERT INTO broker_deliveries (subscription, seq, attempt, visible_at)
    SELECT s.name, m.seq, 0, ?1 FROM broker_messages AS m JOIN broker_subscriptions AS s
    WHERE m.seq > ?2 AND m.channel IN (SELECT value FROM json_each(s.channels))
      AND m.type IN (SELECT value FROM json_each(s.types))"""
VISIBLE = """
    SELECT d.seq, d.attempt + 1, m.message_id, m.body
    FROM broker_deliveries AS d JOIN broker_messages AS m ON m.seq = d.seq
    WHERE d.subscription = ? AND d.visible_at <= ? ORDER BY d.seq LIMIT ?"""
_CLAIM = "UPDATE broker_deliveries SET attempt = attempt + 1, visible_at = ? WHERE subscription = ? AND seq IN "
_ACK = "DELETE FROM broker_deliveries WHERE subscription = ? AND seq IN "
# A batch is one statement per table (adapters/sqlite_link.py says why).
# The attempt guard makes a stale delivery (redelivered to someone else since) a no-op.
_RETRY = "UPDATE broker_deliveries SET visible_at = ? WHERE subscription = ? AND seq = ? AND attempt = ?"
# Scans from the oldest message and stops at the first young one, so it costs what it deletes.
_PURGE = """
    DELETE FROM broker_messages WHERE seq < coalesce(
        (SELECT seq FROM broker_messages WHERE published_at >= ? ORDER BY seq LIMIT 1),
        (SELECT max(seq) + 1 FROM broker_messages))
    AND seq NOT IN (SELECT seq FROM broker_deliveries)"""

Row = tuple[Any, ...]


class Connection(sqlite3.Connection):
    """A ``sqlite3`` connection that remembers its ``synchronous`` setting, so a change costs one pragma."""

    synchronous = "FULL"


@contextlib.contextmanager
def _transaction(db: Connection, *, durable: bool) -> Iterator[Connection]:
    wanted = "FULL" if durable else "NORMAL"
    if db.synchronous != wanted:  # only between transactions: SQLite ignores it inside one
        db.execute(f"PRAGMA synchronous = {wanted}")
        db.synchronous = wanted
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def migrate(db: Connection) -> int:
    """Create the tables if missing; the schema version the file holds (newer than ours: the caller refuses)."""
    with _transaction(db, durable=True):
        for statement in _SCHEMA:
            db.execute(statement)
        rows = db.execute("SELECT version FROM broker_schema").fetchall()
        if not rows:
            db.execute("INSERT INTO broker_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            return SCHEMA_VERSION
        return int(rows[0][0])


def teardown(db: Connection) -> list[str]:
    """Drop the broker's tables (the file stays: it may hold other tables); the names of those dropped."""
    with _transaction(db, durable=True):
        found = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        dropped = [t for t in _TABLES if t in found]
        for table in dropped:
            db.execute(f"DROP TABLE {table}")
    return dropped


def publish(db: Connection, rows: Sequence[Row], now: float, purge_before: float | None) -> None:
    """Store the messages (an id already there is ignored) and give each subscription its deliveries."""
    with _transaction(db, durable=True):
        # Purge first: an id whose window is over must be stored anew, not ignored and then deleted.
        if purge_before is not None:
            db.execute(_PURGE, (purge_before,))
        ((before,),) = db.execute("SELECT coalesce(max(seq), 0) FROM broker_messages").fetchall()
        insert(db, _INSERT, rows)  # seq drawn in the order of VALUES: the publish order
        db.execute(_FAN_OUT, (now, before))


def subscribe(db: Connection, name: str, channels: set[str], types: set[str]) -> None:
    """Declare a durable subscription; a redeclaration only widens it (a narrower one must not drop messages)."""
    with _transaction(db, durable=True):
        for old_channels, old_types in db.execute(
            "SELECT channels, types FROM broker_subscriptions WHERE name = ?", (name,)
        ).fetchall():
            channels = channels | set(json.loads(old_channels))
            types = types | set(json.loads(old_types))
        db.execute(
            "INSERT OR REPLACE INTO broker_subscriptions (name, channels, types) VALUES (?, ?, ?)",
            (name, json.dumps(sorted(channels)), json.dumps(sorted(types))),
        )


def claim(db: Connection, subscription: str, now: float, limit: int, until: float) -> list[Row]:
    """Up to ``limit`` visible deliveries, made invisible until ``until``: (seq, attempt, message id, body)."""
    with _transaction(db, durable=False):
        rows = db.execute(VISIBLE, (subscription, now, limit)).fetchall()
        for run in runs(db, rows, 1):  # each row's attempt is the one VISIBLE read, plus one
            db.execute(_CLAIM + placeholders(len(run)), (until, subscription, *(r[0] for r in run)))
    return rows


def ack(db: Connection, keys: Sequence[tuple[str, Any]]) -> None:
    """Delete the deliveries (subscription, seq)."""
    by_subscription: dict[str, list[Any]] = {}
    for subscription, seq in keys:
        by_subscription.setdefault(subscription, []).append(seq)
    with _transaction(db, durable=False):
        for subscription, seqs in by_subscription.items():
            for run in runs(db, seqs, 1):
                db.execute(_ACK + placeholders(len(run)), (subscription, *run))


def retry(db: Connection, visible_at: float, subscription: str, seq: Any, attempt: int) -> None:
    """Make a delivery visible again at ``visible_at``, unless it was redelivered since."""
    with _transaction(db, durable=False):
        db.execute(_RETRY, (visible_at, subscription, seq, attempt))


def backlog(db: Connection, subscription: str) -> int:
    """Deliveries of a subscription not acked yet, in flight included: a range count on the key's prefix."""
    (count,) = db.execute("SELECT count(*) FROM broker_deliveries WHERE subscription = ?", (subscription,)).fetchone()
    return int(count)


def read(db: Connection, sql: str, params: Sequence[Any]) -> list[Row]:
    """A read outside any transaction."""
    return db.execute(sql, params).fetchall()
