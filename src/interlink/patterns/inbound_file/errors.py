"""Why a file is not ingested: refused outright, or its claim lost to another worker."""

from __future__ import annotations

from interlink.exceptions import ConcurrencyError, MessageError

__all__ = ["ClaimLost", "FileRefused"]


class FileRefused(MessageError):
    """A file that cannot be processed at all: a hazard (symlink, outside the directory, too large, a
    decompression bomb, invalid bytes, an overlong line) or a layout it does not follow.

    Like a poison message, trying again cannot help; ``reason`` says what is wrong, ``line`` where.
    """

    def __init__(self, reason: str, *, line: int | None = None) -> None:
        super().__init__(f"{reason} (line {line})" if line is not None else reason)
        self.reason = str(self)
        self.line = line


class ClaimLost(ConcurrencyError):
    """Another worker took the file over (this one's lease ran out): this one stops, touching nothing."""
