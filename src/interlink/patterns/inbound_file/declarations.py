"""Inbound files as a domain declares them: where they arrive, how their records are laid out, what runs per record.

Pure data: :mod:`interlink.patterns.inbound_file` reads, claims and ingests the files. A declaration::

    branch.inbound_file(
        "customers",
        directory="incoming/customers",
        pattern="customers-*.csv",
        format=CsvFormat(delimiter=";", encoding="latin-1", columns={"Customer No": "id"}),
        record=CustomerRow,
        command=register_customer,
    )

Each record of a matching file is parsed, validated against ``record`` and handed to ``command`` as its
input (``to_input`` maps a record to the input when they differ). Every file that was claimed ends with a
:class:`FileIngested` event of the domain, with its counts.
"""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from interlink.core.declarations import CommandSpec
from interlink.core.messages import PublicEvent
from interlink.exceptions import ConfigurationError

if TYPE_CHECKING:
    from interlink.core.domain import Domain

__all__ = [
    "CsvFormat",
    "FileFormat",
    "FileIngested",
    "FileLimits",
    "FixedField",
    "FixedWidthFormat",
    "InboundFileSpec",
    "JsonLinesFormat",
    "RejectLimit",
    "file_ingested_event",
    "inbound_file_spec",
    "inbound_files_of",
]

_SOURCE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_Frozen = ConfigDict(frozen=True, extra="forbid")


class CsvFormat(BaseModel):
    """Delimited text. With ``header`` the first row names the columns (``columns`` renames some of them to
    the record's field names); without it ``fieldnames`` names them by position. An empty value counts as
    absent, so the record model's default applies. A UTF-8 byte order mark is skipped."""

    model_config = _Frozen

    kind: Literal["csv"] = "csv"
    delimiter: str = Field(",", min_length=1, max_length=1)
    quotechar: str = Field('"', min_length=1, max_length=1)
    #: False reads quote characters as ordinary data (``csv.QUOTE_NONE``).
    quoting: bool = True
    doublequote: bool = True
    escapechar: str | None = Field(None, min_length=1, max_length=1)
    header: bool = True
    columns: dict[str, str] = Field(default_factory=dict)
    fieldnames: tuple[str, ...] = ()
    encoding: str = "utf-8"
    strip: bool = False

    @model_validator(mode="after")
    def _names(self) -> Self:
        if not self.header and not self.fieldnames:
            raise ValueError("a CSV format without a header row needs fieldnames")
        if self.header and self.fieldnames:
            raise ValueError("fieldnames are for files without a header row; rename header columns with columns")
        return self


class JsonLinesFormat(BaseModel):
    """One JSON object per line; blank lines are skipped."""

    model_config = _Frozen

    kind: Literal["jsonl"] = "jsonl"
    encoding: str = "utf-8"


class FixedField(BaseModel):
    """One field of a fixed-width layout: columns ``start`` (counting from 1, as copybooks do) to
    ``start + length - 1``. ``int`` and ``decimal`` take an optional sign; ``scale`` is the number of implied
    decimal places (``9(5)V99`` is length 7, scale 2); ``date`` is parsed with ``date_format``. An all-blank
    field counts as absent."""

    model_config = _Frozen

    name: str = Field(min_length=1)
    start: int = Field(ge=1)
    length: int = Field(ge=1)
    type: Literal["str", "int", "decimal", "date"] = "str"
    scale: int = Field(0, ge=0, le=18)
    date_format: str = "%Y%m%d"

    @property
    def end(self) -> int:
        """The last column of the field."""
        return self.start + self.length - 1


class FixedWidthFormat(BaseModel):
    """Fixed-width lines, the format of mainframe extracts. ``width`` is the record length, filler included
    (the end of the last field by default); a shorter line is padded with blanks (trailing blanks are often
    stripped on the way), a longer one is rejected."""

    model_config = _Frozen

    kind: Literal["fixed"] = "fixed"
    fields: tuple[FixedField, ...] = Field(min_length=1)
    width: int | None = Field(None, ge=1)
    encoding: str = "utf-8"

    @model_validator(mode="after")
    def _layout(self) -> Self:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"field names must be unique, got {names}")
        spans = sorted(self.fields, key=lambda f: f.start)
        for before, after in itertools.pairwise(spans):
            if after.start <= before.end:
                raise ValueError(f"fields {before.name!r} and {after.name!r} overlap")
        if self.width is not None and self.width < spans[-1].end:
            raise ValueError(f"width {self.width} is shorter than the layout ({spans[-1].end} columns)")
        return self

    @property
    def record_width(self) -> int:
        """The declared record length."""
        return self.width or max(f.end for f in self.fields)


FileFormat = CsvFormat | JsonLinesFormat | FixedWidthFormat


def _check_encoding(fmt: FileFormat) -> None:
    try:
        codecs.lookup(fmt.encoding)
    except LookupError:
        raise ConfigurationError(
            f"unknown encoding {fmt.encoding!r} (use a Python codec name: utf-8, latin-1, cp037, ...)"
        ) from None


class FileLimits(BaseModel):
    """What a file may not exceed; past any of these it is refused with the reason."""

    model_config = _Frozen

    max_file_bytes: int = Field(4 * 2**30, ge=1)
    max_line_chars: int = Field(1 << 20, ge=16)
    max_field_chars: int = Field(1 << 16, ge=1)
    #: Decompressed bytes per compressed byte (gzip): beyond it the file is taken for a decompression bomb.
    max_decompression_ratio: float = Field(200.0, gt=1)
    max_decompressed_bytes: int = Field(64 * 2**30, ge=1)


class RejectLimit(BaseModel):
    """When rejects abort a file: more than ``max_rejects`` of them, or a share of the records read above
    ``max_share`` once at least ``min_records`` were read. None: no limit of that kind."""

    model_config = _Frozen

    max_rejects: int | None = Field(None, ge=0)
    max_share: float | None = Field(None, ge=0, le=1)
    min_records: int = Field(100, ge=1)


class FileIngested(PublicEvent):
    """A claimed inbound file reached its end: ``archived`` (read to the end) or ``failed`` (aborted, with
    ``reason``). ``records`` read = ``accepted`` + ``rejected``. Each domain gets its own subclass."""

    __pattern__: ClassVar[str | None] = "inbound-file"

    source: str = Field(description="The inbound file source (its declared name).")
    file_name: str = Field(description="The file's name as it arrived.")
    file_id: str = Field(description="The id the domain gave the file when it claimed it.")
    sha256: str = Field(description="The SHA-256 of the file's bytes: the same file is taken once.")
    outcome: Literal["archived", "failed"] = Field(description="Read to the end (archived) or aborted (failed).")
    records: int = Field(description="Records read: accepted + rejected.")
    accepted: int = Field(description="Records whose command ran.")
    rejected: int = Field(description="Records refused, each kept with its reason.")
    reason: str | None = Field(None, description="Why the file failed, if it did.")


def file_ingested_event(domain_name: str) -> type[FileIngested]:
    """A fresh ``FileIngested`` class for one domain (a message class belongs to exactly one domain)."""
    cls = create_model("FileIngested", __base__=FileIngested, __module__=__name__)
    cls.__qualname__ = f"FileIngested[{domain_name}]"
    return cls


@dataclass(frozen=True)
class InboundFileSpec:
    """An inbound file source of a domain: ``directory`` is watched for files matching ``pattern``."""

    name: str
    directory: PurePath
    pattern: str
    format: FileFormat
    record: type[BaseModel]
    command: CommandSpec
    to_input: Callable[[Any], Any] | None
    event: type[FileIngested]
    compression: Literal["auto", "gzip", "none"] = "auto"
    batch_size: int = 500
    settle_seconds: float = 2.0
    done_marker: bool = False
    limits: FileLimits = field(default_factory=FileLimits)
    rejects: RejectLimit = field(default_factory=RejectLimit)


def inbound_file_spec(
    name: str,
    command: CommandSpec,
    event: type[FileIngested],
    *,
    directory: str | PurePath,
    pattern: str,
    format: FileFormat | None,
    record: type[BaseModel] | None,
    to_input: Callable[[Any], Any] | None,
    **options: Any,
) -> InboundFileSpec:
    """Check a declaration and build its spec; raises ConfigurationError saying what is wrong."""
    where = f"inbound file {name!r}"
    if not _SOURCE.match(name):
        raise ConfigurationError(f"{where}: the name must be lowercase letters, digits, '-' or '_'")
    if not pattern or any(c in pattern for c in "/\\") or pattern.startswith("."):
        raise ConfigurationError(f"{where}: pattern {pattern!r} must name files of the directory itself")
    if command.input_type is None:
        raise ConfigurationError(f"{where}: command {command.name!r} takes no input to build from a record")
    _check_encoding(format or CsvFormat())
    record = record or command.input_type
    if to_input is None and not issubclass(record, command.input_type):
        raise ConfigurationError(
            f"{where}: record {record.__name__} is not the input of {command.name!r} "
            f"({command.input_type.__name__}); pass to_input= to map one to the other"
        )
    if options.get("compression", "auto") not in ("auto", "gzip", "none"):
        raise ConfigurationError(f"{where}: compression must be 'auto', 'gzip' or 'none'")
    if options.get("batch_size", 1) < 1 or options.get("settle_seconds", 0) < 0:
        raise ConfigurationError(f"{where}: batch_size must be at least 1 and settle_seconds not negative")
    return InboundFileSpec(
        name, PurePath(directory), pattern, format or CsvFormat(), record, command, to_input, event, **options
    )


def inbound_files_of(domain: Domain) -> dict[str, InboundFileSpec]:
    """The inbound file sources declared on ``domain``, by name."""
    found: dict[str, InboundFileSpec] = domain.declarations.setdefault("inbound_files", {})
    return found
