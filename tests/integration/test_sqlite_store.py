"""The SQLite store: the store contract, plus what only a file on disk shared by several stores can show."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sqlite3
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from interlink.adapters.stores.sqlite import SqliteStore
from interlink.exceptions import ConcurrencyError, ConfigurationError, DuplicateMessage, StoreError, StoreUnavailable
from interlink.ports.broker import OutgoingMessage
from interlink.ports.store import SCHEMA_VERSION, AggregateWrite, ChangeSet, InboxMark, Store, StoredAggregate
from interlink.testing.contracts.store import StoreContract

DOMAIN = "test-domain"


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


def _set_schema_version(path: Path, version: int) -> None:
    with sqlite3.connect(path) as db:
        # As a release whose migration the current one cannot follow: compatible only from that version on.
        db.execute("UPDATE interlink_meta SET value = ? WHERE key IN ('schema', 'compatible_from')", (str(version),))
    db.close()


class TestSqliteStore(StoreContract):
    """SqliteStore on a fresh file against the store contract."""

    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[Store]:
        """A connected SQLite store on a new file."""
        async with SqliteStore(_url(tmp_path / "s.db"), domain=DOMAIN) as store:
            yield store


@pytest.fixture
async def db_path(tmp_path: Path) -> Path:
    """The file of a store that has been connected once (so its schema exists) and closed."""
    path = tmp_path / "s.db"
    async with SqliteStore(_url(path), domain=DOMAIN):
        pass
    return path


async def test_schema_version_is_recorded(tmp_path: Path) -> None:
    """A new store file records the current schema version, and reopening it keeps that version."""
    path = tmp_path / "s.db"
    async with SqliteStore(_url(path), domain=DOMAIN) as store:
        assert await store.schema_version() == SCHEMA_VERSION
    async with SqliteStore(_url(path), domain=DOMAIN) as store:
        assert await store.schema_version() == SCHEMA_VERSION


async def test_newer_schema_is_refused(db_path: Path) -> None:
    """A file written by a newer schema version is refused with a StoreError naming that version."""
    _set_schema_version(db_path, SCHEMA_VERSION + 41)
    store = SqliteStore(_url(db_path), domain=DOMAIN)
    with pytest.raises(StoreError, match=rf"schema version {SCHEMA_VERSION + 41}\b.*upgrade Interlink"):
        await store.connect()
    with pytest.raises(StoreError, match="not connected"):
        await store.load("Account", "a-1")
    # The refused store keeps its engine (see test_refused_store_releases_its_connections); dispose of
    # it here so the leak does not surface as a warning in whichever test runs the garbage collector next.
    await store._close()


async def test_refused_store_releases_its_connections(db_path: Path) -> None:
    """A store refused at connect() leaves no SQLite connection open behind it."""
    _set_schema_version(db_path, SCHEMA_VERSION + 1)

    async def refuse() -> None:
        store = SqliteStore(_url(db_path), domain=DOMAIN)
        with contextlib.suppress(StoreError):
            await store.connect()
        await store.close()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await refuse()
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://localhost/loans", "bad SQLite URL"),
        ("sqlite://host/loans.db", "bad SQLite URL"),
        ("sqlite://", "bad SQLite URL"),
        ("sqlite:///", "bad SQLite URL"),
        ("sqlite:///loans.db?synchronous=sometimes", r"synchronous must be one of \['extra', 'full'"),
        ("sqlite:///loans.db?busy_timeout=soon", "busy_timeout must be milliseconds"),
        ("sqlite:///loans.db?colour=blue&size=2", r"unknown option\(s\) \['colour', 'size'\]"),
    ],
    ids=["other-scheme", "host", "no-path", "root-path", "synchronous", "busy-timeout", "unknown-option"],
)
def test_bad_url_raises_configuration_error(url: str, message: str) -> None:
    """A bad URL or option is refused at construction with a ConfigurationError saying what is wrong."""
    with pytest.raises(ConfigurationError, match=message):
        SqliteStore(url, domain=DOMAIN)


def test_known_options_are_accepted() -> None:
    """synchronous (any case) and busy_timeout are read from the URL's query."""
    store = SqliteStore("sqlite:///data/loans.db?synchronous=NORMAL&busy_timeout=250", domain=DOMAIN)
    assert (store.path, store.synchronous, store.busy_timeout) == (Path("data/loans.db"), "normal", 250)


async def test_wal_mode_is_on(tmp_path: Path) -> None:
    """The store puts its file in WAL mode, so readers do not block the writer."""
    path = tmp_path / "s.db"
    async with SqliteStore(_url(path), domain=DOMAIN) as store:
        await store.commit([ChangeSet(writes=[AggregateWrite("Account", "a-1", 0, 1, "{}")])])
        with sqlite3.connect(path) as db:
            (mode,) = db.execute("PRAGMA journal_mode").fetchone()
        db.close()
    assert mode == "wal"


async def test_missing_folders_are_created(tmp_path: Path) -> None:
    """The folders of the file path are created at connect()."""
    path = tmp_path / "deep" / "er" / "s.db"
    async with SqliteStore(_url(path), domain=DOMAIN) as store:
        await store.ping()
    assert path.is_file()


async def test_unusable_folder_is_store_unavailable(tmp_path: Path) -> None:
    """A path whose folder cannot be created raises StoreUnavailable naming the path."""
    (tmp_path / "a-file").write_text("not a folder")
    store = SqliteStore(_url(tmp_path / "a-file" / "s.db"), domain=DOMAIN)
    with pytest.raises(StoreUnavailable, match="a-file"):
        await store.connect()


@pytest.mark.parametrize(
    ("driver_error", "expected"),
    [
        (sqlite3.OperationalError("database is locked"), StoreUnavailable),
        (sqlite3.OperationalError("database table is busy"), StoreUnavailable),
        (sqlite3.OperationalError("unable to open database file"), StoreUnavailable),
        (sqlite3.OperationalError("disk I/O error"), StoreUnavailable),
        (sqlite3.OperationalError("no such table: interlink_outbox"), StoreError),
        (sqlite3.IntegrityError("UNIQUE constraint failed"), StoreError),
        (RuntimeError("anything else"), StoreError),
    ],
    ids=["locked", "busy", "cannot-open", "io", "no-table", "integrity", "other"],
)
def test_driver_errors_are_translated(driver_error: Exception, expected: type[Exception]) -> None:
    """The one translation table: each driver error becomes the named Interlink error, with its text."""
    store = SqliteStore("sqlite:///s.db", domain=DOMAIN)
    translated = store._translate(driver_error)
    assert type(translated) is expected
    assert str(driver_error) in str(translated)


async def test_two_stores_on_one_file_see_each_others_commits(tmp_path: Path) -> None:
    """What one store on a file commits, another store on the same file reads."""
    url = _url(tmp_path / "shared.db")
    async with SqliteStore(url, domain=DOMAIN) as a, SqliteStore(url, domain=DOMAIN) as b:
        message = OutgoingMessage("m-1", "test-domain.events", "test-domain.Opened", b"{}")
        await a.commit([ChangeSet(writes=[AggregateWrite("Account", "a-1", 0, 1, '{"n": 1}')], outbox=[message])])
        assert await b.load("Account", "a-1") == StoredAggregate('{"n": 1}', 1)
        assert [row.message for row in await b.outbox_batch(10)] == [message]
        await b.commit([ChangeSet(writes=[AggregateWrite("Account", "a-1", 1, 2, '{"n": 2}')])])
        assert await a.load("Account", "a-1") == StoredAggregate('{"n": 2}', 2)


async def test_concurrent_stale_write_from_another_store_raises(tmp_path: Path) -> None:
    """Two stores on one file update one version at once: one commits, the other gets ConcurrencyError."""
    url = _url(tmp_path / "shared.db")
    async with SqliteStore(url, domain=DOMAIN) as a, SqliteStore(url, domain=DOMAIN) as b:
        await a.commit([ChangeSet(writes=[AggregateWrite("Account", "a-1", 0, 1, '{"n": 1}')])])
        results = await asyncio.gather(
            a.commit([ChangeSet(writes=[AggregateWrite("Account", "a-1", 1, 2, '{"by": "a"}')])]),
            b.commit([ChangeSet(writes=[AggregateWrite("Account", "a-1", 1, 2, '{"by": "b"}')])]),
            return_exceptions=True,
        )
        errors = [r for r in results if r is not None]
        assert len(errors) == 1
        assert isinstance(errors[0], ConcurrencyError)
        winner = "a" if results[0] is None else "b"
        assert await b.load("Account", "a-1") == StoredAggregate(f'{{"by": "{winner}"}}', 2)


async def test_concurrent_creates_from_two_stores_raise(tmp_path: Path) -> None:
    """Two stores on one file creating the same aggregate at once: exactly one of them succeeds."""
    url = _url(tmp_path / "shared.db")
    async with SqliteStore(url, domain=DOMAIN) as a, SqliteStore(url, domain=DOMAIN) as b:
        results = await asyncio.gather(
            a.commit([ChangeSet(writes=[AggregateWrite("Account", "a-1", 0, 1, '{"by": "a"}')])]),
            b.commit([ChangeSet(writes=[AggregateWrite("Account", "a-1", 0, 1, '{"by": "b"}')])]),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["ConcurrencyError", "NoneType"]
        stored = await a.load("Account", "a-1")
        assert stored is not None
        assert stored.version == 1


async def test_a_refused_group_commit_leaves_nothing_and_the_writer_goes_on(tmp_path: Path) -> None:
    """A group refused at its last step (a duplicate inbox mark) rolls back its aggregates and outbox rows, and
    the writer's connection commits the next group."""
    async with SqliteStore(_url(tmp_path / "s.db"), domain=DOMAIN) as store:
        await store.commit([ChangeSet(inbox=[InboxMark("subscription", "m-1")])])
        message = OutgoingMessage("m-2", "test-domain.events", "test-domain.Opened", b"{}")
        refused = ChangeSet(
            writes=[AggregateWrite("Account", "a-1", 0, 1, "{}")],
            outbox=[message],
            inbox=[InboxMark("subscription", "m-1")],
        )
        with pytest.raises(DuplicateMessage):
            await store.commit([refused])
        assert await store.load("Account", "a-1") is None
        assert await store.outbox_batch(10) == []
        await store.commit([ChangeSet(writes=[AggregateWrite("Account", "a-1", 0, 1, "{}")], outbox=[message])])
        assert await store.load("Account", "a-1") == StoredAggregate("{}", 1)
        rows = await store.outbox_batch(10)
        assert [row.message for row in rows] == [message]
        await store.mark_sent([row.seq for row in rows])
        assert await store.outbox_batch(10) == []
