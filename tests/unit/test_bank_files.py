"""The reference bank's inbound files: the branch customer CSV and the mainframe's fixed-width extract."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from examples.bank.customer import INBOUND_DIRECTORY as CUSTOMER_FILES
from examples.bank.customer import customer
from examples.bank.files import DroppedFile, customers_csv, drop, repayment_line, repayments_extract
from examples.bank.payments import INBOUND_DIRECTORY as PAYMENT_FILES
from examples.bank.payments import REPAYMENT_LAYOUT, payments

from interlink import Domain
from interlink.adapters.brokers.memory import MemoryBroker
from interlink.adapters.stores.memory import MemoryStore
from interlink.patterns.inbound_file import FileReport, ingest_file
from interlink.runtime.domain_runtime import DomainRuntime

DAY = date(2026, 11, 25)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bank's inbound directories are relative: every test works in its own folder."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def _ingest(domain: Domain, source: str, directory: str, file: DroppedFile) -> tuple[FileReport, DomainRuntime]:
    store = MemoryStore(domain=domain.name)
    await store.connect()
    runtime = DomainRuntime(domain, store, MemoryBroker())
    report = await ingest_file(runtime, source, drop(Path(directory), file))
    return report, runtime


def _rejects(report: FileReport) -> list[dict[str, object]]:
    assert report.rejects_path is not None
    return [json.loads(line) for line in report.rejects_path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
async def customers() -> AsyncIterator[tuple[FileReport, DomainRuntime]]:
    """Ten good branch rows and one with a bad e-mail, ingested into the customer domain."""
    report, runtime = await _ingest(customer, "branch-customers", CUSTOMER_FILES, customers_csv(DAY, 10, bad_at=3))
    yield report, runtime
    await runtime.store.close()


async def test_a_bad_customer_row_is_rejected_naming_its_line_and_field(
    customers: tuple[FileReport, DomainRuntime],
) -> None:
    """The row with a bad e-mail is rejected with its line and the field; the ten others are registered."""
    report, runtime = customers
    assert (report.outcome, report.accepted, report.rejected) == ("archived", 10, 1)
    (reject,) = _rejects(report)
    assert reject["line"] == 5
    assert "email" in str(reject["reason"])
    assert "X0003" in str(reject["raw"])
    stored = await runtime.store.load("Customer", "C0004")
    assert stored is not None
    data = json.loads(stored.data)
    assert data["channel"] == "branch-file"
    assert data["address"]["city"] == "Leiden"
    assert data["phone"] == "+31600000004"
    assert await runtime.store.load("Customer", "X0003") is None


async def test_every_registration_from_the_file_emits_both_events(customers: tuple[FileReport, DomainRuntime]) -> None:
    """Each accepted row emits CustomerRegistered and a thin CustomerChanged pointing at the API path."""
    _, runtime = customers
    rows = await runtime.store.outbox_batch(100)
    types = [json.loads(r.message.body)["type"] for r in rows]
    assert types.count("customer.CustomerRegistered") == 10
    assert types.count("customer.CustomerChanged") == 10
    changed = next(json.loads(r.message.body)["data"] for r in rows if r.message.type == "customer.CustomerChanged")
    assert changed == {"resource": "Customer", "id": "C0000", "version": 1, "path": "/customers/C0000"}


async def test_a_bad_fixed_width_line_is_rejected_naming_its_line_and_columns() -> None:
    """The line with an impossible date is rejected with its line, field and columns; the others are booked."""
    file = repayments_extract(DAY, [("L0000", "C0000"), ("L0001", "C0001")], 6, bad_at=2)
    report, runtime = await _ingest(payments, "mainframe-repayments", PAYMENT_FILES, file)
    try:
        assert (report.outcome, report.accepted, report.rejected) == ("archived", 6, 1)
        (reject,) = _rejects(report)
        assert reject["line"] == 3
        assert "value_date" in str(reject["reason"])
        assert "47-54" in str(reject["reason"])
        stored = await runtime.store.load("Repayment", "R26112500001")
        assert stored is not None
        data = json.loads(stored.data)
        assert (data["loan_request_id"], Decimal(data["amount"]), data["value_date"]) == (
            "L0001",
            Decimal("175.50"),
            "2026-11-25",
        )
    finally:
        await runtime.store.close()


async def test_a_fixed_width_line_longer_than_the_layout_is_rejected() -> None:
    """A line past the 60 columns of the layout is rejected naming its line; the line before it is booked."""
    good = repayment_line("R1", "L0000", "C0000", Decimal("10.00"), "20261125")
    text = good + "\n" + good.replace("R1 ", "R2 ", 1) + "EXTRA\n"
    report, runtime = await _ingest(
        payments, "mainframe-repayments", PAYMENT_FILES, DroppedFile("repayments-long.txt", text, 1, 2)
    )
    try:
        assert (report.accepted, report.rejected) == (1, 1)
        (reject,) = _rejects(report)
        assert reject["line"] == 2
        assert str(REPAYMENT_LAYOUT.record_width) in str(reject["reason"])
    finally:
        await runtime.store.close()
