"""The one place where redis-py's exceptions become Interlink's BrokerError or BrokerUnavailable.

BrokerUnavailable means "trying again later may succeed" (the server is down, loading, failing over, out
of memory); BrokerError means it will not (bad credentials, a refused command). Messages name the server
by ``host:port/db`` and never carry the password.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from redis import exceptions as rx

from interlink.adapters.brokers.redis.config import RedisSettings
from interlink.exceptions import BrokerError, BrokerUnavailable

__all__ = ["TRANSLATIONS", "is_nogroup", "is_too_long", "translate", "translating"]

# (driver exception, error code (the reply's first word) or "", what it becomes, what it means). The first
# match wins, so a subclass comes before its base: redis-py files AuthenticationError under ConnectionError.
TRANSLATIONS: tuple[tuple[type[BaseException], str, type[BrokerError], str], ...] = (
    (rx.AuthenticationError, "", BrokerError, "authentication failed"),
    (rx.AuthorizationError, "", BrokerError, "not authorized"),
    (rx.NoPermissionError, "", BrokerError, "the user lacks a permission"),
    (rx.BusyLoadingError, "", BrokerUnavailable, "is loading its data set"),
    (rx.ConnectionError, "", BrokerUnavailable, "cannot be reached"),
    (rx.TimeoutError, "", BrokerUnavailable, "did not answer in time"),
    (rx.ReadOnlyError, "", BrokerUnavailable, "is a read-only replica (failover in progress?)"),
    (rx.TryAgainError, "", BrokerUnavailable, "asks to try again"),
    (rx.ClusterDownError, "", BrokerUnavailable, "is down"),
    (rx.OutOfMemoryError, "", BrokerUnavailable, "is out of memory"),
    (rx.ResponseError, "BUSY", BrokerUnavailable, "is busy running a script"),
    (rx.ResponseError, "MISCONF", BrokerUnavailable, "cannot persist to disk"),
    (rx.ResponseError, "NOREPLICAS", BrokerUnavailable, "has too few replicas"),
    (rx.ResponseError, "", BrokerError, "refused the command"),
    (rx.RedisError, "", BrokerError, "failed"),
    (OSError, "", BrokerUnavailable, "cannot be reached"),
)


def translate(exc: BaseException, settings: RedisSettings) -> BrokerError:
    """The Interlink error for a redis-py (or socket) error, naming the server but not the password."""
    text = str(exc)
    first_word = text.split(" ", 1)[0]
    for driver, code, kind, meaning in TRANSLATIONS:
        if isinstance(exc, driver) and code in ("", first_word):
            detail = settings.scrub(text) or type(exc).__name__
            return kind(f"Redis at {settings.address} {meaning}: {detail}")
    return BrokerError(f"Redis at {settings.address} failed: {type(exc).__name__}")


def is_nogroup(exc: BaseException) -> bool:
    """True for the error of a command on a consumer group (or stream) that no longer exists, also a
    blocking read whose stream was deleted meanwhile (``UNBLOCKED``)."""
    return isinstance(exc, rx.ResponseError) and ("NOGROUP" in str(exc) or "UNBLOCKED" in str(exc))


def is_too_long(exc: BaseException | None) -> bool:
    """True for the server's refusal of an argument over its ``proto-max-bulk-len`` (it then closes the
    connection): one message is too large, the server is not down."""
    return isinstance(exc, rx.RedisError) and "invalid bulk length" in str(exc).lower()


@contextlib.contextmanager
def translating(settings: RedisSettings) -> Iterator[None]:
    """Re-raise redis-py and socket errors inside the block as Interlink's."""
    try:
        yield
    except (rx.RedisError, OSError) as exc:
        raise translate(exc, settings) from exc
