"""The files the bank's outside systems drop: the branch system's customer CSV and the mainframe's extract.

Each writer returns the file's text with one deliberately bad record when asked, and the line number it
is on, so the day (and the tests) know what must be rejected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from examples.bank.customer import BRANCH_COLUMNS
from examples.bank.payments import REPAYMENT_LAYOUT
from interlink.patterns.inbound_file.declarations import FixedWidthFormat

__all__ = ["DroppedFile", "customers_csv", "drop", "repayments_extract"]

CITIES = [("Amsterdam", "1011"), ("Rotterdam", "3011"), ("Utrecht", "3511"), ("Eindhoven", "5611"), ("Leiden", "2311")]


@dataclass(frozen=True)
class DroppedFile:
    """A file's name and text, how many good records it holds, and the line of its bad record (if any)."""

    name: str
    text: str
    good: int
    bad_line: int | None


def customer_id(i: int) -> str:
    """The i-th customer's number at the branch system."""
    return f"C{i:04d}"


def customers_csv(day: date, count: int, *, bad_at: int | None = None) -> DroppedFile:
    """``count`` good customer rows; with ``bad_at`` one more row with an invalid e-mail before row ``bad_at``."""
    rows = [";".join(BRANCH_COLUMNS)]
    bad_line = None
    for i in range(count):
        if i == bad_at:
            bad_line = len(rows) + 1
            rows.append(f"X{i:04d};Bad Row;not-an-e-mail;retail;;Nowhere 1;1000;Amsterdam")
        city, area = CITIES[i % len(CITIES)]
        segment = "business" if i % 7 == 6 else "retail"
        rows.append(
            f"{customer_id(i)};Customer {i};c{i}@example.org;{segment};+316{i:08d};Kerkstraat {i + 1};"
            f"{area} {chr(65 + i % 26)}{chr(65 + i // 26 % 26)};{city}"
        )
    return DroppedFile(f"customers-{day:%Y%m%d}.csv", "\n".join(rows) + "\n", count, bad_line)


def _fixed(layout: FixedWidthFormat, values: dict[str, str]) -> str:
    line = [" "] * layout.record_width
    for field in layout.fields:
        text = values[field.name]
        text = text.rjust(field.length, "0") if field.type in ("int", "decimal") else text.ljust(field.length)
        line[field.start - 1 : field.end] = text[: field.length]
    return "".join(line)


def repayment_line(reference: str, loan_request_id: str, customer: str, amount: Decimal, value_date: str) -> str:
    """One line of the mainframe extract (``value_date`` as the mainframe writes it: YYYYMMDD)."""
    cents = str(int(amount * 100))
    values = {
        "reference": reference, "loan_request_id": loan_request_id, "customer_id": customer,
        "amount": cents, "value_date": value_date,
    }  # fmt: skip
    return _fixed(REPAYMENT_LAYOUT, values)


def repayments_extract(
    day: date, loans: list[tuple[str, str]], count: int, *, bad_at: int | None = None
) -> DroppedFile:
    """``count`` repayments spread over ``loans`` (loan request id, customer id); with ``bad_at`` one more line
    with an impossible value date before line ``bad_at``."""
    lines: list[str] = []
    bad_line = None
    for i in range(count):
        if i == bad_at:
            bad_line = len(lines) + 1
            lines.append(repayment_line(f"R{day:%y%m%d}X{i:04d}", "L0000", "C0000", Decimal("1.00"), "20261341"))
        loan, customer = loans[i % len(loans)]
        amount = Decimal(150 + 25 * i) + Decimal("0.50")
        lines.append(repayment_line(f"R{day:%y%m%d}{i:05d}", loan, customer, amount, f"{day:%Y%m%d}"))
    return DroppedFile(f"repayments-{day:%Y%m%d}.txt", "\n".join(lines) + "\n", count, bad_line)


def drop(directory: Path, file: DroppedFile) -> Path:
    """Write the file as an outside system does: under a hidden name, renamed when complete, then its
    ``.done`` marker, so the intake takes it at once without waiting for it to settle."""
    directory.mkdir(parents=True, exist_ok=True)
    part = directory / f".{file.name}.part"
    part.write_text(file.text, encoding="utf-8")
    target = directory / file.name
    os.replace(part, target)
    (directory / f"{file.name}.done").touch()
    return target
