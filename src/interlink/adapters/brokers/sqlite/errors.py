"""The one place where the SQLite broker's driver errors become Interlink's."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from interlink.exceptions import BrokerError, BrokerUnavailable

__all__ = ["translate", "translating"]

# Primary result codes after which trying again later may succeed; anything else is a BrokerError.
_UNAVAILABLE = frozenset({
    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL,
})  # fmt: skip


def translate(exc: sqlite3.Error | OSError, path: str) -> BrokerError:
    """BrokerUnavailable when trying later may succeed (a lock, the disk), else BrokerError."""
    if isinstance(exc, OSError):
        return BrokerUnavailable(f"SQLite broker cannot prepare {path}: {exc}")
    code = getattr(exc, "sqlite_errorcode", None)
    kind = BrokerUnavailable if code is not None and code & 0xFF in _UNAVAILABLE else BrokerError
    return kind(f"SQLite broker at {path}: {exc}")


@contextlib.contextmanager
def translating(path: str) -> Iterator[None]:
    """Raise what the block's driver errors translate to."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise translate(exc, path) from exc
