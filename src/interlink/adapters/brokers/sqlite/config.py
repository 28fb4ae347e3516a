"""The SQLite broker's options: from its URL's query, overridden by the constructor's arguments."""

from __future__ import annotations

from interlink.exceptions import ConfigurationError

__all__ = ["DEFAULTS", "SQLITE_MAX_LENGTH", "seconds", "size"]

DEFAULTS = {"visibility_timeout": 30.0, "poll_interval": 0.05, "dedupe_window": 120.0}
#: SQLite's own limit on a value's length (SQLITE_MAX_LENGTH): the default largest message.
SQLITE_MAX_LENGTH = 1_000_000_000


def seconds(name: str, argument: float | None, options: dict[str, str], url: str) -> float:
    """An option's value: the constructor's argument, else the URL's, else the default."""
    try:
        value = argument if argument is not None else float(options.get(name, DEFAULTS[name]))
    except ValueError:
        raise ConfigurationError(f"{name} in {url!r} must be a number of seconds") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, got {value}")
    return value


def size(argument: int | None, options: dict[str, str], url: str) -> int:
    """The largest message in bytes: the constructor's argument, else the URL's, else SQLite's own limit."""
    text = options.get("max_message_size")
    if argument is None and text is not None:
        if not text.isdigit():
            raise ConfigurationError(f"max_message_size in {url!r} must be a whole number of bytes")
        argument = int(text)
    value = SQLITE_MAX_LENGTH if argument is None else argument
    if not 0 < value <= SQLITE_MAX_LENGTH:
        raise ConfigurationError(f"max_message_size must be from 1 to {SQLITE_MAX_LENGTH} bytes, got {value}")
    return value
