"""SqliteBroker: the broker contract, plus its file, URL, schema, error table and multi-client behaviour."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from interlink.adapters.brokers.sqlite import SCHEMA_VERSION, SqliteBroker
from interlink.adapters.brokers.sqlite.broker import THREAD_NAME
from interlink.adapters.brokers.sqlite.errors import translate
from interlink.exceptions import BrokerError, BrokerUnavailable, ConfigurationError
from interlink.ports.broker import Broker, OutgoingMessage, Subscription
from interlink.testing.contracts import BrokerContract


class TestSqliteBroker(BrokerContract):
    """The broker contract on a fresh SQLite broker file."""

    @pytest.fixture
    async def broker(self, tmp_path: Path) -> AsyncIterator[Broker]:
        """A SQLite broker in a fresh file with the contract's short visibility timeout."""
        url = f"sqlite:///{tmp_path}/broker.db"
        async with SqliteBroker(url, visibility_timeout=self.visibility_timeout, poll_interval=0.02) as broker:
            yield broker


def _message(channel: str = "c", message_id: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(message_id or uuid.uuid4().hex, channel, "Thing", b"{}")


def _raw(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Run one statement on the file with the plain driver, as an outside observer."""
    with closing(sqlite3.connect(path)) as raw, raw:
        return raw.execute(sql, params).fetchall()


async def _declare(broker: Broker, channel: str = "c") -> str:
    name = f"sub-{uuid.uuid4().hex[:8]}"
    await broker.subscribe(Subscription(name, (channel,), frozenset({"Thing"})))
    return name


def test_url_forms_and_options() -> None:
    """Relative and absolute paths parse as SQLAlchemy does; options come from the query or arguments."""
    assert SqliteBroker("sqlite:///data/b.db").path == "data/b.db"
    broker = SqliteBroker("sqlite:////abs/b.db?visibility_timeout=5&poll_interval=0.5&dedupe_window=9")
    assert (broker.path, broker.visibility_timeout, broker.poll_interval, broker.dedupe_window) == (
        "/abs/b.db",
        5,
        0.5,
        9,
    )
    assert SqliteBroker("sqlite:///b.db?visibility_timeout=5", visibility_timeout=2).visibility_timeout == 2
    assert SqliteBroker("sqlite:///b.db").visibility_timeout == 30


@pytest.mark.parametrize(
    "url",
    ["memory://", "sqlite://", "sqlite://host/b.db", "sqlite:///b.db?x=1", "sqlite:///b.db?poll_interval=a"],
    ids=["scheme", "no-path", "host", "unknown-option", "not-a-number"],
)
def test_bad_url_is_refused(url: str) -> None:
    """A URL that is not a SQLite broker URL raises ConfigurationError naming the problem."""
    with pytest.raises(ConfigurationError):
        SqliteBroker(url)


async def test_constructor_does_no_io_and_connect_creates_the_directory(tmp_path: Path) -> None:
    """Constructing touches nothing; connect() creates missing directories and a WAL-mode file."""
    path = tmp_path / "deep" / "er" / "broker.db"
    broker = SqliteBroker(f"sqlite:///{path}")
    assert not path.parent.exists()
    async with broker:
        assert path.exists()
    assert _raw(path, "PRAGMA journal_mode") == [("wal",)]
    assert _raw(path, "SELECT version FROM broker_schema") == [(SCHEMA_VERSION,)]


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A file written by a newer Interlink is refused with a BrokerError saying so."""
    url = f"sqlite:///{tmp_path}/b.db"
    async with SqliteBroker(url):
        pass
    _raw(tmp_path / "b.db", "UPDATE broker_schema SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(BrokerError, match="newer"):
        await SqliteBroker(url).connect()


async def test_messages_and_subscriptions_survive_reopening(tmp_path: Path) -> None:
    """Subscriptions and unacked messages are in the file: a new broker on it delivers them."""
    url = f"sqlite:///{tmp_path}/b.db"
    async with SqliteBroker(url) as first:
        sub = await _declare(first)
        sent = _message()
        await first.publish([sent])
    async with SqliteBroker(url) as second:
        got = await second.fetch(sub, 10, wait=0)
    assert [(d.message_id, d.attempt) for d in got] == [(sent.message_id, 1)]


async def test_two_clients_of_one_file_compete_and_wake(tmp_path: Path) -> None:
    """Two brokers on one file share messages: a waiting fetch on one wakes on the other's publish."""
    url = f"sqlite:///{tmp_path}/b.db"
    async with SqliteBroker(url) as producer, SqliteBroker(url) as consumer:
        sub = await _declare(producer)
        waiting = asyncio.create_task(consumer.fetch(sub, 10, wait=10))
        await asyncio.sleep(0.1)  # let the fetch start waiting
        started = time.monotonic()
        sent = _message()
        await producer.publish([sent])
        got = await asyncio.wait_for(waiting, 5)
        assert time.monotonic() - started < 2
        assert [d.message_id for d in got] == [sent.message_id]
        assert await producer.fetch(sub, 10, wait=0) == []


async def test_dedupe_window_forgets_acked_messages(tmp_path: Path) -> None:
    """Past the dedupe window, acked messages are deleted and their id may be delivered again."""
    async with SqliteBroker(f"sqlite:///{tmp_path}/b.db", dedupe_window=0.2) as broker:
        sub = await _declare(broker)
        kept = _message()
        await broker.publish([_message(message_id="again"), kept])
        done = [d for d in await broker.fetch(sub, 10, wait=0) if d.message_id == "again"]
        await broker.ack(done)
        await asyncio.sleep(0.3)  # the window is measured on the wall clock
        await broker.publish([_message(message_id="again")])  # this publish purges, then stores anew
        got = await broker.fetch(sub, 10, wait=1)
    assert [d.message_id for d in got] == ["again"]  # ``kept`` is still invisible, not lost
    ids = {row[0] for row in _raw(tmp_path / "b.db", "SELECT message_id FROM broker_messages")}
    assert ids == {"again", kept.message_id}


async def test_close_ends_a_waiting_fetch(tmp_path: Path) -> None:
    """Closing the broker ends a waiting fetch at once with nothing, not with an error."""
    broker = SqliteBroker(f"sqlite:///{tmp_path}/b.db")
    await broker.connect()
    sub = await _declare(broker)
    waiting = asyncio.create_task(broker.fetch(sub, 10, wait=10))
    await asyncio.sleep(0.1)  # let the fetch start waiting
    await broker.close()
    assert await asyncio.wait_for(waiting, 2) == []


def _driver_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(THREAD_NAME)}


async def test_close_stops_the_driver_thread(tmp_path: Path) -> None:
    """Connecting and closing leaves no thread of the broker's behind, even when connect fails."""
    before = _driver_threads()
    async with SqliteBroker(f"sqlite:///{tmp_path}/b.db") as broker:
        assert len(_driver_threads() - before) == 1
        await broker.ping()
    (tmp_path / "junk.db").write_bytes(b"not a database" * 1000)
    with pytest.raises(BrokerError):
        await SqliteBroker(f"sqlite:///{tmp_path}/junk.db").connect()
    for thread in _driver_threads() - before:
        await asyncio.to_thread(thread.join, 5)  # it ends just after resolving its last future
    assert not _driver_threads() - before


async def test_unreachable_file_is_broker_unavailable(tmp_path: Path) -> None:
    """A file that cannot be created raises BrokerUnavailable naming the path."""
    (tmp_path / "file").write_text("a file, not a directory")
    with pytest.raises(BrokerUnavailable, match="file"):
        await SqliteBroker(f"sqlite:///{tmp_path}/file/b.db").connect()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (sqlite3.SQLITE_BUSY, BrokerUnavailable),
        (sqlite3.SQLITE_BUSY_SNAPSHOT, BrokerUnavailable),
        (sqlite3.SQLITE_LOCKED, BrokerUnavailable),
        (sqlite3.SQLITE_CANTOPEN, BrokerUnavailable),
        (sqlite3.SQLITE_IOERR_FSYNC, BrokerUnavailable),
        (sqlite3.SQLITE_FULL, BrokerUnavailable),
        (sqlite3.SQLITE_NOMEM, BrokerUnavailable),
        (sqlite3.SQLITE_PROTOCOL, BrokerUnavailable),
        (sqlite3.SQLITE_CORRUPT, BrokerError),
        (sqlite3.SQLITE_NOTADB, BrokerError),
        (sqlite3.SQLITE_READONLY, BrokerError),
        (sqlite3.SQLITE_CONSTRAINT_UNIQUE, BrokerError),
        (sqlite3.SQLITE_ERROR, BrokerError),
        (None, BrokerError),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_driver_error_table(code: int | None, expected: type[BrokerError]) -> None:
    """Each SQLite result code maps to BrokerUnavailable (try later) or BrokerError (will not heal)."""
    exc = sqlite3.OperationalError("boom")
    if code is not None:
        exc.sqlite_errorcode = code
    translated = translate(exc, "b.db")
    assert type(translated) is expected
    assert "b.db" in str(translated)
    assert type(translate(PermissionError("denied"), "b.db")) is BrokerUnavailable


async def test_publishes_are_fsynced_and_claims_and_acks_are_not(tmp_path: Path) -> None:
    """Every publish and subscription commits with synchronous FULL, every claim and ack with NORMAL."""
    statements: list[str] = []
    async with SqliteBroker(f"sqlite:///{tmp_path}/b.db") as broker:
        link = broker._link
        assert link is not None
        await link.run(lambda db: db.set_trace_callback(statements.append))
        sub = await _declare(broker)
        for _ in range(2):  # the second round switches back from an ack's NORMAL to a publish's FULL
            await broker.publish([_message()])
            (delivery,) = await broker.fetch(sub, 10, wait=1)
            await broker.ack([delivery])
    synchronous, writes = "FULL", []  # what the connection was opened with
    for sql in statements:
        if sql.startswith("PRAGMA synchronous"):
            synchronous = sql.split("=")[1].strip()
        elif sql.startswith(("INSERT OR REPLACE INTO broker_subscriptions", "INSERT OR IGNORE INTO broker_messages")):
            writes.append(("durable", synchronous))
        elif sql.startswith(("UPDATE broker_deliveries", "DELETE FROM broker_deliveries")):
            writes.append(("light", synchronous))
    assert writes == [("durable", "FULL")] + [("durable", "FULL"), ("light", "NORMAL"), ("light", "NORMAL")] * 2
