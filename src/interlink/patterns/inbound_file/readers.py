"""One reader per format: text in, :class:`RawRecord` out, one at a time (memory stays flat).

A record that cannot be parsed comes out with its ``error`` set, never as an exception: it becomes a reject
and the rest continue. Records are numbered from 1; ``line`` is the line the record starts on, so a CSV
record with a quoted line break spans more lines than one.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from interlink.patterns.inbound_file.declarations import (
    CsvFormat,
    FileLimits,
    FixedField,
    FixedWidthFormat,
    InboundFileSpec,
)
from interlink.patterns.inbound_file.errors import FileRefused

__all__ = ["RawRecord", "read_records"]


@dataclass(slots=True)
class RawRecord:
    """A record as read: where it is, its text, and its fields (or why it has none)."""

    number: int
    line: int
    raw: str
    fields: dict[str, Any] | None
    error: str | None = None


def read_records(text: TextIO, spec: InboundFileSpec) -> Iterator[RawRecord]:
    """The records of a decoded file, in order."""
    fmt = spec.format
    if isinstance(fmt, CsvFormat):
        required = {f.alias or n for n, f in spec.record.model_fields.items() if f.is_required()}
        return _csv(text, fmt, spec.limits, required)
    if isinstance(fmt, FixedWidthFormat):
        return _fixed(text, fmt, spec.limits)
    return _json_lines(text, spec.limits)


def _lines(text: TextIO, limit: int, taken: list[str]) -> Iterator[str]:
    """The lines csv.reader pulls, each also put in ``taken`` so that a reject can quote its record as it was
    (a generator: cheaper per line than an iterator class's ``__next__``)."""
    limit += 2  # the line break is not part of the line
    for count, line in enumerate(text, 1):
        if len(line) > limit:  # the pre-scan refuses these first; a file changed since is refused here
            raise FileRefused(f"a line is longer than the limit of {limit - 2:,} characters", line=count)
        taken.append(line)
        yield line


def _csv(text: TextIO, fmt: CsvFormat, limits: FileLimits, required: set[str]) -> Iterator[RawRecord]:
    if limits.max_field_chars >= csv.field_size_limit():
        # The csv module's own limit (131,072 by default, process-wide) must not cut in before ours.
        csv.field_size_limit(limits.max_field_chars + 1)
    taken: list[str] = []
    reader = csv.reader(
        _lines(text, limits.max_line_chars, taken),
        delimiter=fmt.delimiter,
        quotechar=fmt.quotechar,
        quoting=csv.QUOTE_MINIMAL if fmt.quoting else csv.QUOTE_NONE,
        doublequote=fmt.doublequote,
        escapechar=fmt.escapechar,
        strict=True,
    )
    names = list(fmt.fieldnames)
    if fmt.header:
        try:
            header = next((row for row in reader if row), None)
        except csv.Error as exc:
            raise FileRefused(f"the header row is not valid CSV: {exc}", line=reader.line_num) from None
        if header is None:
            return
        names = [fmt.columns.get(h.strip(), h.strip()) for h in header]
        # A header that does not fit the record would only make every record a reject: refuse the file.
        if len(set(names)) != len(names):
            raise FileRefused(f"the header names a column twice: {names}", line=reader.line_num)
        if missing := required - set(names):
            raise FileRefused(f"the header has no column for {sorted(missing)} (it has {names})", line=reader.line_num)
    number, width, longest, strip = 0, len(names), limits.max_field_chars, fmt.strip
    while True:
        taken.clear()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            yield RawRecord(number, reader.line_num - len(taken) + 1, "".join(taken), None, f"not valid CSV: {exc}")
            continue
        if not row:
            continue  # a blank line is no record
        number += 1
        # reader.line_num counts the lines pulled so far: this record's are the last len(taken) of them.
        first = reader.line_num - len(taken) + 1
        raw = taken[0] if len(taken) == 1 else "".join(taken)
        if len(row) != width:
            yield RawRecord(number, first, raw, None, f"has {len(row)} fields; the header names {width}")
            continue
        if len(raw) > longest and (too_long := _too_long(zip(names, row, strict=True), longest)):
            yield RawRecord(number, first, raw, None, too_long)
            continue
        if strip:
            fields = {n: v.strip() for n, v in zip(names, row, strict=True) if v and not v.isspace()}
        else:
            fields = dict(zip(names, row))  # noqa: B905 -- as long as names (checked above); strict costs ~0.3 us
            if "" in fields.values():  # checked in C: most records have no empty field to drop
                fields = {n: v for n, v in fields.items() if v}
        yield RawRecord(number, first, raw, fields)


def _too_long(fields: Any, limit: int) -> str | None:
    for name, value in fields:
        if isinstance(value, str) and len(value) > limit:
            return f"field {name!r} is {len(value):,} characters, over the limit of {limit:,}"
    return None


def _json_lines(text: TextIO, limits: FileLimits) -> Iterator[RawRecord]:
    number = 0
    for line_number, line in enumerate(text, 1):
        body = line.strip()
        if not body:
            continue
        number += 1
        try:
            value = json.loads(body)
        except ValueError as exc:
            yield RawRecord(number, line_number, line, None, f"not valid JSON: {exc}")
            continue
        if not isinstance(value, dict):
            yield RawRecord(number, line_number, line, None, f"not a JSON object but {type(value).__name__}")
            continue
        if len(body) > limits.max_field_chars and (too_long := _too_long(value.items(), limits.max_field_chars)):
            yield RawRecord(number, line_number, line, None, too_long)
            continue
        yield RawRecord(number, line_number, line, value)


def _fixed(text: TextIO, fmt: FixedWidthFormat, limits: FileLimits) -> Iterator[RawRecord]:
    width, number = fmt.record_width, 0
    for line_number, line in enumerate(text, 1):
        body = line.rstrip("\r\n")
        if not body.strip():
            continue
        number += 1
        if len(body) > width:
            yield RawRecord(number, line_number, line, None, f"is {len(body)} characters; the layout has {width}")
            continue
        body = body.ljust(width)
        fields: dict[str, Any] = {}
        error = None
        for field in fmt.fields:
            piece = body[field.start - 1 : field.end].strip()
            if not piece:
                continue
            try:
                fields[field.name] = _convert(field, piece)
            except ValueError as exc:
                error = f"field {field.name!r} (columns {field.start}-{field.end}): {exc}"
                break
        yield RawRecord(number, line_number, line, None if error else fields, error)


def _convert(field: FixedField, piece: str) -> Any:
    if field.type == "str":
        return piece
    if field.type == "int":
        if not piece.lstrip("+-").isdigit():
            raise ValueError(f"{piece!r} is not a whole number")
        return int(piece)
    if field.type == "decimal":
        try:
            number = Decimal(piece)
        except InvalidOperation:
            raise ValueError(f"{piece!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{piece!r} is not a number")
        return number.scaleb(-field.scale) if field.scale else number
    try:
        return datetime.strptime(piece, field.date_format).date()
    except ValueError:
        raise ValueError(f"{piece!r} is not a date as {field.date_format}") from None
