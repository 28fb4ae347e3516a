"""Bytes to text, within limits: gzip decompression watched for bombs, and the pre-scan that vets a file.

Before a single record runs, :func:`prescan` reads the whole file once: its SHA-256 (the identity that makes
a second copy a duplicate), and every hazard that can be judged without parsing, so a refused file leaves
nothing half-applied: a decompression ratio over the limit, bytes invalid in the declared encoding (with
the line number), a line over the length limit.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TextIO

from interlink.patterns.inbound_file.declarations import FileLimits, InboundFileSpec
from interlink.patterns.inbound_file.errors import FileRefused
from interlink.patterns.inbound_file.files import open_checked

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["Facts", "open_text", "prescan", "text_codec"]

_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Facts:
    """What the pre-scan learnt about a file."""

    sha256: str
    size: int
    compressed: bool
    lines: int


def text_codec(encoding: str) -> str:
    """The codec to decode with: UTF-8 skips a byte order mark if there is one."""
    name = codecs.lookup(encoding).name
    return "utf-8-sig" if name == "utf-8" else name


class _Counting(io.RawIOBase):
    """Passes bytes through, counting them and (optionally) hashing them."""

    def __init__(self, source: BinaryIO, *, hashing: bool) -> None:
        self._source = source
        self.count = 0
        self.hash = hashlib.sha256() if hashing else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer)
        data = self._source.read(len(view))
        n = len(data)
        view[:n] = data
        self.count += n
        if self.hash is not None:
            self.hash.update(data)
        return n


class _Inflating(io.RawIOBase):
    """Gzip decompression that refuses to produce more than the ratio (or the total) allows."""

    def __init__(self, source: _Counting, limits: FileLimits, name: str) -> None:
        self._source = source
        self._gzip = gzip.GzipFile(fileobj=source, mode="rb")
        self._limits = limits
        self._name = name
        self.produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer)
        try:
            data = self._gzip.read(len(view))
        except (OSError, EOFError, zlib.error) as exc:
            raise FileRefused(f"{self._name} is not a valid gzip file: {exc}") from None
        n = len(data)
        view[:n] = data
        self.produced += n
        ratio = self._limits.max_decompression_ratio
        if self.produced > ratio * max(self._source.count, 1) or self.produced > self._limits.max_decompressed_bytes:
            raise FileRefused(
                f"{self._name} decompresses to more than {ratio:g} times its size "
                f"(or past {self._limits.max_decompressed_bytes:,} bytes): refused as a decompression bomb"
            )
        return n


def _binary(raw: BinaryIO, spec: InboundFileSpec, name: str, *, hashing: bool) -> tuple[_Counting, BinaryIO, bool]:
    """(counting layer, decompressed bytes, compressed?) for a file opened at its start."""
    head = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
    gz = spec.compression == "gzip" or (spec.compression == "auto" and head == _GZIP_MAGIC)
    if spec.compression == "gzip" and head != _GZIP_MAGIC:
        raise FileRefused(f"{name} is declared gzip-compressed but is not a gzip file")
    counting = _Counting(raw, hashing=hashing)
    if not gz:
        return counting, io.BufferedReader(counting, _CHUNK), False
    return counting, io.BufferedReader(_Inflating(counting, spec.limits, name), _CHUNK), True


def open_text(raw: BinaryIO, spec: InboundFileSpec, name: str) -> TextIO:
    """The decoded text of a file opened at its start, decompressed if it is gzip."""
    _, binary, _ = _binary(raw, spec, name, hashing=False)
    return io.TextIOWrapper(binary, encoding=text_codec(spec.format.encoding), errors="strict", newline="")


def prescan(path: Path, spec: InboundFileSpec, name: str | None = None) -> Facts:
    """Hash and vet the whole file (blocking: run it in a thread). FileRefused names the first hazard, and
    the file by ``name`` (its own by default)."""
    limits, name = spec.limits, name or path.name
    with open_checked(path, limits) as raw:
        counting, binary, compressed = _binary(raw, spec, name, hashing=True)
        decoder = codecs.getincrementaldecoder(text_codec(spec.format.encoding))("strict")
        lines, carry = 0, 0
        while chunk := binary.read(_CHUNK):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line = lines + 1 + bytes(exc.object[: exc.start]).count(b"\n")
                raise FileRefused(_bad_bytes(name, spec, exc), line=line) from None
            lines, carry = _lines(text, lines, carry, limits.max_line_chars)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise FileRefused(_bad_bytes(name, spec, exc), line=lines + 1) from None
        while counting.read(_CHUNK):  # whatever follows the gzip stream still counts in the hash
            pass
        assert counting.hash is not None
        return Facts(counting.hash.hexdigest(), counting.count, compressed, lines + (1 if carry else 0))


def _bad_bytes(name: str, spec: InboundFileSpec, exc: UnicodeDecodeError) -> str:
    bad = bytes(exc.object[exc.start : exc.end]).hex(" ")
    return f"{name} is not valid {spec.format.encoding}: bytes {bad} ({exc.reason})"


def _lines(text: str, lines: int, carry: int, limit: int) -> tuple[int, int]:
    """(lines ended so far, length of the unfinished last line), refusing a line longer than ``limit``."""
    newlines = text.count("\n")
    if not newlines:
        carry += len(text)
    else:
        first, last = text.index("\n"), text.rindex("\n")
        if carry + first > limit:
            raise FileRefused(f"a line is longer than the limit of {limit:,} characters", line=lines + 1)
        if last - first > limit:  # only then can a line in between be too long
            for offset, part in enumerate(text[first + 1 : last].split("\n")):
                if len(part) > limit:
                    raise FileRefused(
                        f"a line is longer than the limit of {limit:,} characters", line=lines + 2 + offset
                    )
        carry = len(text) - last - 1
    lines += newlines
    if carry > limit:
        raise FileRefused(f"a line is longer than the limit of {limit:,} characters", line=lines + 1)
    return lines, carry
