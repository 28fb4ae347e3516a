"""The payments domain: repayments on loans, as the core banking mainframe books them.

Patterns at work:

- Inbound File: the mainframe's nightly fixed-width extract (``repayments-*.txt``); each line runs
  ``record_repayment``.
- API Exposure: repayments read over HTTP.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from examples.bank.owners import LICENSE, team
from interlink import Aggregate, Context, Domain, Indexed
from interlink.core.pagination import Page
from interlink.patterns.inbound_file.declarations import FixedField, FixedWidthFormat

payments = Domain(
    "payments",
    description="Repayments booked by the core banking system",
    version="1.0.0",
    contact=team("payments"),
    license=LICENSE,
)

#: Where the mainframe's extracts arrive, relative to the working directory of the process.
INBOUND_DIRECTORY = ".interlink/incoming/payments"

#: The extract's record layout (copybook REPAYMT, 60 columns):
#: reference X(12), loan request X(12), customer X(10), amount S9(9)V99, value date 9(8) YYYYMMDD, filler.
REPAYMENT_LAYOUT = FixedWidthFormat(
    fields=(
        FixedField(name="reference", start=1, length=12),
        FixedField(name="loan_request_id", start=13, length=12),
        FixedField(name="customer_id", start=25, length=10),
        FixedField(name="amount", start=35, length=12, type="decimal", scale=2),
        FixedField(name="value_date", start=47, length=8, type="date"),
    ),
    width=60,
)


@payments.aggregate
class Repayment(Aggregate):
    """One repayment on a loan (id: the mainframe's reference)."""

    loan_request_id: Annotated[str, Indexed()] = Field(description="The loan repaid.")
    customer_id: str = Field(description="The customer who repaid.")
    amount: Decimal = Field(description="The amount repaid, in euros.")
    value_date: date = Field(description="The day the money counts from.")


class RecordRepayment(BaseModel):
    """Input of record_repayment: one line of the extract."""

    reference: str = Field(min_length=1, max_length=12)
    loan_request_id: str = Field(min_length=1, max_length=12)
    customer_id: str = Field(min_length=1, max_length=10)
    amount: Decimal = Field(gt=0, max_digits=11, decimal_places=2)
    value_date: date


@payments.command
async def record_repayment(ctx: Context, data: RecordRepayment) -> Repayment:
    """Book a repayment once: a reference already booked is left as it is."""
    existing = await ctx.find(Repayment, data.reference)
    if existing is not None:
        return existing
    booked = Repayment(id=data.reference, **data.model_dump(exclude={"reference"}))
    await ctx.save(booked)
    return booked


@payments.query(http="GET /repayments/{id}")
async def get_repayment(ctx: Context, id: str) -> Repayment:
    """One repayment by reference."""
    return await ctx.get(Repayment, id)


@payments.query(http="GET /repayments")
async def list_repayments(
    ctx: Context,
    loan_request_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Field(ge=1, le=1000)] = 50,
) -> Page[Repayment]:
    """A page of repayments in reference order, optionally on one loan."""
    return await ctx.list(Repayment, where={"loan_request_id": loan_request_id}, cursor=cursor, limit=limit)


mainframe_repayments = payments.inbound_file(
    "mainframe-repayments",
    directory=INBOUND_DIRECTORY,
    pattern="repayments-*.txt",
    format=REPAYMENT_LAYOUT,
    command=record_repayment,
    settle_seconds=1.0,
)
