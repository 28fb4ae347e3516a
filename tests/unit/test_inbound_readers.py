"""Reading records: CSV, JSON Lines and fixed-width, gzip, encodings, and the pre-scan's verdicts."""

from __future__ import annotations

import gzip
import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from interlink.patterns.inbound_file import FileRefused, prescan
from interlink.patterns.inbound_file.declarations import (
    CsvFormat,
    FileFormat,
    FileLimits,
    FixedField,
    FixedWidthFormat,
    JsonLinesFormat,
)
from interlink.patterns.inbound_file.files import open_checked
from interlink.patterns.inbound_file.readers import RawRecord, read_records
from interlink.patterns.inbound_file.streams import open_text
from tests.faults.apps.inbound_app import ledger_domain


def _spec(fmt: FileFormat | None = None, **options: Any) -> Any:
    return ledger_domain("in", format=fmt, **options).inbound_files["entries"]


def _read(path: Path, fmt: FileFormat | None = None, **options: Any) -> list[RawRecord]:
    spec = _spec(fmt, **options)
    with open_checked(path, spec.limits) as raw, open_text(raw, spec, path.name) as text:
        return list(read_records(text, spec))


def _fields(records: list[RawRecord]) -> list[Any]:
    return [r.fields if r.error is None else r.error for r in records]


def test_csv_with_delimiter_quotes_header_mapping_and_latin1(tmp_path: Path) -> None:
    """Semicolons, a quoted delimiter and a quoted line break, renamed columns, latin-1 bytes: all read."""
    path = tmp_path / "f.csv"
    path.write_bytes(
        'Nr;Konto;Betrag;Notiz\nE1;A1;1.50;"Müller; Zürich"\nE2;A2;2;"zwei\nZeilen"\n\nE3;A3;3;\n'.encode("latin-1")
    )
    fmt = CsvFormat(delimiter=";", encoding="latin-1", columns={"Nr": "id", "Konto": "account", "Betrag": "amount"})
    records = _read(path, fmt)
    assert _fields(records) == [
        {"id": "E1", "account": "A1", "amount": "1.50", "Notiz": "Müller; Zürich"},
        {"id": "E2", "account": "A2", "amount": "2", "Notiz": "zwei\nZeilen"},
        {"id": "E3", "account": "A3", "amount": "3"},
    ]
    assert [(r.number, r.line) for r in records] == [(1, 2), (2, 3), (3, 6)]
    assert records[1].raw == 'E2;A2;2;"zwei\nZeilen"\n'


def test_csv_utf8_bom_no_header_and_broken_rows(tmp_path: Path) -> None:
    """A BOM is skipped; fieldnames name columns; a short row and bad quoting are errors, not exceptions."""
    path = tmp_path / "f.csv"
    path.write_bytes(b'\xef\xbb\xbfE1,A1,1\nE2,A2\nE3,"A"3",1\n E4 , A4 ,4\n')
    fmt = CsvFormat(header=False, fieldnames=("id", "account", "amount"), strip=True)
    assert _fields(_read(path, fmt)) == [
        {"id": "E1", "account": "A1", "amount": "1"},
        "has 2 fields; the header names 3",
        "not valid CSV: ',' expected after '\"'",
        {"id": "E4", "account": "A4", "amount": "4"},
    ]


def test_csv_a_record_that_is_not_valid_csv_keeps_its_number_line_and_text(tmp_path: Path) -> None:
    """After a record spanning two lines, a record csv cannot parse is an error with its own number, first
    line and text, and the record after it is read from the right line."""
    path = tmp_path / "f.csv"
    path.write_bytes(b'id,account,amount,note\nE1,A1,1,"two\nlines"\nE2,"A"2",2,x\nE3,A3,3,y\n')
    records = _read(path)
    assert [(r.number, r.line, r.raw, r.error) for r in records] == [
        (1, 2, 'E1,A1,1,"two\nlines"\n', None),
        (2, 4, 'E2,"A"2",2,x\n', "not valid CSV: ',' expected after '\"'"),
        (3, 5, "E3,A3,3,y\n", None),
    ]


def test_csv_field_over_the_limit_is_an_error_of_its_record(tmp_path: Path) -> None:
    """A field longer than max_field_chars makes its record an error naming the field; the next is read."""
    path = tmp_path / "f.csv"
    path.write_text(f"id,account,amount,note\nE1,A1,1,{'x' * 50}\nE2,A2,2,ok\n")
    records = _read(path, limits=FileLimits(max_field_chars=20))
    assert _fields(records) == [
        "field 'note' is 50 characters, over the limit of 20",
        {"id": "E2", "account": "A2", "amount": "2", "note": "ok"},
    ]


def test_csv_records_keep_their_lines_and_text_across_the_chunks_read(tmp_path: Path) -> None:
    """300 one-line records, one whose quoted note spans 300 lines (over the reader's chunks of lines), one
    more: each keeps its record number, first line and text as read."""
    path = tmp_path / "f.csv"
    note = "\n".join(f"n{i}" for i in range(300))
    lines = [f"E{i},A1,{i},x\n" for i in range(300)]
    path.write_text("id,account,amount,note\n" + "".join(lines) + f'E300,A1,300,"{note}"\nE301,A1,301,y\n')
    records = _read(path)
    assert [(r.number, r.line) for r in records[298:]] == [(299, 300), (300, 301), (301, 302), (302, 602)]
    assert [r.raw for r in records[:300]] == lines
    assert records[300].raw == f'E300,A1,300,"{note}"\n'
    assert records[300].fields == {"id": "E300", "account": "A1", "amount": "300", "note": note}
    assert records[301].raw == "E301,A1,301,y\n"


def test_csv_a_line_over_the_limit_found_while_reading_stops_there(tmp_path: Path) -> None:
    """A line over max_line_chars (the file changed after its pre-scan) refuses the file with its line number,
    once the records before it were read."""
    path = tmp_path / "f.csv"
    path.write_text("id,account,amount\n" + "".join(f"E{i},A1,{i}\n" for i in range(400)) + f"E400,A1,{'9' * 90}\n")
    spec = _spec(limits=FileLimits(max_line_chars=50))
    read: list[RawRecord] = []
    with (
        open_checked(path, spec.limits) as raw,
        open_text(raw, spec, path.name) as text,
        pytest.raises(FileRefused) as refused,
    ):
        read.extend(read_records(text, spec))
    assert (len(read), refused.value.line) == (400, 402)
    assert "longer than the limit of 50 characters" in refused.value.reason


def test_json_lines(tmp_path: Path) -> None:
    """One object per line; blank lines skipped; bad JSON and non-objects are errors with their line."""
    path = tmp_path / "f.jsonl"
    path.write_text('{"id": "E1", "amount": 1}\n\n[1, 2]\n{"id": \n{"id": "E2"}\r\n')
    records = _read(path, JsonLinesFormat())
    assert [(r.number, r.line) for r in records] == [(1, 1), (2, 3), (3, 4), (4, 5)]
    assert _fields(records)[0] == {"id": "E1", "amount": 1}
    assert _fields(records)[1] == "not a JSON object but list"
    assert str(_fields(records)[2]).startswith("not valid JSON: Expecting value")
    assert _fields(records)[3] == {"id": "E2"}


def test_fixed_width_layout_with_types(tmp_path: Path) -> None:
    """Columns from 1, implied decimals, signed numbers, dates, blank fields absent, short lines padded."""
    layout = FixedWidthFormat(
        fields=(
            FixedField(name="id", start=1, length=4),
            FixedField(name="amount", start=5, length=7, type="decimal", scale=2),
            FixedField(name="count", start=12, length=3, type="int"),
            FixedField(name="day", start=15, length=8, type="date"),
        ),
        width=24,
        encoding="cp037",
    )
    lines = ["E001+01234501220240131", "E002-000050   ", "E003 12A4500  20240131", "E004" + " " * 25]
    path = tmp_path / "f.dat"
    path.write_bytes("\n".join(lines).encode("cp037") + "\n".encode("cp037"))
    assert _fields(_read(path, layout)) == [
        {"id": "E001", "amount": Decimal("123.45"), "count": 12, "day": date(2024, 1, 31)},
        {"id": "E002", "amount": Decimal("-0.50")},
        "field 'amount' (columns 5-11): '12A450' is not a number",
        "is 29 characters; the layout has 24",
    ]


def test_gzip_files_read_like_plain_ones(tmp_path: Path) -> None:
    """A gzip file (several members, too) is decompressed; its hash is the hash of the compressed bytes."""
    path = tmp_path / "f.csv.gz"
    data = gzip.compress(b"id,account,amount\nE1,A1,1\n") + gzip.compress(b"E2,A2,2\n")
    path.write_bytes(data)
    assert [r.fields for r in _read(path)] == [
        {"id": "E1", "account": "A1", "amount": "1"},
        {"id": "E2", "account": "A2", "amount": "2"},
    ]
    facts = prescan(path, _spec())
    assert (facts.sha256, facts.size, facts.compressed, facts.lines) == (
        hashlib.sha256(data).hexdigest(), len(data), True, 3,
    )  # fmt: skip


def test_prescan_counts_lines_and_hashes_the_bytes(tmp_path: Path) -> None:
    """The pre-scan's SHA-256 is the file's; its line count includes a last line without line break."""
    path = tmp_path / "f.csv"
    path.write_bytes(b"id,account,amount\nE1,A1,1\nE2,A2,2")
    facts = prescan(path, _spec())
    assert (facts.sha256, facts.lines, facts.compressed) == (hashlib.sha256(path.read_bytes()).hexdigest(), 3, False)


@pytest.mark.parametrize(
    ("content", "options", "reason", "line"),
    [
        (b"id\nE1\nE\xe92\n", {}, r"not valid utf-8: bytes e9 \(invalid continuation byte\)", 3),
        (b"id\nE1\nE2\xc3", {}, "not valid utf-8: bytes c3", 3),
        (b"id\n" + b"x" * 100 + b"\nE2\n", {"limits": FileLimits(max_line_chars=50)}, "longer than the limit of 50", 2),
        (b"id\nE1\n" + b"y" * 60, {"limits": FileLimits(max_line_chars=50)}, "longer than the limit of 50", 3),
        (gzip.compress(b"\n" * 10_000_000), {}, "decompression bomb", None),
        (b"id\nE1\n", {"compression": "gzip"}, "declared gzip-compressed but is not a gzip file", None),
        (gzip.compress(b"id\nE1\n")[:-6], {}, "not a valid gzip file", None),
    ],
    ids=["bad-byte", "cut-character", "long-line", "long-last-line", "bomb", "not-gzip", "truncated-gzip"],
)
def test_prescan_refuses_hazards_with_reason_and_line(
    tmp_path: Path, content: bytes, options: dict[str, Any], reason: str, line: int | None
) -> None:
    """Invalid bytes, overlong lines and gzip trouble are refused with the reason (and the line number)."""
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    with pytest.raises(FileRefused, match=reason) as refused:
        prescan(path, _spec(**options))
    assert refused.value.line == line
