"""The file system side: the source's folders, what a safe file is, and moving files between folders.

A file is only ever opened with ``O_NOFOLLOW`` and checked on the descriptor it was opened with, so what is
checked is what is read: a symbolic link is refused (never followed), and so is anything that is not a
regular file. Refused entries are renamed, never opened or deleted, so nothing they point to is touched.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from interlink.exceptions import ConfigurationError
from interlink.patterns.inbound_file.declarations import FileLimits
from interlink.patterns.inbound_file.errors import FileRefused

__all__ = ["MARKER", "Folders", "hazard", "inside", "open_checked", "write_json"]

#: ``<name>.done`` beside a file says its writer finished it.
MARKER = ".done"
_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket"}


@dataclass(frozen=True)
class Folders:
    """A source's directory and the folders files move through: ``processing/`` while claimed, then
    ``archive/`` (read to the end, or a duplicate) or ``failed/`` (refused or aborted)."""

    root: Path

    @property
    def processing(self) -> Path:
        return self.root / "processing"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    @property
    def names(self) -> frozenset[str]:
        """The folders' own names, which are never taken for dropped files."""
        return frozenset({"processing", "archive", "failed"})

    def ensure(self) -> None:
        """Create the directory and its folders; refuse a folder that is a link (files would leave the directory)."""
        self.root.mkdir(parents=True, exist_ok=True)
        for folder in (self.processing, self.archive, self.failed):
            folder.mkdir(exist_ok=True)
            if folder.is_symlink() or not folder.is_dir():
                raise ConfigurationError(f"{folder} must be a directory of its own, not a link or a file")


def inside(folders: Folders, path: Path) -> Path:
    """``path`` made absolute if it names an entry directly in the directory (or in its ``processing/``);
    FileRefused otherwise. The entry itself is not resolved: a link is refused when it is opened."""
    absolute = Path(os.path.normpath(path.absolute()))
    parent = Path(os.path.realpath(absolute.parent))
    allowed = {Path(os.path.realpath(f)) for f in (folders.root, folders.processing)}
    if parent not in allowed or absolute.name in ("", ".", ".."):
        raise FileRefused(f"{path} is outside the inbound directory {folders.root}")
    return parent / absolute.name


def hazard(path: Path, limits: FileLimits) -> str | None:
    """Why the entry at ``path`` must not be read (judged without following it), or None."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return f"{path.name} is a symbolic link; links are never followed"
    if not stat.S_ISREG(info.st_mode):
        return f"{path.name} is {_KINDS.get(stat.S_IFMT(info.st_mode), 'a device')}, not a regular file"
    if info.st_size > limits.max_file_bytes:
        return f"{path.name} is {info.st_size:,} bytes, over the limit of {limits.max_file_bytes:,}"
    return None


def open_checked(path: Path, limits: FileLimits) -> BinaryIO:
    """Open a regular file for reading without following links; FileRefused with the reason otherwise."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # O_NONBLOCK: a FIFO must not block us
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if stat.S_ISLNK(path.lstat().st_mode):
            raise FileRefused(f"{path.name} is a symbolic link; links are never followed") from exc
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"{path.name} is not a regular file")
        if info.st_size > limits.max_file_bytes:
            raise FileRefused(f"{path.name} is {info.st_size:,} bytes, over the limit of {limits.max_file_bytes:,}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=1 << 20)
    except BaseException:
        os.close(fd)
        raise


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON document so that a reader sees all of it or none of it (temp file, fsync, rename)."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2, ensure_ascii=False)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
